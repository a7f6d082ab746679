"""bcr-fold-constant-weights: compute the weights a model derives in forward() from constants (a weight
times its mask, a scaled or clamped weight) once, at compile time, so bcr-raise-sparse-layers sees the
weight's zeros.

A model that prunes by masking in forward(), `F.conv2d(x, self.weight * self.mask)`, reaches MLIR as an
elementwise linalg.generic of two constants feeding the conv. bcr-raise-sparse-layers takes only a
constant weight, so such a layer ran dense (IREE's own const-eval folds the product later, but by then
the sparse pipeline has passed it by). This pass evaluates, with numpy, every elementwise
linalg.generic whose inputs are all constants and whose result reaches a contraction's weight operand
(through transposes, reshapes and broadcasts), and replaces it by one constant named after its first
named input (`0.weight`), so the report and the pruning metadata find the layer. Bodies of arith/math
float ops (mulf, addf, subf, divf, negf, maximumf, minimumf, select on cmpf, sqrt, rsqrt, absf, exp,
tanh, extf, truncf, and uitofp/sitofp of an integer or boolean mask) are evaluated. A boolean mask buffer
arrives as an i8 constant compared with 0 by an integer generic (cmpi, extui/extsi, trunci, andi/ori/xori):
that generic is evaluated with the float generic that reads it, and erased once nothing reads it. A
reduction generic (a norm's sum of squares, per filter or over the whole weight) is evaluated too when its
body combines one value with the accumulator (addf, mulf, max, min) and the accumulator starts from a
constant or a linalg.fill of one. So is a gather (linalg.index, index addi/subi/muli, tensor.extract from
a constant): torch-mlir computes a transposed conv's weight so, flipped and transposed from the
parameter, for a conv over the zero-stuffed input. Anything else (math.erf, say) is left to IREE, and
the layer runs dense.

Before:
    %w = arith.constant dense_resource<"0.weight"> : tensor<64x16x3x3xf32>
    %m = arith.constant dense_resource<"0.mask"> : tensor<64x16x3x3xf32>
    %masked = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = [...]}
        ins(%w, %m : ...) outs(%e : tensor<64x16x3x3xf32>) {
      ^bb0(%a: f32, %b: f32, %o: f32): %p = arith.mulf %a, %b : f32  linalg.yield %p : f32 }
    %y = linalg.conv_2d_nchw_fchw ins(%x, %masked : ...) outs(...)
After:
    %masked = arith.constant dense_resource<"0.weight_1"> : tensor<64x16x3x3xf32>
    %y = linalg.conv_2d_nchw_fchw ins(%x, %masked : ...) outs(...)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import ops_named, shape_of
from bcr_mlir.passes.matching import as_operation, body_ops, erase_unused, float_constant, through_reshape
from bcr_mlir.passes.raise_sparse_layers import constant_name
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.weights import element_dtype, value_dtype

# Ops a folded value may flow through on its way to a weight operand.
_PASS_THROUGH = ("linalg.transpose", "linalg.broadcast", "tensor.collapse_shape", "tensor.expand_shape",
                 "linalg.generic")
# Contractions and the operand index that is their weight.
_WEIGHT_OPERAND = {"linalg.conv_1d_ncw_fcw": 1, "linalg.conv_2d_nchw_fchw": 1, "linalg.conv_2d_ngchw_gfchw": 1, "linalg.conv_3d_ncdhw_fcdhw": 1, "linalg.matmul": 1,
                   "linalg.batch_matmul": 1, "linalg.depthwise_conv_2d_nchw_chw": 1}
# Larger results are left to IREE's const-eval: they are no weights.
MAX_ELEMENTS = 1 << 24

_BINARY = {"arith.mulf": np.multiply, "arith.addf": np.add, "arith.subf": np.subtract, "arith.divf": np.divide,
           "arith.maximumf": np.maximum, "arith.minimumf": np.minimum, "arith.maxnumf": np.fmax,
           "arith.minnumf": np.fmin, "math.powf": np.power, "math.fpowi": np.power}
# What a reduction generic's body may combine its accumulator with (a norm's sum, a max).
_COMBINERS = {"arith.addf": np.add, "arith.mulf": np.multiply, "arith.maximumf": np.maximum,
              "arith.minimumf": np.minimum, "arith.maxnumf": np.fmax, "arith.minnumf": np.fmin}
_UNARY = {"arith.negf": np.negative, "math.sqrt": np.sqrt, "math.rsqrt": lambda a: 1 / np.sqrt(a),
          "math.absf": np.abs, "math.exp": np.exp, "math.tanh": np.tanh}
_COMPARE = {"oeq": np.equal, "one": np.not_equal, "ogt": np.greater, "oge": np.greater_equal, "olt": np.less,
            "ole": np.less_equal, "ueq": np.equal, "une": np.not_equal, "ugt": np.greater, "uge": np.greater_equal,
            "ult": np.less, "ule": np.less_equal}
# arith.cmpf's predicate attribute, by its integer value.
_PREDICATES = ["false", "oeq", "ogt", "oge", "olt", "ole", "one", "ord", "ueq", "ugt", "uge", "ult", "ule", "une",
               "uno", "true"]
# arith.cmpi's, by its integer value; the u* ones compare the operands' bits read as unsigned.
_INTEGER_PREDICATES = [("eq", np.equal), ("ne", np.not_equal), ("slt", np.less), ("sle", np.less_equal),
                       ("sgt", np.greater), ("sge", np.greater_equal), ("ult", np.less), ("ule", np.less_equal),
                       ("ugt", np.greater), ("uge", np.greater_equal)]
_BITWISE = {"arith.andi": np.bitwise_and, "arith.ori": np.bitwise_or, "arith.xori": np.bitwise_xor}
# Index arithmetic of a gather (a transposed conv's flipped weight reads w[c, f, K - 1 - i, K - 1 - j]).
_INDEX_ARITHMETIC = {"arith.addi": np.add, "arith.subi": np.subtract, "arith.muli": np.multiply}


def _unsigned(array, integer_type: ir.Type) -> np.ndarray:
    """An integer array's bits read as unsigned (an i8 mask of 0/255 from a uint8 buffer is 255, not -1)."""
    array = np.asarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.int64)
    return array.astype(np.int64) % (1 << ir.IntegerType(integer_type).width)


