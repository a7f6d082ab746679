"""Small IR matchers shared by the passes: defining ops, single users, bias inits and activations."""
from __future__ import annotations

import math
import re

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import shape_of


def as_operation(owner) -> ir.Operation | None:
    if isinstance(owner, ir.Operation):
        return owner
    operation = getattr(owner, "operation", None)
    return operation if isinstance(operation, ir.Operation) else None


def defining_op(value: ir.Value) -> ir.Operation | None:
    return as_operation(value.owner)


def erase_unused(kinds: tuple[str, ...], values: list[ir.Value]) -> None:
    """Erases the ops of `kinds` (side-effect free ones) behind `values` that nothing reads any more, and
    theirs in turn."""
    for value in values:
        op = as_operation(value.owner)
        if op is not None and op.name in kinds and not any(list(r.uses) for r in op.results):
            operands = list(op.operands)
            op.erase()
            erase_unused(kinds, operands)


def users(value: ir.Value) -> list[ir.Operation]:
    return [as_operation(use.owner) for use in value.uses]


def single_user(value: ir.Value) -> ir.Operation | None:
    found = users(value)
    return found[0] if len(found) == 1 else None


def body_ops(op: ir.Operation) -> list[ir.Operation]:
    return [o.operation for o in op.regions[0].blocks[0].operations]


def float_constant(value: ir.Value) -> float | None:
    """The value of a scalar constant (-inf and other hex spellings included), or of a constant tensor
    holding one value (a 0-d tensor or a splat)."""
    op = defining_op(value)
    if op is None or op.name != "arith.constant":
        return None
    if isinstance(op.attributes["value"], ir.FloatAttr):
        return ir.FloatAttr(op.attributes["value"]).value
    match = re.match(r"\s*(?:dense<)?(-?[\d.e+-]+)>?\s*:", str(op.attributes["value"]))
    return float(match.group(1)) if match else None


# arith.cmpf predicates: ogt, oge, ugt, uge order the operands one way; olt, ole, ult, ule the other.
_GREATER_PREDICATES, _LESS_PREDICATES = (2, 3, 9, 10), (4, 5, 11, 12)


