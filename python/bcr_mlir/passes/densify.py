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
from bcr_mlir.dialect import PACKED_OPS, SPARSE_OPS, int_array, packed_weight_shape, shape_of, string_attr, walk
from bcr_mlir.errors import BcrError
from bcr_mlir.storage import RowGroupStorage
from bcr_mlir.passes.functions import add_function, call, sanitize, tensor_type_text as tt
from bcr_mlir.passes.registry import Pass, PassContext

_CONV = {2: "linalg.conv_2d_nchw_fchw", 3: "linalg.conv_3d_ncdhw_fcdhw"}


def _activation_text(shape, activation: str) -> tuple[str, str]:
    """Lines applying the activation to %acc, and the name of the result."""
    if activation == "none":
        return "", "%acc"
    rank = len(shape)
    dims = ", ".join(f"d{i}" for i in range(rank))
    identity = f"affine_map<({dims}) -> ({dims})>"
    body = "%m = arith.maximumf %in, %zero : f32\n      linalg.yield %m : f32"
    if activation == "relu6":
        body = ("%m0 = arith.maximumf %in, %zero : f32\n      %m = arith.minimumf %m0, %six : f32\n"
                "      linalg.yield %m : f32")
    return f"""  %six = arith.constant 6.0 : f32
  %act = linalg.generic {{indexing_maps = [{identity}, {identity}], iterator_types = [{', '.join(['"parallel"'] * rank)}]}}
      ins(%acc : {tt(shape)}) outs(%empty : {tt(shape)}) {{
    ^bb0(%in: f32, %out: f32):
      {body}
  }} -> {tt(shape)}
""", "%act"


def dense_conv_text(x_shape, w_shape, y_shape, strides, dilations, activation) -> str:
    spatial = len(w_shape) - 2
    broadcast_dims = ", ".join(str(d) for d in [0] + list(range(2, 2 + spatial)))
    act, result = _activation_text(y_shape, activation)
    vector = f"vector<{spatial}xi64>"
    return f"""func.func private @NAME(%x: {tt(x_shape)}, %w: {tt(w_shape)}, %b: {tt(w_shape[:1])}) -> {tt(y_shape)} {{
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : {tt(y_shape)}
  %init = linalg.broadcast ins(%b : {tt(w_shape[:1])}) outs(%empty : {tt(y_shape)}) dimensions = [{broadcast_dims}]
  %acc = {_CONV[spatial]} {{dilations = dense<[{', '.join(map(str, dilations))}]> : {vector}, strides = dense<[{', '.join(map(str, strides))}]> : {vector}}}
      ins(%x, %w : {tt(x_shape)}, {tt(w_shape)}) outs(%init : {tt(y_shape)}) -> {tt(y_shape)}
{act}  return {result} : {tt(y_shape)}
}}"""


def dense_matmul_text(x_shape, w_shape, y_shape, activation) -> str:
    act, result = _activation_text(y_shape, activation)
    wt = (w_shape[1], w_shape[0])
    return f"""func.func private @NAME(%x: {tt(x_shape)}, %w: {tt(w_shape)}, %b: {tt(w_shape[:1])}) -> {tt(y_shape)} {{
  %zero = arith.constant 0.0 : f32
  %tinit = tensor.empty() : {tt(wt)}
  %wt = linalg.transpose ins(%w : {tt(w_shape)}) outs(%tinit : {tt(wt)}) permutation = [1, 0]
  %empty = tensor.empty() : {tt(y_shape)}
  %init = linalg.broadcast ins(%b : {tt(w_shape[:1])}) outs(%empty : {tt(y_shape)}) dimensions = [0]
  %acc = linalg.matmul ins(%x, %wt : {tt(x_shape)}, {tt(wt)}) outs(%init : {tt(y_shape)}) -> {tt(y_shape)}
{act}  return {result} : {tt(y_shape)}
}}"""


class Densify(Pass):
    name = "bcr-densify"
    summary = "Lower bcr sparse/packed ops back to dense linalg (the fallback where no sparse kernel exists)"

    def run(self, module: ir.Module, context: PassContext) -> None:
        cache: dict[str, str] = {}
        for op in list(walk(module)):
            if op.name not in SPARSE_OPS + PACKED_OPS:
                continue
            layer = string_attr(op, "layer")
            x = op.operands[0]
            if op.name in SPARSE_OPS:
                weight, bias = op.operands[1], op.operands[2]
                w_shape = shape_of(weight)
            else:
                bias = op.operands[1]
                arrays = [context.weights.array(v) for v in op.operands[2:6]]
                if any(a is None for a in arrays):
                    raise BcrError(f"layer '{layer}': packed storage is not constant", "run bcr-densify on constant weights")
                w_shape = packed_weight_shape(op)
                matrix = RowGroupStorage(*arrays).unpack((w_shape[0], int(np.prod(w_shape[1:]))))
                with ir.InsertionPoint(op), op.location:
                    weight = context.weights.constant(matrix.reshape(w_shape), f"{layer}.weight")
            activation = string_attr(op, "activation", "none")
            y_shape = shape_of(op.result)
            if op.name.endswith("matmul"):
                text = dense_matmul_text(shape_of(x), w_shape, y_shape, activation)
            else:
                text = dense_conv_text(shape_of(x), w_shape, y_shape, int_array(op, "strides"),
                                       int_array(op, "dilations"), activation)
            name = add_function(module, text, f"bcr_dense_{sanitize(layer)}", cache)
            with ir.InsertionPoint(op), op.location:
                result = call(name, [x, weight, bias], op.result.type)
            op.result.replace_all_uses_with(result)
            op.erase()
            decision = context.report.find(layer)
            if decision is not None and decision.mode == "sparse":
                decision.mode = "dense"
                decision.kernel = "IREE dense (linalg)"
                decision.reason = f"no sparse kernel for {context.target.name} on this path: dense linalg lowering"
