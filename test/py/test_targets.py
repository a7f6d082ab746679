"""Numerics on the cross targets: arm64 under qemu-user with IREE's aarch64 tools, Vulkan on lavapipe."""
from __future__ import annotations

import pytest
import torch

import bcr_mlir
from helpers import assert_matches_torch, pruned, reference


def _small_models():
    torch.manual_seed(3)
    strided = torch.nn.Sequential(torch.nn.Conv2d(6, 20, 3, stride=2, padding=1), torch.nn.ReLU(),
                                  torch.nn.Conv2d(20, 16, 3, padding=1)).eval()
    bcr_mlir.prune(strided, "bcr", rate=4, block=(8, 9))
    linear = torch.nn.Sequential(torch.nn.Linear(96, 200), torch.nn.ReLU(), torch.nn.Linear(200, 40)).eval()
    bcr_mlir.prune(linear, "bcr", rate=8)
    # 33 block-rows: workgroups of 2, the last with one block-row inside the grid.
    matvec = torch.nn.Sequential(torch.nn.Linear(300, 264)).eval()
    bcr_mlir.prune(matvec, "bcr", rate=4)
    return {"strided_conv": (strided, torch.randn(1, 6, 13, 19)), "linear": (linear, torch.randn(3, 96)),
            "matvec": (matvec, torch.randn(1, 300))}


@pytest.mark.arm64
def test_demo_arm64(demo_model):
    model, x = demo_model
    compiled = bcr_mlir.compile(model, (x,), target="arm64-android")
    assert compiled.report.sparse_layers, "arm64 runs the generated sparse kernels"
    assert_matches_torch(compiled(x), reference(model, x))


@pytest.mark.arm64
@pytest.mark.parametrize("name", ["strided_conv", "linear", "matvec"])
def test_layers_arm64(name):
    model, x = _small_models()[name]
    compiled = bcr_mlir.compile(model, (x,), target="arm64-android:cpu=cortex-a55,features=neon+fullfp16,api=30")
    assert compiled.report.sparse_layers
    assert_matches_torch(compiled(x), reference(model, x))


@pytest.mark.vulkan
def test_demo_vulkan(demo_model):
    model, x = demo_model
    compiled = bcr_mlir.compile(model, (x,), target="vulkan")
    assert_matches_torch(compiled(x), reference(model, x))
    assert compiled.report.layers


@pytest.mark.vulkan
@pytest.mark.parametrize("gpu", ["adreno", "valhall"])
def test_vulkan_gpu_targets(gpu):
    model, x = _small_models()["strided_conv"]
    compiled = bcr_mlir.compile(model, (x,), target=f"vulkan:{gpu}")
    assert compiled.target.vulkan_target == gpu
    assert_matches_torch(compiled(x), reference(model, x))


@pytest.mark.arm64
def test_dense_baseline_arm64(demo_model):
    model, x = demo_model
    compiled = bcr_mlir.compile(model, (x,), target="arm64-android", sparse=False)
    assert_matches_torch(compiled(x), reference(model, x))
