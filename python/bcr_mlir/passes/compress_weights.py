"""bcr-compress-weights: replace the dense weight of each bcr.sparse_* op by compact storage.

Output rows are taken in groups of G (the op's `schedule` block_rows, chosen by
bcr-eliminate-redundant-loads; by default the BCR block's rows) in the order given by `row_order`
(from bcr-reorder-filters; identity by default). Each group stores the input columns any of its rows
uses, and the values of all G rows for each column (bcr_mlir/storage.py):
  rows     i32[R]          output row of each packed row
  offsets  i32[R/G + 1]    group g owns columns offsets[g] .. offsets[g+1]
  indices  i32[nnz]        the kept columns of the weight matrix
  values   f32[nnz, G]     values[j, r] = W[rows[g*G + r], indices[j]]
A weight used several times (an RNN's W_hh at every step) is packed once.

Before:
    %r = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc",
           layout = #bcr.bcr_layout<array<i64: 16, 64>, array<i64: 8, 16>, ...>} : (tensor<1x64xf32>, tensor<16x64xf32>, tensor<16xf32>) -> tensor<1x16xf32>
After:
    %rows = arith.constant dense<[0, 1, ..., 15]> : tensor<16xi32>
    %off = arith.constant dense<[0, 4, 6]> : tensor<3xi32>
    %idx = arith.constant dense<[1, 5, 17, 30, 0, 9]> : tensor<6xi32>
    %val = arith.constant dense<...> : tensor<6x8xf32>
    %r = "bcr.packed_matmul"(%x, %b, %rows, %off, %idx, %val) {activation = "none", layer = "fc", layout = ...}
"""
from __future__ import annotations

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import SPARSE_OPS, BcrLayout, create_op, ops_named, parse_attr, string_attr
from bcr_mlir.errors import BcrError
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.storage import RowGroupStorage
from bcr_mlir.structure import constant_zero_violation


def group_rows_of(op: ir.Operation, layout) -> int:
    """The register block: the schedule's block_rows, else the BCR block's rows, else 8."""
    if "schedule" in op.attributes:
        return parse_attr(op.attributes["schedule"]).block_rows
    if isinstance(layout, BcrLayout):
        return layout.block[0]
    return 8


def row_order_of(op: ir.Operation, rows: int) -> np.ndarray:
    if "row_order" in op.attributes:
        return np.asarray(list(ir.DenseI64ArrayAttr(op.attributes["row_order"])), dtype=np.int64)
    return np.arange(rows)


class CompressWeights(Pass):
    name = "bcr-compress-weights"
    summary = "Lower each sparse op's dense weight to compact row-group storage (BCR arrays, FKW, KGS)"

    def run(self, module: ir.Module, context: PassContext) -> None:
        packed: dict[str, tuple] = {}
        for op in ops_named(module, SPARSE_OPS):
            layout = parse_attr(op.attributes["layout"])
            layer = string_attr(op, "layer")
            x, weight, bias = op.operands[0], op.operands[1], op.operands[2]
            array = context.weights.array(weight)
            if array is None:
                raise BcrError(f"layer '{layer}': the weight is not a constant with known data",
                               "give the sparse op a constant weight (arith.constant)")
            matrix = array.reshape(array.shape[0], -1)
            violation = constant_zero_violation(layout, weight, array, context.memoized)
            if violation:
                raise BcrError(f"layer '{layer}': the layout claims zeros that are not zero: {violation}",
                               "re-run the pruning (or bcr-raise-sparse-layers) so the layout matches the weights")
            group_rows = group_rows_of(op, layout)
            order = row_order_of(op, matrix.shape[0])
            # Shared within a function only: constants must dominate their uses.
            key = (_enclosing_function(op), str(weight.owner.attributes["value"]), group_rows, tuple(order.tolist()))
            with ir.InsertionPoint(op), op.location:
                if key not in packed:
                    try:
                        storage = RowGroupStorage.pack(matrix, group_rows, order)
                    except ValueError as exc:
                        raise BcrError(f"layer '{layer}': {exc}", "fix the row_order attribute") from None
                    packed[key] = tuple(context.weights.constant(array, f"{layer}.{part}") for part, array in
                                        (("rows", storage.rows), ("offsets", storage.offsets),
                                         ("indices", storage.indices), ("values", storage.values)))
                    _move_to_function_entry(packed[key])
                attributes = {name: op.attributes[name] for name in
                              ("layout", "activation", "layer", "strides", "dilations", "schedule") if name in op.attributes}
                if op.name != "bcr.sparse_matmul":
                    attributes["kernel"] = ir.DenseI64ArrayAttr.get(list(array.shape[2:]))
                new = create_op(op.name.replace("sparse_", "packed_"), [x, bias, *packed[key]], op.result.type, attributes)
            op.result.replace_all_uses_with(new.result)
            op.erase()


def _enclosing_function(op: ir.Operation) -> str:
    parent = op.parent
    while parent is not None and parent.name != "func.func":
        parent = parent.parent
    return ir.StringAttr(parent.attributes["sym_name"]).value if parent is not None else ""


def _move_to_function_entry(values) -> None:
    """Constants shared by several ops go to the top of the function, so they dominate every use."""
    for value in values:
        op = value.owner.operation if hasattr(value.owner, "operation") else value.owner
        block = op.block
        first = block.operations[0].operation
        if first != op:
            op.move_before(first)
