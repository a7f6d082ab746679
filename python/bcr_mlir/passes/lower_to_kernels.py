"""bcr-lower-to-kernels: replace each bcr.packed_* op by a generated kernel and a bcr.dispatch.

The kernel (bcr_mlir.kernels.cpu) is specialised to the layer: its shapes, strides, block rows and
schedule (the op's `schedule` attribute from bcr-tune, or the default model) are constants. The
column indices become input offsets for this layer's geometry, so the kernel adds one integer per
packed column and never builds im2col. Convs with a horizontal stride read a phase-split copy of the
input (x[..., w] -> x[..., w % s, w / s]) so their vector loads stay contiguous, or, when bcr-tune
finds it faster (schedule axis 6), the padded input itself, two loads and a shuffle per vector.
2-D convs of stride 1 or 2 scheduled as tap segments (axes 4 and 5) read the unpadded input: each
block-row's columns are regrouped by kernel tap, the tap's lane masks stand in for the zero border,
and the tensor.pad feeding the layer disappears. Axis 7 does the same for a stride-2 conv on its
unpadded input split into 4 phases ([N, C, H, W] -> [N, C, 2, 2, H/2, W/2]): tap (dy, dx) reads phase
(dy % 2, dx % 2) at plane offset (dy // 2, dx // 2), and the kernel is the stride-1 one.
A bcr.packed_expand_depthwise (bcr-fuse-expand-depthwise) becomes one dispatch of the fused kernel
(cpu.expand_depthwise); its bias operand then carries the 1x1 conv's biases, the depthwise biases and
the depthwise taps, in that order.
A bcr.packed_gate_cell (bcr-fuse-gate-cells) becomes one dispatch of cpu.gate_cell, with the op's cell
inputs as its epilogue and one result per cell output. Its packed block-rows are interleaved by hidden
unit (unit u's block in gate 0, then in gate 1, ...), once per layer, so that a workgroup reads its
unit's gate rows as one run of memory.
A dispatch carries `blocks_per_workgroup` (kernels/schedule.py) when one workgroup should run several
consecutive block-rows (channel blocks, for a conv); the IREE hand-off then loops over them inside each
workgroup. IREE pays for every workgroup, and at 2 threads a grid of thousands of small workgroups (a
depthwise conv of 960 channels) costs more in the hand-out than in the kernel.

Before:
    %r = "bcr.packed_matmul"(%x, %b, %off, %idx, %val) {activation = "relu", layer = "fc", layout = ...}
           : (tensor<1x64xf32>, tensor<16xf32>, tensor<3xi32>, tensor<12xi32>, tensor<12x8xf32>) -> tensor<1x16xf32>
After:
    %r = "bcr.dispatch"(%x, %b, %off, %in_off, %val) {kernel = @bcr_kernel_fc, layer = "fc",
           workgroups = array<i64: 2, 1, 1>} : (...) -> tensor<1x16xf32>
    func.func private @bcr_kernel_fc(%wg0: index, %wg1: index, %wg2: index, %x: memref<1x64xf32>, ...,
                                     %y: memref<1x16xf32>) { scf.for ... vector.fma ... }
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import (EXPAND_DEPTHWISE_OP, GATE_CELL_OP, PACKED_OPS, Schedule, create_op, int_array, ops_named, packed_operands, parse_attr, shape_of,
                              string_attr)
from bcr_mlir.errors import BcrError
from bcr_mlir.kernels import cpu
from bcr_mlir.kernels.schedule import blocks_per_workgroup, conv_schedule, matmul_schedule, positions_vector_width
from bcr_mlir.passes.functions import add_function, call, sanitize, tensor_type_text
from bcr_mlir.passes.fuse_gate_cells import BINARY_OPS, UNARY_OPS
from bcr_mlir.passes.matching import defining_op, single_user, users, zero_pad_amounts
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.storage import identity_order


def _strides(shape) -> list[int]:
    out, acc = [], 1
    for size in reversed(shape):
        out.append(acc)
        acc *= size
    return list(reversed(out))


def phase_split_text(shape: tuple[int, ...], strides: tuple[int, ...],
                     dtype: str = "f32") -> tuple[str, tuple[int, ...]]:
    """A function splitting each of the last len(strides) dims of `shape` into its phases, zero-padded
    to whole ones: x[..., w] -> x[..., w % s, w / s] for one dim, x[..., h, w] -> x[..., h % sh, w % sw,
    h / sh, w / sw] for two."""
    count = len(strides)
    outer, dims = list(shape[:-count]), list(shape[-count:])
    splits = [-(-size // stride) for size, stride in zip(dims, strides)]
    padded = outer + [split * stride for split, stride in zip(splits, strides)]
    expanded = outer + [d for split, stride in zip(splits, strides) for d in (split, stride)]
    result = tuple(outer) + tuple(strides) + tuple(splits)
    rank, k = len(shape), len(outer)
    zeros = ", ".join(["0"] * rank)
    high = ", ".join(["0"] * k + [str(full - size) for full, size in zip(padded[k:], dims)])
    args = ", ".join(f"%i{i}: index" for i in range(rank))
    groups = ", ".join([f"[{i}]" for i in range(k)] + [f"[{k + 2 * i}, {k + 2 * i + 1}]" for i in range(count)])
    permutation = ", ".join(str(i) for i in list(range(k)) + [k + 2 * i + 1 for i in range(count)] +
                            [k + 2 * i for i in range(count)])
    def tt(dims):
        return tensor_type_text(dims, dtype)
    text = f"""func.func private @NAME(%x: {tt(shape)}) -> {tt(result)} {{
  %zero = arith.constant 0.0 : {dtype}
  %p = tensor.pad %x low[{zeros}] high[{high}] {{
  ^bb0({args}):
    tensor.yield %zero : {dtype}
  }} : {tt(shape)} to {tt(padded)}
  %e = tensor.expand_shape %p [{groups}] output_shape [{', '.join(map(str, expanded))}] : {tt(padded)} into {tt(expanded)}
  %init = tensor.empty() : {tt(result)}
  %t = linalg.transpose ins(%e : {tt(expanded)}) outs(%init : {tt(result)}) permutation = [{permutation}]
  return %t : {tt(result)}
}}"""
    return text, result


def im2col_text(shape: tuple[int, ...], kernel, strides, dilations, out, padded: int,
                dtype: str = "f32") -> tuple[str, tuple[int, ...]]:
    """A function gathering a 2-D conv's padded input [N, C, Hp, Wp] into [N, C*KH*KW, padded]: row k
    (input channel, kernel position) holds the input each of the OH*OW outputs reads for it, then zeros."""
    n, channels = shape[:2]
    kh, kw = kernel
    oh, ow = out
    positions = oh * ow
    full = (n, channels, kh, kw, oh, ow)
    result = (n, channels * kh * kw, padded)
    collapsed = (n, channels * kh * kw, positions)

    def tt(dims):
        return tensor_type_text(dims, dtype)
    read = (f"affine_map<(n, c, i, j, h, w) -> (n, c, h * {strides[0]} + i * {dilations[0]}, "
            f"w * {strides[1]} + j * {dilations[1]})>")
    pad = ""
    final = "%c"
    if padded > positions:
        pad = f"""
  %zero = arith.constant 0.0 : {dtype}
  %p = tensor.pad %c low[0, 0, 0] high[0, 0, {padded - positions}] {{
  ^bb0(%i0: index, %i1: index, %i2: index):
    tensor.yield %zero : {dtype}
  }} : {tt(collapsed)} to {tt(result)}"""
        final = "%p"
    text = f"""func.func private @NAME(%x: {tt(shape)}) -> {tt(result)} {{
  %init = tensor.empty() : {tt(full)}
  %g = linalg.generic {{indexing_maps = [{read}, affine_map<(n, c, i, j, h, w) -> (n, c, i, j, h, w)>],
                        iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]}}
       ins(%x : {tt(shape)}) outs(%init : {tt(full)}) {{
  ^bb0(%in: {dtype}, %o: {dtype}):
    linalg.yield %in : {dtype}
  }} -> {tt(full)}
  %c = tensor.collapse_shape %g [[0], [1, 2, 3], [4, 5]] : {tt(full)} into {tt(collapsed)}{pad}
  return {final} : {tt(result)}
}}"""
    return text, result


@dataclass
class _Lowered:
    gemm: cpu.GatherGemm
    schedule: Schedule
    input_offsets: np.ndarray
    position_offsets: list[int] | None
    # The strides of the trailing input dims the kernel reads split into phases (phase_split_text);
    # () when it reads the input as it is.
    phase_split: tuple[int, ...]
    im2col: tuple | None = None     # (kernel, strides, dilations, out, padded positions) for vector_axis 3
    # vector_axis 4: the block-rows' columns regrouped by tap, with their segment starts and lane masks
    segments: np.ndarray | None = None
    values: np.ndarray | None = None
    tap_masks: list | None = None
    tap_rows: list | None = None     # axis 4 with a tile of some output rows: each tap's rows inside the input


def plan_conv(layer: str, x_shape, y_shape, kernel, strides, dilations, indices, block_rows, activation,
              target, schedule: Schedule | None, out_pad: tuple[int, int, int, int] = (0, 0, 0, 0)) -> _Lowered:
    n, channels, *padded = x_shape
    _, rows, *out = y_shape
    spatial = len(kernel)
    positions = math.prod(out)
    schedule = schedule or conv_schedule(block_rows, out[-1], out[-2] if len(out) > 1 else 1, positions, target)
    if schedule.vector_axis == 3:
        return _plan_im2col(layer, x_shape, y_shape, kernel, strides, dilations, indices, block_rows, activation,
                            schedule)
    # Column k of the weight matrix is (input channel, kernel position) in PyTorch order.
    coords = np.unravel_index(indices.astype(np.int64), (channels, *kernel))
    if schedule.vector_axis == 0 and strides[-1] > 1:
        s = strides[-1]
        split = -(-padded[-1] // s)
        x_kernel_shape = (n, channels, *padded[:-1], s, split)
        element = _strides(x_kernel_shape)
        inner_tap = coords[-1] * dilations[-1]
        offsets = coords[0] * element[1] + (inner_tap % s) * element[-2] + inner_tap // s
        for d in range(spatial - 1):
            offsets = offsets + coords[1 + d] * dilations[d] * element[2 + d]
        outer_strides = tuple(strides[d] * element[2 + d] for d in range(spatial - 1))
        phase = (s,)
    else:
        x_kernel_shape = tuple(x_shape)
        element = _strides(x_kernel_shape)
        offsets = coords[0] * element[1]
        for d in range(spatial):
            offsets = offsets + coords[1 + d] * dilations[d] * element[2 + d]
        outer_strides = tuple(strides[d] * element[2 + d] for d in range(spatial - 1))
        phase = ()
    if not outer_strides:  # conv1d-like: a single outer position
        outer_strides = (0,)
    inner_stride = 1 if phase else strides[-1]
    position_offsets = None
    if schedule.vector_axis == 1:
        grid = np.stack(np.unravel_index(np.arange(positions), out), axis=1)
        position_offsets = [int(sum(int(c) * strides[d] * element[2 + d] for d, c in enumerate(p))) for p in grid]
    elif inner_stride != 1 and not (schedule.vector_axis == 6 and inner_stride == 2):
        raise BcrError(f"layer '{layer}': internal error: lanes over positions need unit inner stride")
    padded_out = tuple(out) if not any(out_pad) else (out[0] + out_pad[0] + out_pad[1], out[1] + out_pad[2] + out_pad[3])
    padded_positions = math.prod(padded_out)
    gemm = cpu.GatherGemm(
        name=layer, rows=rows, block_rows=block_rows, nnz=len(indices), batch=n,
        x_shape=x_kernel_shape, y_shape=(n, rows, *padded_out), x_batch_stride=element[0],
        y_batch_stride=rows * padded_positions, y_row_stride=padded_positions, y_position_stride=1, out_pad=out_pad, outer=math.prod(out[:-1]) if len(out) > 1 else 1,
        inner=out[-1], outer_dims=tuple(out[:-1]) or (1,), in_outer_strides=outer_strides,
        in_inner_stride=inner_stride, activation=activation)
    return _Lowered(gemm, schedule, offsets.astype(np.int64), position_offsets, phase)


def _plan_im2col(layer, x_shape, y_shape, kernel, strides, dilations, indices, block_rows, activation,
                 schedule: Schedule) -> _Lowered:
    """vector_axis 3 (small 2-D outputs): the input is first gathered im2col-style into [N, K, P'] (P' = the
    OH*OW positions rounded up to whole vectors), so a column's input is one contiguous, aligned run and
    every lane of a vector is an output position; the kernel is then lanes over positions with one outer
    position of P outputs (tile = (1, P' / VW))."""
    n, channels, *_ = x_shape
    _, rows, *out = y_shape
    if len(kernel) != 2:
        raise BcrError(f"layer '{layer}': im2col positions (vector axis 3) are for 2-D convs only")
    positions = math.prod(out)
    vw = schedule.vector_width
    padded = -(-positions // vw) * vw
    depth = channels * math.prod(kernel)
    gemm = cpu.GatherGemm(
        name=layer, rows=rows, block_rows=block_rows, nnz=len(indices), batch=n, x_shape=(n, depth, padded),
        y_shape=(n, rows, *out), x_batch_stride=depth * padded, y_batch_stride=rows * positions,
        y_row_stride=positions, y_position_stride=1, outer=1, inner=positions, outer_dims=(1,),
        in_outer_strides=(0,), in_inner_stride=1, activation=activation)
    kernel_schedule = replace(schedule, vector_axis=0, tile=(1, padded // vw, *schedule.tile[2:]))
    return _Lowered(gemm, kernel_schedule, indices.astype(np.int64) * padded, None, (),
                    (tuple(kernel), tuple(strides), tuple(dilations), tuple(out), padded))


# Schedules whose kernel reads the unpadded input, its columns grouped by kernel tap.
TAP_SEGMENT_AXES = (4, 5, 7)
# Tap segments of a stride-2 conv on its input split into 4 phases: a stride-1 kernel over the planes.
PHASE_TAP_AXIS = 7
# Vectors per block row of a tap-segment tile. Up to 4 suit blocks of 4-8 rows; 1-row blocks (patterns)
# amortise each column's offset load and weight broadcast over more vectors: 7 vectors ran 20-25%
# faster than 4 on 4/9-pattern convs at 28x28 and 56x56, 13 no faster than 4.
MAX_TAP_VECTORS = 8


def unpadded_padding(x_shape, y_shape, kernel, strides, dilations, pad_amounts) -> tuple[int, int] | None:
    """(ph, pw), the low padding, when a 2-D conv's input is a zero pad of its source on the spatial
    dims only and the conv's horizontal stride is 1 or 2: a tap-segment kernel can then read the
    source and mask the border instead. Else None."""
    if pad_amounts is None or len(kernel) != 2 or strides[-1] not in (1, 2):
        return None
    low, high = pad_amounts
    if any(low[:2]) or any(high[:2]):
        return None
    return low[2], low[3]


def flattened_tap_rows(strides, source_width: int, out_width: int) -> bool:
    """Whether tap segments flatten a tile's output rows into one run (cpu.tap_rows_flattened): unit
    horizontal stride and input rows (times the vertical stride) as wide as the output rows."""
    return strides[-1] == 1 and strides[0] * source_width == out_width


def tap_layout(axis: int, strides, source_width: int, out_width: int) -> tuple[bool, int] | None:
    """(flattened rows, stride) of the vectors a tap-segment kernel of this axis lays out (cpu.tap_vectors):
    axis 7 runs stride 2 (both dims) as stride 1 over phase planes of width ceil(W / 2); None when the
    axis does not apply."""
    if axis == PHASE_TAP_AXIS:
        if tuple(strides) != (2, 2):
            return None
        return -(-source_width // 2) == out_width, 1
    return flattened_tap_rows(strides, source_width, out_width), strides[-1]


def tap_tile_vectors(schedule: Schedule, height: int, width: int, flattened: bool = True,
                     stride: int = 1) -> int | None:
    """Vectors per block row of a vector_axis 4 or 7 tile of an OH x OW output, laid out as tap_layout
    says (cpu.tap_vectors: flattened rows, row pairs at stride 2, or rows in vectors of their own); None
    unless the tile is whole rows dividing OH (all of them when tile[0] is 0 or OH) in at most
    MAX_TAP_VECTORS vectors."""
    rows = schedule.tile[0] if 0 < schedule.tile[0] < height else height
    if height % rows:
        return None
    count = len(cpu.tap_vectors(rows, width, schedule.vector_width, stride, flattened))
    return count if count <= MAX_TAP_VECTORS else None


def tap_segments_fit(schedule: Schedule, height: int, width: int, flattened: bool = True, stride: int = 1) -> bool:
    """Whether a tap-segment schedule suits an OH x OW output: a tile tap_tile_vectors accepts (vector_axis
    4 and 7); at most 16 positions (vector_axis 5, one accumulator each)."""
    if schedule.vector_axis in (4, PHASE_TAP_AXIS):
        return tap_tile_vectors(schedule, height, width, flattened, stride) is not None
    return schedule.vector_axis == 5 and height * width <= 16


def _plan_tap_segments(layer, source_shape, y_shape, kernel, strides, dilations, padding, indices, block_starts,
                       values, block_rows, activation, schedule: Schedule) -> _Lowered:
    """vector_axis 4 and 5: regroup each block-row's packed columns by kernel tap (a sum does not care
    about order), turn each column into its offset in the unpadded input, and find for every tap the
    output positions whose read stays inside the input: axis 4 as lane masks over the tile's vectors,
    axis 5 as position lists."""
    n, channels, height, width = source_shape
    _, rows, out_h, out_w = y_shape
    sy, sx = strides
    taps = math.prod(kernel)
    x_shape = tuple(source_shape)
    order, segments = [], [0]
    for b in range(len(block_starts) - 1):
        columns = np.arange(block_starts[b], block_starts[b + 1])
        tap_of = indices[columns] % taps
        order.append(columns[np.argsort(tap_of, kind="stable")])
        segments += list(segments[-1] + np.cumsum(np.bincount(tap_of, minlength=taps)))
    order = np.concatenate(order) if order else np.zeros(0, np.int64)
    packed = indices[order].astype(np.int64)
    channel, tap = packed // taps, packed % taps
    # Each tap's offset (dy, dx) from the output position's origin in the unpadded input.
    rise_of = (np.arange(taps) // kernel[1]) * dilations[0] - padding[0]
    shift_of = (np.arange(taps) % kernel[1]) * dilations[1] - padding[1]
    planes = 1
    if schedule.vector_axis == PHASE_TAP_AXIS:
        # Stride 2 on the input split into phases [N, C, 2, 2, H', W']: input row 2 * oh + a is row
        # oh + a // 2 of the row phase a % 2 (columns alike), so each tap reads one phase plane at a unit
        # stride and the kernel is the stride-1 one over planes of H' x W'.
        x_shape = (n, channels, 2, 2, -(-height // 2), -(-width // 2))
        planes, (height, width), sy, sx = 4, x_shape[-2:], 1, 1
        plane_of = (rise_of % 2) * 2 + shift_of % 2
        rise_of, shift_of = rise_of // 2, shift_of // 2
        channel = channel * planes + plane_of[tap]
    offsets = channel * height * width + rise_of[tap] * width + shift_of[tap]
    gemm = cpu.GatherGemm(
        name=layer, rows=rows, block_rows=block_rows, nnz=len(indices), batch=n, x_shape=x_shape,
        y_shape=(n, rows, out_h, out_w), x_batch_stride=channels * planes * height * width,
        y_batch_stride=rows * out_h * out_w,
        y_row_stride=out_h * out_w, y_position_stride=1, outer=out_h, inner=out_w, outer_dims=(out_h,),
        in_outer_strides=(sy * width,), in_inner_stride=sx, activation=activation, taps=taps)
    by_tap = {"segments": np.asarray(segments, np.int64), "values": values[order]}

    def inside(row, column):
        return (row >= 0) & (row < height) & (column >= 0) & (column < width)

    if schedule.vector_axis == 5:
        oh, ow = np.divmod(np.arange(out_h * out_w), out_w)
        positions = [[int(p) for p in np.flatnonzero(inside(oh * sy + dy, ow * sx + dx))]
                     for dy, dx in zip(rise_of, shift_of)]
        return _Lowered(gemm, replace(schedule, tile=(out_h * out_w, 1, *schedule.tile[2:])), offsets,
                        [int(p) for p in oh * sy * width + ow * sx], (), tap_masks=positions, **by_tap)
    # Axis 4 tiles the output by `tile[0]` whole rows (all of them when 0 or more): a tile's rows are
    # checked against the image's top and bottom at run time, so its masks hold the side borders only.
    tile_rows = schedule.tile[0] if 0 < schedule.tile[0] < out_h else out_h
    tiled = tile_rows < out_h
    lanes = schedule.vector_width
    layout = cpu.tile_tap_vectors(gemm, tile_rows, lanes)
    flattened = cpu.tap_rows_flattened(gemm)
    masks = []
    for dy, dx in zip(rise_of, shift_of):
        tap = []
        for vector in layout:
            valid = np.zeros(lanes * sx, bool)  # the vector's input lanes (both loads' at stride 2)
            for piece in vector.pieces:
                # Output lane piece.lane + i is tile position piece.position + i; at stride sx it reads
                # input lane sx * (piece.lane + i), and the lanes between are read when inside the row.
                first, span = sx * piece.lane, sx * (piece.lanes - 1) + 1
                k = np.arange(span)
                if flattened:
                    oh, ow = np.divmod(piece.position + k, out_w)
                    column = ow + dx
                else:
                    oh, ow = divmod(piece.position, out_w)
                    column = ow * sx + dx + k
                valid[first:first + span] = inside(oh * sy + dy if not tiled else 0, column)
            tap.append(tuple(bool(b) for b in valid))
        masks.append(tap)
    # Output rows [first, end) read the tap's input row oh * sy + dy inside the image.
    tap_rows = [(max(0, -(int(dy) // sy)), min(out_h, -((int(dy) - height) // sy))) for dy in rise_of] if tiled else None
    return _Lowered(gemm, replace(schedule, tile=(tile_rows, len(layout), *schedule.tile[2:])), offsets, None,
                    (2, 2) if planes > 1 else (), tap_masks=masks, tap_rows=tap_rows, **by_tap)


def plan_matmul(layer: str, x_shape, y_shape, indices, block_rows, activation, target,
                schedule: Schedule | None) -> _Lowered:
    positions, depth = x_shape
    rows = y_shape[1]
    schedule = schedule or matmul_schedule(block_rows, positions, target)
    gemm = cpu.GatherGemm(
        name=layer, rows=rows, block_rows=block_rows, nnz=len(indices), batch=1, x_shape=tuple(x_shape),
        y_shape=tuple(y_shape), x_batch_stride=0, y_batch_stride=0, y_row_stride=1, y_position_stride=rows,
        outer=positions, inner=1, outer_dims=(positions,), in_outer_strides=(depth,), in_inner_stride=1,
        activation=activation)
    return _Lowered(gemm, schedule, indices.astype(np.int64), None, ())


def cell_ops(function, gates: int) -> tuple[list[cpu.CellOp], list[str]]:
    """A bcr-fuse-gate-cells cell function as cpu.CellOps over %g<k> (its first `gates` arguments) and
    %c<k> (the cell inputs after them), and the names of the values it returns."""
    block = function.regions[0].blocks[0]
    names = {a: f"%g{k}" if k < gates else f"%c{k - gates}" for k, a in enumerate(block.arguments)}
    ops = []
    for k, body in enumerate(o.operation for o in block.operations):
        if body.name == "func.return":
            return ops, [names[v] for v in body.operands]
        names[body.result] = f"%v{k}"
        if body.name == "arith.constant" and isinstance(body.attributes["value"], ir.FloatAttr):
            ops.append(cpu.CellOp(f"%v{k}", body.name, constant=ir.FloatAttr(body.attributes["value"]).value))
        elif body.name in UNARY_OPS + BINARY_OPS:
            ops.append(cpu.CellOp(f"%v{k}", body.name, tuple(names[v] for v in body.operands)))
        else:
            raise BcrError(f"gate cell @{function.attributes['sym_name']} holds '{body.name}', which the kernel cannot "
                           "vectorize", f"keep a cell to float constants, {', '.join(UNARY_OPS + BINARY_OPS)}")
    raise BcrError(f"gate cell @{function.attributes['sym_name']} has no return", "end the cell with func.return")


def _gate_cell_kernel(module, op, context: PassContext, kernels: dict) -> tuple[dict, tuple, str]:
    """A gate cell op's kernel (added to `module`): its dispatch attributes, its packed offsets, indices and
    values with the block-rows interleaved by unit (u's gates next to each other, so a workgroup reads one
    run of packed columns, not `gates` runs a quarter of the matrix apart), and the report's description."""
    layer, cell_name = string_attr(op, "layer"), ir.FlatSymbolRefAttr(op.attributes["cell"]).value
    x, _, _, offsets, indices, values, *inputs = op.operands
    gates = ir.IntegerAttr(op.attributes["gates"]).value
    width = math.prod(shape_of(op.results[0]))
    index_array = context.weights.array(indices)
    if index_array is None:
        raise BcrError(f"layer '{layer}': the packed indices are not constants", "run bcr-compress-weights first")
    schedule = parse_attr(op.attributes["schedule"]) if "schedule" in op.attributes else None
    lowered = plan_matmul(layer, shape_of(x), (1, gates * width), index_array, shape_of(values)[1], "none",
                          context.target, schedule if schedule is not None and schedule.vector_width else None)
    function = next((f for f in module.body.operations if f.operation.name == "func.func"
                     and ir.StringAttr(f.attributes["sym_name"]).value == cell_name), None)
    if function is None:
        raise BcrError(f"layer '{layer}': its gate cell @{cell_name} is not in the module",
                       "run bcr-fuse-gate-cells and bcr-lower-to-kernels on the same module")
    cell, outputs = cell_ops(function, gates)
    text, grid = cpu.gate_cell(lowered.gemm, lowered.schedule, gates, cell, outputs, len(inputs), "NAME")
    attributes = dispatch_attributes(add_function(module, text, f"bcr_kernel_{sanitize(layer)}", kernels), grid, layer)
    starts = context.weights.array(offsets).astype(np.int64)
    per_gate = width // shape_of(values)[1]
    order = [g * per_gate + u for u in range(per_gate) for g in range(gates)]
    columns = np.concatenate([np.arange(starts[b], starts[b + 1]) for b in order])
    lengths = np.array([starts[b + 1] - starts[b] for b in order])
    packed = (context.weights.constant(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32), f"{layer}.unit_offsets"),
              context.weights.constant(index_array[columns].astype(np.int32), f"{layer}.unit_indices"),
              context.weights.constant(context.weights.array(values)[columns], f"{layer}.unit_values"))
    description = describe_schedule(lowered.schedule) + blocks_text(attributes) + f", {gates}-gate cell fused"
    return attributes, packed, description


def dispatch_attributes(kernel: str, grid: tuple[int, int, int], layer: str) -> dict:
    """The bcr.dispatch attributes of a CPU kernel; one workgroup runs several block-rows when the grid
    is large enough (kernels/schedule.py, blocks_per_workgroup)."""
    attributes = {"kernel": ir.FlatSymbolRefAttr.get(kernel), "workgroups": list(grid), "layer": layer}
    blocks = blocks_per_workgroup(tuple(grid))
    if blocks > 1:
        attributes["blocks_per_workgroup"] = blocks
    return attributes


def blocks_text(attributes: dict) -> str:
    """The report's note of a dispatch's blocks_per_workgroup (dispatch_attributes)."""
    blocks = attributes.get("blocks_per_workgroup", 1)
    return f", {blocks} block-rows per workgroup" if blocks > 1 else ""


def describe_schedule(s: Schedule) -> str:
    sets = cpu.accumulator_sets(s)
    return _describe_kernel(s) + (f", {sets} accumulator sets" if sets > 1 else "")


def _describe_kernel(s: Schedule) -> str:
    if s.vector_axis == 0:
        return f"cpu kernel: {s.block_rows} rows x {s.tile[0]}x{s.tile[1]}x{s.vector_width} outputs"
    if s.vector_axis == 6:
        return (f"cpu kernel: {s.block_rows} rows x {s.tile[0]}x{s.tile[1]}x{s.vector_width} outputs, "
                f"stride-2 loads deinterleaved")
    if s.vector_axis == 3:
        return f"cpu kernel: {s.block_rows} rows x im2col positions in {s.tile[1]}x{s.vector_width} lanes"
    if s.vector_axis == 4:
        return (f"cpu kernel: {s.block_rows} rows x unpadded output in {s.tile[1]}x{s.vector_width} lanes, "
                f"columns by tap")
    if s.vector_axis == PHASE_TAP_AXIS:
        return (f"cpu kernel: {s.block_rows} rows x output in {s.tile[1]}x{s.vector_width} lanes, columns by tap "
                f"over the input split into 4 stride-2 phases")
    if s.vector_axis == 5:
        return f"cpu kernel: {s.vector_width} rows in lanes x {s.tile[0]} unpadded positions, columns by tap"
    if s.vector_axis == 2:
        return (f"cpu kernel: {s.block_rows} rows x {s.tile[0]} output rows flattened into "
                f"{s.tile[1]}x{s.vector_width} lanes")
    return f"cpu kernel: {s.vector_width} rows in lanes x {s.tile[0]} positions"


class LowerToKernels(Pass):
    """See the module docstring. Also folds a zero tensor.pad consuming a conv's output (the next
    conv's padding) into the kernel, which then writes the padded tensor and its zero border: one
    dispatch and one pass over memory fewer per conv-conv edge."""

    name = "bcr-lower-to-kernels"
    summary = "Replace packed ops by generated scf/vector kernels launched through bcr.dispatch"

    def run(self, module: ir.Module, context: PassContext) -> None:
        if not context.target.is_cpu:
            raise BcrError(f"bcr-lower-to-kernels generates CPU kernels, but the target is {context.target.name}",
                           "use bcr-densify for GPU targets (the vulkan pipeline does)")
        kernels: dict[str, str] = {}
        glue: dict[str, str] = {}
        cells, gate_cells = set(), {}   # gate_cells: per layer and cell, its kernel (_gate_cell_kernel)
        for op in ops_named(module, PACKED_OPS + (EXPAND_DEPTHWISE_OP, GATE_CELL_OP)):
            if op.name == EXPAND_DEPTHWISE_OP:
                self._lower_expand_depthwise(module, op, context, kernels)
            elif op.name == GATE_CELL_OP:
                cells.add(self._lower_gate_cell(module, op, context, kernels, gate_cells))
            else:
                self._lower(module, op, context, kernels, glue)
        for function in module.body.operations:
            if function.operation.name == "func.func" and ir.StringAttr(function.attributes["sym_name"]).value in cells:
                function.operation.erase()  # the cells now live in their kernels

    @staticmethod
    def _lower_gate_cell(module, op, context: PassContext, kernels: dict, layers: dict) -> str:
        """A bcr-fuse-gate-cells matmul and cell: one kernel (cpu.gate_cell), its packed block-rows interleaved
        by unit (the unit's gates next to each other: 1.3x faster on a 4-gate LSTM at 1 thread than the
        gates a quarter of the matrix apart). The kernel and the interleaved constants are made once per
        layer and cell (`layers`), not at each of an RNN's time steps. Returns the cell's name."""
        layer, cell_name = string_attr(op, "layer"), ir.FlatSymbolRefAttr(op.attributes["cell"]).value
        x, bias, rows, offsets, indices, values, *inputs = op.operands
        if (layer, cell_name) not in layers:
            with ir.InsertionPoint(op), op.location:
                layers[layer, cell_name] = _gate_cell_kernel(module, op, context, kernels)
        attributes, packed, description = layers[layer, cell_name]
        with ir.InsertionPoint(op), op.location:
            dispatch = create_op("bcr.dispatch", [x, bias, rows, *packed, *inputs], [r.type for r in op.results],
                                 attributes)
        for old, new in zip(op.results, dispatch.results):
            old.replace_all_uses_with(new)
        op.erase()
        decision = context.report.find(layer)
        if decision is not None:
            decision.kernel = description
        return cell_name

    @staticmethod
    def _lower_expand_depthwise(module, op, context: PassContext, kernels: dict) -> None:
        """A bcr-fuse-expand-depthwise pair: one kernel (cpu.expand_depthwise), whose %bias operand carries
        the expand's biases, then the depthwise biases and taps (cpu.ExpandDepthwise.params)."""
        layer, dw_layer = string_attr(op, "layer"), string_attr(op, "depthwise_layer")
        x, bias, rows, offsets, indices, values, dw_bias, taps = op.operands
        arrays = [context.weights.array(v) for v in (bias, rows, indices, dw_bias, taps)]
        if any(a is None for a in arrays):
            raise BcrError(f"layer '{layer}': the fused expand-depthwise weights are not constants",
                           "run bcr-compress-weights and bcr-fuse-expand-depthwise on constant weights")
        bias_array, row_array, index_array, dw_bias_array, taps_array = arrays
        x_shape, (height, width) = shape_of(x), shape_of(x)[2:]
        # The 1x1 conv as plan_conv lays it out (its column j reads input channel j's plane).
        expand = plan_conv(layer, x_shape, (x_shape[0], shape_of(op.result)[1], height, width), (1, 1), (1, 1), (1, 1),
                           index_array, shape_of(values)[1], string_attr(op, "activation", "none"), context.target, None)
        channels = shape_of(op.result)[1]
        identity = identity_order(row_array, channels)
        fused = cpu.ExpandDepthwise(replace(expand.gemm, dtype=str(ir.RankedTensorType(values.type).element_type),
                                            identity_rows=identity),
                                    int_array(op, "strides")[0], string_attr(op, "depthwise_activation", "none"))
        plan = cpu.fused_plan(fused, positions_vector_width(width, context.target), context.target.vector_registers)
        text, grid = cpu.expand_depthwise(fused, plan, "NAME")
        name = add_function(module, text, f"bcr_kernel_{sanitize(layer)}", kernels)
        with ir.InsertionPoint(op), op.location:
            params = np.concatenate([bias_array.reshape(-1), dw_bias_array.reshape(-1), taps_array.reshape(-1)])
            params = context.weights.constant(params.astype(bias_array.dtype), f"{layer}.fused_params")
            offsets_in = context.weights.constant(expand.input_offsets.astype(np.int32), f"{layer}.input_offsets")
            attributes = dispatch_attributes(name, grid, layer)
            dispatch = create_op("bcr.dispatch", [x, params, rows, offsets, offsets_in, values], op.result.type,
                                 attributes)
        op.result.replace_all_uses_with(dispatch.result)
        op.erase()
        for one, other in ((layer, dw_layer), (dw_layer, layer)):
            decision = context.report.find(one)
            if decision is not None:
                decision.kernel = (f"cpu kernel: one with '{other}' ({fused.expand.block_rows} channels x "
                                   f"{plan.rows_per_tile} output rows x {plan.vw} lanes, expanded rows "
                                   f"{'in a 3-row ring' if plan.ring else 'on the stack'})") + \
                    blocks_text(attributes)

    @staticmethod
    def _tap_segment_input(op, schedule: Schedule):
        """(unpadded input, (ph, pw)) when a 2-D conv can run the tap-segment kernel, else None."""
        if op.name != "bcr.packed_conv2d":
            return None
        pad = defining_op(op.operands[0])
        strides = int_array(op, "strides")
        padding = unpadded_padding(shape_of(op.operands[0]), shape_of(op.result), int_array(op, "kernel"), strides,
                                   int_array(op, "dilations"), zero_pad_amounts(pad))
        if padding is None:
            return None
        source, (out_h, out_w) = pad.operands[0], shape_of(op.result)[2:]
        layout = tap_layout(schedule.vector_axis, strides, shape_of(source)[-1], out_w)
        if layout is None or not tap_segments_fit(schedule, out_h, out_w, *layout):
            return None
        return source, padding

    @staticmethod
    def _foldable_pad(op, lowered: "_Lowered"):
        """The tensor.pad (and its amounts) to fold into a 2-D conv kernel that writes whole rows."""
        pad = single_user(op.result)
        amounts = zero_pad_amounts(pad)
        if packed_operands(op).residual is not None:
            return None, (0, 0, 0, 0)  # the residual is read at the unpadded output's indices
        if amounts is None or lowered.schedule.vector_axis not in (0, 6) or len(shape_of(op.result)) != 4:
            return None, (0, 0, 0, 0)
        consumer = single_user(pad.result)
        if consumer is not None and "schedule" in consumer.attributes and \
                parse_attr(consumer.attributes["schedule"]).vector_axis in TAP_SEGMENT_AXES:
            return None, (0, 0, 0, 0)  # the consumer reads the unpadded tensor itself
        low, high = amounts
        if any(low[:2]) or any(high[:2]):
            return None, (0, 0, 0, 0)
        return pad, (low[2], high[2], low[3], high[3])

    def _lower(self, module, op, context: PassContext, kernels: dict, glue: dict) -> None:
        layer = string_attr(op, "layer")
        x, bias, rows, offsets, indices, values, residual = packed_operands(op)
        index_array, row_array = context.weights.array(indices), context.weights.array(rows)
        if index_array is None or row_array is None:
            raise BcrError(f"layer '{layer}': the packed rows and indices are not constants", "run bcr-compress-weights first")
        block_rows = shape_of(values)[1]
        schedule = parse_attr(op.attributes["schedule"]) if "schedule" in op.attributes else None
        if schedule is not None and schedule.vector_width == 0:  # only the register block is chosen yet
            schedule = None
        activation = string_attr(op, "activation", "none")
        x_shape, y_shape = shape_of(x), shape_of(op.result)
        pad_op, out_pad = None, (0, 0, 0, 0)
        tap_schedule = schedule is not None and schedule.vector_axis in TAP_SEGMENT_AXES
        tap_input = self._tap_segment_input(op, schedule) if tap_schedule else None
        if op.name == "bcr.packed_matmul":
            lowered = plan_matmul(layer, x_shape, y_shape, index_array, block_rows, activation, context.target, schedule)
        elif tap_input is not None:
            source, padding = tap_input
            lowered = _plan_tap_segments(layer, shape_of(source), y_shape, int_array(op, "kernel"),
                                         int_array(op, "strides"), int_array(op, "dilations"), padding, index_array,
                                         context.weights.array(offsets), context.weights.array(values), block_rows,
                                         activation, schedule)
            x = source
        else:
            if tap_schedule:
                schedule = None  # a cached tap-segment schedule whose layer has no zero pad to skip here
            conv_args = (layer, x_shape, y_shape, int_array(op, "kernel"), int_array(op, "strides"),
                         int_array(op, "dilations"), index_array, block_rows, activation, context.target, schedule)
            lowered = plan_conv(*conv_args)
            pad_op, out_pad = self._foldable_pad(op, lowered) if lowered.im2col is None else (None, (0, 0, 0, 0))
            if pad_op is not None:
                lowered = plan_conv(*conv_args, out_pad=out_pad)
        if lowered.input_offsets.size and int(lowered.input_offsets.max()) >= 2**31:
            raise BcrError(f"layer '{layer}': input too large for 32-bit offsets", "use a smaller input size")
        output_rows = lowered.gemm.rows
        dtype = str(ir.RankedTensorType(values.type).element_type)
        g = replace(lowered.gemm, identity_rows=identity_order(row_array, output_rows),
                    dtype=dtype, reduction=string_attr(op, "reduction", "add"), residual=residual is not None)
        if lowered.schedule.vector_axis in (0, 6):
            text, grid = cpu.conv_lanes_over_positions(g, lowered.schedule, "NAME")
        elif lowered.schedule.vector_axis in (4, PHASE_TAP_AXIS):
            text, grid = cpu.conv_tap_segments(g, lowered.schedule, "NAME", lowered.tap_masks, lowered.tap_rows)
        elif lowered.schedule.vector_axis == 2:
            if op.name != "bcr.packed_conv2d":
                raise BcrError(f"layer '{layer}': flattened positions (vector axis 2) are for 2-D convs only")
            text, grid = cpu.conv_flattened(g, lowered.schedule, "NAME")
        elif lowered.schedule.vector_axis == 5:
            text, grid = cpu.lanes_over_rows(g, lowered.schedule, "NAME", lowered.position_offsets, lowered.tap_masks)
        else:
            text, grid = cpu.lanes_over_rows(g, lowered.schedule, "NAME", lowered.position_offsets)
        name = add_function(module, text, f"bcr_kernel_{sanitize(layer)}", kernels)
        with ir.InsertionPoint(op), op.location:
            kernel_input = x
            if lowered.im2col is not None:
                gather_text, gather_shape = im2col_text(x_shape, *lowered.im2col, dtype)
                gather = add_function(module, gather_text, "bcr_im2col", glue)
                element = ir.RankedTensorType(x.type).element_type
                kernel_input = call(gather, [x], ir.RankedTensorType.get(list(gather_shape), element))
            if lowered.phase_split:
                split_text, split_shape = phase_split_text(tuple(shape_of(x)), lowered.phase_split, dtype)
                split = add_function(module, split_text, "bcr_phase_split", glue)
                element = ir.RankedTensorType(x.type).element_type
                kernel_input = call(split, [x], ir.RankedTensorType.get(list(split_shape), element))
            if lowered.segments is not None:
                offsets = context.weights.constant(lowered.segments.astype(np.int32), f"{layer}.tap_segments")
                values = context.weights.constant(lowered.values, f"{layer}.values_by_tap")
            if op.name == "bcr.packed_matmul":
                # A matmul's columns are its input offsets: reuse the packed indices (one constant for
                # all 100 uses of an RNN's W_hh, instead of one copy per time step).
                input_offsets = indices
            else:
                input_offsets = context.weights.constant(lowered.input_offsets.astype(np.int32), f"{layer}.input_offsets")
            replaced = pad_op if pad_op is not None else op
            attributes = dispatch_attributes(name, grid, layer)
            operands = [kernel_input, bias, rows, offsets, input_offsets, values] + ([residual] if residual is not None else [])
            dispatch = create_op("bcr.dispatch", operands, replaced.result.type, attributes)
        replaced.result.replace_all_uses_with(dispatch.result)
        if pad_op is not None:
            pad_op.erase()
        padded_input = defining_op(op.operands[0])
        op.erase()
        if lowered.segments is not None and padded_input is not None and not users(padded_input.result):
            padded_input.erase()  # the zero pad the tap-segment kernel made unnecessary
        decision = context.report.find(layer)
        if decision is not None:
            decision.kernel = describe_schedule(schedule if lowered.im2col is not None else lowered.schedule) + \
                blocks_text(attributes) + \
                (", residual add fused" if residual is not None else "")
