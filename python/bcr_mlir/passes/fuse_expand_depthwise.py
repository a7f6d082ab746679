"""bcr-fuse-expand-depthwise: a packed 1x1 conv feeding a 3x3 depthwise conv (through its zero pad of 1)
becomes one op, generated as one kernel that never writes the expanded tensor.

MobileNet-V2's inverted residual blocks expand the channels 6x with a 1x1 conv, then run a 3x3
depthwise conv over the expanded tensor. Apart, the expand kernel writes that tensor (96x112x112 floats,
4.8 MB, in the first stride-2 block) and the depthwise kernel reads it back: both are bound by memory
traffic at those sizes, and at 2 threads each of the two dispatches also pays the hand-off to the
worker. The fused kernel (kernels/cpu.py, expand_depthwise) keeps a tile's expanded rows on the stack,
all of them when they fit, else a ring of 3 per channel that the depthwise window slides down.

Applies when the expand is a bcr.packed_conv2d with a 1x1 kernel, unit strides and dilations, a sum
reduction and no residual, whose only user is a zero tensor.pad of 1 on both spatial sides, whose only
user is a packed 3x3 depthwise conv (one row per channel, each reading only its own channel) of stride
1 or 2 with dilation 1 and no residual. The 1x1 conv's rows may be in any order (bcr-reorder-filters):
the kernel writes each packed row's channel, rows[packed], as the separate kernel does. Not fused: output rows narrower than a vector (the separate kernels
flatten several rows per vector, and MobileNet-V2's 7x7 blocks measured faster apart), and rows so
wide that a ring of 3 per channel of a block overflows 24 KB of stack (IREE's CPU limit is 32 KB).
CPU targets only. The expand keeps its activation (ReLU6 in MobileNet-V2) and the depthwise conv its
own; the depthwise weights become two operands, its bias and its taps.

Before:
    %e = "bcr.packed_conv2d"(%x, %b, %rows, %off, %idx, %val) {activation = "relu6", kernel = array<i64: 1, 1>,
           layer = "expand", ...} : (tensor<1x16x112x112xf32>, ...) -> tensor<1x96x112x112xf32>
    %p = tensor.pad %e low[0, 0, 1, 1] high[0, 0, 1, 1] { tensor.yield %zero : f32 } : ... to tensor<1x96x114x114xf32>
    %d = "bcr.packed_conv2d"(%p, %db, %drows, %doff, %didx, %dval) {activation = "relu6", kernel = array<i64: 3, 3>,
           layer = "dw", strides = array<i64: 2, 2>, ...} : (...) -> tensor<1x96x56x56xf32>
After:
    %d = "bcr.packed_expand_depthwise"(%x, %b, %rows, %off, %idx, %val, %dbias, %taps) {activation = "relu6",
           depthwise_activation = "relu6", depthwise_layer = "dw", layer = "expand", layout = ...,
           strides = array<i64: 2, 2>} : (..., tensor<96xf32>, tensor<96x3x3xf32>) -> tensor<1x96x56x56xf32>
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import (EXPAND_DEPTHWISE_OP, create_op, int_array, ops_named, packed_operands, parse_attr, shape_of,
                              string_attr)
from bcr_mlir.kernels.cpu import fused_ring_fits
from bcr_mlir.kernels.schedule import positions_vector_width
from bcr_mlir.passes.compress_weights import group_rows_of
from bcr_mlir.passes.matching import defining_op, single_user, zero_pad_amounts
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.storage import identity_order


def _plain(op: ir.Operation | None, kernel: int, strides: tuple[int, ...]) -> bool:
    """A 2-D conv, packed or (before bcr-compress-weights) sparse, with this square kernel, one of these
    strides (both dims), dilation 1, a sum and no residual."""
    if op is None or op.name not in ("bcr.packed_conv2d", "bcr.sparse_conv2d"):
        return False
    size = int_array(op, "kernel") if op.name == "bcr.packed_conv2d" else shape_of(op.operands[1])[2:]
    return tuple(size) == (kernel, kernel) and int_array(op, "dilations") == (1, 1) \
        and int_array(op, "strides") in [(s, s) for s in strides] and string_attr(op, "reduction", "add") == "add" \
        and (op.name == "bcr.sparse_conv2d" or packed_operands(op).residual is None)


def _expand_block_rows(expand: ir.Operation) -> int:
    """The 1x1 conv's register block: before bcr-compress-weights (bcr-tune asks) from the sparse op's
    layout and schedule, after it from the packed values."""
    if expand.name == "bcr.sparse_conv2d":
        return group_rows_of(expand, parse_attr(expand.attributes["layout"]))
    return shape_of(packed_operands(expand).values)[1]


def _only_user(op: ir.Operation, user: ir.Operation) -> bool:
    found = single_user(op.result)
    return found is not None and found == user


def depthwise_taps(op: ir.Operation, context: PassContext) -> np.ndarray | None:
    """[C, 3, 3] weights of a packed 3x3 conv in which output channel c reads only input channel c
    (taps it skips are zero), in the identity row order; None otherwise or when not constant."""
    operands = packed_operands(op)
    arrays = [context.weights.array(v) for v in (operands.rows, operands.offsets, operands.indices, operands.values)]
    if any(a is None for a in arrays):
        return None
    rows, offsets, indices, values = arrays
    channels = shape_of(op.result)[1]
    if values.shape[1] != 1 or shape_of(operands.input)[1] != channels or len(offsets) != channels + 1 \
            or not identity_order(rows, channels):
        return None
    taps = np.zeros((channels, 9), dtype=values.dtype)
    owner = np.repeat(np.arange(channels), np.diff(offsets.astype(np.int64)))
    if len(owner) != len(indices) or np.any(indices // 9 != owner):
        return None
    taps[owner, indices % 9] = values[:, 0]
    return taps.reshape(channels, 3, 3)


def fusable_pair(dw: ir.Operation, context: PassContext) -> tuple[ir.Operation, ir.Operation, np.ndarray] | None:
    """(expand, pad, depthwise taps) when `dw` (a packed depthwise conv) and the 1x1 conv feeding it can
    run as one kernel; the 1x1 conv may still be sparse (bcr-tune asks before bcr-compress-weights)."""
    if not _plain(dw, 3, (1, 2)) or dw.name != "bcr.packed_conv2d" or not context.target.is_cpu:
        return None
    pad = defining_op(dw.operands[0])
    if zero_pad_amounts(pad) != ([0, 0, 1, 1], [0, 0, 1, 1]) or not _only_user(pad, dw):
        return None
    expand = defining_op(pad.operands[0])
    if not _plain(expand, 1, (1,)) or not _only_user(expand, pad):
        return None
    block_rows = _expand_block_rows(expand)
    if context.weights.array(packed_operands(dw).bias) is None:
        return None
    if ir.RankedTensorType(expand.result.type).element_type != ir.RankedTensorType(dw.result.type).element_type:
        return None
    width, out_width = shape_of(expand.result)[3], shape_of(dw.result)[3]
    vw = positions_vector_width(width, context.target)
    if out_width < vw:
        return None  # output rows narrower than a vector: the separate kernels flatten several per vector
    if not fused_ring_fits(block_rows, width, out_width, int_array(dw, "strides")[0], vw):
        return None  # rows too wide for the stack
    taps = depthwise_taps(dw, context)
    return None if taps is None else (expand, pad, taps)


def layers_to_fuse(module: ir.Module, context: PassContext) -> dict[str, str]:
    """Layer -> the layer it will run as one kernel with, for every pair this pass would fuse (bcr-tune
    skips timing them: their own schedules would go unused)."""
    partners: dict[str, str] = {}
    for dw in ops_named(module, ("bcr.packed_conv2d",)):
        pair = fusable_pair(dw, context)
        if pair is not None:
            expand, dw_layer = string_attr(pair[0], "layer"), string_attr(dw, "layer")
            partners.update({expand: dw_layer, dw_layer: expand})
    return partners


@dataclass(frozen=True)
class FuseExpandDepthwise(Pass):
    name = "bcr-fuse-expand-depthwise"
    summary = "Fuse a packed 1x1 conv into the 3x3 depthwise conv it feeds: one kernel, no expanded tensor in memory"

    def run(self, module: ir.Module, context: PassContext) -> None:
        if not context.target.is_cpu:
            return
        fused = 0
        for dw in ops_named(module, ("bcr.packed_conv2d",)):
            pair = fusable_pair(dw, context)
            if pair is not None and pair[0].name == "bcr.packed_conv2d":
                self._fuse(dw, *pair, context)
                fused += 1
        if fused:
            context.report.notes.append(f"{fused} expand conv(s) fused into the depthwise conv(s) they feed")

    @staticmethod
    def _fuse(dw: ir.Operation, expand: ir.Operation, pad: ir.Operation, taps: np.ndarray, context: PassContext) -> None:
        layer, dw_layer = string_attr(expand, "layer"), string_attr(dw, "layer")
        attributes = {name: expand.attributes[name] for name in ("layout", "activation", "layer")
                      if name in expand.attributes}
        attributes.update({"depthwise_layer": ir.StringAttr.get(dw_layer), "strides": dw.attributes["strides"],
                           "depthwise_activation": ir.StringAttr.get(string_attr(dw, "activation", "none"))})
        with ir.InsertionPoint(dw), dw.location:
            constant = context.weights.constant(taps, f"{dw_layer}.taps")
            fused = create_op(EXPAND_DEPTHWISE_OP, [*packed_operands(expand)[:6], packed_operands(dw).bias, constant],
                              dw.result.type, attributes)
        dw.result.replace_all_uses_with(fused.result)
        for op in (dw, pad, expand):
            op.erase()
        for name, other in ((layer, dw_layer), (dw_layer, layer)):
            decision = context.report.find(name)
            if decision is not None:
                decision.kernel = f"fused with '{other}'"