def _feeds_weight(value: ir.Value, seen: dict | None = None) -> bool:
    """Whether `value` reaches a contraction's weight operand, through the ops of _PASS_THROUGH."""
    seen = {} if seen is None else seen  # id -> op (held, so no other op reuses its id)
    for use in value.uses:
        user = as_operation(use.owner)
        if _WEIGHT_OPERAND.get(user.name) == use.operand_number:
            return True
        if user.name in _PASS_THROUGH and len(user.results) == 1 and id(user) not in seen:
            seen[id(user)] = user
            if _feeds_weight(user.results[0], seen):
                return True
    return False


def _map_dims(affine_map: ir.AffineMap) -> list[int | None] | None:
    """The loop each result of `affine_map` reads, None for a constant 0 (a size-1 dim); None when the map is
    not such a projection of the loops."""
    dims: list[int | None] = []
    for expr in affine_map.results:
        expr = expr.maybe_downcast()
        if isinstance(expr, ir.AffineDimExpr):
            dims.append(expr.position)
        elif isinstance(expr, ir.AffineConstantExpr) and expr.value == 0:
            dims.append(None)
        else:
            return None
    loops = [d for d in dims if d is not None]
    return dims if len(set(loops)) == len(loops) else None


def _loop_array(array: np.ndarray, affine_map: ir.AffineMap, loop_shape: list[int]) -> np.ndarray | None:
    """An input of a generic laid out over its loops (broadcast where its map skips a loop), or None when its
    map is not a projection of the loops (with 0 for size-1 dims)."""
    dims = _map_dims(affine_map)
    if dims is None:
        return None
    array = array.reshape([size for size, d in zip(array.shape, dims) if d is not None])  # drops the size-1 dims
    dims = [d for d in dims if d is not None]
    array = array.transpose(np.argsort(dims))
    shape = [loop_shape[d] if d in dims else 1 for d in range(len(loop_shape))]
    return np.broadcast_to(array.reshape(shape), loop_shape)


