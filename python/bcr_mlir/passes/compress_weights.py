"""bcr-compress-weights: replace the dense weight of each bcr.sparse_* op by compact storage.

For a BCR layout the weight matrix W[rows, cols] is stored per block-row of BR rows (GRIM's BCR arrays):
  offsets  i32[block_rows + 1]   block-row b owns entries offsets[b] .. offsets[b+1]
  indices  i32[nnz]              the columns kept in that block-row (union over its blocks)
  values   f32[nnz, BR]          values[j, r] = W[b*BR + r, indices[j]]; rows pruned inside a block are 0
One input vector load then feeds all BR rows (see bcr-lower-to-kernels). A weight used several times
(an RNN's W_hh at every step) is packed once.

Before:
    %r = "bcr.sparse_matmul"(%x, %w, %b) {activation = "none", layer = "fc",
           layout = #bcr.bcr_layout<array<i64: 16, 64>, array<i64: 8, 16>, ...>} : (tensor<1x64xf32>, tensor<16x64xf32>, tensor<16xf32>) -> tensor<1x16xf32>
After:
    %off = arith.constant dense_resource<fc.offsets> : tensor<3xi32>
    %idx = arith.constant dense_resource<fc.indices> : tensor<12xi32>
    %val = arith.constant dense_resource<fc.values> : tensor<12x8xf32>
    %r = "bcr.packed_matmul"(%x, %b, %off, %idx, %val) {activation = "none", layer = "fc",
           layout = #bcr.bcr_layout<...>} : (tensor<1x64xf32>, tensor<16xf32>, tensor<3xi32>, tensor<12xi32>, tensor<12x8xf32>) -> tensor<1x16xf32>
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import BcrLayout, SPARSE_OPS, create_op, parse_attr, string_attr, walk
from bcr_mlir.errors import BcrError
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.structure import block_row_columns


@dataclass(frozen=True)
class BcrStorage:
    offsets: np.ndarray   # int32[block_rows + 1]
    indices: np.ndarray   # int32[nnz]
    values: np.ndarray    # [nnz, BR]

    @classmethod
    def pack(cls, matrix: np.ndarray, block_rows: int) -> "BcrStorage":
        rows = matrix.shape[0]
        columns = block_row_columns(matrix, block_rows)
        offsets = np.zeros(len(columns) + 1, dtype=np.int32)
        offsets[1:] = np.cumsum([c.size for c in columns])
        indices = np.concatenate(columns).astype(np.int32) if columns else np.zeros(0, np.int32)
        values = np.zeros((int(offsets[-1]), block_rows), dtype=matrix.dtype)
        for b, cols in enumerate(columns):
            start = b * block_rows
            height = min(block_rows, rows - start)
            values[offsets[b]:offsets[b + 1], :height] = matrix[start:start + height, cols].T
        return cls(offsets, indices, values)

    def unpack(self, shape: tuple[int, int]) -> np.ndarray:
        """The dense matrix back (used by the dense fallback and by tests)."""
        rows, block_rows = shape[0], self.values.shape[1]
        matrix = np.zeros(shape, dtype=self.values.dtype)
        for b in range(len(self.offsets) - 1):
            start, stop = self.offsets[b], self.offsets[b + 1]
            height = min(block_rows, rows - b * block_rows)
            matrix[b * block_rows:b * block_rows + height, self.indices[start:stop]] = self.values[start:stop, :height].T
        return matrix


class CompressWeights(Pass):
    name = "bcr-compress-weights"
    summary = "Lower each sparse op's dense weight to compact constant storage (BCR arrays)"

    def run(self, module: ir.Module, context: PassContext) -> None:
        packed: dict[str, tuple] = {}
        for op in list(walk(module)):
            if op.name not in SPARSE_OPS:
                continue
            layout = parse_attr(op.attributes["layout"])
            layer = string_attr(op, "layer")
            if not isinstance(layout, BcrLayout):
                raise BcrError(f"layer '{layer}': {layout.mnemonic} storage is not implemented by bcr-compress-weights",
                               "prune the layer with the bcr scheme, or leave it dense")
            x, weight, bias = op.operands[0], op.operands[1], op.operands[2]
            array = context.weights.array(weight)
            if array is None:
                raise BcrError(f"layer '{layer}': the weight is not a constant with known data",
                               "give the sparse op a constant weight (arith.constant)")
            matrix = array.reshape(array.shape[0], -1)
            violation = layout.zero_violations(matrix)
            if violation:
                raise BcrError(f"layer '{layer}': the layout claims zeros that are not zero: {violation}",
                               "re-run the pruning (or bcr-raise-sparse-layers) so the layout matches the weights")
            key = str(weight.owner.attributes["value"]) + str(layout.block)
            with ir.InsertionPoint(op), op.location:
                if key not in packed:
                    storage = BcrStorage.pack(matrix, layout.block[0])
                    packed[key] = (context.weights.constant(storage.offsets, f"{layer}.offsets"),
                                   context.weights.constant(storage.indices, f"{layer}.indices"),
                                   context.weights.constant(storage.values, f"{layer}.values"))
                    _move_to_function_entry(packed[key])
                attributes = {name: op.attributes[name] for name in ("layout", "activation", "layer", "strides", "dilations")
                              if name in op.attributes}
                if op.name != "bcr.sparse_matmul":
                    attributes["kernel"] = ir.DenseI64ArrayAttr.get(list(array.shape[2:]))
                new = create_op(op.name.replace("sparse_", "packed_"), [x, bias, *packed[key]], op.result.type, attributes)
            op.result.replace_all_uses_with(new.result)
            op.erase()


def _move_to_function_entry(values) -> None:
    """Constants shared by several ops go to the top of the function, so they dominate every use."""
    for value in values:
        op = value.owner.operation if hasattr(value.owner, "operation") else value.owner
        block = op.block
        first = block.operations[0].operation
        if first != op:
            op.move_before(first)
