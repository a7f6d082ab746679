"""Robustness: deterministic output, independent concurrent compiles, and BCR_SAVE_TEMPS.

- The same model compiles to a byte-identical .vmfb in this process and in fresh processes with other
  hash seeds (set/dict order), on x86, arm64 and Vulkan.
- Those fresh processes run at the same time (four compiles in parallel, sharing the tuning and
  SPIR-V caches and TMPDIR); each result is still identical to the one compiled alone, and runs right.
- BCR_SAVE_TEMPS (or save_temps=, bcr-compile --save-temps) keeps the IR before every pass, the IREE
  input and the module; the saved files are complete: iree-compile on the saved input rebuilds the
  same module, and bcr-opt on the first one reruns the pipeline.

The suite found one bug: iree-compile embeds its input's file name in the module, and compile_text gave
it a fresh temporary file per compile, so equal inputs gave different bytes; the input now goes in on
stdin.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import bcr_mlir
from fuzz_models import ATOL, RTOL, Case, Layer, cost_model_off

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent

# One case per target, each with several sparse layers (strided, padded, ragged blocks, a linear head).
CASES = {
    "x86-host": Case("conv2d", batch=2, channels=8, spatial=(12, 10),
                     layers=(Layer(20, kernel=3, padding=1, act="relu"), Layer(16, kernel=3, stride=2, padding=1)),
                     scheme="bcr", options=(("block", (4, 12)), ("rate", 4.0)), head=10, seed=11),
    "arm64-android": Case("conv2d", batch=1, channels=6, spatial=(8, 8),
                          layers=(Layer(12, kernel=3, padding=1, act="relu6"), Layer(8, kernel=1)),
                          scheme="pattern", options=(("connectivity_rate", 2.0),), seed=12, force_sparse=True),
    "vulkan": Case("conv2d", batch=1, channels=8, spatial=(10, 10),
                   layers=(Layer(16, kernel=3, padding=1, act="relu"), Layer(12, kernel=5, padding=2)),
                   scheme="kgs", options=(("group", (4, 4)), ("rate", 4.0)), seed=13),
}


def _compile_here(case: Case, target: str):
    model, x = case.pruned()
    with cost_model_off(case.force_sparse):
        return bcr_mlir.compile(model, (x,), target=target), model, x


@pytest.fixture(scope="module")
def concurrent_compiles(tmp_path_factory):
    """Four fresh processes compiling at once (x86 twice with two hash seeds, arm64, Vulkan), and the same
    compiles in this process, one at a time, meanwhile."""
    folder = tmp_path_factory.mktemp("concurrent")
    jobs = [("x86-host", 1), ("x86-host", 2), ("arm64-android", 3), ("vulkan", 4)]
    workers = []
    for target, hash_seed in jobs:
        out = folder / f"{target}-{hash_seed}.vmfb"
        env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
        workers.append((target, out, subprocess.Popen(
            [sys.executable, str(HERE / "compile_worker.py"), repr(CASES[target]), target, str(out)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
    alone = {target: _compile_here(CASES[target], target) for target in CASES}
    results = []
    for target, out, process in workers:
        log, _ = process.communicate(timeout=900)
        assert process.returncode == 0, f"{target} worker failed:\n{log[-3000:]}"
        results.append((target, out.read_bytes()))
    return alone, results


@pytest.mark.arm64
@pytest.mark.vulkan
def test_concurrent_compiles_do_not_interfere(concurrent_compiles):
    alone, results = concurrent_compiles
    for target, (compiled, model, x) in alone.items():
        assert compiled.report.sparse_layers, f"{target}: the case should exercise sparse layers"
        with torch.no_grad():
            want = model(x).numpy()
        np.testing.assert_allclose(compiled(x.numpy()), want, rtol=RTOL, atol=ATOL, err_msg=target)


@pytest.mark.arm64
@pytest.mark.vulkan
def test_concurrent_compiles_are_byte_identical(concurrent_compiles):
    alone, results = concurrent_compiles
    for target, vmfb in results:
        assert vmfb == alone[target][0].vmfb, \
            f"{target}: a compile in a concurrent process built a different module for {CASES[target]!r}"


@pytest.fixture(scope="module")
def compiled_twice():
    case = CASES["x86-host"]
    return _compile_here(case, "x86-host")[0].vmfb, _compile_here(case, "x86-host")[0].vmfb


def test_recompiling_in_process_is_byte_identical(compiled_twice):
    first, second = compiled_twice
    assert first == second


def _pipeline_steps(target: str) -> list[str]:
    from bcr_mlir.pipelines import parse_pipeline, sparsify_pipeline

    return [step.text.split("{")[0] for step in parse_pipeline(sparsify_pipeline(target))]


def test_save_temps_keeps_every_intermediate_file(tmp_path, monkeypatch):
    case = CASES["x86-host"]
    temps = tmp_path / "temps"
    monkeypatch.setenv("BCR_SAVE_TEMPS", str(temps))
    compiled, _, _ = _compile_here(case, "x86-host")
    names = sorted(p.name for p in temps.iterdir())
    steps = _pipeline_steps("x86-host")
    for index, step in enumerate(steps):
        assert any(n.startswith(f"before-{index:02d}-{step}") and n.endswith(".mlir") for n in names), \
            f"no IR saved before step {index} ({step}): {names}"
    assert "iree_input.mlir" in names and "module.vmfb" in names, names
    assert (temps / "module.vmfb").read_bytes() == compiled.vmfb
    assert not [n for n in names if n.startswith("bcr-failure")], names

    # The IREE input is complete: iree-compile with the recorded flags rebuilds the same module (the
    # input on stdin, as compile_text passes it: a file name would be embedded in the module).
    from bcr_mlir.backends.iree import tool

    rebuilt = tmp_path / "rebuilt.vmfb"
    subprocess.run([tool("iree-compile"), "-", "-o", str(rebuilt), *compiled.flags],
                   input=(temps / "iree_input.mlir").read_bytes(), check=True, capture_output=True)
    assert rebuilt.read_bytes() == compiled.vmfb
    # The first saved IR is the imported model, weights included: the pipeline runs on it again.
    first = next(temps / n for n in names if n.startswith("before-00-"))
    result = subprocess.run([str(BIN / "bcr-opt"), str(first), "-p", "bcr-sparsify-pipeline{target=x86-host}",
                             "-o", str(tmp_path / "again.mlir")], capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "BCR_SAVE_TEMPS"})
    assert result.returncode == 0, result.stderr
    assert "bcr.dispatch" in (tmp_path / "again.mlir").read_text()


def test_save_temps_on_the_command_line(tmp_path):
    """bcr-compile --save-temps DIR (save_temps= in the API) keeps the same files as BCR_SAVE_TEMPS."""
    temps, out = tmp_path / "temps", tmp_path / "linear.vmfb"
    source = HERE.parents[1] / "bad_inputs" / "mlir" / "valid_linear.mlir"
    env = {k: v for k, v in os.environ.items() if k != "BCR_SAVE_TEMPS"}
    result = subprocess.run([str(BIN / "bcr-compile"), str(source), "--save-temps", str(temps), "-o", str(out)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in temps.iterdir())
    assert "iree_input.mlir" in names and "module.vmfb" in names, names
    assert any(n.startswith("before-00-bcr-fold-constant-weights") for n in names), names
    assert any(n.startswith("before-02-bcr-raise-sparse-layers") for n in names), names
    assert (temps / "module.vmfb").read_bytes() == out.read_bytes()