def _evaluate(op: ir.Operation, inputs: list[np.ndarray], until: ir.Value | None = None,
              loop_shape: list[int] | None = None, constant=None) -> np.ndarray | None:
    """The generic's yielded value (or `until`, a value of its body), or None when its body holds an op this
    pass does not evaluate. With `loop_shape` and `constant` (a tensor value -> its array, or None), it also
    evaluates linalg.index and tensor.extract from a constant tensor: a gather, such as the flipped and
    transposed weight torch-mlir computes for a transposed conv."""
    block = op.regions[0].blocks[0]
    values = {block.arguments[i]: inputs[i] for i in range(len(inputs))}
    if until is not None and until in values:
        return values[until]

    def read(value):
        if value in values:
            return values[value]
        owner = as_operation(value.owner)  # a scalar defined outside the body
        if owner is not None and owner.name == "arith.constant" and isinstance(owner.attributes["value"],
                                                                               ir.IntegerAttr):
            integer = ir.IntegerAttr(owner.attributes["value"]).value
            return np.array(integer, np.int64) if str(value.type) == "index" else \
                np.array(integer).astype(element_dtype(value.type))
        return float_constant(value)

    for inner in body_ops(op):
        if inner.name == "linalg.index" and loop_shape is not None:
            dim = ir.IntegerAttr(inner.attributes["dim"]).value
            values[inner.results[0]] = np.arange(loop_shape[dim]).reshape(
                [loop_shape[dim] if d == dim else 1 for d in range(len(loop_shape))])
            continue
        if inner.name == "tensor.extract" and constant is not None:
            source, indices = constant(inner.operands[0]), [read(v) for v in list(inner.operands)[1:]]
            if source is None or any(v is None for v in indices) or \
                    any(np.any((i < 0) | (i >= n)) for i, n in zip(indices, source.shape)):
                return None
            values[inner.results[0]] = source[tuple(indices)]
            continue
        operands = [read(v) for v in inner.operands]
        if any(v is None for v in operands):
            return None
        name = inner.name
        if name == "linalg.yield":
            return np.asarray(operands[0])
        if name in _BINARY:
            result = _BINARY[name](operands[0], operands[1])
        elif name in _UNARY:
            result = _UNARY[name](operands[0])
        elif name in ("arith.extf", "arith.truncf", "arith.sitofp", "arith.extsi", "arith.trunci"):
            # numpy's casts are these ops' semantics (a truncation to i1 keeps the lowest bit).
            operand = operands[0] if str(inner.results[0].type) != "i1" else np.asarray(operands[0]) & 1
            result = np.asarray(operand).astype(element_dtype(inner.results[0].type))
        elif name in ("arith.uitofp", "arith.extui"):
            result = _unsigned(operands[0], inner.operands[0].type).astype(element_dtype(inner.results[0].type))
        elif name in _BITWISE:
            result = _BITWISE[name](operands[0], operands[1])
        elif name in _INDEX_ARITHMETIC and str(inner.results[0].type) == "index":
            result = _INDEX_ARITHMETIC[name](operands[0], operands[1])
        elif name == "arith.cmpi":
            predicate, compare = _INTEGER_PREDICATES[ir.IntegerAttr(inner.attributes["predicate"]).value]
            if predicate.startswith("u"):
                operands = [_unsigned(v, inner.operands[0].type) for v in operands]
            result = compare(operands[0], operands[1])
        elif name == "arith.cmpf":
            predicate = _PREDICATES[ir.IntegerAttr(inner.attributes["predicate"]).value]
            if predicate not in _COMPARE:
                return None
            result = _COMPARE[predicate](operands[0], operands[1])
        elif name == "arith.select":
            result = np.where(operands[0], operands[1], operands[2])
        else:
            return None
        values[inner.results[0]] = result
        if until is not None and inner.results[0] == until:
            return result
    return None


def _loop_shape(op: ir.Operation, maps: list[ir.AffineMap]) -> list[int] | None:
    """A generic's iteration domain, from its operands' shapes along their maps; None if a loop is unbounded."""
    shape = [None] * maps[0].n_dims
    for value, affine_map in zip(op.operands, maps):
        for size, d in zip(shape_of(value), _map_dims(affine_map) or []):
            if d is not None:
                shape[d] = size
    return None if None in shape else shape


def _initial_value(value: ir.Value, context: PassContext) -> np.ndarray | None:
    """A reduction's initial accumulator: a constant, or a linalg.fill of a constant scalar."""
    array = context.weights.array(value)
    fill = as_operation(value.owner)
    if array is None and fill is not None and fill.name == "linalg.fill":
        scalar = float_constant(fill.operands[0])
        array = None if scalar is None else np.full(shape_of(value), scalar, dtype=value_dtype(value))
    return array


