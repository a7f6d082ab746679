"""bcr-lower-to-gpu-kernels: replace each bcr.packed_* op by a generated GLSL compute shader and a bcr.dispatch.

The Vulkan counterpart of bcr-lower-to-kernels. Every packed layer (BCR, pattern and group/KGS
storage alike; conv2d with any stride, padding and dilation, conv3d, matmul) becomes one shader
specialised to the layer (bcr_mlir.kernels.vulkan: shapes, strides, group size and the workgroup
mapping are constants). The kernel is a private func.func *declaration* that carries the shader:

  bcr.glsl            the GLSL source
  bcr.bindings        which of the dispatch's operand slots are bound, in binding order (the output
                      is the last binding); the declaration's argument types are those operands'
  bcr.workgroup_size  the shader's local size
  bcr.vulkan_target   the IREE Vulkan target (vp_android_baseline_2022, adreno, valhall)

and the dispatch's `workgroups` is the grid. No push constants: everything is compiled in. The
hand-off (bcr_mlir.backends.vulkan_extern, called from backends/iree.py `to_iree_text`) compiles the
shader to SPIR-V with glslangValidator and turns the dispatch into a `hal.dispatch.extern`.

The shader reads all of the layer's constants from one parameter block (group offsets, the row map
when rows were reordered, the bias, and per packed column its input offset and its G weights), so a
layer binds three storage buffers: input, parameters, output (four when the bias is not a constant).
The block goes into the dispatch's `values` slot; the `bias`, `rows`, `offsets` and `indices` slots
keep the packed op's operands for the reader and are not bound (IREE drops them as dead constants).

f16 models (compile(dtype='f16')) keep f16 activations in memory and accumulate in f32, which needs
16-bit storage only (not 16-bit arithmetic). Layers it cannot lower stay packed for bcr-densify, and
the report says why: other element types, f16 on a target without 16-bit storage, a grid beyond
Vulkan's 65535 workgroups per dimension, 32-bit offset overflow, non-constant storage. A use whose
input is a compile-time constant (an RNN's first W_hh step, on the zero initial state) is lowered
dense here: IREE folds it on the host at compile time, where an extern Vulkan dispatch cannot run;
the layer's other uses keep the shader.

Before:
    %b = arith.constant dense<...> : tensor<8xf32>
    %r = "bcr.packed_conv2d"(%xp, %b, %rows, %off, %idx, %val) {activation = "relu", kernel = array<i64: 3, 3>,
           layer = "conv1", strides = array<i64: 1, 1>, dilations = array<i64: 1, 1>, layout = ...}
           : (tensor<1x2x10x10xf32>, tensor<8xf32>, tensor<8xi32>, tensor<2xi32>, tensor<4xi32>, tensor<4x8xf32>) -> tensor<1x8x8x8xf32>
After:
    %params = arith.constant dense<[0, 4, <8 biases>, 2, <8 weights>, 11, <8 weights>, ...]> : tensor<46xi32>
    %r = "bcr.dispatch"(%xp, %b, %rows, %off, %idx, %params) {kernel = @bcr_gpu_conv1, layer = "conv1",
           workgroups = array<i64: 1, 1, 1>} : (...) -> tensor<1x8x8x8xf32>
    func.func private @bcr_gpu_conv1(tensor<1x2x10x10xf32>, tensor<46xi32>) -> tensor<1x8x8x8xf32>
        attributes {bcr.bindings = array<i64: 0, 5>, bcr.glsl = "#version 450\0A...",
                    bcr.vulkan_target = "vp_android_baseline_2022", bcr.workgroup_size = array<i64: 64, 1, 1>}
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import (PACKED_OPS, create_op, int_array, packed_operands, reject_fused_pairs, reject_residual, shape_of, string_attr,
                              walk)
from bcr_mlir.errors import BcrError
from bcr_mlir.kernels import vulkan
from bcr_mlir.passes.densify import lower_to_dense
from bcr_mlir.passes.functions import existing_symbols, sanitize
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.storage import identity_order
from bcr_mlir.weights import element_dtype

F16_STORAGE_TARGETS = ("baseline_f16", "adreno", "valhall")   # IREE's target info: storage = ...|b16
GLSL_ATTR = "bcr.glsl"     # the GPU-kernel marker the IREE hand-off looks for
INPUT, BIAS, VALUES = 0, 1, 5


class Fallback(Exception):
    """This layer stays for bcr-densify; the message says why. `use_only`: just this use of a weight
    used several times (an RNN step), so the layer's report entry keeps its other uses' kernel."""

    def __init__(self, message: str, use_only: bool = False):
        super().__init__(message)
        self.use_only = use_only


def _element_strides(shape) -> list[int]:
    out, acc = [], 1
    for size in reversed(shape):
        out.append(acc)
        acc *= size
    return list(reversed(out))


def plan(op: ir.Operation, context: PassContext, arrays: dict) -> vulkan.GpuGemm:
    """The layer's GpuGemm and the input offset of each packed column (arrays['input_offsets'])."""
    layer = string_attr(op, "layer")
    x, bias, *_, values, _ = packed_operands(op)
    storage = {}
    for label, value in (("input", x), ("output", op.result), ("weights", values), ("bias", bias)):
        element = ir.RankedTensorType(value.type).element_type
        try:
            dtype = element_dtype(element)
        except ValueError:
            dtype = element
        if dtype not in (np.float32, np.float16):
            raise Fallback(f"{label} is {dtype}, the Vulkan kernels take f32 and f16")
        storage[label] = "float" if dtype == np.float32 else "float16_t"
    if "float16_t" in storage.values() and context.target.vulkan_target not in F16_STORAGE_TARGETS:
        raise Fallback(f"f16 data needs 16-bit storage, which {context.target.vulkan_target} lacks")
    x_shape, y_shape = shape_of(x), shape_of(op.result)
    rows_array, offsets, indices, values = arrays["rows"], arrays["offsets"], arrays["indices"], arrays["values"]
    group_rows = values.shape[1]
    identity = identity_order(rows_array, y_shape[1])
    common = dict(name=layer, group_rows=group_rows, groups=len(offsets) - 1, nnz=len(indices),
                  x_size=math.prod(x_shape), y_size=math.prod(y_shape), activation=string_attr(op, "activation", "none"),
                  identity_rows=identity, bias_bound=arrays["bias"] is None, x_type=storage["input"],
                  y_type=storage["output"], bias_type=storage["bias"])
    if op.name == "bcr.packed_matmul":
        positions, depth = x_shape
        arrays["input_offsets"] = indices.astype(np.int64)
        gemm = vulkan.GpuGemm(op="matmul", rows=y_shape[1], batch=1, out_dims=(positions,), in_strides=(depth,),
                              x_batch_stride=0, y_batch_stride=0, y_row_stride=1, y_position_stride=y_shape[1], **common)
    else:
        kernel, strides, dilations = int_array(op, "kernel"), int_array(op, "strides"), int_array(op, "dilations")
        n, channels, *_ = x_shape
        element = _element_strides(x_shape)
        coords = np.unravel_index(indices.astype(np.int64), (channels, *kernel))
        offset = coords[0] * element[1]
        for d in range(len(kernel)):
            offset = offset + coords[1 + d] * dilations[d] * element[2 + d]
        arrays["input_offsets"] = np.asarray(offset, np.int64)
        out = tuple(y_shape[2:])
        gemm = vulkan.GpuGemm(op=op.name.removeprefix("bcr.packed_"), rows=y_shape[1], batch=n, out_dims=out,
                              in_strides=tuple(strides[d] * element[2 + d] for d in range(len(out))),
                              x_batch_stride=element[0], y_batch_stride=y_shape[1] * math.prod(out),
                              y_row_stride=math.prod(out), y_position_stride=1, **common)
    if max(gemm.x_size, gemm.y_size) >= 2**31:
        raise Fallback(f"tensors of {max(gemm.x_size, gemm.y_size)} elements overflow the shader's 32-bit offsets")
    return gemm


