"""Differential tests: random pruned models, compiled for x86, arm64 (qemu-user) and Vulkan (lavapipe),
must give PyTorch's output within rtol = atol = 1e-4.

The cases (fuzz_models.py) vary the layer kind (Conv2d, Conv3d, Linear), channels, kernel sizes 1/3/5,
strides, padding, dilation, batch, activations, a linear head, the pruning options and rate, and
whether the cost model may keep small layers dense. Each target's cases are split evenly over the six
schemes (one test per scheme), so every scheme runs on every target. A failure prints the Case as
code: add it to test_regressions.py.

The "blocks" tests draw MobileNet-V2 inverted residual blocks (1x1 expand, depthwise conv, 1x1 project,
skip connection, ReLU after the add or not), pruned on their 1x1 convs: what bcr-fuse-expand-depthwise
and bcr-fuse-residual-adds rewrite.

    CI:    50 x86 + 30 arm64 + 30 Vulkan cases, and 12 + 4 + 4 blocks cases, derandomized (the same
           cases on every run)
    full:  BCR_FULL_FUZZ=1 (360 x86 cases, >= 300 distinct, and 120 blocks cases, fresh ones each run;
           BCR_FUZZ_SEED=N repeats a run)
"""
from __future__ import annotations

import pytest
from hypothesis import given, seed

from fuzz_models import (ARM64, BLOCK_SCHEMES, FULL, SCHEMES, SEED, VULKAN, X86, block_cases, cases, check_case,
                         fuzz_settings)


def _fuzz(name: str, strategy, schemes: tuple[str, ...], scheme: str, seed_offset: int = 0):
    """The property for one target's cases (`name`: its EXAMPLES entry) and scheme, with its settings and seed."""
    def decorate(test):
        test = given(case=strategy)(test)
        test = fuzz_settings(name, (schemes.index(scheme), len(schemes)))(test)
        return seed(SEED + seed_offset + schemes.index(scheme))(test) if FULL else test
    return decorate


@pytest.mark.parametrize("scheme", SCHEMES)
def test_x86_matches_pytorch(scheme):
    @_fuzz("x86", cases(X86, scheme), SCHEMES, scheme)
    def run(case):
        check_case(case, "x86-host")
    run()


@pytest.mark.arm64
@pytest.mark.parametrize("scheme", SCHEMES)
def test_arm64_matches_pytorch(scheme):
    @_fuzz("arm64", cases(ARM64, scheme), SCHEMES, scheme)
    def run(case):
        check_case(case, "arm64-android", inputs=1)  # every call is a fresh iree-run-module under qemu-user
    run()


@pytest.mark.vulkan
@pytest.mark.parametrize("scheme", SCHEMES)
def test_vulkan_matches_pytorch(scheme):
    @_fuzz("vulkan", cases(VULKAN, scheme), SCHEMES, scheme)
    def run(case):
        check_case(case, "vulkan")
    run()


@pytest.mark.parametrize("scheme", BLOCK_SCHEMES)
def test_x86_blocks_match_pytorch(scheme):
    @_fuzz("x86_blocks", block_cases(X86, scheme), BLOCK_SCHEMES, scheme, len(SCHEMES))
    def run(case):
        check_case(case, "x86-host")
    run()


@pytest.mark.arm64
@pytest.mark.parametrize("scheme", BLOCK_SCHEMES)
def test_arm64_blocks_match_pytorch(scheme):
    @_fuzz("arm64_blocks", block_cases(ARM64, scheme), BLOCK_SCHEMES, scheme, len(SCHEMES))
    def run(case):
        check_case(case, "arm64-android", inputs=1)
    run()


@pytest.mark.vulkan
@pytest.mark.parametrize("scheme", BLOCK_SCHEMES)
def test_vulkan_blocks_match_pytorch(scheme):
    @_fuzz("vulkan_blocks", block_cases(VULKAN, scheme), BLOCK_SCHEMES, scheme, len(SCHEMES))
    def run(case):
        check_case(case, "vulkan")
    run()
