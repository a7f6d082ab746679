"""bcr-densify: lower bcr.sparse_* / bcr.packed_* ops back to dense linalg (the dense fallback).

Used where no sparse kernel exists for the target (at present: Vulkan) and for layers the user asks
to keep dense. Packed weights are unpacked to the dense matrix. Each op becomes a call to a small
private function holding the linalg contraction, the bias and the activation; IREE inlines it.

Before:
    %r = "bcr.sparse_matmul"(%x, %w, %b) {activation = "relu", layer = "fc", layout = ...}
           : (tensor<1x64xf32>, tensor<16x64xf32>, tensor<16xf32>) -> tensor<1x16xf32>
After:
    %r = call @bcr_dense_fc(%x, %w, %b) : (tensor<1x64xf32>, tensor<16x64xf32>, tensor<16xf32>) -> tensor<1x16xf32>
    func.func private @bcr_dense_fc(...) { linalg.transpose; linalg.broadcast; linalg.matmul; linalg.generic }
"""
from __future__ import annotations

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import (PACKED_OPS, SPARSE_OPS, int_array, ops_named, packed_operands, packed_weight_shape,
                              reject_fused_pairs, reject_residual, shape_of, string_attr)
from bcr_mlir.errors import BcrError
from bcr_mlir.storage import RowGroupStorage
from bcr_mlir.passes.functions import add_function, call, sanitize, tensor_type_text as tt
from bcr_mlir.passes.registry import Pass, PassContext

_CONV = {2: "linalg.conv_2d_nchw_fchw", 3: "linalg.conv_3d_ncdhw_fcdhw"}


def _epilogue_text(shape, activation: str, dtype: str) -> tuple[str, str]:
    """Lines turning the f32 accumulator %acc into the result (activation, then narrowing to dtype)."""
    if activation == "none" and dtype == "f32":
        return "", "%acc"
    rank = len(shape)
    dims = ", ".join(f"d{i}" for i in range(rank))
    identity = f"affine_map<({dims}) -> ({dims})>"
    lines = ["%v = arith.addf %in, %zero : f32"]
    if activation in ("relu", "relu6"):
        lines.append("%r = arith.maximumf %v, %zero : f32")
    if activation == "relu6":
        lines.append("%r6 = arith.minimumf %r, %six : f32")
    last = {"none": "%v", "relu": "%r", "relu6": "%r6"}[activation]
    if dtype != "f32":
        lines.append(f"%n = arith.truncf {last} : f32 to {dtype}")
        last = "%n"
    lines.append(f"linalg.yield {last} : {dtype}")
    body = "\n      ".join(lines)
    return f"""  %six = arith.constant 6.0 : f32
  %out_init = tensor.empty() : {tt(shape, dtype)}
  %out = linalg.generic {{indexing_maps = [{identity}, {identity}], iterator_types = [{', '.join(['"parallel"'] * rank)}]}}
      ins(%acc : {tt(shape)}) outs(%out_init : {tt(shape, dtype)}) {{
    ^bb0(%in: f32, %o: {dtype}):
      {body}
  }} -> {tt(shape, dtype)}
""", "%out"


def _f32_bias_text(length: int, dtype: str) -> str:
    """%bias32: the bias widened to f32 (torch-mlir's form for f16 models); for f32 it is %b itself."""
    if dtype == "f32":
        return ""
    return f"""  %b_init = tensor.empty() : {tt((length,))}
  %bias32 = linalg.generic {{indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}}
      ins(%b : {tt((length,), dtype)}) outs(%b_init : {tt((length,))}) {{
    ^bb0(%in: {dtype}, %o: f32):
      %wide = arith.extf %in : {dtype} to f32
      linalg.yield %wide : f32
  }} -> {tt((length,))}
"""


def _bias32(dtype: str) -> str:
    return "%b" if dtype == "f32" else "%bias32"


def dense_conv_text(x_shape, w_shape, y_shape, strides, dilations, activation, dtype: str = "f32") -> str:
    spatial = len(w_shape) - 2
    broadcast_dims = ", ".join(str(d) for d in [0] + list(range(2, 2 + spatial)))
    epilogue, result = _epilogue_text(y_shape, activation, dtype)
    vector = f"vector<{spatial}xi64>"
    return f"""func.func private @NAME(%x: {tt(x_shape, dtype)}, %w: {tt(w_shape, dtype)}, %b: {tt(w_shape[:1], dtype)}) -> {tt(y_shape, dtype)} {{
  %zero = arith.constant 0.0 : f32
{_f32_bias_text(w_shape[0], dtype)}  %empty = tensor.empty() : {tt(y_shape)}
  %init = linalg.broadcast ins({_bias32(dtype)} : {tt(w_shape[:1])}) outs(%empty : {tt(y_shape)}) dimensions = [{broadcast_dims}]
  %acc = {_CONV[spatial]} {{dilations = dense<[{', '.join(map(str, dilations))}]> : {vector}, strides = dense<[{', '.join(map(str, strides))}]> : {vector}}}
      ins(%x, %w : {tt(x_shape, dtype)}, {tt(w_shape, dtype)}) outs(%init : {tt(y_shape)}) -> {tt(y_shape)}
{epilogue}  return {result} : {tt(y_shape, dtype)}
}}"""


