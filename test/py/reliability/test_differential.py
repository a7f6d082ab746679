"""Differential tests: random pruned models, compiled for x86, arm64 (qemu-user) and Vulkan (lavapipe),
must give PyTorch's output within rtol = atol = 1e-4.

The cases (fuzz_models.py) vary the layer kind (Conv2d, Conv3d, Linear), channels, kernel sizes 1/3/5,
strides, padding, dilation, batch, activations, a linear head, the pruning scheme (bcr, pattern,
kgs, group, unstructured, n:m) with its options and rate, and whether the cost model may keep small
layers dense. A failure prints the Case as code; add it to test_regressions.py.
"""
from __future__ import annotations

import pytest
from hypothesis import given, seed

from fuzz_models import ARM64, FULL, SEED, VULKAN, X86, cases, check_case, fuzz_settings


def _seeded(test):
    return seed(SEED)(test) if FULL else test


@_seeded
@fuzz_settings("x86")
@given(case=cases(X86))
def test_x86_matches_pytorch(case):
    check_case(case, "x86-host")


@pytest.mark.arm64
@_seeded
@fuzz_settings("arm64")
@given(case=cases(ARM64))
def test_arm64_matches_pytorch(case):
    # One input per case: every call is a fresh iree-run-module under qemu-user.
    check_case(case, "arm64-android", inputs=1)


@pytest.mark.vulkan
@_seeded
@fuzz_settings("vulkan")
@given(case=cases(VULKAN))
def test_vulkan_matches_pytorch(case):
    check_case(case, "vulkan")
