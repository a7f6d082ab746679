"""bcr-reorder-filters: order each sparse layer's output rows so that rows using the same input
columns sit together (PatDNN's filter-kernel reorder, GRIM's matrix reorder).

Rows are chained greedily by similarity of their column sets (Jaccard), starting from the densest
row, or simply the all-zero rows moved last; the order is kept only if it lowers the modeled kernel
cost for the layer's register block. BCR and group layouts usually arrive already grouped, so for them
a new order must cut the cost by a quarter: it does for filter pruning (whole rows zero, scattered),
which the zeros describe as BCR with one tall block. The order goes into a `row_order`
attribute; bcr-compress-weights packs rows in that order and records each packed row's output row,
and the kernel stores every row straight to its place, so no runtime shuffle of outputs, biases or
the next layer's inputs is needed.

Before:
    %r = "bcr.sparse_conv2d"(%x, %w, %b) {layer = "conv1", layout = #bcr.pattern_layout<...>, ...}
After:
    %r = "bcr.sparse_conv2d"(%x, %w, %b) {layer = "conv1", layout = #bcr.pattern_layout<...>,
           row_order = array<i64: 0, 5, 2, 7, 1, 4, 3, 6>, ...}
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import BcrLayout, GroupLayout, parse_attr
from bcr_mlir.passes.matching import sparse_ops_with_weights
from bcr_mlir.passes.registry import Pass, PassContext, memo_key
from bcr_mlir.structure import GROUP_CHOICES, matrix_view, modeled_cost, zero_rows_last


def similarity_chain(matrix: np.ndarray) -> np.ndarray:
    """Rows ordered so that each is followed by the unvisited row sharing most of its columns."""
    nonzero = (matrix != 0).astype(np.float32)
    rows = nonzero.shape[0]
    counts = nonzero.sum(axis=1)
    shared = nonzero @ nonzero.T
    union = counts[:, None] + counts[None, :] - shared
    similarity = np.where(union > 0, shared / np.maximum(union, 1), 1.0)
    visited = np.zeros(rows, dtype=bool)
    current = int(np.argmax(counts))
    order = [current]
    visited[current] = True
    for _ in range(rows - 1):
        scores = np.where(visited, -1.0, similarity[current])
        current = int(np.argmax(scores))
        order.append(current)
        visited[current] = True
    return np.asarray(order)


# The chain compares every pair of rows; beyond this many rows, rows are sorted by their column sets
# instead (rows with identical sets end up adjacent), which is linear-logarithmic.
CHAIN_MAX_ROWS = 1024


def signature_order(matrix: np.ndarray) -> np.ndarray:
    """Rows sorted by their packed nonzero pattern, so rows with equal column sets are adjacent."""
    keys = np.packbits(matrix != 0, axis=1)
    return np.lexsort(keys.T[::-1])


def best_order(matrix: np.ndarray, group_rows: int, margin: float = 0.02) -> np.ndarray | None:
    """A similarity order if it lowers the cost at some register block by more than `margin`, else None
    (keep identity)."""
    chain = similarity_chain(matrix) if matrix.shape[0] <= CHAIN_MAX_ROWS else signature_order(matrix)
    blocks = [g for g in GROUP_CHOICES if g <= matrix.shape[0] and g > 1] or [1]
    if group_rows in blocks:
        blocks = [group_rows] + [g for g in blocks if g != group_rows]
    identity = min(modeled_cost(matrix, g) for g in blocks)
    # The chain, or the zero rows set apart (what bcr-raise-sparse-layers' cost model assumed).
    orders = [order for order in (chain, zero_rows_last(matrix)) if order is not None]
    reordered, best = min(((min(modeled_cost(matrix, g, order) for g in blocks), i) for i, order in enumerate(orders)))
    return orders[best] if reordered < (1 - margin) * identity else None


# The cost cut a new order must bring to a layer pruned blockwise (BCR, group): their natural order is
# the pruning's own, and a new one costs the tuned schedules cached for the old.
BLOCKWISE_MARGIN = 0.25


@dataclass(frozen=True)
class ReorderFilters(Pass):
    name = "bcr-reorder-filters"
    summary = "Order output rows so rows sharing input columns are adjacent (PatDNN/GRIM filter reorder)"

    def run(self, module: ir.Module, context: PassContext) -> None:
        for op, weight in sparse_ops_with_weights(module, context.weights):
            if "row_order" in op.attributes:
                continue
            layout = parse_attr(op.attributes["layout"])
            # Pruned blockwise, the blocks already group rows that share columns: an order must cut the
            # cost by a quarter (it does where whole rows are pruned, filter pruning, but scattered).
            blockwise = isinstance(layout, (BcrLayout, GroupLayout))
            natural = 4
            order = context.memoized(memo_key(self.name, op), lambda: best_order(
                matrix_view(weight), natural, BLOCKWISE_MARGIN if blockwise else 0.02))
            if order is not None:
                op.attributes["row_order"] = ir.DenseI64ArrayAttr.get([int(v) for v in order])
