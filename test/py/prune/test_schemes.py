"""Each scheme on each layer type it applies to: the zeros obey the structure exactly, the rate is met."""
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import bcr_mlir
from bcr_mlir.prune import BCR, KGS, NM, Group, KGSVanilla, Pattern, Unstructured, sparsity_plan
from bcr_mlir.prune.schemes.pattern import CANDIDATES

import structure_checks as check

KINDS = ("conv1d", "conv2d", "conv3d", "linear", "gru", "lstm")


def nearest(x: float) -> int:
    """The pruner's rounding of a keep budget: to the nearest count, halves up (1.5 -> 2, 2.5 -> 3)."""
    return math.floor(x + 0.5)


def make(kind: str) -> nn.Module:
    torch.manual_seed(0)
    return {
        "conv1d": lambda: nn.Sequential(nn.Conv1d(16, 32, 5)),        # 32 x 80
        "conv2d": lambda: nn.Sequential(nn.Conv2d(16, 32, 3)),        # matrix 32 x 144
        "conv3d": lambda: nn.Sequential(nn.Conv3d(8, 16, 3)),         # 16 x 216 (ragged last column block)
        "linear": lambda: nn.Sequential(nn.Linear(64, 48)),           # 48 x 64
        "gru": lambda: nn.GRU(12, 16),                                # 48 x 12 and 48 x 16
        "lstm": lambda: nn.LSTM(12, 16, bidirectional=True),          # 64 x 12, 64 x 16, and _reverse
    }[kind]()


def weights(model):
    return {name: p.detach().numpy() for name, p in model.named_parameters()}


# (scheme, options, kinds it applies to)
CASES = [
    ("bcr", dict(rate=8), KINDS),
    ("bcr", dict(rate=8, balanced=True), KINDS),
    ("bcr", dict(rate=6, block=(4, 8), row_share=0.5), KINDS),
    ("pattern", dict(connectivity_rate=3.6), ("conv2d",)),
    ("kgs", dict(rate=4, group=(4, 4)), ("conv2d", "conv3d")),
    ("kgs_vanilla", dict(rate=3, group=(4, 2)), ("conv2d", "conv3d")),
    ("group", dict(rate=4, group=(4, 4)), KINDS),
    ("unstructured", dict(rate=8), KINDS),
    ("nm", dict(), KINDS),
]
APPLICABLE = [(s, o, k) for s, o, kinds in CASES for k in kinds]


def unit_fraction(scheme, params, shape):
    """The scheme's granularity as a fraction of the layer: how far 'within rounding' may go."""
    total = int(np.prod(shape))
    volume = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    unit = {"bcr": lambda: params["block"][0], "pattern": lambda: 4,
            "kgs": lambda: params["group"][0] * params["group"][1],
            "kgs_vanilla": lambda: params["group"][0] * params["group"][1] * volume,
            "group": lambda: params["group"][0] * (params["group"][1] if volume > 1 else 1),
            "unstructured": lambda: 1, "nm": lambda: 0}[scheme]()
    return unit / total


@pytest.mark.parametrize("scheme,options,kind", APPLICABLE, ids=[f"{s}-{k}-{i}" for i, (s, _, k) in enumerate(APPLICABLE)])
def test_structure_and_rate(scheme, options, kind):
    model = make(kind)
    before = weights(model)
    bcr_mlir.prune(model, scheme, **options)
    plan = sparsity_plan(model)
    expected = [n for n in before if "weight" in n and "bias" not in n]
    assert sorted(plan) == sorted(expected), "every weight of the layer type is pruned"
    after = weights(model)
    for name, info in plan.items():
        w = after[name]
        assert info.scheme == scheme
        assert info.rate == pytest.approx(check.rate(w))
        if scheme == "bcr":
            check.check_bcr(w, info.params["block"], info.params["balanced"])
        elif scheme == "pattern":
            kept_kernels = check.check_pattern(w, info.params["patterns"])
            kernels = w.shape[0] * w.shape[1]
            assert kept_kernels == nearest(kernels / 3.6)
            assert info.rate == pytest.approx(w.size / (4 * kept_kernels))
        elif scheme in ("kgs", "kgs_vanilla"):
            check.check_kernel_groups(w, info.params["group"], vanilla=scheme == "kgs_vanilla")
        elif scheme == "group":
            if w.ndim > 2:
                check.check_kernel_groups(w, info.params["group"])
            else:
                check.check_channel_groups(w, info.params["group"][0])
        elif scheme == "nm":
            check.check_nm(w, 2, 4)
            assert info.rate == pytest.approx(2.0)
        elif scheme == "unstructured":
            check.check_unstructured(before[name], w)
        # Untouched entries keep their values: pruning only zeroes.
        kept = w != 0
        np.testing.assert_array_equal(w[kept], before[name][kept])
        if "rate" in options and not (scheme == "bcr" and options.get("balanced")):
            check.close_rate(info.rate, options["rate"], unit_fraction(scheme, info.params, w.shape))