def _reduce(op: ir.Operation, inputs: list[np.ndarray], maps: list[ir.AffineMap], loop_shape: list[int],
            reductions: list[int], initial: np.ndarray) -> np.ndarray | None:
    """A reduction generic's result (a norm's sum of squares over the weight's rows): the body's value
    before it is combined with the accumulator, reduced over the reduction loops, then combined with the
    initial value; None for any other body or an output map that is not the parallel loops (with 0s)."""
    block = op.regions[0].blocks[0]
    accumulator = block.arguments[len(inputs)]
    combine = as_operation(block.operations[len(block.operations) - 1].operands[0].owner)
    if combine is None or combine.name not in _COMBINERS:
        return None
    partials = [v for v in combine.operands if v != accumulator]
    if len(partials) != 1 or len(list(accumulator.uses)) != 1:
        return None
    partial = _evaluate(op, inputs, partials[0])
    if partial is None:
        return None
    reduced = _COMBINERS[combine.name].reduce(np.broadcast_to(partial, loop_shape), axis=tuple(reductions))
    parallel = [d for d in range(len(loop_shape)) if d not in reductions]
    out_map = _map_dims(maps[-1])
    if out_map is None:
        return None
    out_dims = [d for d in out_map if d is not None]  # the output's loops, in its order
    if sorted(out_dims) != parallel:
        return None
    reduced = np.asarray(reduced).transpose([parallel.index(d) for d in out_dims])
    return _COMBINERS[combine.name](initial, reduced.reshape(initial.shape))


# What a weight computed from unnamed (literal) constants is called.
UNNAMED = "folded_weight"
# A parameter name that is a layer's weight as it is: `fc.weight`, an RNN's `rnn.weight_hh_l0_reverse`.
_WEIGHT_PARAMETER = re.compile(r"(^|\.)(weight|weight_[ih]h_l\d+(_reverse)?)(_\d+)?$")


def weight_name(parameters: list[str]) -> str:
    """The name of a weight computed from `parameters`: the first that is a layer's weight (`conv.weight` of
    `conv.weight * conv_mask`), else `<module>.weight` of the first weight-like one (`conv.weight_unmasked`
    -> `conv.weight`), the names the pruning metadata and the report use."""
    for name in parameters:
        if _WEIGHT_PARAMETER.search(name):
            return name
    first = next((name for name in parameters if name.rpartition(".")[2].startswith("weight")), parameters[0])
    module = first.rpartition(".")[0]
    return f"{module}.weight" if module else "weight"


def _sources(values: list[ir.Value]) -> list[str]:
    """The named constants among `values`, and those behind the integer generics among them."""
    names = []
    for value in values:
        op = as_operation(value.owner)
        if op is not None and op.name == "linalg.generic":
            names += _sources(list(op.operands)[:-1])
        elif constant_name(value):
            names.append(constant_name(value))
    return names


def _moves_values(op: ir.Operation) -> bool:
    """Whether a generic only moves its inputs' elements (a gather: every float in its body is read by
    tensor.extract or is a block argument, only index arithmetic computes)."""
    return all(inner.name in ("tensor.extract", "linalg.yield") or all(str(result.type) == "index" for result in inner.results)
               for inner in body_ops(op))


def _gathered(op: ir.Operation) -> list[ir.Value]:
    """The tensors defined outside a generic that its body reads with tensor.extract (behind reshapes: a
    grouped transposed conv gathers from its weight expanded to [G, Cin/G, Cout/G, KH, KW])."""
    return [through_reshape(inner.operands[0]) for inner in body_ops(op) if inner.name == "tensor.extract"
            and as_operation(inner.operands[0].owner) is not None
            and as_operation(inner.operands[0].owner).parent != op]


def _reshaped_constant(value: ir.Value, context: PassContext) -> np.ndarray | None:
    """The array of a constant tensor, or of a constant behind tensor.expand_shape / collapse_shape ops."""
    array = context.weights.array(through_reshape(value))
    return None if array is None else array.reshape(shape_of(value))


