"""bcr-fusion-barriers: keep IREE from fusing a one-channel map made by a window op into the op that
broadcasts it over channels (Vulkan).

IREE 3.13's Vulkan (SPIR-V) code generation miscompiles a dispatch holding both a window op (a conv,
a pooling, a reduction) that makes an [N, 1, ...] map and a consumer that broadcasts the map over
channels: a 1x1 conv from one channel, or a multiply with an [N, C, ...] tensor, as in CBAM's spatial
attention. On lavapipe the output is off by its own size, garbage or NaN, on IREE's dense path too
(measured, dense: conv 1->1 3x3 then conv 1->7 1x1 on 2x1x5x9, max error 1.37; a 3x3 max-pool then
the same 1x1 conv, 2.8e12; CBAM's spatial attention on 1x8x12x12, NaN). With util.optimization_barrier
between the two every such case is exact, so on Vulkan every one-channel map of rank 4 or more that a
window op makes goes through one. The Python bindings know no IREE dialect: the barrier is a call to a
declared function here, which backends.iree.to_iree_text turns into util.optimization_barrier.

Before:
    %m = linalg.conv_2d_nchw_fchw ... outs(%b : tensor<2x1x5x9xf32>) -> tensor<2x1x5x9xf32>
    %y = linalg.conv_2d_nchw_fchw ... ins(%m, %w : tensor<2x1x5x9xf32>, tensor<7x1x1x1xf32>) ...
After:
    %m = linalg.conv_2d_nchw_fchw ... outs(%b : tensor<2x1x5x9xf32>) -> tensor<2x1x5x9xf32>
    %0 = call @__bcr_barrier_2x1x5x9xf32(%m) : (tensor<2x1x5x9xf32>) -> tensor<2x1x5x9xf32>
    %y = linalg.conv_2d_nchw_fchw ... ins(%0, %w : tensor<2x1x5x9xf32>, tensor<7x1x1x1xf32>) ...
    func.func private @__bcr_barrier_2x1x5x9xf32(tensor<2x1x5x9xf32>) -> tensor<2x1x5x9xf32>
(IREE input: %0 = util.optimization_barrier %m : tensor<2x1x5x9xf32>)
"""
from __future__ import annotations

from dataclasses import dataclass

from bcr_mlir import ir
from bcr_mlir.dialect import shape_of, walk
from bcr_mlir.passes.functions import call, existing_symbols, sanitize
from bcr_mlir.passes.matching import users
from bcr_mlir.passes.registry import Pass, PassContext

# Calls to these declared functions become util.optimization_barrier in the IREE input.
BARRIER_PREFIX = "__bcr_barrier_"
_WINDOW_OPS = ("linalg.conv_", "linalg.depthwise_conv_", "linalg.pooling_")


def _window_op(op: ir.Operation) -> bool:
    """A conv or pooling, or a generic with a reduction (a mean or max over channels): an op whose output
    elements each read a window of its input."""
    if op.name.startswith(_WINDOW_OPS):
        return True
    return op.name == "linalg.generic" and "reduction" in str(op.attributes["iterator_types"])


def _one_channel_map(op: ir.Operation) -> bool:
    if len(op.results) != 1 or not isinstance(op.results[0].type, ir.RankedTensorType):
        return False
    shape = shape_of(op.results[0])
    return len(shape) >= 4 and shape[1] == 1


@dataclass(frozen=True)
class FusionBarriers(Pass):
    name = "bcr-fusion-barriers"
    summary = "Vulkan: a barrier after each one-channel map a window op makes (IREE 3.13 fuses it wrongly)"

    def run(self, module: ir.Module, context: PassContext) -> None:
        if context.target.name != "vulkan":
            return
        declared = existing_symbols(module)
        # Collected before any rewrite (dialect.ops_named's rule).
        for op in [op for op in walk(module) if _window_op(op) and _one_channel_map(op) and users(op.results[0])]:
            result = op.results[0]
            name = BARRIER_PREFIX + sanitize(str(result.type).removeprefix("tensor<").removesuffix(">"))
            if name not in declared:
                with ir.InsertionPoint(module.body), op.location:
                    ir.func.FuncOp(name, ir.FunctionType.get([result.type], [result.type]), visibility="private")
                declared.add(name)
            consumers = [use.owner for use in result.uses]
            with ir.InsertionPoint.after(op), op.location:
                barrier = call(name, [result], result.type)
            for consumer in consumers:
                for index, operand in enumerate(consumer.operands):
                    if operand == result:
                        consumer.operands[index] = barrier

