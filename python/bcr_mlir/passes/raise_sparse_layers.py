"""bcr-raise-sparse-layers: raise contractions with constant, structured-sparse weights to `bcr` ops.

Finds linalg.conv_2d_nchw_fchw, linalg.conv_3d_ncdhw_fcdhw, linalg.conv_1d_ncw_fcw (a Conv1d: raised as
a conv2d of one row, [N, C, L] -> [N, C, 1, L], the result collapsed back) and linalg.matmul (the form torch-mlir
emits for nn.Linear and the GRU/LSTM gates: a transposed constant weight) whose weight is a constant,
and linalg.batch_matmul of a weight broadcast over the batch (nn.Linear on a 3-D input, such as a
head on every step of a batch of sequences, or a batch-first GRU's input projection): its B x M rows
become one matmul, between a tensor.collapse_shape and a tensor.expand_shape. A grouped conv
(linalg.conv_2d_ngchw_gfchw between torch-mlir's expand_shapes and collapse_shape) becomes one conv2d
of its block-diagonal weight [F, C, KH, KW]: the kernels skip its zero blocks like pruned ones, and
IREE 3.13's own grouped conv is slow (structure.GROUPED_CONV2D_SLOWDOWN). torch-mlir emits grouped and
depthwise Conv1d layers as these 2-D ops over [N, C, L, 1], so they are taken the same way.
For each, it reads the pruning metadata (module attribute `bcr.sparsity`) or detects the structure
from the zeros, verifies it, and asks the cost model whether the layer should run sparse. Sparse
layers become `bcr.sparse_*` ops that also absorb the bias (the conv's broadcast init, or the add
after the matmul) and a following ReLU/ReLU6. Layers kept dense get a `bcr.decision` attribute
saying why. Every decision goes to the layer report (`bcr-opt --bcr-report`), and so does every
weight the pruning metadata names that no matcher took: it runs dense in IREE, and the report names
the ops that read it.

Before:
    %b = linalg.broadcast ins(%bias : tensor<16xf32>) outs(%e : tensor<1x16x8x8xf32>) dimensions = [0, 2, 3]
    %c = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
           ins(%x, %w : tensor<1x8x10x10xf32>, tensor<16x8x3x3xf32>) outs(%b : tensor<1x16x8x8xf32>) -> tensor<1x16x8x8xf32>
    %r = linalg.generic {...} ins(%c ...) { arith.cmpf ugt / arith.select }   // relu

After:
    %r = "bcr.sparse_conv2d"(%x, %w, %bias) {activation = "relu", dilations = array<i64: 1, 1>,
           layer = "conv1", layout = #bcr.bcr_layout<array<i64: 16, 72>, array<i64: 8, 16>, ...>,
           strides = array<i64: 1, 1>} : (tensor<1x8x10x10xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<1x16x8x8xf32>
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

import numpy as np

from bcr_mlir import ir
from bcr_mlir.ir import tensor
from bcr_mlir.dialect import SPARSITY_ATTR, create_op, ops_named, shape_of, walk
from bcr_mlir.dialect import GroupLayout
from bcr_mlir.passes.matching import (activation_of, bias_add_of, body_ops, clamp_bound, conv_bias, defining_op,
                                      dense_ints, single_user, through_extf, through_reshape, truncf_user, users)
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.report import LayerDecision
from bcr_mlir.structure import MIN_MACS, MIN_SPEEDUP, decide
from bcr_mlir.weights import resource_name, value_dtype

# The convs taken as they are, by their kind (a conv1d becomes a bcr.sparse_conv2d of one row).
CONV_OPS = {"linalg.conv_1d_ncw_fcw": "conv1d", "linalg.conv_2d_nchw_fchw": "conv2d", "linalg.conv_3d_ncdhw_fcdhw": "conv3d"}
DENSE_ONLY_OPS = {"linalg.depthwise_conv_2d_nchw_chw": "depthwise conv2d",
                  "linalg.conv_2d_ngchw_gfchw": "grouped conv2d",
                  "linalg.conv_2d_ngchw_fgchw": "grouped conv2d"}
# torch-mlir's grouped conv: input [N, G, C/G, H, W] and weight [G, F/G, C/G, KH, KW], both expanded from
# the 4-D tensors, the result collapsed back to [N, F, OH, OW].
GROUPED_CONV = "linalg.conv_2d_ngchw_gfchw"
_SPLIT_CHANNELS = "[[0], [1, 2], [3], [4]]"     # [N, C, H, W] <-> [N, G, C/G, H, W]
_SPLIT_CHANNELS_ONE_ROW = "[[0], [1, 2], [3, 4]]"   # a grouped Conv1d's [N, G, F/G, L, 1] -> [N, F, L]


def constant_name(value: ir.Value) -> str | None:
    """The resource name of the arith.constant behind `value` (a model parameter's name), else None."""
    op = defining_op(value)
    return resource_name(op.attributes["value"]) if op is not None and op.name == "arith.constant" else None


def location_name(op: ir.Operation | None) -> str | None:
    """The name a literal constant was given in the IR, loc("fc1"), else None."""
    named = re.match(r'loc\("([^"]+)"\)', str(op.location if op is not None else "unknown"))
    return named.group(1) if named else None


# bcr-split-transposed-convs names the weight of phase (a, b) of layer L `L.phase<a>x<b>.weight`.
PHASE_INFIX = ".phase"
# ... and marks the one conv of a layer's stacked phases with {layer = name, weights = the layer's weight count}:
# it is reported as that layer, a "transposed conv2d" (or conv3d), with the sparsity of the layer's own weight,
# and IREE's run of it is priced as such (structure.TRANSPOSED_CONV_SLOWDOWN).
TRANSPOSED_LAYER_ATTR = "bcr.transposed_layer"


def transposed_layer(op: ir.Operation) -> tuple[str, int] | None:
    """(layer name, its weight count) of the stacked-phase conv bcr-split-transposed-convs made, else None."""
    if TRANSPOSED_LAYER_ATTR not in op.attributes:
        return None
    attr = ir.DictAttr(op.attributes[TRANSPOSED_LAYER_ATTR])
    return ir.StringAttr(attr["layer"]).value, ir.IntegerAttr(attr["weights"]).value


def layer_name(weight: ir.Value) -> str:
    """The user's name for the layer owning a weight: `features.0.weight` -> `features.0`."""
    op = defining_op(weight)
    name = constant_name(weight)
    if not name:
        # A literal dense<...> weight: use its location's name (loc("fc1")) or its position.
        line = re.match(r'loc\("[^"]*":(\d+):\d+\)', str(op.location if op is not None else "unknown"))
        return location_name(op) or (f"line{line.group(1)}" if line else "constant")
    return re.sub(r"\.weight(_\d+)?$", "", name)


def _hints(module: ir.Module) -> dict[str, dict]:
    attrs = module.operation.attributes
    if SPARSITY_ATTR not in attrs:
        return {}
    entries = ir.DictAttr(attrs[SPARSITY_ATTR])
    hints = {}
    for i in range(len(entries)):
        named = entries[i]
        hints[named.name] = json.loads(ir.StringAttr(named.attr).value)
    return hints


def _hint_for(hints: dict, weight: ir.Value) -> dict | None:
    name = constant_name(weight)
    if name is None:
        return None
    return hints.get(name) or hints.get(re.sub(r"_\d+$", "", name))


@dataclass
class _Candidate:
    kind: str              # conv2d, conv3d, matmul
    root: ir.Operation     # the contraction
    input: ir.Value
    weight: ir.Value | None  # constant, in the bcr op's orientation (None: made from weight_array)
    weight_array: np.ndarray
    bias: ir.Value | np.ndarray | None  # None: zero bias; an array: a bias with no constant of its own
    last: ir.Operation     # the op whose result the bcr op replaces
    activation: str
    dead: list             # ops to erase once replaced, in order
    macs: int
    source: ir.Value       # the constant the user's weight came from (behind transposes, broadcasts, casts)
    # A Linear on a 3-D input (torch-mlir's batch_matmul with the weight broadcast over the batch):
    # the input's leading dims [B, M], collapsed into the rows of one matmul and expanded back after.
    batch: tuple[int, int] | None = None
    # The bcr op's 4-D result when the layer's is 3-D (a Conv1d: [N, F, 1, OW] or [N, F, OL, 1]), else None.
    conv_shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class RaiseSparseLayers(Pass):
    name = "bcr-raise-sparse-layers"
    summary = "Raise contractions with structured-sparse constant weights to bcr ops (or record why not)"

    # Record every layer in the report but rewrite nothing (the dense baseline's report).
    analyze_only: bool = False
    # Cost-model thresholds: layers with fewer MACs, or less expected speedup, stay dense.
    min_macs: int = MIN_MACS
    min_speedup: float = MIN_SPEEDUP

    def run(self, module: ir.Module, context: PassContext) -> None:
        hints = _hints(module)
        weights = context.weights
        rewritable = {"linalg.depthwise_conv_2d_nchw_chw", "linalg.matmul", "linalg.batch_matmul", *DENSE_ONLY_OPS,
                      *CONV_OPS}
        for op in ops_named(module, rewritable):
            declined = None
            if op.name == "linalg.depthwise_conv_2d_nchw_chw" and context.target.is_cpu and not self.analyze_only:
                declined = self._raise_depthwise(op, context)
                if declined is None:
                    continue
            if op.name == GROUPED_CONV:
                candidate = self._match_grouped_conv(op, weights)
            elif op.name in CONV_OPS:
                candidate = self._match_conv(op, weights)
            elif op.name in ("linalg.matmul", "linalg.batch_matmul"):
                candidate = self._match_matmul(op, weights)
            else:
                candidate = None
            if candidate is None:
                if op.name in DENSE_ONLY_OPS:
                    self._record_dense_only(op, context, declined)
                continue
            source = candidate.source
            name, kind, layer_weights = layer_name(source), candidate.kind, None
            transposed = transposed_layer(candidate.root)
            if transposed is not None:   # the stacked phases of a transposed conv: the layer's name and weight count
                name, layer_weights = transposed
                kind = f"transposed {kind}"
            existing = context.report.find(name)
            decision = context.memoized(
                ("decide", name, kind, candidate.macs, candidate.weight_array.shape, context.target.name),
                lambda: decide(candidate.weight_array, candidate.macs, _hint_for(hints, source), kind,
                               self.min_macs, self.min_speedup, context.target.name, layer_weights))
            if existing is not None:
                existing.uses += 1
            else:
                user_weight, reason = candidate.weight_array, decision.reason
                if candidate.kind.startswith("grouped"):   # the sparsity of the user's weight, not the block diagonal
                    user_weight = weights.array(source)
                    reason = f"{shape_of(candidate.root.operands[1])[0]} groups as one block-diagonal weight; {reason}"
                # A transposed conv's weight: each tap is in the stacked weight once, among the window's zero taps.
                zeros = 1.0 - np.count_nonzero(user_weight) / (layer_weights or user_weight.size)
                context.report.add(LayerDecision(name, kind, decision.scheme, zeros,
                                                 "sparse" if decision.sparse else "dense", reason,
                                                 "" if decision.sparse else "IREE dense"))
            if self.analyze_only:
                layer = context.report.find(name)
                if decision.sparse:
                    layer.mode, layer.kernel = "dense", "IREE dense"
                    layer.reason = f"compiled with sparse=False ({decision.reason})"
                continue
            if not decision.sparse:
                candidate.root.attributes["bcr.decision"] = ir.StringAttr.get(f"dense: {decision.reason}")
                continue
            self._rewrite(candidate, name, decision.layout, weights)
        self._report_unmatched(module, hints, context)
        if not self.analyze_only:
            _report_computed_weights(module, context)

    # ---- matching --------------------------------------------------------------------------------

    def _match_conv(self, op: ir.Operation, weights) -> _Candidate | None:
        kind, conv_shape = CONV_OPS[op.name], None
        x, w, init = op.operands[0], op.operands[1], op.operands[2]
        weight = weights.array(w)
        if weight is None:
            return None
        if kind == "conv1d":   # [F, C, K] as [F, C, 1, K]: the kernels run it as a conv2d of one row
            weight, w = weight.reshape(weight.shape[0], weight.shape[1], 1, weight.shape[2]), None
            conv_shape = (*shape_of(op.result)[:2], 1, shape_of(op.result)[2])
        bias = conv_bias(init, weights)
        if bias is None:
            bias = _per_channel_values(weights.array(init))  # the broadcast folded into a constant
            if bias is None:
                return None
        dead = [op]
        last, activation = absorb_epilogue(op, dead)
        out_shape = shape_of(op.result)
        macs = math.prod(out_shape) * math.prod(weight.shape[1:])
        return _Candidate(kind, op, x, w, weight, None if bias is False else bias, last, activation, dead, macs,
                          op.operands[1], conv_shape=conv_shape)

    def _match_grouped_conv(self, op: ir.Operation, weights) -> _Candidate | None:
        """A grouped conv as one conv2d of its block-diagonal weight [F, C, KH, KW] (filter f of group g reads
        only channels [g C/G, (g + 1) C/G)): the generated kernels skip the zero blocks like pruned ones,
        and IREE 3.13's grouped conv is slow (structure.GROUPED_CONV2D_SLOWDOWN). A grouped Conv1d comes as
        the same op on [N, C, L, 1], its weight expanded from [F, C/G, K] and its result collapsed to
        [N, F, L]. None when the op is not torch-mlir's form (expanded input, weight and init, collapsed
        result)."""
        x5, w5, init5 = op.operands[0], op.operands[1], op.operands[2]
        x, source = _reshaped_from(x5, _SPLIT_CHANNELS), through_reshape(w5)
        collapse = single_user(op.result)
        if x is None or collapse is None or collapse.name != "tensor.collapse_shape" \
                or _reassociation(collapse) not in (_SPLIT_CHANNELS, _SPLIT_CHANNELS_ONE_ROW):
            return None
        bias = conv_bias(init5, weights)   # False: a zero fill of the split init (no bias)
        if bias is not False:              # else the split of a [N, F, ...] bias broadcast
            init = _reshaped_from(init5, _SPLIT_CHANNELS)
            bias = None if init is None else conv_bias(init, weights)
            if bias is None and init is not None:
                bias = _per_channel_values(weights.array(init))
        grouped = weights.array(source)
        if grouped is None or bias is None:
            return None
        kind = _conv1d_label("grouped conv2d", grouped)
        groups, per_group, width, *kernel = shape_of(w5)
        grouped = grouped.reshape(groups * per_group, width, *kernel)   # an expand_shape keeps the element order
        weight = np.zeros((groups * per_group, groups * width, *kernel), grouped.dtype)
        for g in range(groups):
            weight[g * per_group:(g + 1) * per_group, g * width:(g + 1) * width] = grouped[g * per_group:(g + 1) * per_group]
        dead = [collapse, op]
        last, activation = absorb_epilogue(collapse, dead)
        conv_shape = (shape_of(x)[0], groups * per_group, *shape_of(op.result)[3:])
        macs = math.prod(conv_shape) * math.prod(weight.shape[1:])
        one_row = _reassociation(collapse) == _SPLIT_CHANNELS_ONE_ROW
        return _Candidate(kind, op, x, None, weight,
                          None if bias is False else bias, last, activation, dead, macs, source,
                          conv_shape=conv_shape if one_row else None)

    def _match_matmul(self, op: ir.Operation, weights) -> _Candidate | None:
        x, rhs, init = through_extf(op.operands[0]), through_extf(op.operands[1]), op.operands[2]
        if conv_bias(init, weights) is not False or len(op.operands) != 3:
            return None
        batch = None
        if op.name == "linalg.batch_matmul":
            # nn.Linear on [B, M, K]: one weight broadcast over B (else a true batched product: not a layer).
            rhs = broadcast_source(rhs)
            if rhs is None:
                return None
            rhs, batch = through_extf(rhs), tuple(shape_of(x)[:2])
        transpose = defining_op(rhs)
        if transpose is not None and transpose.name == "linalg.transpose" \
                and list(ir.DenseI64ArrayAttr(transpose.attributes["permutation"])) == [1, 0] \
                and weights.array(transpose.operands[0]) is not None:
            weight_value = transpose.operands[0]
            weight = weights.array(weight_value)
        elif weights.array(rhs) is not None:
            weight_value, weight = None, np.ascontiguousarray(weights.array(rhs).T)
        else:
            return None
        if value_dtype(x) != weight.dtype and weights.array(x) is None:
            return None  # an f32 activation into f16 weights (none seen from torch-mlir): left to IREE
        dead = [op]
        last, bias, activation = op, None, "none"
        user = single_user(op.result)
        bias_value = bias_add_of(user, op.result, weights) if user is not None else None
        if bias_value is not None:
            bias, last = bias_value, user
            dead.insert(0, user)
        last, activation = absorb_epilogue(last, dead)
        rows = math.prod(shape_of(x)[:-1])
        return _Candidate("matmul", op, x, weight_value, weight, bias, last, activation, dead, rows * weight.size,
                          rhs if weight_value is None else weight_value, batch)

    def _raise_depthwise(self, op: ir.Operation, context: PassContext) -> str | None:
        """A depthwise conv straight to a packed conv over its block-diagonal weight (one row per channel,
        its own taps): IREE 3.13 runs depthwise convs at ~0.2 GMAC/s, the generated kernel far faster.
        There is no structure to detect or reorder, so it skips the sparse stage. Returns None when raised,
        else why it is left to IREE ("" for the usual dense-only reason)."""
        x, w, init = op.operands[0], op.operands[1], op.operands[2]
        source = through_reshape(w)   # the [C, 1, KH, KW] parameter behind torch-mlir's collapse
        array = context.weights.array(source)
        bias = conv_bias(init, context.weights)
        # f32, or f16 data accumulated in f32 (an f16 model): the kernel reads and writes the data's type.
        if array is None or bias is None:
            return ""
        if value_dtype(x) not in (np.float32, np.float16) or array.dtype != value_dtype(x) \
                or value_dtype(init) != np.float32:
            return f"depthwise conv2d of {x.type} by {array.dtype} weights: the generated kernels take f32 or f16"
        channels = shape_of(op.result)[1]
        taps = array.reshape(channels, -1)
        kernel = shape_of(w)[1:]
        macs = math.prod(shape_of(op.result)) * taps.shape[1]
        if macs < self.min_macs:
            return f"tiny layer ({macs:,} MACs): dispatch cost outweighs the saving"
        dead = [op]
        last, activation = absorb_epilogue(op, dead)
        if value_dtype(last.result) != array.dtype:
            return "depthwise conv2d: its f32 sum is read before it is narrowed to f16; the kernels write f16"
        name = layer_name(source)
        with ir.InsertionPoint(op), op.location:
            packed = per_channel_packed_conv(context.weights, x, bias, taps, kernel, dense_ints(op.attributes["strides"]),
                                             dense_ints(op.attributes["dilations"]), last.result.type,
                                             {"activation": activation, "layer": name})
        last.result.replace_all_uses_with(packed.result)
        for dead_op in dead:
            dead_op.erase()
        zeros = 1.0 - np.count_nonzero(taps) / taps.size
        context.report.add(LayerDecision(name, _conv1d_label("depthwise conv2d", array), "depthwise", zeros, "sparse",
                                         "generated kernel: IREE's depthwise conv runs at ~0.2 GMAC/s (measured)"))
        return None

    def _record_dense_only(self, op: ir.Operation, context: PassContext, reason: str | None = None) -> None:
        source = through_reshape(op.operands[1])
        array = context.weights.array(source)
        if array is None:
            return
        name = layer_name(source)
        if context.report.find(name) is None:
            zeros = 1.0 - np.count_nonzero(array) / array.size
            kind = _conv1d_label(DENSE_ONLY_OPS[op.name], array)
            reason = reason or f"{kind}: too little work per weight to gain from sparsity"
            context.report.add(LayerDecision(name, kind, "dense", zeros, "dense", reason, "IREE dense"))
        op.attributes["bcr.decision"] = ir.StringAttr.get("dense: depthwise/grouped conv")

    @staticmethod
    def _report_unmatched(module: ir.Module, hints: dict, context: PassContext) -> None:
        """A pruned weight (in the pruning metadata) that no matcher took runs dense in IREE: say so in
        the report, with the ops that read it, instead of leaving the layer out."""
        layers = [layer.name for layer in context.report.layers]

        def reported(layer: str) -> bool:   # itself, or the phase convs bcr-split-transposed-convs made of it
            return any(name == layer or name.startswith(layer + PHASE_INFIX) for name in layers)

        missing = {parameter: hint for parameter, hint in hints.items() if not reported(re.sub(r"\.weight$", "", parameter))}
        if not missing:
            return
        readers: dict[str, tuple[list[str], np.ndarray | None]] = {}
        for op in walk(module):
            name = constant_name(op.result) if op.name == "arith.constant" else None
            if name is not None and re.sub(r"_\d+$", "", name) in missing:
                readers[re.sub(r"_\d+$", "", name)] = (_consumers(op.result), context.weights.array(op.result))
        for parameter, hint in missing.items():
            name = re.sub(r"\.weight$", "", parameter)
            ops, array = readers.get(parameter, ([], None))
            if parameter in readers:
                reason = (f"pruned, but read by {', '.join(sorted(set(ops))) or 'nothing'} in a form "
                          "bcr-raise-sparse-layers does not raise (it takes convs and matmuls of a constant weight)")
            else:
                reason = "pruned, but not found as a named constant in the imported IR (the model may not use it)"
            zeros = 1.0 - np.count_nonzero(array) / array.size if array is not None and array.size else float("nan")
            op_name = ops[0].removeprefix("linalg.") if len(set(ops)) == 1 else "unknown"
            context.report.add(LayerDecision(name, op_name, hint.get("scheme", "?"), zeros, "dense", reason,
                                             "IREE dense" if parameter in readers else ""))

    # ---- rewriting -------------------------------------------------------------------------------

    def _rewrite(self, c: _Candidate, name: str, layout, weights) -> None:
        out_type = c.last.result.type
        with ir.InsertionPoint(c.root), c.root.location:
            bias = c.bias
            if bias is None:
                rows = c.weight_array.shape[0]
                bias = weights.constant(np.zeros(rows, dtype=c.weight_array.dtype), f"{name}.zero_bias")
            elif isinstance(bias, np.ndarray):
                bias = weights.constant(bias.astype(c.weight_array.dtype), f"{name}.bias")
            elif weights.array(bias).dtype != c.weight_array.dtype:
                # The kernels read the bias in the weights' type (an f16 model's 1-element bias came as f32).
                bias = weights.constant(weights.array(bias).astype(c.weight_array.dtype), f"{name}.bias")
            weight = c.weight if c.weight is not None else weights.constant(c.weight_array, f"{name}.weight")
            attributes = {"layout": layout, "activation": c.activation, "layer": name}
            if c.kind != "matmul":
                attributes["strides"] = dense_ints(c.root.attributes["strides"])
                attributes["dilations"] = dense_ints(c.root.attributes["dilations"])
            op_name = {"conv3d": "bcr.sparse_conv3d", "matmul": "bcr.sparse_matmul"}.get(c.kind, "bcr.sparse_conv2d")
            x, result_type = c.input, out_type
            if value_dtype(x) != c.weight_array.dtype:
                # A constant input of another type (an f16 RNN's zero initial state comes as f32): the kernels
                # read their input in the weights' type.
                x = weights.constant(weights.array(x).astype(c.weight_array.dtype), f"{name}.constant_input")
            if c.batch is not None:  # [B, M, K] -> [B * M, K] rows, and the result back to [B, M, N]
                x = _collapse_rows(x)
                result_type = _collapsed_type(out_type)
            if c.kind == "conv1d":  # [N, C, W] -> [N, C, 1, W]
                x = _one_row(x)
                attributes["strides"], attributes["dilations"] = [1, *attributes["strides"]], [1, *attributes["dilations"]]
            if c.conv_shape is not None:  # a 4-D result, collapsed back to the layer's [N, F, L] below
                result_type = ir.RankedTensorType.get(c.conv_shape, ir.RankedTensorType(out_type).element_type)
            new = create_op(op_name, [x, weight, bias], result_type, attributes)
            result = new.result
            if c.batch is not None:
                result = tensor.ExpandShapeOp(out_type, result, _ROWS_THEN_COLUMNS, [], shape_of(c.last.result)).result
            if c.conv_shape is not None:
                result = tensor.CollapseShapeOp(out_type, result, _ROW_INTO_WIDTH).result
        c.last.result.replace_all_uses_with(result)
        for op in c.dead:
            op.erase()


def _conv1d_label(kind: str, weight: np.ndarray) -> str:
    """The report's name for a depthwise or grouped conv: torch-mlir runs a Conv1d's ([F, C/G, K] weight) as
    the 2-D op over [N, C, L, 1]."""
    return kind.replace("conv2d", "conv1d") if weight.ndim == 3 else kind


def _reassociation(op: ir.Operation) -> str:
    return str(op.attributes["reassociation"])


def _reshaped_from(value: ir.Value, reassociation: str) -> ir.Value | None:
    """The source of the tensor.expand_shape that makes `value`, when it groups dims as `reassociation`."""
    op = defining_op(value)
    if op is None or op.name != "tensor.expand_shape" or _reassociation(op) != reassociation:
        return None
    return op.operands[0]


def _per_channel_values(init: np.ndarray | None) -> np.ndarray | None:
    """The bias a conv's constant init holds, [C] from [N, C, ...], when every channel is one value
    (torch-mlir folds the broadcast of a 1-channel conv's bias into a splat constant), else None."""
    if init is None or init.ndim < 3:
        return None
    bias = init[(0, slice(None)) + (0,) * (init.ndim - 2)]
    return bias if np.array_equal(init, np.broadcast_to(bias.reshape(1, -1, *[1] * (init.ndim - 2)), init.shape)) else None


# Ops that only move, widen or repeat a weight on its way to the op that computes with it.
_WEIGHT_PLUMBING = ("linalg.transpose", "linalg.broadcast", "tensor.collapse_shape", "tensor.expand_shape")


def _consumers(value: ir.Value) -> list[str]:
    """The names of the ops that compute with `value`, looked for through transposes, reshapes, broadcasts and
    one-input generics (a cast or a broadcast)."""
    found, pending = [], list(users(value))
    while pending:
        op = pending.pop()
        if op.name in _WEIGHT_PLUMBING or (op.name == "linalg.generic" and len(op.operands) == 2):
            pending += users(op.result)
        else:
            found.append(op.name)
    return found


# [B, M, K] <-> [B * M, K]
_ROWS_THEN_COLUMNS = [[0, 1], [2]]


def _collapsed_type(tensor_type: ir.Type) -> ir.Type:
    shape = list(ir.RankedTensorType(tensor_type).shape)
    return ir.RankedTensorType.get([shape[0] * shape[1], shape[2]], ir.RankedTensorType(tensor_type).element_type)


# [N, C, 1, W] <-> [N, C, W]
_ROW_INTO_WIDTH = [[0], [1], [2, 3]]


def _one_row(x: ir.Value) -> ir.Value:
    n, c, w = shape_of(x)
    one_row = ir.RankedTensorType.get([n, c, 1, w], ir.RankedTensorType(x.type).element_type)
    return tensor.ExpandShapeOp(one_row, x, _ROW_INTO_WIDTH, [], [n, c, 1, w]).result


def _collapse_rows(x: ir.Value) -> ir.Value:
    return tensor.CollapseShapeOp(_collapsed_type(x.type), x, _ROWS_THEN_COLUMNS).result


def broadcast_source(value: ir.Value) -> ir.Value | None:
    """The 2-D tensor that `value` repeats along a new leading dim (torch-mlir broadcasts a Linear's
    transposed weight so for a 3-D input: a linalg.generic that only yields its input, read at (d1, d2)),
    else None."""
    op = defining_op(value)
    if op is None or op.name not in ("linalg.generic", "linalg.broadcast") or len(op.operands) != 2:
        return None
    source = op.operands[0]
    if len(shape_of(source)) != 2 or len(shape_of(value)) != 3:
        return None
    if op.name == "linalg.broadcast":
        return source if list(ir.DenseI64ArrayAttr(op.attributes["dimensions"])) == [0] else None
    maps = [str(m) for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    body = body_ops(op)
    if maps != ["affine_map<(d0, d1, d2) -> (d1, d2)>", "affine_map<(d0, d1, d2) -> (d0, d1, d2)>"] or \
            len(body) != 1 or body[0].name != "linalg.yield" or \
            body[0].operands[0] != op.regions[0].blocks[0].arguments[0]:
        return None
    return source


# How far back _constant_sources looks for the constants a weight is computed from.
_MAX_SOURCE_OPS = 64


def _constant_sources(value: ir.Value, seen: dict | None = None) -> list[str] | None:
    """The named constants `value` is computed from, when it depends on nothing else (no function argument:
    a weight derived from parameters alone); None otherwise, or when the computation is too long to follow."""
    seen = {} if seen is None else seen  # id -> op (held, so no other op reuses its id)
    op = defining_op(value)
    if op is None:
        return None  # a block argument: the input
    if op.name == "arith.constant":
        name = constant_name(value) or location_name(op)
        return [name] if name else []
    if id(op) in seen:
        return []
    seen[id(op)] = op
    if len(seen) > _MAX_SOURCE_OPS:
        return None
    names: list[str] = []
    for operand in op.operands:
        found = _constant_sources(operand, seen)
        if found is None:
            return None
        names += found
    return names


def _report_computed_weights(module: ir.Module, context: PassContext) -> None:
    """A conv or matmul whose weight is computed from parameters in a form bcr-fold-constant-weights does not
    evaluate (a norm, a boolean mask) runs dense in IREE: report it under the parameter's name."""
    for op in ops_named(module, (*CONV_OPS, *DENSE_ONLY_OPS, "linalg.matmul", "linalg.batch_matmul")):
        weight = op.operands[1]
        if context.weights.array(through_reshape(weight)) is not None:
            continue
        sources = _constant_sources(weight)
        if not sources:
            continue
        # Named after the weight it is computed from (a mask or scale may come first; a folded part is named so).
        weight_like = [source for source in sources if re.search(r"\.weight(_\d+)?$", source)]
        name = re.sub(r"\.weight(_\d+)?$", "", (weight_like or sources)[0])
        # The message lists the parameters, those behind a folded part too.
        sources = list(dict.fromkeys(s for n in sources for s in context.folded_from.get(n, [n])))
        weight_like = [source for source in sources if re.search(r"\.weight(_\d+)?$", source)]
        if context.report.find(name) is None:
            context.report.add(LayerDecision(
                name, CONV_OPS.get(op.name) or DENSE_ONLY_OPS.get(op.name, op.name.removeprefix("linalg.")),
                "dense", float("nan"), "dense",
                f"its weight is computed at run time from {', '.join(dict.fromkeys(weight_like + sources))}, in a form "
                "bcr-fold-constant-weights does not evaluate; pass a model whose weights are plain tensors",
                "IREE dense"))


def absorb_epilogue(last: ir.Operation, dead: list) -> tuple[ir.Operation, str]:
    """Extends a contraction over its f16 narrowing (f16 models accumulate in f32) and its ReLU/ReLU6,
    each when it is the only user; returns the last op absorbed and the activation. Absorbed ops go
    to the front of `dead` (erased consumers first)."""
    narrow = truncf_user(last.result)
    if narrow is not None:
        last = narrow
        dead.insert(0, narrow)
    user = single_user(last.result)
    activation = activation_of(user)
    if activation:
        dead.insert(0, user)
        return user, activation
    # A clamp spelt as one generic per bound (torch-mlir's ReLU6): max(x, 0), then possibly min(x, 6).
    lower = clamp_bound(user, last.result)
    if lower != ("lower", 0.0):
        return last, "none"
    last, activation = user, "relu"
    dead.insert(0, user)
    user = single_user(last.result)
    if clamp_bound(user, last.result) == ("upper", 6.0):
        last, activation = user, "relu6"
        dead.insert(0, user)
    return last, activation


def per_channel_packed_conv(weights, x: ir.Value, bias: ir.Value | None, taps: np.ndarray, kernel, strides, dilations,
                            result_type: ir.Type, attributes: dict) -> ir.Operation:
    """A bcr.packed_conv2d/3d whose output channel c reads only input channel c (a depthwise conv; a
    max-pool): one row per channel, its nonzero taps of `taps` [C, prod(kernel)] as the packed columns.
    Built at the current insertion point; a missing bias is a zero one."""
    channels, positions = taps.shape
    kept = [np.flatnonzero(row) for row in taps]
    offsets = np.zeros(channels + 1, np.int32)
    offsets[1:] = np.cumsum([k.size for k in kept])
    indices = np.concatenate([c * positions + k for c, k in enumerate(kept)]).astype(np.int32)
    values = np.concatenate([taps[c, k] for c, k in enumerate(kept)]).reshape(-1, 1)
    name = attributes["layer"]
    layout = GroupLayout((channels, channels), tuple(kernel), (1, channels), tuple(k.size for k in kept))
    storage = [bias or weights.constant(np.zeros(channels, taps.dtype), f"{name}.zero_bias"),
               weights.constant(np.arange(channels, dtype=np.int32), f"{name}.rows"),
               weights.constant(offsets, f"{name}.offsets"), weights.constant(indices, f"{name}.indices"),
               weights.constant(values, f"{name}.values")]
    return create_op(f"bcr.packed_conv{len(kernel)}d", [x, *storage], result_type,
                     {"layout": layout, "strides": list(strides), "dilations": list(dilations), "kernel": list(kernel),
                      **attributes})
