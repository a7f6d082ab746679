"""bcr-fuse-residual-adds: a skip connection's add (and the ReLU after it) moves into the generated
kernel of the packed layer feeding it, which then reads the residual at each output's own index.

A residual add is one more IREE dispatch and one more pass over the block's output: MobileNet-V2 has 10
(after its project convs), ResNet-18 8 (add, then ReLU). At 2 threads every dispatch also pays the
hand-off to the worker thread, so small ones cost about as much as the work they do. The fused kernel
computes act(bias + W x + residual) in registers before its store.

Applies to an elementwise linalg.generic adding two tensors of one type, when one of them is the
result of a packed op (bcr-compress-weights) with no activation, no residual yet, a sum reduction, and
this add as its only user. The packed op moves to the add (its operands are defined before it, and the
residual before the add), takes the other tensor as its residual operand, and absorbs a ReLU/ReLU6
that is the add's only user. A Conv1d's packed conv2d of one row reaches the add through a
tensor.collapse_shape ([N, F, 1, L] -> [N, F, L]): the residual is then expanded to the packed op's shape
and the fused result collapsed back. CPU targets only: the GPU kernels have no residual operand.

Before:
    %y = "bcr.packed_conv2d"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "conv2", ...}
           : (...) -> tensor<1x64x56x56xf32>
    %s = linalg.generic {indexing_maps = [#id, #id, #id], ...} ins(%y, %skip : ...) outs(%e : ...) {
      ^bb0(%a: f32, %b: f32, %o: f32): %t = arith.addf %a, %b : f32  linalg.yield %t : f32 }
    %r = linalg.generic ... ins(%s : ...) { max(%in, 0) }
After:
    %r = "bcr.packed_conv2d"(%x, %b, %rows, %off, %idx, %val, %skip) {activation = "relu", layer = "conv2", ...}
           : (..., tensor<1x64x56x56xf32>) -> tensor<1x64x56x56xf32>
"""
from __future__ import annotations

from dataclasses import dataclass

from bcr_mlir import ir
from bcr_mlir.ir import tensor
from bcr_mlir.dialect import PACKED_OPS, create_op, ops_named, packed_operands, shape_of, string_attr
from bcr_mlir.passes.matching import body_ops, defining_op, is_elementwise, single_user
from bcr_mlir.passes.raise_sparse_layers import absorb_epilogue
from bcr_mlir.passes.registry import Pass, PassContext


def tensor_sum_operands(op: ir.Operation) -> tuple[ir.Value, ir.Value] | None:
    """The two inputs of an elementwise generic adding two tensors of its result's type, read at the
    same index (no broadcast), else None."""
    if not is_elementwise(op, 2):
        return None
    maps = {str(m) for m in ir.ArrayAttr(op.attributes["indexing_maps"])}
    a, b = list(op.operands)[:2]
    if len(maps) != 1 or a.type != op.result.type or b.type != op.result.type:
        return None
    body = body_ops(op)
    arguments = list(op.regions[0].blocks[0].arguments)
    if [o.name for o in body] != ["arith.addf", "linalg.yield"] or set(body[0].operands) != set(arguments[:2]) \
            or body[1].operands[0] != body[0].result:
        return None
    return a, b


def _fusable(producer: ir.Operation | None, add: ir.Operation) -> bool:
    if producer is None or producer.name not in PACKED_OPS:
        return False
    user = single_user(producer.result)
    return user is not None and user == add \
        and string_attr(producer, "activation", "none") == "none" \
        and string_attr(producer, "reduction", "add") == "add" and packed_operands(producer).residual is None


@dataclass(frozen=True)
class FuseResidualAdds(Pass):
    name = "bcr-fuse-residual-adds"
    summary = "Fuse a skip connection's add (and a ReLU after it) into the generated kernel producing one side"

    def run(self, module: ir.Module, context: PassContext) -> None:
        if not context.target.is_cpu:
            return
        fused = 0
        # The adds first: fusing erases the ReLUs after them, which a walk would then visit. Their operands
        # are read when fused, as an earlier fusion replaces one add's result (the next block's skip).
        adds = [op for op in ops_named(module, ("linalg.generic",)) if tensor_sum_operands(op) is not None]
        for add in adds:
            inputs = tensor_sum_operands(add)
            for produced, residual in (inputs, inputs[::-1]):
                producer, collapse = defining_op(produced), None
                if producer is not None and producer.name == "tensor.collapse_shape" and single_user(produced) == add:
                    collapse, producer = producer, defining_op(producer.operands[0])   # a Conv1d's conv of one row
                if _fusable(producer, collapse or add):
                    self._fuse(producer, add, residual, context, collapse)
                    fused += 1
                    break
        if fused:
            context.report.notes.append(f"{fused} residual add(s) fused into the kernels producing them")

    @staticmethod
    def _fuse(producer: ir.Operation, add: ir.Operation, residual: ir.Value, context: PassContext,
              collapse: ir.Operation | None = None) -> None:
        """`collapse`: the tensor.collapse_shape between the producer and the add, if any."""
        dead = [add] + ([collapse] if collapse is not None else []) + [producer]
        last, activation = absorb_epilogue(add, dead)
        attributes = {name: producer.attributes[name] for name in producer.attributes}
        attributes["activation"] = ir.StringAttr.get(activation)
        with ir.InsertionPoint(add), add.location:
            if collapse is not None:
                reassociation = [list(ir.ArrayAttr(group)) for group in ir.ArrayAttr(collapse.attributes["reassociation"])]
                reassociation = [[ir.IntegerAttr(d).value for d in group] for group in reassociation]
                residual = tensor.ExpandShapeOp(producer.result.type, residual, reassociation, [],
                                                list(shape_of(producer.result))).result
            fused = create_op(producer.name, [*producer.operands, residual],
                              producer.result.type if collapse is not None else last.result.type, attributes)
            result = fused.result
            if collapse is not None:
                result = tensor.CollapseShapeOp(last.result.type, result, reassociation).result
        last.result.replace_all_uses_with(result)
        for op in dead:
            op.erase()
