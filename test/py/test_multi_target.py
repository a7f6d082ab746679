"""Multi-target modules: one .vmfb with a CPU variant (sparse scf/vector kernels) and a Vulkan variant
(sparse GLSL kernels), each run and compared with PyTorch where this host can run it."""
from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import bcr_mlir
from bcr_mlir.backends.android import AdbRunner
from bcr_mlir.errors import BcrError
from helpers import assert_matches_torch
from test_cli import run

pytestmark = pytest.mark.vulkan

AARCH64_ELF_MACHINE = 183


@pytest.fixture(scope="module")
def host_and_vulkan(demo_model):
    model, x = demo_model
    return bcr_mlir.compile(model, (x,), ["x86-host", "vulkan"])


def test_both_variants_match_torch(demo_model, host_and_vulkan):
    model, x = demo_model
    with torch.no_grad():
        reference = model(x)
    cm = host_and_vulkan
    assert [t.name for t in cm.variants] == ["x86-host", "vulkan"]
    assert_matches_torch(cm(x), reference)                      # the first variant, @main
    assert_matches_torch(cm(x, variant="vulkan"), reference)    # @main_vulkan, on lavapipe
    for name in ("x86-host", "vulkan"):
        assert cm.reports[name].sparse_layers, f"{name} variant has no sparse layer"
    assert all("vulkan glsl" in layer.kernel for layer in cm.reports["vulkan"].sparse_layers)
    assert all("cpu kernel" in layer.kernel for layer in cm.reports["x86-host"].sparse_layers)


def test_save_load_keeps_the_variants(demo_model, host_and_vulkan, tmp_path):
    model, x = demo_model
    path = host_and_vulkan.save(tmp_path / "both.vmfb")
    loaded = bcr_mlir.load(path, "vulkan")  # a target picks the default variant
    assert loaded.target.name == "vulkan" and [t.name for t in loaded.variants] == ["x86-host", "vulkan"]
    with torch.no_grad():
        assert_matches_torch(loaded(x), model(x))
    with pytest.raises(BcrError, match="no arm64-android variant"):
        loaded(x, variant="arm64-android")


def _members(vmfb: bytes, tmp_path: Path) -> dict[str, bytes]:
    file = tmp_path / "m.vmfb"
    file.write_bytes(vmfb)
    with zipfile.ZipFile(file) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_arm64_and_vulkan_in_one_module(demo_model, tmp_path):
    model, x = demo_model
    cm = bcr_mlir.compile(model, (x,), ["arm64-android:cpu=cortex-a76", "vulkan:adreno"])
    members = _members(cm.vmfb, tmp_path)
    elves = [data for name, data in members.items() if name.endswith(".so")]
    spirv = [name for name in members if name.endswith("vulkan_spirv_fb.fb")]
    assert elves and all(struct.unpack_from("<H", data, 18)[0] == AARCH64_ELF_MACHINE for data in elves)
    assert any(name.startswith("bcr_kernel_") for name in members), "the sparse arm64 kernels are missing"
    assert len(spirv) >= len(cm.reports["vulkan"].sparse_layers) > 0
    # Both devices must be present to load it, and this host has no arm64 Vulkan driver: a clear error.
    with pytest.raises(BcrError, match="run it on the phone"):
        cm(x)


@pytest.mark.parametrize("targets, message", [
    (["x86-host", "arm64-android"], "one CPU target and one Vulkan target"),
    (["vulkan", "vulkan:adreno"], "one CPU target and one Vulkan target"),
    (["arm64-android", "vulkan:baseline_f16"], "f32 only"),
    ([], "target list is empty"),
])
def test_bad_target_lists(demo_model, targets, message):
    model, x = demo_model
    with pytest.raises(BcrError, match=message):
        bcr_mlir.compile(model, (x,), targets)


def test_adb_commands_for_each_variant():
    cpu = AdbRunner(Path("both.vmfb"), function="main", gpu_first=False).commands(1, "/tmp/w", "iree-run-module")[-2]
    gpu = AdbRunner(Path("both.vmfb"), function="main_vulkan", gpu_first=True).commands(1, "/tmp/w", "iree-run-module")[-2]
    assert cpu[-1].startswith("iree-run-module --device=local-sync --device=vulkan ") and "--function=main " in cpu[-1]
    assert gpu[-1].startswith("iree-run-module --device=vulkan --device=local-sync ") and "--function=main_vulkan " in gpu[-1]


def test_cli_compiles_and_runs_each_variant(tmp_path):
    from helpers import pruned
    model, x = pruned("demo")
    with torch.no_grad():
        np.save(tmp_path / "y.npy", model(x).numpy())
    np.save(tmp_path / "x.npy", x.numpy())
    module = tmp_path / "both.vmfb"
    compiled = run("bcr-compile", "--model", "demo", "--small", "--prune", "bcr:8", "--target", "x86-host",
                   "--target", "vulkan", "-o", module, "--report")
    assert "vulkan:" in compiled.stdout and "x86-host + vulkan" in compiled.stderr
    for variant in ("x86-host", "vulkan"):
        result = run("bcr-run", module, "--variant", variant, "--input", tmp_path / "x.npy",
                     "--reference", tmp_path / "y.npy")
        assert "-> OK" in result.stdout
    bad = run("bcr-run", module, "--variant", "arm64", check=False)
    assert bad.returncode == 1 and "no arm64-android variant" in bad.stderr and "Traceback" not in bad.stderr
