#!/usr/bin/env bash
# One-shot, idempotent set-up for a fresh Debian machine: system packages, the .venv with
# bcr-mlir installed editable, and IREE's aarch64 runtime tools (for running arm64 modules
# under qemu-user). Every step checks first, so re-running costs a second and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qemu-user libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross
              mesa-vulkan-drivers libvulkan1 glslang-tools)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || { echo "setup: creating .venv"; "$PY" -m venv .venv; }
# Reinstall only when the dependency list changes.
want=$(sha256sum pyproject.toml | cut -c1-16)
if [[ "$(cat .venv/.bcr-installed 2>/dev/null)" != "$want" ]]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  # torch first and pinned, so nothing below can pull a CUDA build.
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e .
  echo "$want" > .venv/.bcr-installed
fi

.venv/bin/python -m bcr_mlir.backends.aarch64_tools --fetch