def test_bcr_default_block_and_clipping():
    model = make("gru")
    bcr_mlir.prune(model, "bcr", rate=4)
    plan = sparsity_plan(model)
    assert plan["weight_ih_l0"].params == {"block": [8, 12], "balanced": False}   # 12 columns < 16
    assert plan["weight_hh_l0"].params == {"block": [8, 16], "balanced": False}


@pytest.mark.parametrize("rate,rows,cols", [(8, 8, 2), (4, 8, 4), (32, 4, 1), (128, 1, 1)])
def test_bcr_balanced_counts(rate, rows, cols):
    """Column-dominant: rows are pruned only once one column per block is not enough."""
    torch.manual_seed(1)
    w = torch.randn(32, 64)
    mask = BCR(rate=rate, block=(8, 16), balanced=True).mask(w).numpy()
    assert check.check_bcr(mask, (8, 16), balanced=True) == {(rows, cols)}
    assert check.rate(mask) == rate


def test_bcr_column_dominant_keeps_all_rows():
    w = torch.randn(64, 128)
    mask = BCR(rate=8).mask(w).numpy()
    counts = check.check_bcr(mask, (8, 16), balanced=False)
    assert {r for r, c in counts if c} == {8}, "with row_share=0 no row of a block is pruned"
    assert check.rate(mask) == 8


def test_bcr_balanced_keeps_the_strongest_columns():
    w = torch.randn(8, 16)
    w[:, [3, 11]] *= 10
    mask = BCR(rate=8, block=(8, 16), balanced=True).mask(w)
    assert mask.any(0).nonzero().flatten().tolist() == [3, 11]


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), data=st.data(),
       rate=st.floats(1.01, 64), balanced=st.booleans(), row_share=st.sampled_from([0.0, 0.3, 1.0]))
def test_bcr_property(rows, cols, data, rate, balanced, row_share):
    block = (data.draw(st.integers(1, rows)), data.draw(st.integers(1, cols)))
    w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(rows * 41 + cols))
    mask = BCR(rate=rate, block=block, balanced=balanced, row_share=row_share).mask(w).numpy()
    check.check_bcr(mask, block, balanced)
    assert mask.any()
    if not balanced and row_share == 0:
        # Whole column segments are the unit: within one segment (block rows) of the target.
        assert abs(mask.sum() - w.numel() / rate) <= block[0]


def _kernels_with_patterns(counts, cout=8, cin=None):
    """Conv weights whose kernels follow given patterns, `counts[p]` kernels for pattern p."""
    total = sum(counts.values())
    cin = cin or total // cout
    torch.manual_seed(2)
    w = torch.randn(cout * cin, 9) * 0.01
    row = 0
    for bits, n in counts.items():
        for _ in range(n):
            positions = [i for i in range(9) if bits >> i & 1]
            w[row, positions] = 1.0 + torch.rand(len(positions))
            row += 1
    return w.view(cout, cin, 3, 3)


def test_pattern_set_is_the_most_frequent():
    counts = {CANDIDATES[5]: 20, CANDIDATES[40]: 12, CANDIDATES[17]: 6, CANDIDATES[3]: 2}
    w = _kernels_with_patterns(counts, cout=8, cin=5)
    scheme = Pattern(num_patterns=2).resolve(w)
    assert scheme.patterns == (CANDIDATES[5], CANDIDATES[40])
    mask = scheme.mask(w)
    check.check_pattern(mask.numpy(), scheme.patterns, num_patterns=2)
    assert mask.view(-1, 9).any(1).all(), "connectivity_rate 1 keeps every kernel"


@settings(max_examples=25, deadline=None)
@given(cout=st.integers(1, 12), cin=st.integers(1, 12), k=st.integers(1, 56),
       connectivity=st.sampled_from([1.0, 1.5, 3.6, 10.0]))
def test_pattern_property(cout, cin, k, connectivity):
    w = torch.randn(cout, cin, 3, 3, generator=torch.Generator().manual_seed(cout * 13 + cin))
    scheme = Pattern(num_patterns=k, connectivity_rate=connectivity).resolve(w)
    kept = check.check_pattern(scheme.mask(w).numpy(), scheme.patterns, num_patterns=k)
    assert kept == max(1, nearest(cout * cin / connectivity))