def _declaration(module: ir.Module, name: str, operand_types, result_type, attributes: dict) -> str:
    taken = existing_symbols(module)
    unique, counter = name, 1
    while unique in taken:
        counter += 1
        unique = f"{name}_{counter}"
    with ir.InsertionPoint(module.body):
        function = ir.func.FuncOp(unique, ir.FunctionType.get(list(operand_types), [result_type]), visibility="private")
    for key, value in attributes.items():
        function.operation.attributes[key] = value
    return unique


def constant_expression(value: ir.Value, memo: dict) -> bool:
    """Whether `value` is computed from constants alone (no block argument reaches it).

    IREE evaluates such expressions at compile time on the host (consteval), where an extern Vulkan
    dispatch cannot run; and a layer with a constant input is better folded anyway (an RNN's first
    step multiplies W_hh by the zero initial state). Those uses stay for bcr-densify.
    """
    def producer(v: ir.Value):
        return None if isinstance(v.owner, ir.Block) else v.owner.operation

    root = producer(value)
    if root is None:
        return False
    stack = [root]
    while stack:
        op = stack[-1]
        if op in memo:
            stack.pop()
            continue
        inputs = [producer(v) for v in op.operands]
        if any(p is None or memo.get(p) is False for p in inputs):
            memo[op] = False
            stack.pop()
            continue
        unknown = [p for p in inputs if p not in memo]
        if unknown:
            stack.extend(unknown)
            continue
        memo[op] = True
        stack.pop()
    return memo[root]


def _function_of(op: ir.Operation) -> ir.Operation:
    parent = op.parent
    while parent is not None and parent.name != "func.func":
        parent = parent.parent
    if parent is None:
        raise BcrError("internal error: a packed op outside any function")
    return parent


