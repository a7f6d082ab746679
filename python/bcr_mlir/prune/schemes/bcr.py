"""BCR, block-based column-row pruning (GRIM).

The matrix view is tiled from the top-left by blocks of `block = (rows, cols)`; the last block-row
and block-column may be ragged. Inside each block a set of whole rows and a set of whole columns is
zeroed, so the block keeps exactly (kept rows) x (kept cols).

Column-dominant by default (`row_share=0`): the generated kernels load one input vector per kept
column and reuse it for every row of the block, so pruning columns saves loads while pruning rows
does not. Rows are pruned only when columns alone cannot reach the rate (balanced mode past
`rate > cols`). `row_share` in [0, 1] moves part of the rate to rows: the kept fraction of rows is
about `(1/rate) ** row_share`.

`balanced=False` ranks column segments over the whole matrix, so blocks may keep different numbers
of columns (best accuracy). `balanced=True` keeps the same number of columns and rows in every
block (ragged blocks keep at most that many), which balances the load across block-rows.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ..layers import LayerDescription, matrix_view
from .base import Scheme, check_pair, check_rate, keep_top_units, rank_within


@dataclasses.dataclass(frozen=True)
class BCR(Scheme):
    rate: float | None = None
    block: tuple[int, int] | None = None   # None: DEFAULT_BLOCK, clipped to the matrix
    balanced: bool = False
    row_share: float = 0.0

    name = "bcr"
    param_fields = ("block", "balanced", "row_share")
    DEFAULT_BLOCK = (8, 16)

    def __post_init__(self):
        check_rate(self.rate, self.name)
        if self.block is not None:
            object.__setattr__(self, "block", check_pair(self.block, "block", self.name))
        if not isinstance(self.row_share, (int, float)) or not 0.0 <= self.row_share <= 1.0:
            raise ValueError(f"bcr: row_share must be in [0, 1] (0 = prune columns only), got {self.row_share!r}")

    def why_not(self, layer: LayerDescription) -> str | None:
        reason = super().why_not(layer)
        if reason or self.block is None:
            return reason
        rows, cols = layer.matrix_shape
        if self.block[0] > rows or self.block[1] > cols:
            return (f"bcr: block {tuple(self.block)} is larger than the {rows}x{cols} matrix of {layer.name}; "
                    f"use a block of at most ({rows}, {cols}), or block=None for the default")
        return None

    def resolve(self, weight, layer=None) -> "BCR":
        scheme = super().resolve(weight, layer)
        if self.block is not None:
            return scheme
        rows, cols = matrix_view(weight).shape
        block_rows = min(self.DEFAULT_BLOCK[0], rows)
        if layer is not None and layer.groups > 1:
            # Filters of different groups read different channels, so a block that spans two groups would
            # prune unrelated columns together and save no loads: keep each block inside one group.
            block_rows = next(r for r in (self.DEFAULT_BLOCK[0], 4, 2, 1) if layer.filters_per_group % r == 0)
        return dataclasses.replace(self, block=(block_rows, min(self.DEFAULT_BLOCK[1], cols)))

    def params(self) -> dict:
        out = super().params()
        if not self.row_share:   # the compiler's contract is {"block", "balanced"}; add row_share only if used
            del out["row_share"]
        return out

    def _mask(self, weight, layer):
        view = matrix_view(weight)
        return bcr_mask(view, self.block, self.target_kept(view.numel()) / view.numel(),
                        self.balanced, self.row_share).reshape(weight.shape)

    def partitions(self, layer):
        rows, cols = layer.matrix_shape
        r = torch.arange(rows)[:, None]
        c = torch.arange(cols)[None, :]
        column_segments = (r // self.block[0]) * cols + c
        parts = [column_segments]
        if self.row_share > 0 or self.balanced:
            parts.append((c // self.block[1]) * rows + r)   # row segments
        return parts


def bcr_mask(view: torch.Tensor, block: tuple[int, int], keep_fraction: float,
             balanced: bool, row_share: float) -> torch.Tensor:
    """The BCR mask of a 2-D matrix; see the module docstring for the rules."""
    rows, cols = view.shape
    br, bc = block
    nbr, nbc = math.ceil(rows / br), math.ceil(cols / bc)
    # Pad to whole blocks; padded rows/columns are never valid, so they are never kept.
    energy = torch.zeros(nbr * br, nbc * bc, dtype=torch.float64)
    energy[:rows, :cols] = view.double() ** 2
    energy = energy.view(nbr, br, nbc, bc)
    valid_rows = (torch.arange(nbr * br) < rows).view(nbr, br)
    valid_cols = (torch.arange(nbc * bc) < cols).view(nbc, bc)
    heights = valid_rows.sum(1)                                   # [nbr]

    kept_rows = min(br, max(1, round(br * keep_fraction ** row_share)))
    column_fraction = min(1.0, keep_fraction * br / kept_rows)
    segment_valid = valid_cols.expand(nbr, nbc, bc)
    column_energy = energy.sum(1)                                 # [nbr, nbc, bc]
    if balanced:
        kept_cols = round(bc * column_fraction)
        if kept_cols < 1:   # columns alone cannot reach the rate: keep one, prune rows for the rest
            kept_cols = 1
            kept_rows = min(br, max(1, round(br * bc * keep_fraction)))
        keep_col = (rank_within(column_energy, segment_valid) < kept_cols) & segment_valid
        rows_per_block_row = torch.full((nbr,), kept_rows).minimum(heights)
    else:
        sizes = heights[:, None, None] * segment_valid           # elements in each column segment
        keep_col = keep_top_units((column_energy / sizes.clamp(min=1)).reshape(-1), sizes.reshape(-1),
                                  rows * cols * column_fraction).view(nbr, nbc, bc)
        rows_per_block_row = (heights * kept_rows / br).round().clamp(min=1).long()

    # Rows are judged on the columns that survived.
    row_energy = (energy * keep_col[:, None, :, :]).sum(3).transpose(1, 2)   # [nbr, nbc, br]
    row_valid = valid_rows[:, None, :].expand(nbr, nbc, br)
    keep_row = (rank_within(row_energy, row_valid) < rows_per_block_row[:, None, None]) & row_valid
    mask = keep_row.transpose(1, 2)[:, :, :, None] & keep_col[:, None, :, :]
    return mask.reshape(nbr * br, nbc * bc)[:rows, :cols]
