"""Model files for the peer engines, made once per pruned model and cached under .bench/cache/<model>-<hash>/.

    state.pt, input.npy      written by the harness (the pruned weights; the zoo rebuilds the model)
    model.onnx               torch.onnx.export (TorchScript exporter, opset 17), in the project's venv with
                             .bench/export (the onnx package) on sys.path          -> onnxruntime, MNN, TVM
    model.pt                 torch.jit.trace                                       -> pnnx -> ncnn
    model.mnn                MNN's converter, called in-process with --bizCode (its console script would
                             pip-install a logging SDK and phone home)
    model.ncnn.param/.bin    pnnx model.pt inputshape=[...] fp16=0
    model.tflite             litert-torch, in .bench/litert

`python -m bcr_mlir.bench.convert DIR NAME SMALL` is the export step (run by `export_onnx_and_jit`).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def project_root() -> Path:
    return Path(__file__).resolve().parents[3]


def bench_home() -> Path:
    """Where the peers' venvs and the conversion cache live: $BCR_BENCH_HOME or <repo>/.bench."""
    return Path(os.environ.get("BCR_BENCH_HOME") or project_root() / ".bench")


def peer_python(which: str) -> Path | None:
    """The python of .bench/peers or .bench/litert, or None if bench_setup.sh has not installed it."""
    python = bench_home() / which / "bin" / "python"
    return python if python.exists() and (bench_home() / which / ".stamp").exists() else None


# Which python hosts each engine, and which files it needs.
HOSTS = {"torch": "main", "torch-csr": "main", "onnxruntime": "peers", "mnn": "peers", "ncnn": "peers",
         "tvm": "peers", "litert": "litert"}
NEEDS = {"torch": [], "torch-csr": [], "onnxruntime": ["model.onnx"], "mnn": ["model.mnn"],
         "ncnn": ["model.ncnn.param", "model.ncnn.bin"], "tvm": ["model.onnx"], "litert": ["model.tflite"]}


def host_python(engine: str) -> Path | None:
    host = HOSTS[engine]
    return Path(sys.executable) if host == "main" else peer_python(host)


def engine_available(engine: str) -> str | None:
    """None if the engine can run here, else why not (one line)."""
    host = HOSTS[engine]
    if host == "main":
        return None
    if host_python(engine) is None:
        return f"no .bench/{host} venv: run tools/bench_setup.sh {host}"
    return None


@dataclass
class ConversionError(Exception):
    reason: str

    def __str__(self):
        return self.reason


def model_dir(bench_model) -> Path:
    """The cache folder of one pruned model, keyed by its weights and input."""
    import torch
    digest = hashlib.sha256()
    for name, tensor in bench_model.model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    digest.update(bench_model.x.numpy().tobytes())
    folder = bench_home() / "cache" / f"{bench_model.name}{'-small' if bench_model.small else ''}-{digest.hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "state.pt").exists():
        torch.save(bench_model.model.state_dict(), folder / "state.pt.partial")
        os.replace(folder / "state.pt.partial", folder / "state.pt")
    np.save(folder / "input.npy", bench_model.x.numpy())
    np.save(folder / "reference.npy", bench_model.reference)
    return folder


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        if any(word in line for word in ("Error", "error", "ERROR", "Exception", "failed", "FAIL")):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def _run(command: list, folder: Path, log: str, timeout: float, env: dict | None = None) -> None:
    full_env = dict(os.environ, **(env or {}))
    try:
        result = subprocess.run([str(c) for c in command], cwd=folder, capture_output=True, text=True,
                                timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired:
        raise ConversionError(f"{log}: timed out after {timeout:.0f} s") from None
    (folder / f"{log}.log").write_text(f"$ {' '.join(map(str, command))}\n{result.stdout}\n{result.stderr}")
    if result.returncode != 0:
        raise ConversionError(f"{log}: {_last_error(result.stderr + result.stdout)}")


def export_onnx_and_jit(folder: Path, name: str, small: bool, timeout: float = 900) -> None:
    if (folder / "model.onnx").exists() and (folder / "model.pt").exists():
        return
    export_site = bench_home() / "export"
    if not (export_site / "onnx").exists():
        raise ConversionError("the onnx package is not installed: run tools/bench_setup.sh export")
    env = {"PYTHONPATH": os.pathsep.join([str(export_site)] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    _run([sys.executable, "-m", "bcr_mlir.bench.convert", folder, name, "1" if small else "0"], folder, "export",
         timeout, env)


def convert(engine: str, folder: Path, name: str, small: bool, input_shape: list[int]) -> None:
    """Makes the files `engine` needs in `folder` (cached), or raises ConversionError with a one-line reason."""
    needs = NEEDS[engine]
    if all((folder / f).exists() for f in needs):
        return
    failed = folder / f"{engine}.failed"
    if failed.exists():      # a converter that failed on these exact weights fails again: do not wait twice
        raise ConversionError(failed.read_text().strip())
    missing = engine_available(engine)
    if missing:
        raise ConversionError(missing)
    try:
        if engine in ("onnxruntime", "tvm", "mnn", "ncnn"):
            export_onnx_and_jit(folder, name, small)
        if engine == "mnn":
            # Its return value is not an exit status: success is judged by the file it writes.
            code = ("import _tools; _tools.mnnconvert(['mnnconvert', '-f', 'ONNX', '--modelFile', "
                    "'model.onnx', '--MNNModel', 'model.mnn', '--bizCode', 'bcr-bench'])")
            _run([peer_python("peers"), "-c", code], folder, "mnnconvert", 600)
        elif engine == "ncnn":
            # The wheel's binary itself: its Python wrapper imports torch, which .bench/peers does not have.
            pnnx = next((bench_home() / "peers" / "lib").glob("python3*/site-packages/pnnx/pnnx"), None)
            if pnnx is None:
                raise ConversionError("pnnx is not installed: run tools/bench_setup.sh peers")
            shape = "[" + ",".join(str(d) for d in input_shape) + "]"
            _run([pnnx, "model.pt", f"inputshape={shape}", "fp16=0"], folder, "pnnx", 900)
        elif engine == "litert":
            spec = {"dir": str(folder), "input": str(folder / "input.npy"), "zoo": {"name": name, "small": small}}
            env = {"PYTHONPATH": str(project_root() / "python")}
            worker = Path(__file__).with_name("worker.py")
            _run([peer_python("litert"), worker, "convert-litert", json.dumps(spec)], folder, "litert-convert", 1200,
                 env)
        missing = [f for f in needs if not (folder / f).exists()]
        if missing:
            raise ConversionError(f"the converter wrote no {missing[0]}")
    except ConversionError as exc:
        if "timed out" not in exc.reason and "not installed" not in exc.reason and "venv:" not in exc.reason:
            failed.write_text(exc.reason)
        raise


def _export_main(folder: str, name: str, small: str) -> int:
    """Runs in the project's venv with .bench/export on sys.path: ONNX and TorchScript exports."""
    import warnings

    import torch

    from bcr_mlir import zoo
    folder = Path(folder)
    model, _ = zoo.get(name, small=small == "1")
    model.load_state_dict(torch.load(folder / "state.pt", weights_only=True))
    model.eval()
    x = torch.from_numpy(np.load(folder / "input.npy"))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(folder / "model.onnx.partial"), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["output"])
        os.replace(folder / "model.onnx.partial", folder / "model.onnx")
        traced = torch.jit.trace(model, (x,))
        traced.save(str(folder / "model.pt.partial"))
        os.replace(folder / "model.pt.partial", folder / "model.pt")
    return 0


if __name__ == "__main__":
    sys.exit(_export_main(*sys.argv[1:4]))
