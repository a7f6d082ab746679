"""The console scripts end to end: bcr-compile (from a built-in model or an .mlir file) then bcr-run."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import bcr_mlir
from bcr_mlir import zoo

BIN = Path(sys.executable).parent


def run(*args, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args[0]} failed ({result.returncode}): {result.stderr}")
    return result


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    """The pruned small demo as MLIR, an input and PyTorch's output for it."""
    folder = tmp_path_factory.mktemp("cli")
    run("bcr-compile", "--model", "demo", "--small", "--prune", "bcr:8", "--emit-mlir", folder / "demo.mlir")
    model, x = zoo.get("demo", small=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, "bcr", rate=8)
    with torch.no_grad():
        np.save(folder / "y.npy", model(x).numpy())
    np.save(folder / "x.npy", x.numpy())
    return folder


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64),
                                    pytest.param("vulkan", marks=pytest.mark.vulkan)])
def test_compile_mlir_then_run(demo_files, target):
    module = demo_files / f"demo_{target}.vmfb"
    compiled = run("bcr-compile", demo_files / "demo.mlir", "--target", target, "-o", module, "--report")
    assert "conv2" in compiled.stdout and module.is_file() and Path(str(module) + ".json").is_file()
    result = run("bcr-run", module, "--input", demo_files / "x.npy", "--reference", demo_files / "y.npy")
    assert "-> OK" in result.stdout


def test_run_reports_a_mismatch(demo_files, tmp_path):
    module = tmp_path / "demo.vmfb"
    run("bcr-compile", demo_files / "demo.mlir", "-o", module)
    np.save(tmp_path / "wrong.npy", np.load(demo_files / "y.npy") + 1.0)
    result = run("bcr-run", module, "--input", demo_files / "x.npy", "--reference", tmp_path / "wrong.npy", check=False)
    assert result.returncode == 1 and "MISMATCH" in result.stdout


def test_run_profiles_each_dispatch(demo_files, tmp_path):
    """--profile lists every executable function of a call, from IREE's HAL profiler: the generated
    kernels of the report's sparse layers among them, with shares that add up to the whole."""
    module = tmp_path / "demo.vmfb"
    run("bcr-compile", demo_files / "demo.mlir", "-o", module)
    lines = run("bcr-run", module, "--input", demo_files / "x.npy", "--profile").stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("profile: "))
    rows = [line.split() for line in lines[header + 1:]]
    kernels = {row[-1] for row in rows if row[-2] == "bcr"}
    sparse = {layer.name.replace(".", "_") for layer in bcr_mlir.load(module).report.sparse_layers}
    assert sparse and kernels == {f"bcr_kernel_{name}" for name in sparse}, (kernels, sparse)
    assert any(row[-2] == "iree" for row in rows)  # the dense rest: IREE's own dispatches
    total = float(lines[header].split()[1])
    assert total > 0 and abs(sum(float(row[0]) for row in rows) - total) <= 0.1 * len(rows)
    assert abs(sum(float(row[2].rstrip("%")) for row in rows) - 100) < 0.1 * len(rows)


def test_profile_through_adb_is_refused(demo_files, tmp_path):
    result = run("bcr-run", tmp_path / "any.vmfb", "--profile", "--adb", check=False)
    assert result.returncode != 0 and "--profile runs on this host" in result.stderr
    assert "Traceback" not in result.stderr


def test_compile_errors_are_one_line(tmp_path):
    result = run("bcr-compile", tmp_path / "missing.mlir", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith("error: no such file") and "Traceback" not in result.stderr
    result = run("bcr-compile", "--model", "demo", "--target", "riscv", check=False)
    assert result.returncode == 1 and "unknown target 'riscv'" in result.stderr and "Traceback" not in result.stderr
    result = run("bcr-compile", "--model", "demo", "--tune-threads", "0", check=False)
    assert result.returncode == 1 and "tune thread count" in result.stderr and "Traceback" not in result.stderr
