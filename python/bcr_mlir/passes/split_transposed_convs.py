"""bcr-split-transposed-convs: run a strided transposed conv as one conv of its output phases' filters, so no
multiply-add reads the zeros torch-mlir stuffs between the input's pixels.

torch-mlir lowers ConvTranspose(stride s) to a stride-1 conv of the flipped weight over the input with s - 1
zeros inserted between its elements (a strided tensor.insert_slice into zeros). Of the conv's taps, only
those of one residue mod s meet data at any output: at stride 2 in 2-D, 3/4 of the multiply-adds multiply a
stuffed zero. Output phase a (outputs a, a + s, a + 2s, ... along each dim) is exactly the stride-1 conv of
the unstuffed input, shifted and zero-padded, by the taps k = k0, k0 + s, ... with k0 = (o - a) mod s (o is
the stuffed input's offset).

The phases' windows of the input overlap (they are shifted by at most a tap), so all of them run as one conv
over a common window: its filters are the phases' stacked [s^d F, C, *window taps], each phase's taps at its
place in the window and zeros elsewhere, and a depth-to-space (expand_shape, linalg.transpose,
collapse_shape) interleaves its s^d F output channels into the output. The conv is marked with the layer's
name and weight count (`bcr.transposed_layer`): bcr-raise-sparse-layers reports it as that layer, with the
sparsity of the layer's own weight, and runs it as a generated kernel, which skips the window's zero taps
like pruned ones (IREE would compute them, and fuses the transpose into its conv, losing its data-tiled
matmul: structure.TRANSPOSED_CONV_SLOWDOWN). A pruned layer stays pruned: its zeros are in the stacked
filters. Elementwise ops that alone read the conv's result (a ReLU, a clamp, an f16 model's narrowing)
commute with the interleave, so they move before it, where bcr-raise-sparse-layers fuses them.

A stride-1 transposed conv of a one-pixel input (DCGAN's first layer: the 1x1 code, padded by K - 1 - p) is
the same case: a one-pixel input is stuffed at any stride, and at one stride per output every output
position is a phase with one tap, so the layer runs as one 1x1 conv (a matmul) that reads no padding.

When the conv's init is not a bias it can tile (a constant bias vector, maybe widened from f16, or a zero
fill), or a phase has no output at all, each phase runs as its own conv (weights `<layer>.phase<a>.weight`)
over its window, and strided tensor.insert_slice ops interleave the results.

Runs after bcr-fold-constant-weights (which evaluates torch-mlir's gather of the transposed weight) and before
bcr-raise-sparse-layers. Takes linalg.conv_{1d_ncw_fcw,2d_nchw_fchw,3d_ncdhw_fcdhw} with unit strides and
dilations, a constant weight, and an input inserted with static strides into a zero fill.

Before (ConvTranspose2d(8, 16, 4, stride=2, padding=1) on 6x6, with a bias):
    %z = linalg.fill ins(%cst0 : f32) outs(%e : tensor<1x8x15x15xf32>) -> tensor<1x8x15x15xf32>
    %s = tensor.insert_slice %x into %z[0, 0, 2, 2] [1, 8, 6, 6] [1, 1, 2, 2] : tensor<1x8x6x6xf32> into ...
    %bias = linalg.broadcast ins(%b : tensor<16xf32>) outs(%o : tensor<1x16x12x12xf32>) dimensions = [0, 2, 3]
    %y = linalg.conv_2d_nchw_fchw ins(%s, %w : tensor<1x8x15x15xf32>, tensor<16x8x4x4xf32>)
           outs(%bias : tensor<1x16x12x12xf32>) -> tensor<1x16x12x12xf32>
After (each phase has 2x2 taps; together they span a 3x3 window of the input padded by one):
    %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {...} : tensor<1x8x6x6xf32> to tensor<1x8x8x8xf32>
    %w4 = arith.constant dense_resource<"0.phases.weight"> : tensor<64x8x3x3xf32>   // 4 of 9 taps per filter
    %b4 = linalg.broadcast ins(%bias_x4 : tensor<64xf32>) outs(%e4 : tensor<1x64x6x6xf32>) dimensions = [0, 2, 3]
    %y4 = linalg.conv_2d_nchw_fchw {bcr.transposed_layer = {layer = "0", weights = 2048 : i64}}
            ins(%p, %w4 : ...) outs(%b4 : tensor<1x64x6x6xf32>) -> tensor<1x64x6x6xf32>
    %e = tensor.expand_shape %y4 [[0], [1, 2, 3], [4], [5]] output_shape [1, 2, 2, 16, 6, 6] : ...
    %t = linalg.transpose ins(%e : tensor<1x2x2x16x6x6xf32>) outs(...) permutation = [0, 3, 4, 1, 5, 2]
    %r = tensor.collapse_shape %t [[0], [1], [2, 3], [4, 5]] : tensor<1x16x6x2x6x2xf32> into tensor<1x16x12x12xf32>
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import ops_named, shape_of
from bcr_mlir.passes.functions import zero_pad
from bcr_mlir.passes.matching import (conv_bias, defining_op, dense_ints, erase_unused, float_constant,
                                      single_user)
from bcr_mlir.passes.raise_sparse_layers import PHASE_INFIX, TRANSPOSED_LAYER_ATTR, layer_name
from bcr_mlir.passes.registry import Pass, PassContext

# What makes the stuffed input and the conv's init: erased with the conv when nothing else reads them.
_STUFFING_OPS = ("tensor.insert_slice", "linalg.fill", "tensor.empty", "linalg.broadcast")
SPATIAL_DIMS = {"linalg.conv_1d_ncw_fcw": 1, "linalg.conv_2d_nchw_fchw": 2, "linalg.conv_3d_ncdhw_fcdhw": 3}


@dataclass(frozen=True)
class _Phase1D:
    """One output phase along one spatial dim: outputs a, a + s, ...; taps k0, k0 + s, ...; the unstuffed input
    read from index `start` on (zeros outside it), `length` elements in all."""

    a: int
    outputs: int   # outputs of this phase
    k0: int
    taps: int
    start: int     # input index of the first element read (may be negative: zero padding)
    length: int    # input elements the phase conv reads


def _phases_1d(stride: int, offset: int, inputs: int, kernel: int, outputs: int) -> list[_Phase1D]:
    """The phases along one dim of a stride-1 conv (kernel `kernel`, `outputs` outputs) over an input stuffed
    as S[offset + stride * i] = x[i], i < inputs, zero elsewhere."""
    phases = []
    for a in range(stride):
        count = -(-(outputs - a) // stride)
        if count <= 0:
            continue
        k0 = (offset - a) % stride
        taps = max(0, -(-(kernel - k0) // stride))
        # Output a + s P reads S[a + s P + k0 + s t] = x[P + t + (a + k0 - offset) / s].
        phases.append(_Phase1D(a, count, k0, taps, (a + k0 - offset) // stride, count + max(taps, 1) - 1))
    return phases


def _stuffed_input(conv: ir.Operation) -> tuple[ir.Value, list[int], list[int], list[int]] | None:
    """(unstuffed input, spatial offsets, spatial strides to split at, the insert's spatial strides) when the
    conv's input is a strided insert_slice of a tensor into a zero fill, with unit strides on the batch and
    channel dims.

    A one-pixel input, padded to several outputs (a stride-1 transposed conv of a 1x1 input: DCGAN's first
    layer), is stuffed at any stride: at one stride per output, each output position is a phase that meets
    one tap, so all of them run as one 1x1 conv (a matmul) that reads no padding."""
    insert = defining_op(conv.operands[0])
    if insert is None or insert.name != "tensor.insert_slice" or len(insert.operands) != 2:
        return None   # dynamic offsets, sizes or strides
    fill = defining_op(insert.operands[1])
    if fill is None or fill.name != "linalg.fill" or float_constant(fill.operands[0]) != 0.0:
        return None
    offsets = list(ir.DenseI64ArrayAttr(insert.attributes["static_offsets"]))
    strides = list(ir.DenseI64ArrayAttr(insert.attributes["static_strides"]))
    sizes = list(ir.DenseI64ArrayAttr(insert.attributes["static_sizes"]))
    source = insert.operands[0]
    outputs = shape_of(conv.result)[2:]
    one_pixel = all(size == 1 for size in sizes[2:])
    split = [out if one_pixel and out > 1 else stride for out, stride in zip(outputs, strides[2:])]
    if offsets[:2] != [0, 0] or strides[:2] != [1, 1] or sizes != list(shape_of(source)) or max(split) <= 1:
        return None
    return source, offsets[2:], split, strides[2:]


@dataclass(frozen=True)
class SplitTransposedConvs(Pass):
    name = "bcr-split-transposed-convs"
    summary = ("Run a strided transposed conv (a conv over a zero-stuffed input) as one conv of its output phases' "
               "filters stacked on a common window, then a depth-to-space")

    def run(self, module: ir.Module, context: PassContext) -> None:
        for conv in ops_named(module, tuple(SPATIAL_DIMS)):
            if any(v != 1 for v in dense_ints(conv.attributes["strides"]) + dense_ints(conv.attributes["dilations"])):
                continue
            stuffed = _stuffed_input(conv)
            weight = context.weights.array(conv.operands[1]) if stuffed is not None else None
            if weight is None:
                continue
            x, offsets, strides, inserted = stuffed
            dims = SPATIAL_DIMS[conv.name]
            out_shape = shape_of(conv.result)
            per_dim = [_phases_1d(strides[d], offsets[d], shape_of(x)[2 + d], weight.shape[2 + d], out_shape[2 + d])
                       for d in range(dims)]
            name = layer_name(conv.operands[1])
            epilogue = _elementwise_epilogue(conv)
            last = epilogue[-1] if epilogue else conv
            phases = list(itertools.product(*per_dim))
            window = _common_window(per_dim, strides)
            # The stacked conv takes the conv's bias as bcr-raise-sparse-layers reads one (a constant, maybe
            # behind an f16 model's widening, or a zero fill); any other init: separate phases.
            bias = conv_bias(conv.operands[2], context.weights) if window is not None else None
            # Just before the epilogue's last op: every value the conv and the epilogue read is defined there.
            with ir.InsertionPoint(last), conv.location:
                if bias is not None:
                    result = self._stacked(conv, x, weight, phases, window, strides, name, epilogue, bias, context)
                else:
                    result = self._split(conv, x, weight, phases, strides, name, epilogue, context)
            last.result.replace_all_uses_with(result)
            operands = list(conv.operands)
            for op in [*reversed(epilogue), conv]:
                op.erase()
            erase_unused(_STUFFING_OPS, operands)   # the stuffed input and the old init
            stuffed_macs = math.prod(out_shape[2:]) * math.prod(weight.shape[2:])
            phase_macs = sum(math.prod(p.outputs * p.taps for p in phase) for phase in phases)
            if bias is not None:
                taps = "x".join(str(w.taps) for w in window) if len(window) > 1 else f"{window[0].taps}-tap"
                shape = f"one conv of its {len(phases)} phases' filters stacked on a common {taps} window, then a depth-to-space"
            else:
                shape = f"{sum(all(p.taps for p in phase) for phase in phases)} phase conv(s) ({name}{PHASE_INFIX}*)"
            layer = f"a stride-{'x'.join(map(str, inserted))} transposed conv"
            if inserted != strides:
                layer += f" of a {'x'.join(map(str, shape_of(x)[2:]))} input (each output position a phase)"
            context.report.notes.append(
                f"{name}: {layer} runs as {shape}; its phases do {stuffed_macs / max(phase_macs, 1):.1f}x fewer "
                f"multiply-adds than the conv over its zero-{'stuffed' if max(inserted) > 1 else 'padded'} input")

    @staticmethod
    def _stacked(conv: ir.Operation, x: ir.Value, weight: np.ndarray, phases: list[tuple[_Phase1D, ...]],
                 window: list[_Phase1D], strides: list[int], name: str, epilogue: list[ir.Operation],
                 bias: ir.Value | bool, context: PassContext) -> ir.Value:
        """One conv of all phases' filters, stacked [P F, C, *window taps] with each phase's taps at its place
        in the common window (zeros elsewhere, which the generated kernels skip), then a depth-to-space that
        interleaves its P F output channels: [N, s1.., F, Q1..] -> [N, F, Q1, s1, Q2, s2, ..], sliced to the
        output where a phase has one output fewer than phase 0. One IREE dispatch and a copy, where separate
        phases took a pad or slice, a conv and an interleave each."""
        element = ir.RankedTensorType(conv.result.type).element_type
        batch, filters = shape_of(conv.result)[:2]
        stacked = np.concatenate([_in_window(_phase_taps(weight, phase, strides), phase, window) for phase in phases])
        counts = [w.outputs for w in window]
        shape = [batch, len(phases) * filters, *counts]
        empty = ir.tensor.EmptyOp(shape, element).result
        if bias is False:
            zero = ir.arith.ConstantOp(element, ir.FloatAttr.get(element, 0.0)).result
            init = ir.linalg.fill(zero, outs=[empty])
        else:
            bias_value = context.weights.constant(np.tile(context.weights.array(bias), len(phases)), f"{name}{PHASE_INFIX}s.bias")
            broadcast_input = defining_op(conv.operands[2]).operands[0]
            if broadcast_input != bias:   # an f16 model's bias, widened to f32 at run time (conv_bias looked through)
                bias_value = _elementwise_on(defining_op(broadcast_input), bias, bias_value, [len(phases) * filters])
            init = _value(ir.linalg.broadcast(bias_value, outs=[empty], dimensions=[0, *range(2, len(shape))]))
        value = _phase_conv(conv, x, tuple(window), context.weights.constant(stacked, f"{name}{PHASE_INFIX}s.weight"), init)
        # bcr-raise-sparse-layers reports the stacked conv as the layer itself, and prices its zero taps.
        value.owner.attributes[TRANSPOSED_LAYER_ATTR] = ir.DictAttr.get(
            {"layer": ir.StringAttr.get(name), "weights": ir.IntegerAttr.get(ir.IntegerType.get_signless(64), weight.size)})
        value = _epilogue_on(conv, epilogue, value, shape)
        dims = len(strides)
        element = ir.RankedTensorType(value.type).element_type
        split = [batch, *strides, filters, *counts]
        value = ir.tensor.ExpandShapeOp(ir.RankedTensorType.get(split, element), value,
                                        [[0], list(range(1, dims + 2)), *[[dims + 2 + d] for d in range(dims)]], [], split).result
        permutation = [0, dims + 1, *itertools.chain.from_iterable((dims + 2 + d, 1 + d) for d in range(dims))]
        moved = [split[i] for i in permutation]
        value = ir.linalg.transpose(value, outs=[ir.tensor.EmptyOp(moved, element).result], permutation=permutation)
        interleaved = [batch, filters, *(c * s for c, s in zip(counts, strides))]
        value = ir.tensor.CollapseShapeOp(ir.RankedTensorType.get(interleaved, element), _value(value),
                                          [[0], [1], *[[2 + 2 * d, 3 + 2 * d] for d in range(dims)]]).result
        final = list(shape_of(conv.result))
        if interleaved == final:
            return value
        return ir.tensor.ExtractSliceOp(ir.RankedTensorType.get(final, element), value, [], [], [],
                                        [0] * len(final), final, [1] * len(final)).result

    @staticmethod
    def _split(conv: ir.Operation, x: ir.Value, weight: np.ndarray, phases: list[tuple[_Phase1D, ...]],
               strides: list[int], name: str, epilogue: list[ir.Operation], context: PassContext) -> ir.Value:
        out_type = ir.RankedTensorType(conv.result.type)
        element = out_type.element_type
        batch, filters = out_type.shape[:2]
        init = conv.operands[2]
        init_op = defining_op(init)
        final_type = ir.RankedTensorType((epilogue[-1] if epilogue else conv).result.type)
        result = ir.tensor.EmptyOp(final_type.shape, final_type.element_type).result
        for phase in phases:
            shape = [batch, filters, *(p.outputs for p in phase)]
            phase_type = ir.RankedTensorType.get(shape, element)
            at = [0, 0, *(p.a for p in phase)]
            step = [1, 1, *strides]
            # The init's fill or bias broadcast, made again at the phase's shape (what bcr-raise-sparse-layers
            # reads as the bias); any other init: its elements of this phase.
            if init_op is not None and init_op.name == "linalg.fill":
                phase_init = ir.linalg.fill(init_op.operands[0], outs=[ir.tensor.EmptyOp(shape, element).result])
            elif init_op is not None and init_op.name == "linalg.broadcast":
                phase_init = _value(ir.linalg.broadcast(init_op.operands[0], outs=[ir.tensor.EmptyOp(shape, element).result],
                                                        dimensions=init_op.attributes["dimensions"]))
            else:
                phase_init = ir.tensor.ExtractSliceOp(phase_type, init, [], [], [], at, shape, step).result
            if all(p.taps for p in phase):
                label = "x".join(str(p.a) for p in phase)
                sub_weight = context.weights.constant(_phase_taps(weight, phase, strides), f"{name}{PHASE_INFIX}{label}.weight")
                phase_value = _phase_conv(conv, x, phase, sub_weight, phase_init)
            else:   # no tap meets data at these outputs: they are the init (the bias)
                phase_value = phase_init
            phase_value = _epilogue_on(conv, epilogue, phase_value, shape)
            result = ir.tensor.InsertSliceOp(phase_value, result, [], [], [], at, shape, step).result
        return result


def _value(result) -> ir.Value:
    """The value of a builder's result (some return the op, some its result list)."""
    if isinstance(result, ir.Value):
        return result
    return result.results[0] if hasattr(result, "results") else result[0]


def _phase_taps(weight: np.ndarray, phase: tuple[_Phase1D, ...], strides: list[int]) -> np.ndarray:
    """The conv weight's taps that a phase meets: k0, k0 + s, ... along each spatial dim."""
    return np.ascontiguousarray(weight[(slice(None), slice(None), *(slice(p.k0, None, s) for p, s in zip(phase, strides)))])


def _phase_conv(conv: ir.Operation, x: ir.Value, phase: tuple[_Phase1D, ...], weight: ir.Value, init: ir.Value) -> ir.Value:
    """A stride-1 conv of the conv's kind over the phase's window of the unstuffed input."""
    build = getattr(ir.linalg, conv.name.removeprefix("linalg."))
    ones = [1] * len(phase)
    return build(_window(x, phase), weight, outs=[init], strides=ones, dilations=ones)


def _epilogue_on(conv: ir.Operation, epilogue: list[ir.Operation], value: ir.Value, shape: list[int]) -> ir.Value:
    """The conv's elementwise epilogue applied to `value` (of `shape`): it commutes with the interleave."""
    for op, replaced in zip(epilogue, [conv, *epilogue]):
        value = _elementwise_on(op, replaced.result, value, shape)
    return value


def _common_window(per_dim: list[list[_Phase1D]], strides: list[int]) -> list[_Phase1D] | None:
    """Per spatial dim, the window of the unstuffed input that holds every phase's taps, as a phase of the
    most outputs (phase 0's: the others have as many or one fewer); None when a phase has no output at all
    (fewer outputs than the stride), which the depth-to-space could not interleave."""
    window = []
    for column, stride in zip(per_dim, strides):
        if len(column) != stride:
            return None
        count = max(p.outputs for p in column)
        tapped = [p for p in column if p.taps]
        start = min(p.start for p in tapped)
        length = max(p.start + count + p.taps - 1 for p in tapped) - start
        window.append(_Phase1D(0, count, 0, length - count + 1, start, length))
    return window


def _in_window(taps: np.ndarray, phase: tuple[_Phase1D, ...], window: list[_Phase1D]) -> np.ndarray:
    """A phase's taps at their place among the common window's (output P of the phase reads input
    p.start + P + t by tap t, which is tap t + p.start - w.start of the window), zeros elsewhere."""
    placed = np.zeros(taps.shape[:2] + tuple(w.taps for w in window), taps.dtype)
    placed[(slice(None), slice(None), *(slice(p.start - w.start, p.start - w.start + p.taps)
                                        for p, w in zip(phase, window)))] = taps
    return placed


def _elementwise_epilogue(conv: ir.Operation) -> list[ir.Operation]:
    """The chain of elementwise generics that alone read the conv's result, each the only reader of the one
    before: the value through an identity map, other inputs rank-0 constants (torch-mlir's ReLU and clamps
    compare with a tensor<f32>), e.g. a ReLU6 as max then min."""
    chain, value = [], conv.result
    while True:
        user = single_user(value)
        if user is None or user.name != "linalg.generic" or len(user.results) != 1 \
                or "reduction" in str(user.attributes["iterator_types"]):
            return chain
        inputs = list(user.operands)[:-1]
        maps = [str(m) for m in ir.ArrayAttr(user.attributes["indexing_maps"])]
        if [maps[i] for i, v in enumerate(inputs) if v == value] != [maps[-1]] \
                or any(v != value and shape_of(v) != () for v in inputs) or shape_of(user.result) != shape_of(value):
            return chain
        chain.append(user)
        value = user.result


def _elementwise_on(op: ir.Operation, replaced: ir.Value, value: ir.Value, shape: list[int]) -> ir.Value:
    """A copy of the elementwise generic `op` that reads `value` (of `shape`) where `op` reads `replaced`."""
    element = ir.RankedTensorType(op.result.type).element_type
    inputs = [value if v == replaced else v for v in list(op.operands)[:-1]]
    copy = ir.Operation.create("linalg.generic", results=[ir.RankedTensorType.get(shape, element)],
                               operands=[*inputs, ir.tensor.EmptyOp(shape, element).result],
                               attributes={name: op.attributes[name] for name in op.attributes}, regions=1)
    body = op.regions[0].blocks[0]
    block = copy.regions[0].blocks.append(*[argument.type for argument in body.arguments])
    mapped = dict(zip(body.arguments, block.arguments))
    with ir.InsertionPoint(block):
        for body_op in body.operations:
            clone = body_op.operation.clone()
            for index, operand in enumerate(clone.operands):
                clone.operands[index] = mapped.get(operand, operand)
            mapped.update(zip(body_op.results, clone.results))
    return copy.result


def _window(x: ir.Value, phase: tuple[_Phase1D, ...]) -> ir.Value:
    """The unstuffed input elements a phase conv reads: x[start : start + length] per spatial dim, zero outside x."""
    shape = shape_of(x)
    low = [0, 0, *(max(0, -p.start) for p in phase)]
    high = [0, 0, *(max(0, p.start + p.length - n) for p, n in zip(phase, shape[2:]))]
    element = ir.RankedTensorType(x.type).element_type
    if any(low) or any(high):
        padded_shape = [n + lo + hi for n, lo, hi in zip(shape, low, high)]
        x = zero_pad(x, low, high, ir.RankedTensorType.get(padded_shape, element))
        shape = padded_shape
    at = [0, 0, *(p.start + lo for p, lo in zip(phase, low[2:]))]
    sizes = [*shape[:2], *(p.length for p in phase)]
    if sizes == list(shape):
        return x
    return ir.tensor.ExtractSliceOp(ir.RankedTensorType.get(sizes, element), x, [], [], [], at, sizes, [1] * len(sizes)).result
