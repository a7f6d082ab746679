"""bcr-raise-max-pools: a max-pool over a non-negative input (a ReLU output, or its zero pad) becomes a
packed conv with a max reduction, so it runs as a generated kernel (and is tuned like a depthwise conv).

IREE 3.13 runs NCHW max-pools slowly: ResNet-18's 3x3 stride-2 pool over 64x112x112 took 342 us, the
generated kernel 188 us; C3D's 1x2x2 pool over 32x8x56x56 646 us against 117, its 2x2x2 pool over
64x8x28x28 308 against 101 (1 thread, tuned; the pools took ~1 ms of C3D's 6.7 ms call). A max-pool is a depthwise
conv whose taps take the maximum instead of a weighted sum, so it reuses the depthwise kernels: one row
per channel holding every tap, values unread (`reduction = "max"`), accumulators starting from a zero
bias. Starting from 0 and reading zeros for border lanes is exact only when every input is >= 0, hence
the condition; bcr-zero-pool-padding, run before this pass, has already turned a -inf pad of such an
input into a zero pad.

Before:
    %p = tensor.pad %relu low[0, 0, 1, 1] high[0, 0, 1, 1] { tensor.yield %zero : f32 }
    %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
    %m = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
           ins(%p, %window : tensor<1x64x114x114xf32>, tensor<3x3xf32>) outs(%f : ...) -> tensor<1x64x56x56xf32>
After:
    %m = "bcr.packed_conv2d"(%p, %zero_bias, %rows, %offsets, %indices, %ones) {activation = "none",
           kernel = array<i64: 3, 3>, layer = "max_pool_1", layout = #bcr.group_layout<...>, reduction = "max",
           strides = array<i64: 2, 2>, dilations = array<i64: 1, 1>} : (...) -> tensor<1x64x56x56xf32>
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import ops_named, shape_of
from bcr_mlir.passes.matching import defining_op, dense_ints, float_constant, is_max_pool, non_negative
from bcr_mlir.passes.raise_sparse_layers import per_channel_packed_conv
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.report import LayerDecision
from bcr_mlir.structure import MIN_MACS
from bcr_mlir.weights import value_dtype

# One spatial input index of a pooling generic's input map: d<out> [* stride] + d<window> [* dilation].
_SPATIAL_INDEX = re.compile(r"^d(\d+)(?: \* (\d+))? \+ d(\d+)(?: \* (\d+))?$")


def pool_geometry(op: ir.Operation) -> tuple[list[int], list[int], list[int]] | None:
    """(kernel, strides, dilations) of a max-pool over NC + spatial dims, else None."""
    if op.name == "linalg.pooling_nchw_max":
        return list(shape_of(op.operands[1])), dense_ints(op.attributes["strides"]), dense_ints(op.attributes["dilations"])
    if op.name != "linalg.generic" or len(op.operands) != 3:
        return None
    maps = [str(m) for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    results = re.search(r"-> \((.*)\)>$", maps[0])
    spatial = len(shape_of(op.result)) - 2
    if results is None or spatial not in (2, 3) or len(shape_of(op.operands[1])) != spatial:
        return None
    indices = [index.strip() for index in results.group(1).split(",")]
    if indices[:2] != ["d0", "d1"] or len(indices) != spatial + 2:
        return None
    strides, dilations = [], []
    for axis, index in enumerate(indices[2:]):
        match = _SPATIAL_INDEX.match(index)
        if match is None or int(match.group(1)) != 2 + axis or int(match.group(3)) != 2 + spatial + axis:
            return None
        strides.append(int(match.group(2) or 1))
        dilations.append(int(match.group(4) or 1))
    return list(shape_of(op.operands[1])), strides, dilations


def _starts_at_or_below_zero(init: ir.Value) -> bool:
    """The pool's output init is a fill with -inf or a value <= 0 (max with it changes nothing here)."""
    fill = defining_op(init)
    start = float_constant(fill.operands[0]) if fill is not None and fill.name == "linalg.fill" else None
    return start is not None and start <= 0.0


@dataclass(frozen=True)
class RaiseMaxPools(Pass):
    name = "bcr-raise-max-pools"
    summary = "Raise max-pools over non-negative (ReLU) inputs to packed convs with a max reduction (CPU kernels)"

    min_macs: int = MIN_MACS   # smaller pools cost more to dispatch than they save

    def run(self, module: ir.Module, context: PassContext) -> None:
        if not context.target.is_cpu:
            return
        count = 0
        for op in ops_named(module, ("linalg.pooling_nchw_max", "linalg.generic")):
            x = op.operands[0]
            geometry = pool_geometry(op) if is_max_pool(op, x) else None
            if geometry is None or value_dtype(op.result) not in (np.float32, np.float16):
                continue
            kernel, strides, dilations = geometry
            # (a -inf pad bcr-zero-pool-padding left alone is not non-negative: its input may be negative)
            if not non_negative(x) or not _starts_at_or_below_zero(op.operands[2]):
                continue
            channels, taps = shape_of(op.result)[1], math.prod(kernel)
            if math.prod(shape_of(op.result)) * taps < self.min_macs:
                continue
            count += 1
            name = f"max_pool_{count}"
            self._rewrite(op, name, channels, kernel, strides, dilations, context)
            context.report.add(LayerDecision(
                name, f"max-pool{len(kernel)}d", "-", 0.0, "kernel",
                "generated kernel (a max over each channel's taps): IREE's max-pool ran 1.8-5.5x slower (measured)"))

    @staticmethod
    def _rewrite(op, name, channels, kernel, strides, dilations, context: PassContext) -> None:
        # Every tap kept, valued 1 (unread by the max reduction); the zero bias starts the maximum.
        taps = np.ones((channels, math.prod(kernel)), value_dtype(op.result))
        with ir.InsertionPoint(op), op.location:
            packed = per_channel_packed_conv(context.weights, op.operands[0], None, taps, kernel, strides, dilations,
                                             op.result.type, {"activation": "none", "layer": name, "reduction": "max"})
        op.result.replace_all_uses_with(packed.result)
        op.erase()
