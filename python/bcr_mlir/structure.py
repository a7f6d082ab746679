"""Sparsity structure of a weight: read it from the pruning metadata or detect it from the zeros,
check it, and price it for the cost model.

All schemes are seen through the same 2-D matrix view: a conv weight [Cout, Cin, *kernel] is the matrix
[Cout, Cin*prod(kernel)]; a matmul weight [N, K] is itself. Every scheme then means "groups of rows
share input columns", which is what the generated kernels exploit (bcr_mlir/storage.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcr_mlir.dialect import BcrLayout, GroupLayout, PatternLayout, constant_identity
from bcr_mlir.storage import group_work

# Register blocks the CPU kernels use: one input load feeds this many output rows.
GROUP_CHOICES = (1, 2, 4, 8, 16)
BLOCK_ROW_CHOICES = (16, 8, 4)
DEFAULT_BLOCK = (8, 16)
# Kernel efficiency per useful multiply-add by register block, relative to a block of 8 rows:
# small blocks pay one input load per FMA instead of one per 8 (measured shape, see kernels/schedule.py).
GROUP_EFFICIENCY = {1: 0.6, 2: 0.75, 4: 0.9, 8: 1.0, 16: 1.0}

# IREE's own lowering of some ops is far from its matmul/conv2d speed; for those the generated kernel
# wins even on dense weights. Measured on this project's CI machine kind (tools/bench_layers.py):
# IREE 3.13 ran a dense conv3d 28-32x slower than the generated kernel on the same dense weights.
IREE_SLOWDOWN = {"conv3d": 20.0}
# IREE 3.13's x86 conv2d (an im2col gather, then a data-tiled matmul) on large outputs: dense 3x3 and 7x7
# convs with at least 56x56 outputs ran 1.74-2.04x slower than the generated kernel on the same dense
# weights (1 thread, both tuned: MobileNet-V2's 3->32 stride-2 stem 2.04x, ResNet-18's 7x7 stem 1.74x,
# 4/8/16->32 at 64x64 1.93-1.95x, 64->64 at 56x56 1.96x). Smaller outputs gained 1.1-1.5x and 1x1
# convs nothing, so those stay with IREE. Not measured on other targets, which keep IREE.
LARGE_CONV2D_SLOWDOWN = 1.9
LARGE_CONV2D_POSITIONS = 56 * 56
# A grouped conv runs as one conv2d of its block-diagonal weight (bcr-raise-sparse-layers), so the cost model
# compares with IREE's dense conv of that whole weight. IREE 3.13's own grouped conv, though it has G times
# fewer MACs, took (x86, 1 thread, 3x3 kernels) 12x that time at G = 2 (128 channels at 28x28), 9.4x (G = 2,
# 64 at 56x56), 6.3x (G = 4), 3.3x (G = 8) and 0.6-0.9x at G = 32, where the block diagonal alone is 16x
# less work; a 1x1 grouped conv (G = 3) 0.64x. So 3.0 for grouped convs with taps, 1.0 for 1x1 ones.
GROUPED_CONV2D_SLOWDOWN = 3.0
# IREE 3.13's x86 conv1d with taps (linalg.conv_1d_ncw_fcw) against the generated kernel (a conv2d of one
# row) on the same dense weights, 1 thread, both tuned: 26x (128 -> 128 channels, k = 3, length 400), 34x
# (64 -> 64, k = 9, 1000), 13x (40 -> 128, k = 3, stride 2, 16000); at 2 threads 6.9-22x. A 1x1 conv1d
# is a matmul to IREE: 1.14x / 0.71x, so it stays with IREE.
CONV1D_SLOWDOWN = 13.0
# A strided transposed conv runs as one conv of its output phases' stacked filters, then a depth-to-space
# (bcr-split-transposed-convs). IREE 3.13 fuses that transpose into its conv's dispatch and loses its
# data-tiled matmul: on the same weights the generated kernel was 4.3-8.7x faster at 1 thread and 3.1-6.4x at 2
# (kernel = stride: 64 -> 32 channels at 32x32 and 256 -> 128 at 8x8), and 5.2-10x per useful multiply-add where
# the common window holds zero taps (k4 s2 p1, k3 s2 p1 op1; x86, 2026-12-08). On Vulkan (Mesa's lavapipe)
# the generated kernel ran these unpruned layers 0.97-6.1x as fast as IREE's conv of the stacked filters, and
# 0.99-3.3x as fast as IREE's separate phase convs.
TRANSPOSED_CONV_SLOWDOWN = 3.0

# Cost-model thresholds (see `decide`).
MIN_MACS = 50_000          # smaller layers cost more to dispatch than they save
MIN_SPEEDUP = 1.6          # expected speedup below which the dense IREE path is kept
KERNEL_EFFICIENCY = 0.7    # generated kernel vs IREE dense, per useful FMA, at a block of 8 rows
PATTERN_MAX_ENTRIES = 4    # PatDNN keeps 4 of 9
PATTERN_MAX_SHAPES = 32    # more distinct kernel shapes than this is not a pattern scheme


def matrix_view(weight: np.ndarray) -> np.ndarray:
    return weight.reshape(weight.shape[0], -1)


def block_row_columns(matrix: np.ndarray, block_rows: int) -> list[np.ndarray]:
    """For every block-row, the sorted columns holding a nonzero in any of its rows."""
    nonzero = matrix != 0
    return [np.flatnonzero(nonzero[start:start + block_rows].any(axis=0)) for start in range(0, matrix.shape[0], block_rows)]


def efficiency(group_rows: int) -> float:
    return GROUP_EFFICIENCY.get(group_rows, 1.0 if group_rows > 8 else 0.6)


def modeled_cost(matrix: np.ndarray, group_rows: int, order: np.ndarray | None = None) -> float:
    """Time of the generated kernel in units of one dense FMA at full efficiency."""
    return group_work(matrix, group_rows, order) / efficiency(group_rows)


# ---- Layouts from the zeros ---------------------------------------------------------------------

def kernel_masks(weight: np.ndarray) -> np.ndarray:
    """Per (out, in) kernel, its nonzero positions as a bitmask (bit kh*KW + kw)."""
    cout, cin = weight.shape[:2]
    positions = int(np.prod(weight.shape[2:]))
    bits = (weight.reshape(cout, cin, positions) != 0).astype(np.int64)
    return (bits << np.arange(positions)).sum(axis=2)


def pattern_layout(weight: np.ndarray) -> PatternLayout | None:
    """A PatternLayout when every kernel keeps <= 4 entries from a small set of shapes, else None."""
    if weight.ndim != 4:
        return None
    masks = kernel_masks(weight)
    kept = masks[masks != 0]
    if kept.size == 0:
        return None
    entries = np.array([bin(int(m)).count("1") for m in np.unique(kept)])
    shapes = np.unique(kept)
    if entries.max() > PATTERN_MAX_ENTRIES or shapes.size > PATTERN_MAX_SHAPES:
        return None
    return PatternLayout(tuple(weight.shape[:2]), tuple(weight.shape[2:]), tuple(int(s) for s in shapes), int(kept.size))


def group_layout(weight: np.ndarray, group: tuple[int, int]) -> GroupLayout:
    """The GroupLayout of `weight` for output groups of group[0] and input groups of group[1] channels."""
    cout, cin = weight.shape[:2]
    positions = int(np.prod(weight.shape[2:])) if weight.ndim > 2 else 1
    nonzero = (weight.reshape(cout, cin, positions) != 0)
    kept = []
    for i in range(0, cout, group[0]):
        for j in range(0, cin, group[1]):
            kept.append(int(nonzero[i:i + group[0], j:j + group[1]].any(axis=0).sum()))
    return GroupLayout((cout, cin), tuple(weight.shape[2:]), (min(group[0], cout), min(group[1], cin)), tuple(kept))


def shares_columns(matrix: np.ndarray, rows: int) -> bool:
    """True when every aligned group of `rows` rows has identical nonzero columns (group sparsity)."""
    nonzero = matrix != 0
    for start in range(0, matrix.shape[0], rows):
        block = nonzero[start:start + rows]
        if not (block == block[:1]).all():
            return False
    return True


def zero_violation(layout, weight: np.ndarray) -> str | None:
    """None when the weight's zeros follow the layout, else where they do not."""
    if isinstance(layout, BcrLayout):
        return layout.zero_violations(matrix_view(weight))
    if isinstance(layout, PatternLayout):
        masks = kernel_masks(weight)
        allowed = set(layout.patterns) | {0}
        bad = [int(m) for m in np.unique(masks) if int(m) not in allowed]
        if bad:
            return f"a kernel keeps positions {bad[0]:#x}, which is not in the pattern set"
        if int((masks != 0).sum()) > layout.kept_kernels:
            return f"{int((masks != 0).sum())} kernels are nonzero but connectivity keeps {layout.kept_kernels}"
        return None
    if isinstance(layout, GroupLayout):
        actual = group_layout(weight, layout.group)
        for index, (claimed, found) in enumerate(zip(layout.kept_positions, actual.kept_positions)):
            if found > claimed:
                return f"group {index} uses {found} positions, but the layout claims {claimed}"
        return None
    return None


