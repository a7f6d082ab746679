"""dtype='f16': f16 weights and activations (f32 accumulation) on x86, arm64 (fullfp16) and Vulkan.

Tolerance against the f32 PyTorch model: rtol 1e-2, atol 1e-3. f16 keeps 11 significant bits (a
relative step of 2^-11 ~ 5e-4 per rounding); activations are rounded once per layer, so a few
layers of rounding stay well inside 1e-2 relative, and 1e-3 absolute covers outputs near zero.
"""
from __future__ import annotations

import numpy as np
import pytest

import bcr_mlir
from bcr_mlir.errors import BcrError
from helpers import pruned, reference

F16_TOLERANCE = {"rtol": 1e-2, "atol": 1e-3}


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
    compiled = check_f16("arm64-android:cpu=cortex-a76,features=neon+fullfp16+dotprod")
    assert compiled.report.sparse_layers


@pytest.mark.vulkan
def test_f16_vulkan_baseline_f16():
    check_f16("vulkan:baseline_f16")


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
