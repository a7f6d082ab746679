"""Baselines for comparison: unstructured magnitude pruning and N:M (2:4 by default)."""
from __future__ import annotations

import dataclasses

import torch

from ..layers import matrix_view
from .base import Scheme, check_rate, keep_units_mask, rank_within


@dataclasses.dataclass(frozen=True)
class Unstructured(Scheme):
    """Keep the largest-magnitude weights of the layer, anywhere."""

    rate: float | None = None
    name = "unstructured"

    def __post_init__(self):
        check_rate(self.rate, self.name)

    def _mask(self, weight, layer):
        elements = torch.arange(weight.numel()).view(weight.shape)
        return keep_units_mask(weight, elements, self.target_kept(weight.numel()))

    def partitions(self, layer):
        rows, cols = layer.matrix_shape
        return [torch.arange(rows * cols).view(rows, cols)]


@dataclasses.dataclass(frozen=True)
class NM(Scheme):
    """N:M: in every run of M consecutive weights along a matrix-view row, keep the N largest.

    Runs follow the matrix view's columns (`Cin*KH*KW` for convs, in PyTorch order). A ragged
    last run of g < M weights keeps min(N, g). The rate is fixed at M/N.
    """

    n: int = 2
    m: int = 4
    rate: float | None = None   # accepted only when it equals m/n

    name = "nm"
    param_fields = ("n", "m")

    def __post_init__(self):
        if not (isinstance(self.n, int) and isinstance(self.m, int) and 0 < self.n < self.m):
            raise ValueError(f"nm: need ints 0 < n < m (e.g. n=2, m=4), got n={self.n!r}, m={self.m!r}")
        check_rate(self.rate, self.name)
        if self.rate is not None and abs(self.rate - self.m / self.n) > 1e-9:
            raise ValueError(f"nm: {self.n}:{self.m} fixes the rate at {self.m / self.n:g}; "
                             f"drop rate={self.rate} or change n and m")

    @classmethod
    def from_params(cls, params, rate):
        return super().from_params(params, None)   # the rate follows from n and m

    def _mask(self, weight, layer):
        view = matrix_view(weight)
        rows, cols = view.shape
        runs = -(-cols // self.m)
        magnitude = torch.zeros(rows, runs * self.m, dtype=torch.float64)
        magnitude[:, :cols] = view.double().abs()
        valid = (torch.arange(runs * self.m) < cols).expand(rows, -1)
        keep = rank_within(magnitude.view(rows, runs, self.m), valid.reshape(rows, runs, self.m)) < self.n
        keep = keep.reshape(rows, runs * self.m) & valid
        return keep[:, :cols].reshape(weight.shape)

    def partitions(self, layer):
        rows, cols = layer.matrix_shape
        return [torch.arange(rows * cols).view(rows, cols)]
