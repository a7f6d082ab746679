"""Differential tests: random pruned models, compiled for x86, arm64 (qemu-user) and Vulkan (lavapipe),
must give PyTorch's output within rtol = atol = 1e-4.

The cases (fuzz_models.py) vary the layer kind (Conv2d, Conv3d, Linear), channels, kernel sizes 1/3/5,
strides, padding, dilation, batch, activations, a linear head, the pruning options and rate, and
whether the cost model may keep small layers dense. Each target's cases are split evenly over the six
schemes (one test per scheme), so every scheme runs on every target. A failure prints the Case as
code: add it to test_regressions.py.

The "blocks" tests draw MobileNet-V2 inverted residual blocks (1x1 expand, depthwise conv, 1x1 project,
skip connection, ReLU after the add or not) and their ResNet relatives (a full middle conv, a 3x3
project conv, a 1x1-conv shortcut), every conv but the depthwise ones pruned: what
bcr-fuse-expand-depthwise and bcr-fuse-residual-adds rewrite.

The "f16" tests compile any of these cases with dtype="f16" (f16 weights and activations, f32
accumulation), for x86, arm64 with fullfp16 and Vulkan with 16-bit floats, at rtol 1e-2 and an
absolute tolerance of 1e-2 of the output's largest magnitude.

The "run_time_masks" tests take layer-stack cases and apply their masks at run time instead: with
torch.nn.utils.prune (weight_orig * weight_mask), with a float mask buffer a forward pre-hook multiplies
in, or with a boolean one it selects by (torch.where), each over the unpruned weights. Besides PyTorch's output, each must get the report of the same case
with its zeros written in: the same layers, schemes and decisions.

The "convs" tests draw stacks of Conv1d layers, or of grouped Conv2d / Conv1d layers (2 or more input
channels per filter), with strides, padding and dilation: what bcr-raise-sparse-layers takes as a conv2d
of one row or as one conv of a block-diagonal weight.

The "rnn" tests draw a GRU or an LSTM (layers, bidirectional, bias, batch_first, an LSTM projection,
every step's output or the last's) and an optional linear head, pruned with the schemes that take gate
matrices (BCR, group, unstructured, N:M).

    CI:    50 x86 + 30 arm64 + 30 Vulkan cases, 12 + 6 + 6 blocks cases, 16 + 8 + 8 rnn cases, 12 + 6 + 6
           convs cases, 9 + 6 + 6 f16 cases and 8 + 4 + 4 run-time-mask cases, derandomized (the same cases
           on every run)
    full:  BCR_FULL_FUZZ=1 (360 x86 cases, >= 300 distinct, 120 blocks, 80 rnn, 120 convs, 90 f16 and 60
           run-time-mask cases, fresh ones each run; BCR_FUZZ_SEED=N repeats a run)
"""
from __future__ import annotations

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st

from dataclasses import replace

from fuzz_models import (ARM64, BLOCK_SCHEMES, FULL, MASK_FORMS, RNN_SCHEMES, SCHEMES, SEED, VULKAN, X86, block_cases,
                         cases, check_case, compile_case, conv_cases, fuzz_settings, rnn_cases)


def _fuzz(name: str, strategy, schemes: tuple[str, ...], scheme: str, seed_offset: int = 0):
    """The property for one target's cases (`name`: its EXAMPLES entry) and scheme, with its settings and seed."""
    def decorate(test):
        test = given(case=strategy)(test)
        test = fuzz_settings(name, (schemes.index(scheme), len(schemes)))(test)
        return seed(SEED + seed_offset + schemes.index(scheme))(test) if FULL else test
    return decorate


# target: (bcr_mlir target, Limits, inputs per case; 1 on arm64, where every call is a fresh
# iree-run-module under qemu-user), and its pytest marks.
TARGETS = {"x86": ("x86-host", X86, 2, ()), "arm64": ("arm64-android", ARM64, 1, (pytest.mark.arm64,)),
           "vulkan": ("vulkan", VULKAN, 2, (pytest.mark.vulkan,))}


def _targets_and(schemes: tuple[str, ...]) -> list:
    return [pytest.param(target, scheme, marks=TARGETS[target][3], id=f"{target}-{scheme}")
            for target in TARGETS for scheme in schemes]