def test_pattern_rate_from_total_rate():
    w = torch.randn(32, 16, 3, 3)
    scheme = Pattern(rate=9.0).resolve(w)
    assert scheme.connectivity_rate == pytest.approx(4.0)
    assert check.rate(scheme.mask(w).numpy()) == pytest.approx(9.0)


@settings(max_examples=40, deadline=None)
@given(cout=st.integers(1, 16), cin=st.integers(1, 16), kernel=st.sampled_from([(1, 1), (3, 3), (3, 3, 3), ()]),
       data=st.data(), rate=st.floats(1.01, 20))
def test_group_schemes_property(cout, cin, kernel, data, rate):
    group = (data.draw(st.integers(1, cout)), data.draw(st.integers(1, cin)))
    w = torch.randn(cout, cin, *kernel, generator=torch.Generator().manual_seed(cout * 17 + cin))
    volume = int(np.prod(kernel)) if kernel else 1
    mask = Group(rate=rate, group=group).mask(w).numpy()
    if volume > 1:
        check.check_kernel_groups(mask, group)
        for scheme in (KGS(rate=rate, group=group), KGSVanilla(rate=rate, group=group)):
            check.check_kernel_groups(scheme.mask(w).numpy(), group, vanilla=isinstance(scheme, KGSVanilla))
    else:
        check.check_channel_groups(mask, group[0])


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 10), cols=st.integers(1, 30), nm=st.sampled_from([(2, 4), (1, 4), (4, 8), (1, 2)]))
def test_nm_property(rows, cols, nm):
    w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(rows * 31 + cols))
    mask = NM(n=nm[0], m=nm[1]).mask(w).numpy()
    check.check_nm(mask, *nm)
    full_runs = cols // nm[1]
    assert mask[:, : full_runs * nm[1]].sum() == rows * full_runs * nm[0], "every full run keeps exactly n"


@settings(max_examples=30, deadline=None)
@given(shape=st.sampled_from([(7, 5), (4, 3, 3, 3), (2, 3, 3, 3, 3)]), rate=st.floats(1.01, 50))
def test_unstructured_property(shape, rate):
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(len(shape)))
    mask = Unstructured(rate=rate).mask(w)
    check.check_unstructured(w.numpy(), (w * mask).numpy())
    assert int(mask.sum()) == max(1, nearest(w.numel() / rate))


def test_projection_is_idempotent():
    """ADMM relies on project(project(W)) == project(W) for a resolved scheme."""
    w = torch.randn(16, 8, 3, 3)
    for scheme in (BCR(rate=8), Pattern(connectivity_rate=2), KGS(rate=3), Group(rate=3), NM(), Unstructured(rate=5)):
        scheme = scheme.resolve(w)
        once = scheme.project(w)
        torch.testing.assert_close(scheme.project(once), once)


def test_masks_are_deterministic():
    w = torch.zeros(16, 32)   # all ties: the lower index must win, every time
    for balanced in (False, True):
        masks = [BCR(rate=4, balanced=balanced).mask(w.clone()) for _ in range(2)]
        assert torch.equal(masks[0], masks[1])
    balanced = BCR(rate=4, balanced=True).mask(w)
    assert balanced[:, [0, 1, 2, 3, 16, 17, 18, 19]].all() and int(balanced.sum()) == 128


def test_every_scheme_name_is_registered():
    from bcr_mlir.prune import SCHEMES
    from bcr_mlir.prune.metadata import SCHEME_NAMES
    assert set(SCHEMES) == set(SCHEME_NAMES)
    assert len(list(itertools.chain(CASES))) >= len(SCHEMES)


@pytest.mark.parametrize("shape, rate, connectivity", [((4, 3, 3, 3), 1.6, None), ((3, 5, 3, 3), None, 10.0)])
def test_half_budgets_round_up(shape, rate, connectivity):
    """The ties hypothesis found: 108 / 1.6 = 67.5 weights keep 68; 15 kernels / 10 = 1.5 keep 2."""
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(len(shape)))
    if rate is not None:
        assert int(Unstructured(rate=rate).mask(w).sum()) == 68
    else:
        scheme = Pattern(num_patterns=1, connectivity_rate=connectivity).resolve(w)
        assert int(scheme.mask(w).reshape(-1, 9).any(1).sum()) == 2