class LowerToGpuKernels(Pass):
    name = "bcr-lower-to-gpu-kernels"
    summary = "Replace packed ops by generated GLSL compute shaders (Vulkan) launched through bcr.dispatch"

    def run(self, module: ir.Module, context: PassContext) -> None:
        if context.target.is_cpu:
            raise BcrError(f"bcr-lower-to-gpu-kernels generates Vulkan kernels, but the target is {context.target.name}",
                           "use bcr-lower-to-kernels for CPU targets, or pass --target vulkan")
        reject_fused_pairs(module, self.name)
        kernels: dict[str, str] = {}     # shader text hash -> declaration name (an RNN weight used per step: one kernel)
        params: dict[tuple, ir.Value] = {}
        dense: dict[str, str] = {}       # dense fallback functions (constant-input uses)
        memo: dict = {}                  # operation -> computed from constants alone
        packed = [op for op in walk(module) if op.name in PACKED_OPS]
        constant_inputs = [constant_expression(op.operands[0], memo) for op in packed]  # before any rewrite
        memo.clear()
        for op, constant_input in zip(packed, constant_inputs):
            self._lower(module, op, context, kernels, params, dense, constant_input)

    def _lower(self, module, op, context: PassContext, kernels: dict, params: dict, dense: dict,
               constant_input: bool) -> None:
        layer = string_attr(op, "layer")
        reject_residual(op, self.name)
        x, bias, rows, offsets, indices, values, _ = packed_operands(op)
        arrays = {"rows": context.weights.array(rows), "offsets": context.weights.array(offsets),
                  "indices": context.weights.array(indices), "values": context.weights.array(values),
                  "bias": context.weights.array(bias)}
        decision = context.report.find(layer)
        try:
            if any(arrays[k] is None for k in ("rows", "offsets", "indices", "values")):
                raise Fallback("the packed storage is not constant")
            if constant_input:
                raise Fallback("its input is a compile-time constant (IREE folds the layer)", use_only=True)
            gemm = plan(op, context, arrays)
            mapping = vulkan.choose_mapping(gemm)
            if max(mapping.grid) > vulkan.MAX_GROUP_COUNT:
                raise Fallback(f"the grid {list(mapping.grid)} exceeds {vulkan.MAX_GROUP_COUNT} workgroups per dimension")
            if arrays["input_offsets"].size and int(arrays["input_offsets"].max()) >= 2**31:
                raise Fallback("input offsets overflow 32 bits")
        except Fallback as why:
            if why.use_only and decision is not None and decision.uses > 1:
                # The layer's other uses still run the shader: lower this one here, so that
                # bcr-densify does not mark the whole layer dense.
                lower_to_dense(module, op, context, dense)
                decision.explain("vulkan: a use whose input is a compile-time constant is folded by IREE")
            elif decision is not None and decision.mode == "sparse":
                decision.mode = "dense"
                decision.kernel = "IREE dense (linalg)"
                decision.reason = f"vulkan: {why}; dense linalg fallback"
            return
        block, layout = vulkan.param_block(arrays["offsets"], arrays["rows"], arrays["input_offsets"],
                                           arrays["values"], arrays["bias"], gemm.identity_rows)
        source = vulkan.glsl(gemm, mapping, layout)
        bound = [INPUT] + ([BIAS] if gemm.bias_bound else []) + [VALUES]
        function = _function_of(op)
        key = (ir.StringAttr(function.attributes["sym_name"]).value, hashlib.sha1(block.tobytes()).hexdigest())
        if key not in params:  # one constant per function, at its entry, so it dominates every use (RNN steps)
            with ir.InsertionPoint.at_block_begin(function.regions[0].blocks[0]), op.location:
                params[key] = context.weights.constant(block, f"{layer}.gpu_params")
        block_value = params[key]
        operands = [x, bias, rows, offsets, indices, block_value]
        shader_key = hashlib.sha1((source + str(op.result.type) + str([o.type for o in operands])).encode()).hexdigest()
        if shader_key not in kernels:
            attributes = {
                GLSL_ATTR: ir.StringAttr.get(source),
                "bcr.bindings": ir.DenseI64ArrayAttr.get(bound),
                "bcr.workgroup_size": ir.DenseI64ArrayAttr.get([*mapping.local, 1]),
                "bcr.vulkan_target": ir.StringAttr.get(context.target.vulkan_target),
            }
            kernels[shader_key] = _declaration(module, f"bcr_gpu_{sanitize(layer)}", [operands[i].type for i in bound],
                                               op.result.type, attributes)
        with ir.InsertionPoint(op), op.location:
            dispatch = create_op("bcr.dispatch", operands, op.result.type,
                                 {"kernel": ir.FlatSymbolRefAttr.get(kernels[shader_key]),
                                  "workgroups": list(mapping.grid), "layer": layer})
        op.result.replace_all_uses_with(dispatch.result)
        op.erase()
        if decision is not None:
            decision.kernel = mapping.describe(gemm)
