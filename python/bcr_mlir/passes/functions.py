"""Helper functions written as MLIR text and called from the model: kernels, layout glue, dense fallbacks.

Writing these as text keeps them readable (they read like the IR they produce). Identical text is
added once, so a weight shared by every RNN step gets one kernel.
"""
from __future__ import annotations

import hashlib
import re

from bcr_mlir import ir

_FUNCTION_NAME = re.compile(r"func\.func\s+(?:private\s+)?@([\w.$-]+)")


def sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "layer"


def existing_symbols(module: ir.Module) -> set[str]:
    names = set()
    for op in module.body.operations:
        if "sym_name" in op.operation.attributes:
            names.add(ir.StringAttr(op.operation.attributes["sym_name"]).value)
    return names


def add_function(module: ir.Module, text: str, name: str, cache: dict | None = None) -> str:
    """Parses `text` (one func.func named @NAME) and appends it to `module` as @name (made unique).

    With a `cache`, text identical up to the name is added once and the first name is returned.
    """
    key = hashlib.sha1(text.encode()).hexdigest()
    if cache is not None and key in cache:
        return cache[key]
    taken = existing_symbols(module)
    unique, counter = name, 1
    while unique in taken:
        counter += 1
        unique = f"{name}_{counter}"
    parsed = ir.Module.parse(text.replace("@NAME", f"@{unique}"))
    function = parsed.body.operations[0].operation
    function.detach_from_parent()
    module.body.append(function)
    if cache is not None:
        cache[key] = unique
    return unique


def call(name: str, arguments: list[ir.Value], result_type: ir.Type) -> ir.Value:
    """func.call @name(arguments) at the current insertion point."""
    return ir.func.CallOp([result_type], ir.FlatSymbolRefAttr.get(name), arguments).result


def tensor_type_text(shape, dtype: str = "f32") -> str:
    return f"tensor<{'x'.join(str(d) for d in shape)}x{dtype}>"


def zero_pad(value: ir.Value, low: list[int], high: list[int], result_type: ir.RankedTensorType) -> ir.Value:
    """A static tensor.pad of `value` with 0.0 (at the current insertion point)."""
    element = result_type.element_type
    zero = ir.arith.ConstantOp(element, ir.FloatAttr.get(element, 0.0)).result
    pad = ir.tensor.PadOp(result_type, value, [], [], ir.DenseI64ArrayAttr.get(low), ir.DenseI64ArrayAttr.get(high))
    block = pad.region.blocks.append(*[ir.IndexType.get()] * len(low))
    with ir.InsertionPoint(block):
        ir.tensor.YieldOp(zero)
    return pad.result
