"""dtype='f16': f16 weights and activations (f32 accumulation) on x86, arm64 (fullfp16) and Vulkan.

Tolerance against the f32 PyTorch model: rtol 1e-2, atol 1e-3. f16 keeps 11 significant bits (a
relative step of 2^-11 ~ 5e-4 per rounding); activations are rounded once per layer, so a few
layers of rounding stay well inside 1e-2 relative, and 1e-3 absolute covers outputs near zero.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import bcr_mlir
from bcr_mlir import zoo
from bcr_mlir.errors import BcrError
from helpers import pruned, reference

F16_TOLERANCE = {"rtol": 1e-2, "atol": 1e-3}
ARM64_F16 = "arm64-android:cpu=cortex-a76,features=neon+fullfp16+dotprod"
F16_CPU_TARGETS = ["x86-host", pytest.param(ARM64_F16, marks=pytest.mark.arm64)]


def check_f16(target: str):
    model, x = pruned("demo")
    compiled = bcr_mlir.compile(model, (x,), target=target, dtype="f16")
    assert compiled.inputs[0].dtype == "float16"
    output = compiled(x)
    assert output.dtype == np.float16
    expected = reference(model, x).numpy()
    np.testing.assert_allclose(output.astype(np.float32), expected, **F16_TOLERANCE)
    # Not a copy of the f32 path: the f16 result differs from f32 in the last bits somewhere.
    assert np.abs(output.astype(np.float32) - expected).max() > 0
    return compiled


def test_f16_x86():
    compiled = check_f16("x86-host")
    assert compiled.report.sparse_layers, "f16 layers still run in the sparse kernels"


@pytest.mark.arm64
def test_f16_arm64_fullfp16():
    compiled = check_f16(ARM64_F16)
    assert compiled.report.sparse_layers


@pytest.mark.vulkan
def test_f16_vulkan_baseline_f16():
    check_f16("vulkan:baseline_f16")


@pytest.mark.parametrize("target", [*F16_CPU_TARGETS, pytest.param("vulkan:baseline_f16", marks=pytest.mark.vulkan)])
def test_f16_one_output_linear_keeps_its_bias(target):
    """A Linear with one output (a regression or binary head): its 1-element bias reached the kernel as f32
    while the kernel read f16, so the output was garbage (found by fuzzing f16 blocks)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(512, 1)).eval()
    with torch.no_grad():
        model[0].bias.fill_(0.75)  # large next to the products, so a misread bias shows
    bcr_mlir.prune(model, "bcr", rate=4)
    x = torch.randn(128, 512)
    compiled = bcr_mlir.compile(model, (x,), target=target, dtype="f16")
    assert compiled.report.find("0").mode == "sparse"
    output = compiled(x).astype(np.float32)
    np.testing.assert_allclose(output, reference(model, x).numpy(), **F16_TOLERANCE)


@pytest.mark.parametrize("target", F16_CPU_TARGETS)
def test_f16_gru_runs_sparse(target):
    """An f16 GRU's first step multiplies the zero initial state, which torch-mlir leaves an f32 constant:
    raised as it was, the recurrent kernel's dispatches disagreed on their input type and the module could
    not be printed (found by fuzzing f16 GRUs). It is now converted to the weights' type."""
    torch.manual_seed(0)
    model = zoo.GRUNet(32, 160, 1, 8).eval()
    bcr_mlir.prune(model, "bcr", rate=8)
    x = torch.randn(1, 6, 32)
    compiled = bcr_mlir.compile(model, (x,), target=target, dtype="f16")
    assert compiled.report.find("gru.weight_hh_l0").mode == "sparse"
    output = compiled(x).astype(np.float32)
    np.testing.assert_allclose(output, reference(model, x).numpy(), **F16_TOLERANCE)