def constant_zero_violation(layout, weight, array: np.ndarray, memoized) -> str | None:
    """zero_violation of the constant `array` behind the value `weight`, once per (layout, constant)
    through `memoized(key, compute)`: a weight used by many ops (an RNN's W_hh at every time step) is
    checked once by the verifier and bcr-compress-weights together."""
    return memoized(("zero-violation", layout, constant_identity(weight)), lambda: zero_violation(layout, array))


@dataclass(frozen=True)
class Decision:
    sparse: bool
    layout: object | None
    scheme: str
    reason: str
    group_rows: int = 8


def _hinted_layout(weight: np.ndarray, hint: dict, kind: str):
    """The layout the pruning metadata claims, with its natural register block; None if not usable."""
    scheme, params = hint.get("scheme"), hint.get("params") or {}
    matrix = matrix_view(weight)
    if scheme == "bcr":
        block = tuple(params.get("block") or DEFAULT_BLOCK)
        block = (min(block[0], matrix.shape[0]), min(block[1], matrix.shape[1]))
        return BcrLayout.of_matrix(matrix, block), block[0]
    if scheme == "pattern" and weight.ndim == 4:
        patterns = tuple(int(p) for p in params.get("patterns") or ())
        detected = pattern_layout(weight)
        if detected is None:
            return None
        return PatternLayout(detected.shape, detected.kernel, patterns or detected.patterns, detected.kept_kernels), 1
    if scheme in ("kgs", "kgs_vanilla", "group") and weight.ndim >= 2:
        group = tuple(params.get("group") or (4, 4))
        return group_layout(weight, group), min(group[0], weight.shape[0])
    return None


