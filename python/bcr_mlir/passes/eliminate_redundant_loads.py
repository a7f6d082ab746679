"""bcr-eliminate-redundant-loads: choose, per sparse layer, the register block of output rows that
share each input load, and record it in the IR before code generation.

In the generated kernel, the rows of a block keep their accumulators in registers and share one
column list: each input vector is loaded once and feeds every row of the block (GRIM's BCR
register reuse; for PatDNN patterns, every kernel of the block that uses the same input channel and
position). A bigger block removes more loads but multiplies by zero wherever one of its rows skips a
column the others use. The pass picks the block G in {1, 2, 4, 8, 16} minimising
    work(G) / efficiency(G)
with work(G) the multiply-adds of the packed storage (zeros included) in the layer's row order, and
efficiency(G) the kernel's measured throughput per FMA at that block (structure.GROUP_EFFICIENCY).
The choice becomes the `block_rows` of the op's #bcr.schedule (other fields 0: chosen later by
bcr-tune or the default model).

Before:
    %r = "bcr.sparse_conv2d"(%x, %w, %b) {layer = "conv1", layout = #bcr.bcr_layout<..., array<i64: 8, 16>, ...>, ...}
After:
    %r = "bcr.sparse_conv2d"(%x, %w, %b) {layer = "conv1", layout = ...,
           schedule = #bcr.schedule<0 : i64, 8 : i64, array<i64: 0, 0>, 1 : i64, 0 : i64>, ...}
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import Schedule, parse_attr, string_attr, to_attr
from bcr_mlir.passes.compress_weights import row_order_of
from bcr_mlir.passes.matching import sparse_ops_with_weights
from bcr_mlir.passes.registry import Pass, PassContext, memo_key
from bcr_mlir.storage import group_work
from bcr_mlir.structure import GROUP_CHOICES, efficiency, matrix_view


def choose_block(matrix: np.ndarray, order: np.ndarray) -> tuple[int, dict[int, float]]:
    costs = {g: group_work(matrix, g, order) / efficiency(g) for g in GROUP_CHOICES if g <= max(matrix.shape[0], 1)}
    return min(costs, key=lambda g: (costs[g], -g)), costs


@dataclass(frozen=True)
class EliminateRedundantLoads(Pass):
    name = "bcr-eliminate-redundant-loads"
    summary = "Pick the register block of rows that share each input load (recorded in #bcr.schedule)"

    def run(self, module: ir.Module, context: PassContext) -> None:
        for op, weight in sparse_ops_with_weights(module, context.weights):
            matrix = matrix_view(weight)
            block, costs = context.memoized(memo_key(self.name, op),
                                            lambda: choose_block(matrix, row_order_of(op, matrix.shape[0])))
            schedule = parse_attr(op.attributes["schedule"]) if "schedule" in op.attributes else Schedule(0, block, (0, 0), 1, 0)
            op.attributes["schedule"] = to_attr(Schedule(schedule.vector_width, block, schedule.tile,
                                                         schedule.unroll, schedule.vector_axis))
            decision = context.report.find(string_attr(op, "layer"))
            if decision is not None:
                decision.explain(f"{block}-row register blocks")
