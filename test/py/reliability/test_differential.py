"""Differential tests: random pruned models, compiled for x86, arm64 (qemu-user) and Vulkan (lavapipe),
must give PyTorch's output within rtol = atol = 1e-4.

The cases (fuzz_models.py) vary the layer kind (Conv2d, Conv3d, Linear), channels, kernel sizes 1/3/5,
strides, padding, dilation, batch, activations, a linear head, the pruning options and rate, and
whether the cost model may keep small layers dense. Each target's cases are split evenly over the six
schemes (one test per scheme), so every scheme runs on every target. A failure prints the Case as
code: add it to test_regressions.py.

    CI:    50 x86 + 30 arm64 + 30 Vulkan cases, derandomized (the same cases on every run)
    full:  BCR_FULL_FUZZ=1 (360 x86 cases, >= 300 distinct, fresh ones each run; BCR_FUZZ_SEED=N repeats a run)
"""
from __future__ import annotations

import pytest
from hypothesis import given, seed

from fuzz_models import ARM64, FULL, SCHEMES, SEED, VULKAN, X86, cases, check_case, fuzz_settings


def _fuzz(target: str, limits, scheme: str):
    """The property for one target and scheme, with its settings and seed."""
    def decorate(test):
        test = given(case=cases(limits, scheme))(test)
        test = fuzz_settings(target, (SCHEMES.index(scheme), len(SCHEMES)))(test)
        return seed(SEED + SCHEMES.index(scheme))(test) if FULL else test
    return decorate


@pytest.mark.parametrize("scheme", SCHEMES)
def test_x86_matches_pytorch(scheme):
    @_fuzz("x86", X86, scheme)
    def run(case):
        check_case(case, "x86-host")
    run()


@pytest.mark.arm64
@pytest.mark.parametrize("scheme", SCHEMES)
def test_arm64_matches_pytorch(scheme):
    @_fuzz("arm64", ARM64, scheme)
    def run(case):
        check_case(case, "arm64-android", inputs=1)  # every call is a fresh iree-run-module under qemu-user
    run()


@pytest.mark.vulkan
@pytest.mark.parametrize("scheme", SCHEMES)
def test_vulkan_matches_pytorch(scheme):
    @_fuzz("vulkan", VULKAN, scheme)
    def run(case):
        check_case(case, "vulkan")
    run()
