"""Sparsity structure of a weight: detect it from the zeros, check a claimed one, and price it.

All schemes are seen through the same 2-D matrix view: a conv weight [Cout, Cin, *kernel] is the matrix
[Cout, Cin*prod(kernel)]; a matmul weight [N, K] is itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcr_mlir.dialect import BcrLayout

# Block-rows the CPU kernels can use: one input load feeds this many output rows.
BLOCK_ROW_CHOICES = (16, 8, 4)
DEFAULT_BLOCK = (8, 16)

# Cost-model thresholds (see `decide`).
MIN_MACS = 50_000          # smaller layers cost more to dispatch than they save
MIN_SPEEDUP = 1.6          # expected speedup below which the dense IREE path is kept
KERNEL_EFFICIENCY = 0.7    # generated kernel vs IREE dense, per useful FMA


def matrix_view(weight: np.ndarray) -> np.ndarray:
    return weight.reshape(weight.shape[0], -1)


def block_row_columns(matrix: np.ndarray, block_rows: int) -> list[np.ndarray]:
    """For every block-row, the sorted columns holding a nonzero in any of its rows."""
    nonzero = matrix != 0
    return [np.flatnonzero(nonzero[start:start + block_rows].any(axis=0)) for start in range(0, matrix.shape[0], block_rows)]


def kernel_work(matrix: np.ndarray, block_rows: int) -> int:
    """FMAs the block-row kernel performs: every row of a block-row over the block-row's columns."""
    return sum(block_rows * cols.size for cols in block_row_columns(matrix, block_rows))


@dataclass(frozen=True)
class Decision:
    sparse: bool
    layout: BcrLayout | None
    scheme: str
    reason: str
    block_rows: int = 8


def choose_block_rows(matrix: np.ndarray, preferred: int | None = None) -> tuple[int, float]:
    """(block rows, fraction of dense work) for the kernel; larger blocks reuse loads better."""
    if preferred:
        return preferred, kernel_work(matrix, preferred) / matrix.size
    best = None
    for rows in BLOCK_ROW_CHOICES:
        if rows > matrix.shape[0]:
            continue
        work = kernel_work(matrix, rows) / matrix.size
        score = work * (1 + 2 / rows)
        if best is None or score < best[2]:
            best = (rows, work, score)
    if best is None:
        rows = matrix.shape[0]
        return rows, kernel_work(matrix, rows) / matrix.size
    return best[0], best[1]


def decide(weight: np.ndarray, macs: int, hint: dict | None, kind: str, min_macs: int = MIN_MACS,
           min_speedup: float = MIN_SPEEDUP) -> Decision:
    """Whether a contraction with this constant weight runs sparse, under which layout, and why.

    `hint` is the pruning library's metadata for the weight (scheme, params, rate), if any.
    """
    matrix = matrix_view(weight)
    zeros = 1.0 - np.count_nonzero(matrix) / matrix.size
    scheme_hint = (hint or {}).get("scheme")
    block = tuple((hint or {}).get("params", {}).get("block") or ()) if scheme_hint == "bcr" else ()
    if kind == "depthwise":
        return Decision(False, None, "dense", "depthwise/grouped conv: too little work per weight to gain from sparsity")
    if zeros == 0.0:
        return Decision(False, None, "dense", "no zero weights")
    if macs < min_macs:
        return Decision(False, None, "dense", f"tiny layer ({macs:,} MACs): dispatch cost outweighs the saving")
    if scheme_hint not in (None, "bcr", "unstructured", "nm"):
        reason = f"the {scheme_hint} scheme is not lowered sparsely on this path yet; running dense"
        return Decision(False, None, scheme_hint, reason)
    preferred = block[0] if len(block) == 2 and block[0] <= matrix.shape[0] else None
    block_rows, work = choose_block_rows(matrix, preferred)
    block_cols = block[1] if len(block) == 2 and block[1] <= matrix.shape[1] else min(DEFAULT_BLOCK[1], matrix.shape[1])
    layout = BcrLayout.of_matrix(matrix, (block_rows, block_cols))
    expected = KERNEL_EFFICIENCY / max(work, 1e-9)
    scheme = layout.describe()
    if expected < min_speedup:
        density = 1 - zeros
        if density < 0.5 * work:
            return Decision(False, layout, "unstructured",
                            f"zeros are unstructured ({zeros:.0%} zero, but blocks of {block_rows} rows keep "
                            f"{work:.0%} of the work); prune with BCR to gain speed")
        return Decision(False, layout, scheme, f"too little sparsity ({zeros:.0%} zero): expected {expected:.1f}x, "
                        f"below the {min_speedup}x threshold")
    source = "pruning metadata" if scheme_hint == "bcr" else "detected from zeros"
    return Decision(True, layout, scheme, f"{source}: {1 / work:.1f}x less work", block_rows)
