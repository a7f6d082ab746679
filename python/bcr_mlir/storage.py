"""Compact weight storage shared by every scheme: row groups with a shared column list.

Every structured scheme keeps, for a group of output rows, the same input columns:
  BCR      the rows of a block-row (GRIM's BCR arrays: per block-row, kept columns + packed values)
  group    the output-channel group of SparseByteNN / RT3D's KGS (shared kernel or channel positions)
  pattern  filters reordered so that a group's kernels share patterns (PatDNN's FKW: filter order,
           kernel offsets, then the weights in the order the kernel reads them)
So one format serves all, and one kernel: see dialect/bcr.irdl.mlir for the contract.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def identity_order(rows: np.ndarray, count: int) -> bool:
    """Whether packed rows 0..count-1 compute output rows 0..count-1 (no reorder; the padding after
    them does not count)."""
    return bool(np.array_equal(rows[:count], np.arange(count)))


@dataclass(frozen=True)
class RowGroupStorage:
    rows: np.ndarray      # int32[R]: packed row i computes output row rows[i]
    offsets: np.ndarray   # int32[R / G + 1]
    indices: np.ndarray   # int32[nnz]: input columns
    values: np.ndarray    # [nnz, G]

    @property
    def group_rows(self) -> int:
        return self.values.shape[1]

    @property
    def groups(self) -> int:
        return len(self.offsets) - 1

    @staticmethod
    def padded_order(order: np.ndarray, group_rows: int) -> np.ndarray:
        """The row order padded to a multiple of the group size by repeating its last row."""
        pad = (-len(order)) % group_rows
        return np.concatenate([order, np.repeat(order[-1:], pad)]) if pad else order

    @classmethod
    def pack(cls, matrix: np.ndarray, group_rows: int, order: np.ndarray | None = None) -> "RowGroupStorage":
        rows = matrix.shape[0]
        order = np.arange(rows) if order is None else np.asarray(order)
        if sorted(order.tolist()) != list(range(rows)):
            raise ValueError(f"row order must be a permutation of 0..{rows - 1}")
        padded = cls.padded_order(order, group_rows)
        valid = np.arange(len(padded)) < rows       # padding rows get zero weights
        offsets = [0]
        columns, blocks = [], []
        for start in range(0, len(padded), group_rows):
            members = padded[start:start + group_rows]
            weights = matrix[members] * valid[start:start + group_rows, None]
            used = np.flatnonzero((weights != 0).any(axis=0))
            columns.append(used)
            blocks.append(weights[:, used].T)
            offsets.append(offsets[-1] + used.size)
        indices = np.concatenate(columns).astype(np.int32) if columns else np.zeros(0, np.int32)
        values = np.concatenate(blocks).astype(matrix.dtype) if blocks else np.zeros((0, group_rows), matrix.dtype)
        return cls(padded.astype(np.int32), np.asarray(offsets, np.int32), indices, values.reshape(-1, group_rows))

    def unpack(self, shape: tuple[int, int]) -> np.ndarray:
        """The dense matrix back (the dense fallback and the tests use it)."""
        matrix = np.zeros(shape, dtype=self.values.dtype)
        group = self.group_rows
        for g in range(self.groups):
            start, stop = self.offsets[g], self.offsets[g + 1]
            for r in range(group):
                index = g * group + r
                if index < shape[0]:  # padding rows (index >= row count) are repeats, never stored
                    matrix[self.rows[index], self.indices[start:stop]] = self.values[start:stop, r]
        return matrix

    def work(self) -> int:
        """Multiply-adds per output position the kernel performs (zeros inside a group included)."""
        return int(self.values.size)


def group_work(matrix: np.ndarray, group_rows: int, order: np.ndarray | None = None) -> int:
    """The kernel's multiply-adds per output position for a grouping, without building the storage."""
    order = np.arange(matrix.shape[0]) if order is None else np.asarray(order)
    padded = RowGroupStorage.padded_order(order, group_rows)
    nonzero = matrix != 0
    total = 0
    for start in range(0, len(padded), group_rows):
        total += group_rows * int(nonzero[padded[start:start + group_rows]].any(axis=0).sum())
    return total
