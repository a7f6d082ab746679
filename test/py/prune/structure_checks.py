"""Brute-force checkers for each scheme's structure, written independently of the library.

Each takes a weight (numpy, any shape) and raises AssertionError if its nonzeros break the scheme.
They look only at the zeros, like the compiler's verifier does.
"""
import math

import numpy as np


def as_matrix(weight):
    w = np.asarray(weight)
    return w.reshape(w.shape[0], -1)


def rate(weight):
    w = np.asarray(weight)
    return w.size / max(1, np.count_nonzero(w))


def check_bcr(weight, block, balanced):
    """Inside every block the nonzeros are exactly (kept rows) x (kept cols)."""
    m = as_matrix(weight) != 0
    rows, cols = m.shape
    br, bc = block
    counts = set()
    for r0 in range(0, rows, br):
        for c0 in range(0, cols, bc):
            sub = m[r0:r0 + br, c0:c0 + bc]
            kept_rows = sub.any(axis=1)
            kept_cols = sub.any(axis=0)
            assert (sub == np.outer(kept_rows, kept_cols)).all(), f"block at ({r0}, {c0}) is not rows x cols"
            if sub.shape == (br, bc):
                counts.add((int(kept_rows.sum()), int(kept_cols.sum())))
    if balanced:
        assert len(counts) == 1, f"balanced, but full blocks keep different (rows, cols): {sorted(counts)}"
        (kr, kc), = counts
        for r0 in range(0, rows, br):
            for c0 in range(0, cols, bc):
                sub = m[r0:r0 + br, c0:c0 + bc]
                assert sub.any(axis=1).sum() == min(kr, sub.shape[0])
                assert sub.any(axis=0).sum() == min(kc, sub.shape[1])
    return counts


def check_pattern(weight, patterns, num_patterns=8):
    """Every kernel is all-zero or keeps exactly 4 entries, centre included, in a listed pattern."""
    w = np.asarray(weight)
    assert w.shape[2:] == (3, 3)
    assert len(set(patterns)) == len(patterns) <= num_patterns
    kernels = (w != 0).reshape(-1, 9)
    used = set()
    for k in kernels:
        if not k.any():
            continue
        bits = sum(1 << i for i in range(9) if k[i])
        assert k.sum() == 4 and k[4], f"kernel keeps {np.flatnonzero(k).tolist()}"
        assert bits in patterns, f"kernel pattern {bits} not in the layer's set {patterns}"
        used.add(bits)
    return kernels.any(axis=1).sum()


def check_kernel_groups(weight, group, vanilla=False):
    """All kernels of a gM x gN group keep the same positions (vanilla: all or nothing)."""
    w = np.asarray(weight)
    cout, cin = w.shape[:2]
    nz = (w != 0).reshape(cout, cin, -1)
    gm, gn = group
    for o0 in range(0, cout, gm):
        for c0 in range(0, cin, gn):
            g = nz[o0:o0 + gm, c0:c0 + gn]
            first = g[0, 0]
            assert (g == first).all(), f"group at ({o0}, {c0}) has kernels with different positions"
            if vanilla:
                assert first.all() or not first.any(), f"vanilla group at ({o0}, {c0}) is partly pruned"


def check_channel_groups(weight, gm):
    """Linear / 1x1: every group of gM rows keeps the same input columns."""
    m = as_matrix(weight) != 0
    for o0 in range(0, m.shape[0], gm):
        g = m[o0:o0 + gm]
        assert (g == g[0]).all(), f"row group at {o0} keeps different input channels"


def check_nm(weight, n, m_):
    mat = as_matrix(weight) != 0
    for c0 in range(0, mat.shape[1], m_):
        run = mat[:, c0:c0 + m_]
        assert (run.sum(axis=1) <= min(n, run.shape[1])).all(), f"run at column {c0} keeps more than {n}"


def check_unstructured(original, pruned):
    """The kept weights are the largest in magnitude."""
    orig = np.abs(np.asarray(original)).ravel()
    kept = np.asarray(pruned).ravel() != 0
    if kept.all() or not kept.any():
        return
    assert orig[kept].min() >= orig[~kept].max()


def close_rate(achieved, target, unit_fraction):
    """The achieved rate is the target up to one unit of granularity (fraction of the layer)."""
    kept = 1 / achieved
    assert abs(kept - 1 / target) <= unit_fraction + 1e-9, f"rate {achieved:.3f} vs target {target}"
    return math.isfinite(achieved)