@pytest.mark.parametrize("target,scheme", _targets_and(SCHEMES))
def test_matches_pytorch(target, scheme):
    name, limits, inputs, _ = TARGETS[target]

    @_fuzz(target, cases(limits, scheme), SCHEMES, scheme)
    def run(case):
        check_case(case, name, inputs=inputs)
    run()


@pytest.mark.parametrize("target,scheme", _targets_and(BLOCK_SCHEMES))
def test_blocks_match_pytorch(target, scheme):
    name, limits, inputs, _ = TARGETS[target]

    @_fuzz(f"{target}_blocks", block_cases(limits, scheme), BLOCK_SCHEMES, scheme, len(SCHEMES))
    def run(case):
        check_case(case, name, inputs=inputs)
    run()


@pytest.mark.parametrize("target,scheme", _targets_and(RNN_SCHEMES))
def test_rnns_match_pytorch(target, scheme):
    name, limits, inputs, _ = TARGETS[target]

    @_fuzz(f"{target}_rnn", rnn_cases(limits, scheme), RNN_SCHEMES, scheme, len(SCHEMES) + len(BLOCK_SCHEMES))
    def run(case):
        check_case(case, name, inputs=inputs)
    run()


@pytest.mark.parametrize("target,scheme", _targets_and(SCHEMES))
def test_conv1d_and_grouped_convs_match_pytorch(target, scheme):
    name, limits, inputs, _ = TARGETS[target]

    @_fuzz(f"{target}_convs", conv_cases(limits, scheme), SCHEMES, scheme, 100)
    def run(case):
        check_case(case, name, inputs=inputs)
    run()


# dtype="f16" needs fullfp16 on arm64 and 16-bit floats on Vulkan.
F16_TARGETS = {"x86": "x86-host", "arm64": "arm64-android:cpu=cortex-a76,features=neon+fullfp16+dotprod",
               "vulkan": "vulkan:baseline_f16"}
F16_KINDS = ("layers", "blocks", "rnn")


def _f16_cases(kind: str, limits):
    """Any case of a kind, with any of the schemes that kind takes."""
    if kind == "layers":
        return cases(limits)
    strategy, schemes = {"blocks": (block_cases, BLOCK_SCHEMES), "rnn": (rnn_cases, RNN_SCHEMES)}[kind]
    return st.sampled_from(schemes).flatmap(lambda scheme: strategy(limits, scheme))


@pytest.mark.parametrize("target,kind", _targets_and(F16_KINDS))
def test_f16_matches_pytorch(target, kind):
    _, limits, inputs, _ = TARGETS[target]

    @_fuzz(f"{target}_f16", _f16_cases(kind, limits), F16_KINDS, kind,
           len(SCHEMES) + len(BLOCK_SCHEMES) + len(RNN_SCHEMES))
    def run(case):
        check_case(case, F16_TARGETS[target], inputs=inputs, dtype="f16")
    run()


RUN_TIME_MASKS = MASK_FORMS[1:]


@pytest.mark.parametrize("target,form", _targets_and(RUN_TIME_MASKS))
def test_run_time_masks_match_pytorch(target, form):
    """Layer-stack cases whose masks are applied at run time (torch.nn.utils.prune, a forward pre-hook
    with a float or a boolean mask) instead of written into the weights."""
    name, limits, inputs, _ = TARGETS[target]
    strategy = st.sampled_from(SCHEMES).flatmap(lambda scheme: cases(limits, scheme)).map(
        lambda case: replace(case, mask_form=form))

    @_fuzz(f"{target}_masks", strategy, RUN_TIME_MASKS, form,
           len(SCHEMES) + len(BLOCK_SCHEMES) + len(RNN_SCHEMES) + len(F16_KINDS))
    def run(case):
        compiled = check_case(case, name, inputs=inputs)
        # The masks applied at run time are seen as the zeros written in: the same layers, decided alike.
        _, _, written = compile_case(replace(case, mask_form="metadata"), name)
        assert _decisions(compiled) == _decisions(written), f"{compiled.report.table()}\n!=\n{written.report.table()}"
    run()


def _decisions(compiled) -> list[tuple]:
    return [(layer.name, layer.op, layer.scheme, layer.mode, layer.uses) for layer in compiled.report.layers]