def dense_matmul_text(x_shape, w_shape, y_shape, activation, dtype: str = "f32") -> str:
    epilogue, result = _epilogue_text(y_shape, activation, dtype)
    wt = (w_shape[1], w_shape[0])
    return f"""func.func private @NAME(%x: {tt(x_shape, dtype)}, %w: {tt(w_shape, dtype)}, %b: {tt(w_shape[:1], dtype)}) -> {tt(y_shape, dtype)} {{
  %zero = arith.constant 0.0 : f32
{_f32_bias_text(w_shape[0], dtype)}  %tinit = tensor.empty() : {tt(wt, dtype)}
  %wt = linalg.transpose ins(%w : {tt(w_shape, dtype)}) outs(%tinit : {tt(wt, dtype)}) permutation = [1, 0]
  %empty = tensor.empty() : {tt(y_shape)}
  %init = linalg.broadcast ins({_bias32(dtype)} : {tt(w_shape[:1])}) outs(%empty : {tt(y_shape)}) dimensions = [0]
  %acc = linalg.matmul ins(%x, %wt : {tt(x_shape, dtype)}, {tt(wt, dtype)}) outs(%init : {tt(y_shape)}) -> {tt(y_shape)}
{epilogue}  return {result} : {tt(y_shape, dtype)}
}}"""


def lower_to_dense(module: ir.Module, op: ir.Operation, context: PassContext, cache: dict[str, str]) -> None:
    """Replaces one sparse or packed op (no residual) by a call of a dense linalg function on its dense weight
    (packed storage unpacked into a constant); `cache` shares functions between layers of one shape."""
    layer = string_attr(op, "layer")
    x = op.operands[0]
    if op.name in SPARSE_OPS:
        weight, bias = op.operands[1], op.operands[2]
        w_shape = shape_of(weight)
    else:
        operands = packed_operands(op)
        bias = operands.bias
        arrays = [context.weights.array(v) for v in operands.storage]
        if any(a is None for a in arrays):
            raise BcrError(f"layer '{layer}': packed storage is not constant", "run bcr-densify on constant weights")
        w_shape = packed_weight_shape(op)
        matrix = RowGroupStorage(*arrays).unpack((w_shape[0], int(np.prod(w_shape[1:]))))
        with ir.InsertionPoint(op), op.location:
            weight = context.weights.constant(matrix.reshape(w_shape), f"{layer}.weight")
    activation = string_attr(op, "activation", "none")
    y_shape = shape_of(op.result)
    dtype = str(ir.RankedTensorType(op.result.type).element_type)
    if op.name.endswith("matmul"):
        text = dense_matmul_text(shape_of(x), w_shape, y_shape, activation, dtype)
    else:
        text = dense_conv_text(shape_of(x), w_shape, y_shape, int_array(op, "strides"),
                               int_array(op, "dilations"), activation, dtype)
    name = add_function(module, text, f"bcr_dense_{sanitize(layer)}", cache)
    with ir.InsertionPoint(op), op.location:
        result = call(name, [x, weight, bias], op.result.type)
    op.result.replace_all_uses_with(result)
    op.erase()


class Densify(Pass):
    name = "bcr-densify"
    summary = "Lower bcr sparse/packed ops back to dense linalg (the fallback where no sparse kernel exists)"

    def run(self, module: ir.Module, context: PassContext) -> None:
        cache: dict[str, str] = {}
        reject_fused_pairs(module, self.name)
        for op in ops_named(module, SPARSE_OPS + PACKED_OPS):
            layer = string_attr(op, "layer")
            reject_residual(op, self.name)
            lower_to_dense(module, op, context, cache)
            decision = context.report.find(layer)
            if decision is not None and decision.mode == "sparse":
                decision.mode = "dense"
                decision.kernel = "IREE dense (linalg)"
                decision.reason = f"no sparse kernel for {context.target.name} on this path: dense linalg lowering"