def _detected_layout(weight: np.ndarray, kind: str):
    """The structure found in the zeros alone: group sparsity, then patterns, then BCR."""
    matrix = matrix_view(weight)
    for rows in (16, 8, 4):
        if rows <= matrix.shape[0] and shares_columns(matrix, rows):
            return group_layout(weight, (rows, weight.shape[1] if weight.ndim > 2 else min(16, weight.shape[1]))), rows
    if kind in ("conv2d", "grouped conv2d", "grouped conv1d"):
        layout = pattern_layout(weight)
        if layout is not None and layout.nnz < weight.size:
            return layout, 1
    best = None
    for rows in BLOCK_ROW_CHOICES:
        if rows <= matrix.shape[0]:
            cost = modeled_cost(matrix, rows)
            if best is None or cost < best[0]:
                best = (cost, rows)
    rows = best[1] if best else matrix.shape[0]
    return BcrLayout.of_matrix(matrix, (rows, min(DEFAULT_BLOCK[1], matrix.shape[1]))), rows


def zero_rows_last(matrix: np.ndarray) -> np.ndarray | None:
    """The rows in order with the all-zero ones moved to the end; None when no row is all zero."""
    zero = ~matrix.any(axis=1)
    return np.argsort(zero, kind="stable") if zero.any() else None


def iree_slowdown(kind: str, weight: np.ndarray, macs: int, target: str = "x86-host") -> float:
    """How much slower IREE's own lowering of this layer is than the generated kernel on the same dense
    weights (1.0: as fast, per useful multiply-add, as the cost model's KERNEL_EFFICIENCY assumes)."""
    positions = macs // max(weight.size, 1)  # output positions: a conv's MACs are positions x weights
    if kind == "conv2d" and target == "x86-host" and weight.ndim == 4 and weight.shape[2] * weight.shape[3] > 1 \
            and positions >= LARGE_CONV2D_POSITIONS:
        return LARGE_CONV2D_SLOWDOWN
    if kind == "conv1d" and target == "x86-host" and weight.shape[-1] > 1:
        return CONV1D_SLOWDOWN
    if kind.startswith("transposed"):
        return TRANSPOSED_CONV_SLOWDOWN
    if kind.startswith("grouped") and target == "x86-host" and weight.ndim == 4 and weight.shape[2] * weight.shape[3] > 1:
        return GROUPED_CONV2D_SLOWDOWN
    return IREE_SLOWDOWN.get(kind, 1.0)


