"""Regression tests: the shrunk failures of the differential tests, as hypothesis printed them.

A failure whose cause is outside the reliability files stays here as a strict xfail with a one-line
reason (and a rule in fuzz_models.known_bug, so full runs keep looking for new bugs); when the fix lands
the test XPASSes, which fails the suite: then remove the marker and the known_bug rule.
"""
from __future__ import annotations

import pytest
import torch

import bcr_mlir
from bcr_mlir.errors import BcrError
from fuzz_models import Block, Case, Layer, check_case, known_bug
from helpers import assert_matches_torch

# Full x86 run, BCR_FUZZ_SEED=4145896395, scheme 'group' (the layer stays dense: 9 MACs).
STRIDED_UNIT_OUTPUT = Case("conv2d", batch=1, channels=1, spatial=(1, 2),
                           layers=(Layer(1, kernel=3, stride=2, padding=1, bias=False),),
                           scheme="group", options=(("group", (1, 1)), ("rate", 2.0)), head=0, seed=0)
STRIDED_UNIT_OUTPUT_BUG = ("IREE 3.13 rejects a stride-2 conv with a 1-wide output whose padded input is wider than "
                           "the kernel ('linalg.generic' op inferred ... dimension #1 to be 4, but found 3), "
                           "dense path too")


@pytest.mark.xfail(strict=True, raises=BcrError, reason=STRIDED_UNIT_OUTPUT_BUG)
def test_strided_conv_with_unit_output_x86():
    check_case(STRIDED_UNIT_OUTPUT, "x86-host", inputs=1)


@pytest.mark.xfail(strict=True, raises=BcrError, reason=STRIDED_UNIT_OUTPUT_BUG)
def test_strided_conv_with_unit_output_dense_minimal():
    """The same bug with nothing pruned and nothing of ours on the path: plain Conv2d, sparse=False."""
    torch.manual_seed(0)
    model = torch.nn.Conv2d(1, 1, 3, stride=2, bias=False).eval()
    x = torch.randn(1, 1, 3, 4)  # output 1x1; input column 3 is never read
    compiled = bcr_mlir.compile(model, (x,), sparse=False, dense_flags="default")
    with torch.no_grad():
        assert_matches_torch(compiled(x), model(x))


def test_known_bug_rules_match_their_regressions():
    """The strategies skip exactly what the xfails above cover, and no more."""
    assert known_bug("conv2d", STRIDED_UNIT_OUTPUT.spatial, STRIDED_UNIT_OUTPUT.layers)
    assert known_bug("conv2d", (3, 4), (Layer(1, kernel=3, stride=2),))
    # Neighbours that compile fine stay in the fuzzed space.
    assert known_bug("conv2d", (3, 3), (Layer(1, kernel=3, stride=2),)) is None     # output 1, no spare column
    assert known_bug("conv2d", (5, 6), (Layer(1, kernel=3, stride=2),)) is None     # output 2x2
    assert known_bug("conv2d", (3, 4), (Layer(1, kernel=3, stride=1),)) is None     # stride 1


def test_tuned_flags_stack_limit_falls_back_to_default_flags():
    """Full x86 blocks run, BCR_FUZZ_SEED=1688527530 (shrunk by hand): IREE 3.13 with its tuned CPU flags
    fails on a 1x1 conv feeding a Linear ("exceeded stack allocation limit of 32768 bytes"); its default
    flags compile it. compile() says so in the report and builds the module. When IREE fixes this the
    note goes away and this test fails: then drop the workaround in api.compile_imported."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1, bias=False), torch.nn.Flatten(),
                                torch.nn.Linear(825, 1)).eval()
    x = torch.randn(2, 1, 25, 33)
    for sparse in (False, True):
        compiled = bcr_mlir.compile(model, (x,), sparse=sparse, dense_flags="tuned")
        assert any("tuned CPU flags failed here (" in note and "stack allocation" in note
                   for note in compiled.report.notes), compiled.report.notes
        with torch.no_grad():
            assert_matches_torch(compiled(x), model(x))


# Full x86 blocks run, BCR_FUZZ_SEED=1688527530, scheme 'group': the 1x1 expand conv (2 x 1 weights) was raised
# with a pattern layout, which bcr.packed_expand_depthwise's IRDL definition did not admit ("IR is invalid
# after bcr-fuse-expand-depthwise").
EXPAND_WITH_PATTERN_LAYOUT = Case("blocks", batch=1, channels=1, spatial=(1, 4),
                                  layers=(Block(2, 1, act="none", skip=False, bias=False),), scheme="group",
                                  options=(("group", (1, 1)), ("rate", 2.0)), head=0, seed=0, force_sparse=True)


def test_expand_conv_with_pattern_layout_fuses_x86():
    compiled = check_case(EXPAND_WITH_PATTERN_LAYOUT, "x86-host")
    assert "1 expand conv(s) fused into the depthwise conv(s) they feed" in compiled.report.notes