@dataclass(frozen=True)
class FoldConstantWeights(Pass):
    name = "bcr-fold-constant-weights"
    summary = "Compute weights derived from constants in forward() (weight * mask, scaled weights) at compile time"

    def run(self, module: ir.Module, context: PassContext) -> None:
        # Each folded constant, the weight it stands for, and whether any link computed values (not only moved
        # them). A chain, w * mask * 0.5, folds one op at a time: a link takes over its input's entry, so each
        # weight is counted and named once.
        folded: list[tuple[ir.Value, str, bool]] = []
        for op in ops_named(module, ("linalg.generic",)):
            if len(op.results) != 1 or not _feeds_weight(op.results[0]):
                continue
            array = self._fold(op, context)
            if array is None:
                continue
            # The constants it reads: its inputs, and the tensors its body gathers from (tensor.extract).
            inputs = list(op.operands)[:-1] + _gathered(op)
            links = [entry for entry in folded if any(entry[0] == value for value in inputs)]
            named = [n for n in (constant_name(v) for v in inputs) if n]
            name = links[0][1] if links else weight_name(named) if named else UNNAMED
            computed = not _moves_values(op) or any(entry[2] for entry in links)
            with ir.InsertionPoint(op), op.location:
                # A parameter's name is kept at any size (the report and the metadata go by it).
                constant = context.weights.constant(array, name, keep_name=name != UNNAMED)
            context.folded_from[constant_name(constant)] = [
                source for n in _sources(inputs) for source in context.folded_from.get(n, [n])]
            op.results[0].replace_all_uses_with(constant)
            op.erase()
            erase_unused(("linalg.generic",), inputs)  # the integer generics it read (a boolean mask's `!= 0`)
            folded = [entry for entry in folded if entry not in links] + [(constant, name, computed)]
        # torch-mlir's gather of a transposed conv's weight (flipped, in/out swapped) is the layer's own
        # weight, not one computed in forward(): bcr-split-transposed-convs' note tells of those layers.
        computed = [name for _, name, is_computed in folded if is_computed]
        if computed:
            context.report.notes.append(f"{len(computed)} weight(s) computed in forward() from constants folded into "
                                        f"constants: {', '.join(computed)}")

    @staticmethod
    def _fold(op: ir.Operation, context: PassContext, integer: bool = False) -> np.ndarray | None:
        """The value of a parallel elementwise generic computed from constants: a float one (a weight), or with
        `integer`, an integer or boolean one (a mask that a float generic reads), else None."""
        iterators = [str(a) for a in ir.ArrayAttr(op.attributes["iterator_types"])]
        reductions = [i for i, it in enumerate(iterators) if "reduction" in it]
        if any("parallel" not in it and "reduction" not in it for it in iterators):
            return None
        dtype = value_dtype(op.results[0])
        if dtype not in ((np.bool_, np.int8, np.uint8, np.int32, np.int64) if integer else (np.float32, np.float16)):
            return None
        maps = [ir.AffineMapAttr(m).value for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
        *ins, out = list(op.operands)
        loop_shape = _loop_shape(op, maps)
        if loop_shape is None or np.prod(loop_shape) > MAX_ELEMENTS:
            return None
        if not reductions and str(maps[-1]) != str(ir.AffineMap.get_identity(len(loop_shape))):
            return None
        inputs = []
        for value, affine_map in zip(ins, maps):
            array = context.weights.array(value)
            producer = as_operation(value.owner)
            if array is None and producer is not None and producer.name == "linalg.generic":
                array = FoldConstantWeights._fold(producer, context, integer=True)
            if array is None:
                return None
            laid_out = _loop_array(array, affine_map, loop_shape)
            if laid_out is None:
                return None
            inputs.append(laid_out)
        with np.errstate(all="ignore"):
            if reductions:
                initial = _initial_value(out, context)
                result = None if initial is None else _reduce(op, inputs, maps, loop_shape, reductions, initial)
            elif list(op.regions[0].blocks[0].arguments[len(ins)].uses):
                return None  # the body reads the output's initial value
            else:
                result = _evaluate(op, inputs, loop_shape=loop_shape, constant=lambda v: _reshaped_constant(v, context))
        if result is None or not np.all(np.isfinite(result)):
            return None
        return np.array(np.broadcast_to(result, shape_of(op.results[0])), dtype=dtype, order="C")