def decide(weight: np.ndarray, macs: int, hint: dict | None, kind: str, min_macs: int = MIN_MACS,
           min_speedup: float = MIN_SPEEDUP, target: str = "x86-host", layer_weights: int | None = None) -> Decision:
    """Whether a contraction with this constant weight runs sparse, under which layout, and why.

    `hint` is the pruning library's metadata for the weight (scheme, params, rate), if any; its claims
    are checked against the zeros. Dense weights run as a generated kernel only where IREE's own
    lowering was measured at least `min_speedup` slower (iree_slowdown). `layer_weights`: the size of
    the user's weight when `weight` holds it among structural zeros (a transposed conv's stacked phases),
    which the sparsity and the work saved are counted against.
    """
    matrix = matrix_view(weight)
    layer_weights = layer_weights or matrix.size
    zeros = 1.0 - np.count_nonzero(matrix) / layer_weights
    if kind == "depthwise":
        return Decision(False, None, "dense", "depthwise/grouped conv: too little work per weight to gain from sparsity")
    slowdown = iree_slowdown(kind, weight, macs, target)
    if zeros == 0.0 and slowdown < min_speedup:
        return Decision(False, None, "dense", "no zero weights")
    if macs < min_macs:
        return Decision(False, None, "dense", f"tiny layer ({macs:,} MACs): dispatch cost outweighs the saving")
    found, source, note = None, "detected from zeros", ""
    if hint and hint.get("scheme") not in (None, "unstructured", "nm"):
        found = _hinted_layout(weight, hint, kind)
        violation = zero_violation(found[0], weight) if found else "the layout does not apply to this op"
        if violation:
            note = f" (metadata claims {hint.get('scheme')}, but {violation})"
            found = None
        else:
            source = "pruning metadata"
    if found is None:
        found = _detected_layout(weight, kind)
    layout, natural = found
    # The best register block for this structure, in the natural row order (reordering can only help),
    # or with whole zero rows set apart (filter pruning: bcr-reorder-filters finds that order).
    apart = zero_rows_last(matrix)
    choices = [(g, None) for g in sorted({1, natural})] + ([(g, apart) for g in (8, 16)] if apart is not None else [])
    cost, group_rows, best = min((modeled_cost(matrix, g, rows), g, i) for i, (g, rows) in enumerate(choices)
                                 if g <= matrix.shape[0])
    order = choices[best][1]
    # Dense weights: the slowdown was measured against the generated kernel itself.
    expected = slowdown if zeros == 0.0 else KERNEL_EFFICIENCY * slowdown * matrix.size / max(cost, 1e-9)
    scheme = layout.describe() if zeros else "dense"
    if source != "pruning metadata" and isinstance(layout, BcrLayout) and group_rows == 1:
        scheme = "unstructured"  # no block shares columns: every row keeps its own column list
    if source != "pruning metadata" and apart is not None and np.count_nonzero(matrix.any(axis=1)) * matrix.shape[1] \
            == np.count_nonzero(matrix):
        scheme = "filter"  # whole rows pruned, the others dense
    if expected < min_speedup:
        density = 1 - zeros
        work = group_work(matrix, group_rows, order) / layer_weights
        if density < 0.5 * work:
            return Decision(False, layout, "unstructured",
                            f"zeros are unstructured ({zeros:.0%} zero, but rows do not share columns: "
                            f"{work:.0%} of the work remains){note}; prune with a structured scheme to gain speed")
        return Decision(False, layout, scheme, f"too little sparsity ({zeros:.0%} zero): expected {expected:.1f}x, "
                        f"below the {min_speedup}x threshold{note}")
    if zeros == 0.0:
        return Decision(True, layout, scheme, f"dense weights, generated kernel: IREE's {kind} lowering is "
                        f"~{slowdown:.3g}x slower here", group_rows)
    return Decision(True, layout, scheme, f"{source}: {layer_weights / group_work(matrix, group_rows, order):.1f}x less work{note}",
                    group_rows)

