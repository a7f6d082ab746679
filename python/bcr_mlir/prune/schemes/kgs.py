"""Kernel-group schemes: KGS and its vanilla variant (RT3D), and per-operator group sparsity (SparseByteNN).

Output channels are cut in groups of gM, input channels in groups of gN (the last ones may be
smaller). For a weight `[Cout, Cin, *kernel]`:

- `kgs`: all gM x gN kernels of a group keep the same kernel positions. The unit kept or pruned
  whole is (group, position).
- `kgs_vanilla`: whole kernel groups are kept or pruned.
- `group` (SparseByteNN, per operator): a 3x3 (any k>1) conv is pruned like `kgs`; a 1x1 conv, a
  Linear or an RNN gate matrix has no kernel positions, so the "position" is the input channel:
  each group of gM output channels keeps the same input channels.

Units are ranked over the whole layer by energy per weight, so groups may keep different numbers
of positions.
"""
from __future__ import annotations

import dataclasses

import torch

from ..layers import LayerDescription, matrix_view
from .base import Scheme, check_pair, check_rate, keep_units_mask


def group_units(layer: LayerDescription, group: tuple[int, int], by_position: bool) -> torch.Tensor:
    """Unit id of every matrix-view element: (output group, input group[, position])."""
    cout, cin = layer.shape[:2]
    volume = layer.kernel_volume
    if volume == 1 and by_position:
        # No kernel positions: the input channel is the position, shared by each output group.
        volume, cin, group = cin, 1, (group[0], 1)
    gm, gn = group
    in_groups = -(-cin // gn)
    o = torch.arange(cout)[:, None, None] // gm
    c = torch.arange(cin)[None, :, None] // gn
    units = o * in_groups + c
    if by_position:
        units = units * volume + torch.arange(volume)[None, None, :]
    return units.expand(cout, cin, volume).reshape(cout, cin * volume)


@dataclasses.dataclass(frozen=True)
class _KernelGroups(Scheme):
    rate: float | None = None
    group: tuple[int, int] = (4, 4)

    param_fields = ("group",)
    by_position = True

    def __post_init__(self):
        check_rate(self.rate, self.name)
        object.__setattr__(self, "group", check_pair(self.group, "group", self.name))

    def why_not(self, layer: LayerDescription) -> str | None:
        reason = super().why_not(layer)
        if reason:
            return reason
        cout, cin = layer.shape[:2]
        if self.group[0] > cout or self.group[1] > cin:
            return (f"{self.name}: group {tuple(self.group)} is larger than the channels of {layer.name} "
                    f"({cout} out, {cin} in); use a group of at most ({cout}, {cin})")
        return None

    def _mask(self, weight, layer):
        units = group_units(layer, self.group, self.by_position)
        return keep_units_mask(matrix_view(weight), units, self.target_kept(weight.numel())).reshape(weight.shape)

    def partitions(self, layer):
        return [group_units(layer, self.group, self.by_position)]


@dataclasses.dataclass(frozen=True)
class KGS(_KernelGroups):
    name = "kgs"
    kinds = frozenset({"conv3d", "conv2d"})

    def why_not(self, layer):
        reason = super().why_not(layer)
        if reason is None and layer.kernel_volume == 1:
            return f"kgs: {layer.name} has a 1x1 kernel, so there are no kernel positions; use scheme 'group'"
        return reason


@dataclasses.dataclass(frozen=True)
class KGSVanilla(_KernelGroups):
    name = "kgs_vanilla"
    kinds = frozenset({"conv3d", "conv2d"})
    by_position = False


@dataclasses.dataclass(frozen=True)
class Group(_KernelGroups):
    name = "group"