class _DepthwiseNet(torch.nn.Module):
    """An inverted residual (1x1 expand, 3x3 depthwise, 1x1 project) then a stride-2 depthwise conv fed by a
    3x3 conv: one depthwise conv runs fused with its expand conv, the other on its own."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.block = nn.Sequential(nn.Conv2d(16, 96, 1), nn.ReLU6(), nn.Conv2d(96, 96, 3, padding=1, groups=96),
                                   nn.ReLU6(), nn.Conv2d(96, 16, 1))
        self.down = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32), nn.ReLU6())

    def forward(self, x):
        return self.down(x + self.block(x))


@pytest.mark.parametrize("target", F16_CPU_TARGETS)
def test_f16_depthwise_convs_run_generated_kernels(target):
    """f16 depthwise convs (f16 data, f32 sums) are generated kernels, fused with the 1x1 conv feeding them
    where there is one, as in f32; before, an f16 MobileNet-V2 ran every depthwise conv in IREE."""
    torch.manual_seed(0)
    model = _DepthwiseNet().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the depthwise convs stay unpruned, as in MobileNet-V2's recipe
        bcr_mlir.prune(model, "bcr", rate=4)
    x = torch.randn(1, 16, 32, 32)  # the stride-2 depthwise conv does 74k MACs: over MIN_MACS
    compiled = bcr_mlir.compile(model, (x,), target=target, dtype="f16")
    depthwise = [layer for layer in compiled.report.layers if layer.op == "depthwise conv2d"]
    assert [layer.mode for layer in depthwise] == ["sparse", "sparse"], compiled.report
    assert "one with 'block.0'" in compiled.report.find("block.2").kernel
    assert "one with" not in compiled.report.find("down.2").kernel
    output = compiled(x).astype(np.float32)
    np.testing.assert_allclose(output, reference(model, x).numpy(), **F16_TOLERANCE)


@pytest.mark.parametrize("target", F16_CPU_TARGETS)
def test_f16_max_pool_runs_a_generated_kernel(target):
    """An f16 max-pool over a ReLU output is a generated kernel (a max over each channel's taps), as in f32."""
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(8, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                          nn.Conv2d(32, 16, 3, padding=1)).eval()
    bcr_mlir.prune(model, "bcr", rate=4)
    x = torch.randn(1, 8, 40, 40)
    compiled = bcr_mlir.compile(model, (x,), target=target, dtype="f16")
    assert compiled.report.find("max_pool_1").mode == "kernel", compiled.report
    output = compiled(x).astype(np.float32)
    np.testing.assert_allclose(output, reference(model, x).numpy(), **F16_TOLERANCE)


def test_f16_needs_fullfp16_on_arm64(demo_model):
    model, x = demo_model
    with pytest.raises(BcrError, match="needs the fullfp16 CPU feature"):
        bcr_mlir.compile(model, (x,), target="arm64-android:features=neon", dtype="f16")


def test_f16_needs_an_f16_vulkan_target(demo_model):
    model, x = demo_model
    with pytest.raises(BcrError, match="use target='vulkan:baseline_f16'"):
        bcr_mlir.compile(model, (x,), target="vulkan", dtype="f16")


def test_unknown_dtype(demo_model):
    model, x = demo_model
    with pytest.raises(BcrError, match="unknown dtype 'bf16'"):
        bcr_mlir.compile(model, (x,), dtype="bf16")


@pytest.mark.parametrize("target", [*F16_CPU_TARGETS, pytest.param("vulkan:baseline_f16", marks=pytest.mark.vulkan)])
def test_f16_transposed_convs_run_as_stacked_phases(target):
    """An f16 decoder: strided ConvTranspose layers run as one conv of their output phases' stacked filters,
    with the bias tiled over the phases (an f16 vector, widened to f32 at run time) and the narrowing and ReLU
    fused, all sparse."""
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.ConvTranspose2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),
                          nn.ConvTranspose2d(32, 8, 3, stride=2, padding=1, output_padding=1)).eval()
    bcr_mlir.prune(model, "bcr", rate=4)
    x = torch.randn(1, 16, 8, 8)
    compiled = bcr_mlir.compile(model, (x,), target=target, dtype="f16")
    layers = [(layer.name, layer.op, layer.mode) for layer in compiled.report.layers]
    assert layers == [("0", "transposed conv2d", "sparse"), ("2", "transposed conv2d", "sparse")], compiled.report
    output = compiled(x).astype(np.float32)
    np.testing.assert_allclose(output, reference(model, x).numpy(), **F16_TOLERANCE)