def clamp_bound(op: ir.Operation | None, produced: ir.Value) -> tuple[str, float] | None:
    """('lower', c) when `op` is an elementwise generic computing max(produced, c) for a constant c,
    ('upper', c) for min(produced, c), else None. torch-mlir lowers ReLU6 (hardtanh, a clamp with tensor
    bounds) to two of these in a row, the bound a 0-d constant tensor input:
        select(x > 0, x, 0)    then    select(6 < x, 6, x)"""
    if op is None or op.name != "linalg.generic" or "reduction" in str(op.attributes["iterator_types"]):
        return None
    operands, maps = list(op.operands), [str(m) for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    if len(operands) not in (2, 3) or operands.count(produced) != 1:
        return None
    arguments = list(op.regions[0].blocks[0].arguments)
    at = operands.index(produced)
    if at == len(operands) - 1 or maps[at] != maps[-1]:
        return None  # the produced value must be an input read elementwise
    # The other input's block argument, with its constant value.
    bound_inputs = [(arguments[i], float_constant(operand)) for i, operand in enumerate(operands[:-1]) if i != at]
    body = body_ops(op)
    x = arguments[at]

    def constant_of(value: ir.Value) -> float | None:
        for argument, constant in bound_inputs:
            if argument == value:
                return constant
        return float_constant(value)

    def bound(kind: str, a: ir.Value, b: ir.Value) -> tuple[str, float] | None:
        """kind 'max' for max(a, b), 'min' for min(a, b); exactly one of a, b must be x."""
        if (a == x) == (b == x):
            return None
        c = constant_of(b if a == x else a)
        return None if c is None else ("lower" if kind == "max" else "upper", c)

    names = [o.name for o in body]
    if len(body) == 2 and names[1] == "linalg.yield" and body[1].operands[0] == body[0].result:
        kind = {"arith.maximumf": "max", "arith.maxnumf": "max", "arith.minimumf": "min", "arith.minnumf": "min"}.get(names[0])
        return bound(kind, *body[0].operands) if kind else None
    if names == ["arith.cmpf", "arith.select", "linalg.yield"] and body[2].operands[0] == body[1].result:
        compare, select = body[0], body[1]
        if select.operands[0] != compare.result:
            return None
        a, b = compare.operands
        predicate = ir.IntegerAttr(compare.attributes["predicate"]).value
        if predicate not in _GREATER_PREDICATES + _LESS_PREDICATES:
            return None
        # select(a > b, a, b) is max(a, b); select(a > b, b, a) is min(a, b); "<" the other way round.
        picks_a = list(select.operands[1:]) == [a, b]
        if not picks_a and list(select.operands[1:]) != [b, a]:
            return None
        takes_max = picks_a == (predicate in _GREATER_PREDICATES)
        return bound("max" if takes_max else "min", a, b)
    return None


def dense_ints(attr: ir.Attribute) -> list[int]:
    """The integers of a dense elements attribute (a linalg conv's or pool's strides and dilations)."""
    return [int(v) for v in np.array(ir.DenseElementsAttr(attr)).reshape(-1)]


def is_elementwise(op: ir.Operation, inputs: int) -> bool:
    if op is None or op.name != "linalg.generic":
        return False
    if len(op.operands) != inputs + 1 or "reduction" in str(op.attributes["iterator_types"]):
        return False
    return True


def _is_cast(op: ir.Operation | None, cast: str) -> bool:
    """An elementwise generic whose body only applies `cast` (arith.extf / arith.truncf) to its input."""
    return is_elementwise(op, 1) and [o.name for o in body_ops(op)] == [cast, "linalg.yield"]


def through_extf(value: ir.Value) -> ir.Value:
    """The f16 value behind a widening generic (torch-mlir's f16 models compute in f32), else `value`."""
    op = defining_op(value)
    return op.operands[0] if _is_cast(op, "arith.extf") else value


def through_reshape(value: ir.Value) -> ir.Value:
    """The value behind tensor.collapse_shape and expand_shape ops (torch-mlir's depthwise weights are [C, 1, KH, KW]
    collapsed, its grouped conv weights [F, C/G, KH, KW] expanded to [G, F/G, C/G, KH, KW], a Conv1d's weights
    expanded by a trailing 1 first)."""
    op = defining_op(value)
    while op is not None and op.name in ("tensor.collapse_shape", "tensor.expand_shape"):
        value, op = op.operands[0], defining_op(op.operands[0])
    return value


def truncf_user(value: ir.Value) -> ir.Operation | None:
    """The narrowing generic that is `value`'s only user, if any (the end of an f16 layer's f32 math)."""
    user = single_user(value)
    return user if _is_cast(user, "arith.truncf") else None


def activation_of(op: ir.Operation) -> str | None:
    """'relu' or 'relu6' if `op` is an elementwise generic computing that on its single input."""
    if not is_elementwise(op, 1):
        return None
    if len({str(m) for m in ir.ArrayAttr(op.attributes["indexing_maps"])}) != 1:
        return None
    body = body_ops(op)
    names = [o.name for o in body]
    if clamp_bound(op, op.operands[0]) == ("lower", 0.0):  # torch-mlir's relu: select(in > 0, in, 0)
        return "relu"
    if names in (["arith.maximumf", "arith.minimumf", "linalg.yield"], ["arith.maxnumf", "arith.minnumf", "linalg.yield"]):
        low, high = body[0], body[1]
        if float_constant(low.operands[1]) == 0.0 and float_constant(high.operands[1]) == 6.0:
            return "relu6"
    if names[-1:] == ["linalg.yield"] and len(names) == 5 and names[:4] == ["arith.cmpf", "arith.select", "arith.cmpf", "arith.select"]:
        constants = sorted(c for c in (float_constant(o) for o in body[0].operands[1:2] + body[2].operands[1:2]) if c is not None)
        if constants == [0.0, 6.0]:
            return "relu6"
    return None


def bias_add_of(op: ir.Operation, produced: ir.Value, weights) -> ir.Value | None:
    """The constant bias vector if `op` adds one, broadcast along rows, to `produced` ([M, N] + [N], or
    [B, M, N] + [N] for a Linear on a 3-D input)."""
    if not is_elementwise(op, 2):
        return None
    body = body_ops(op)
    if [o.name for o in body] != ["arith.addf", "linalg.yield"]:
        return None
    args = list(op.regions[0].blocks[0].arguments)
    if set(body[0].operands) != {args[0], args[1]}:
        return None
    rank = len(shape_of(produced))
    dims = ", ".join(f"d{i}" for i in range(rank))
    maps = [str(m).replace(f"affine_map<({dims}) -> (", "").rstrip(")>") for m in ir.ArrayAttr(op.attributes["indexing_maps"])]
    ins = list(op.operands)[:2]
    for produced_index, bias_index in ((0, 1), (1, 0)):
        bias = through_extf(ins[bias_index])
        if ins[produced_index] == produced and len(maps) == 3 and maps[produced_index] == dims \
                and maps[bias_index] == f"d{rank - 1}" and weights.array(bias) is not None:
            return bias
    return None


def conv_bias(init: ir.Value, weights) -> ir.Value | None | bool:
    """For a conv's `outs` operand: the bias vector value it broadcasts, False for a zero fill, None otherwise."""
    op = defining_op(init)
    if op is None:
        return None
    if op.name == "linalg.broadcast":
        source = through_extf(op.operands[0])
        dims = list(ir.DenseI64ArrayAttr(op.attributes["dimensions"]))
        rank = len(ir.RankedTensorType(init.type).shape)
        if dims == [d for d in range(rank) if d != 1] and weights.array(source) is not None:
            return source
        return None
    if op.name == "linalg.fill":
        value = float_constant(op.operands[0])
        return False if value == 0.0 else None
    if op.name == "arith.constant":
        array = weights.array(init)
        return False if array is not None and not np.any(array) else None
    return None


def zero_pad_amounts(op: ir.Operation | None) -> tuple[list[int], list[int]] | None:
    """(low, high) of a static tensor.pad with a constant 0.0 padding value, else None."""
    if op is None or op.name != "tensor.pad" or len(op.operands) != 1:
        return None
    body = body_ops(op)
    if len(body) != 1 or body[0].name != "tensor.yield" or float_constant(body[0].operands[0]) != 0.0:
        return None
    low = list(ir.DenseI64ArrayAttr(op.attributes["static_low"]))
    high = list(ir.DenseI64ArrayAttr(op.attributes["static_high"]))
    if any(v < 0 for v in low + high):  # dynamic amounts print as a negative sentinel
        return None
    return low, high


def sparse_ops_with_weights(module: ir.Module, weights):
    """Every bcr.sparse_* op whose weight is a known constant, with that weight as an array."""
    from bcr_mlir.dialect import SPARSE_OPS, ops_named
    for op in ops_named(module, SPARSE_OPS):
        array = weights.array(op.operands[1])
        if array is not None:
            yield op, array


def is_negative_infinity(value: ir.Value) -> bool:
    return float_constant(value) == -math.inf


def non_negative(value: ir.Value) -> bool:
    """True when every element of `value` is >= 0 by construction: a bcr layer's fused ReLU/ReLU6, an
    elementwise ReLU or lower clamp at c >= 0 (or an upper clamp of such a value), or a zero pad of one."""
    from bcr_mlir.dialect import PACKED_OPS, SPARSE_OPS, string_attr
    op = defining_op(value)
    if op is None:
        return False
    if op.name in SPARSE_OPS + PACKED_OPS:
        return string_attr(op, "activation", "none") in ("relu", "relu6") or \
            (string_attr(op, "reduction", "add") == "max" and non_negative(op.operands[0]))
    if op.name == "tensor.pad":
        return zero_pad_amounts(op) is not None and non_negative(op.operands[0])
    if activation_of(op) is not None:
        return True
    for operand in list(op.operands)[:-1] if op.name == "linalg.generic" else []:
        bound = clamp_bound(op, operand)  # max(x, c) with c >= 0; min(x, c) of a non-negative x
        if bound is not None:
            return bound[1] >= 0.0 if bound[0] == "lower" else non_negative(operand)
    return False


def is_max_pool(op: ir.Operation | None, padded: ir.Value) -> bool:
    """A max-pool reading `padded` as its input."""
    if op is None or op.operands[0] != padded:
        return False
    if op.name.startswith("linalg.pooling_") and op.name.endswith("_max"):
        return True
    if op.name != "linalg.generic" or "reduction" not in str(op.attributes["iterator_types"]):
        return False
    body = body_ops(op)
    arguments = list(op.regions[0].blocks[0].arguments)
    if [o.name for o in body] not in (["arith.maximumf", "linalg.yield"], ["arith.maxnumf", "linalg.yield"]):
        return False
    a, b = body[0].operands
    return (a == arguments[0] and b == arguments[-1]) or (a == arguments[-1] and b == arguments[0])
