#!/usr/bin/env bash
# Installs the peer engines that `bcr-bench --full` compares against, each set in its own virtual
# environment under .bench/ (git-ignored), so nothing here can change the project's .venv or its torch.
#
#   .bench/export   onnx + protobuf, installed with --target and added to sys.path only by the
#                   harness's export subprocess (torch.onnx.export needs the onnx package)
#   .bench/peers    onnxruntime, MNN (with its ONNX converter), ncnn + pnnx, TVM (relax, untuned)
#   .bench/litert   LiteRT (XNNPACK) and litert-torch, which pulls its own torch, jax and transformers
#
# Idempotent: every step checks a stamp first, so a re-run installs nothing. A step that fails is
# reported and skipped; the harness then records that engine as "not installed" and goes on.
#   tools/bench_setup.sh            # everything
#   tools/bench_setup.sh peers      # only some of: export peers litert
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
BENCH=.bench
mkdir -p "$BENCH"
# Pins: TVM's FFI 0.1.15.post2 segfaults with apache-tvm 0.27 (shared/BENCHMARKS.md).
EXPORT_PACKAGES=(onnx==1.23.2 protobuf)
PEER_PACKAGES=(numpy onnx==1.23.2 onnxruntime==1.31.1 MNN==3.6.1 ncnn==1.0.20261020 pnnx==20261020
               apache-tvm==0.27.0.post1 apache-tvm-ffi==0.1.14.post0 psutil)
LITERT_PACKAGES=(ai-edge-litert==2.3.0 litert-torch==0.10.0)

steps=("$@")
((${#steps[@]})) || steps=(export peers litert)
failed=()

stamp_ok() { [[ "$(cat "$1" 2>/dev/null)" == "$2" ]]; }

make_venv() {
  [[ -x "$1/bin/python" ]] || "$PY" -m venv "$1" || return 1
  "$1/bin/pip" install -q --upgrade pip >/dev/null
}

for step in "${steps[@]}"; do
  case "$step" in
    export)
      want="${EXPORT_PACKAGES[*]}"
      if ! stamp_ok "$BENCH/export/.stamp" "$want"; then
        echo "bench-setup: installing the ONNX exporter's packages into $BENCH/export"
        rm -rf "$BENCH/export"
        # --no-deps: numpy, typing_extensions and ml_dtypes come from the project's .venv.
        if .venv/bin/pip install -q --no-deps --target "$BENCH/export" "${EXPORT_PACKAGES[@]}"; then
          echo "$want" > "$BENCH/export/.stamp"
        else failed+=(export); fi
      fi ;;
    peers)
      want="${PEER_PACKAGES[*]}"
      if ! stamp_ok "$BENCH/peers/.stamp" "$want"; then
        echo "bench-setup: installing onnxruntime, MNN, ncnn/pnnx and TVM into $BENCH/peers"
        if make_venv "$BENCH/peers"; then
          ok=1
          # One package at a time, so that one that will not install does not block the others.
          for p in "${PEER_PACKAGES[@]}"; do
            if [[ $p == pnnx* ]]; then
              # pnnx's wheel carries its own converter binary; its Python wrapper would pull a second torch.
              "$BENCH/peers/bin/pip" install -q --no-deps "$p" || { echo "bench-setup: $p failed"; ok=0; }
            else
              "$BENCH/peers/bin/pip" install -q "$p" || { echo "bench-setup: $p failed"; ok=0; }
            fi
          done
          # apache-tvm may have pulled a newer FFI: force the pin back.
          "$BENCH/peers/bin/pip" install -q --no-deps apache-tvm-ffi==0.1.14.post0 || ok=0
          ((ok)) && echo "$want" > "$BENCH/peers/.stamp" || failed+=(peers)
        else failed+=(peers); fi
      fi ;;
    litert)
      want="${LITERT_PACKAGES[*]}"
      if ! stamp_ok "$BENCH/litert/.stamp" "$want"; then
        echo "bench-setup: installing LiteRT and litert-torch into $BENCH/litert (large: torch, jax)"
        if make_venv "$BENCH/litert" && "$BENCH/litert/bin/pip" install -q "${LITERT_PACKAGES[@]}"; then
          echo "$want" > "$BENCH/litert/.stamp"
        else failed+=(litert); fi
      fi ;;
    *) echo "bench-setup: unknown step '$step' (use export, peers, litert)" >&2; exit 2 ;;
  esac
done

if ((${#failed[@]})); then
  echo "bench-setup: could not install: ${failed[*]} (bcr-bench records these engines as not installed)"
fi
echo "bench-setup: done"
exit 0
