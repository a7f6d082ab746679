"""What every scheme shares: validation, the 'keep the best units' selection, and the registry.

A scheme is a frozen dataclass holding its options. `mask(weight)` returns a boolean mask of the
weight's shape; `project(weight)` (used by ADMM) is `weight * mask(weight)`. Every mask is chosen to
keep the most weight energy the structure allows, which makes `project` the (greedy) Euclidean
projection onto the scheme's constraint set.

Most schemes partition the matrix view into *units* that are kept or pruned whole (a column segment
of a block, a kernel position of a kernel group, a single weight, ...). `partitions()` exposes those
units so that group regularisation can penalise exactly what the mask will later remove.
"""
from __future__ import annotations

import abc
import dataclasses
import math
from typing import ClassVar

import torch

from ..layers import LayerDescription

ALL_KINDS = frozenset({"conv1d", "conv2d", "conv3d", "linear", "gru", "lstm"})


def check_rate(rate, scheme: str) -> None:
    if rate is None:
        return
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 1:
        raise ValueError(f"{scheme}: rate must be a number > 1 (total/nonzero weights; rate=8 keeps 12.5%), "
                         f"got {rate!r}")


def check_pair(value, option: str, scheme: str) -> tuple[int, int]:
    """A (rows, cols)-like option: two positive ints; lists (from JSON) are accepted."""
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"{scheme}: {option} must be two positive ints like (8, 16), got {value!r}")
    return int(value[0]), int(value[1])


def describe_weight(weight: torch.Tensor, name: str = "weight") -> LayerDescription:
    """A description from the shape alone, for masks computed outside a model."""
    kind = {5: "conv3d", 4: "conv2d", 3: "conv1d", 2: "linear"}.get(weight.dim())
    if kind is None:
        raise ValueError(f"cannot prune a {weight.dim()}-D tensor {name}; pass a 2-D (linear/RNN), "
                         "3-D (Conv1d), 4-D (Conv2d) or 5-D (Conv3d) weight")
    return LayerDescription(name=name, kind=kind, shape=tuple(weight.shape))


def rank_within(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Rank of each entry along the last dim, best (largest) first; invalid entries rank last.

    Ties go to the lower index, so masks are deterministic.
    """
    scores = scores.masked_fill(~valid, float("-inf"))
    order = torch.sort(scores, dim=-1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(scores.shape[-1]).expand_as(order).contiguous())
    return ranks


def keep_top_units(scores: torch.Tensor, sizes: torch.Tensor, budget: float) -> torch.Tensor:
    """Keep the best-scoring units until their total size is as close as possible to `budget`.

    `scores`/`sizes` are 1-D; units of size 0 are never kept. At least one unit is kept, so a
    layer never becomes all zeros. A tie (a budget of 67.5 one-element units) keeps more: halves
    round up.
    """
    scores = scores.masked_fill(sizes == 0, float("-inf"))
    order = torch.sort(scores, descending=True, stable=True).indices
    cumulative = torch.cat([sizes.new_zeros(1), torch.cumsum(sizes[order], 0)]).double()
    distance = (cumulative - budget).abs()
    count = max(1, int(torch.nonzero(distance == distance.min()).max()))
    keep = torch.zeros_like(sizes, dtype=torch.bool)
    keep[order[:count]] = True
    return keep & (sizes > 0)


def unit_energy(matrix: torch.Tensor, unit_ids: torch.Tensor, n_units: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of squares and element count of each unit (`unit_ids` has the matrix's shape)."""
    ids = unit_ids.reshape(-1)
    energy = torch.zeros(n_units, dtype=torch.float64).index_add_(0, ids, matrix.detach().reshape(-1).double() ** 2)
    sizes = torch.bincount(ids, minlength=n_units)
    return energy, sizes


def keep_units_mask(matrix: torch.Tensor, unit_ids: torch.Tensor, budget: float) -> torch.Tensor:
    """Mask keeping whole units, the most energy per element first, about `budget` elements."""
    n_units = int(unit_ids.max()) + 1
    energy, sizes = unit_energy(matrix, unit_ids, n_units)
    keep = keep_top_units(energy / sizes.clamp(min=1), sizes, budget)
    return keep[unit_ids]


@dataclasses.dataclass(frozen=True)
class Scheme(abc.ABC):
    """Base class. Subclasses set `name`, `kinds` and implement `_mask`, `params`, `partitions`."""

    name: ClassVar[str] = ""
    kinds: ClassVar[frozenset] = ALL_KINDS
    # The dataclass fields that are written into `LayerSparsity.params` (everything but the target rate).
    param_fields: ClassVar[tuple[str, ...]] = ()

    # ---- applicability -------------------------------------------------------------------------
    def why_not(self, layer: LayerDescription) -> str | None:
        """Why this scheme cannot prune `layer` (naming the fix), or None when it can."""
        if layer.kind not in self.kinds:
            return (f"scheme {self.name!r} does not apply to {layer.kind} weight {layer.name}; "
                    f"use it on {'/'.join(sorted(self.kinds))} layers, or 'bcr' for this one")
        if layer.groups > 1 and layer.in_channels == 1:
            # One input channel per filter: nothing for a column or group structure to share.
            return (f"{layer.name} is a depthwise conv (groups={layer.groups}) and stays dense; "
                    "exclude it or prune its weight as a plain tensor")
        return None

    def check(self, layer: LayerDescription) -> None:
        reason = self.why_not(layer)
        if reason:
            raise ValueError(reason)

    # ---- masks ---------------------------------------------------------------------------------
    def resolve(self, weight: torch.Tensor, layer: LayerDescription | None = None) -> "Scheme":
        """This scheme with every layer-dependent choice made (default block, pattern set, ...).

        Resolving a resolved scheme returns an equal one, so ADMM can keep the choices fixed.
        """
        self.check(layer or describe_weight(weight))
        return self

    def mask(self, weight: torch.Tensor, layer: LayerDescription | None = None) -> torch.Tensor:
        """Boolean mask of `weight`'s shape: True where the weight is kept."""
        layer = layer or describe_weight(weight)
        return self.resolve(weight, layer)._mask(weight.detach(), layer)

    def project(self, weight: torch.Tensor, layer: LayerDescription | None = None) -> torch.Tensor:
        """The closest weight (greedily) that obeys the structure: `weight * mask(weight)`."""
        return weight * self.mask(weight, layer)

    @abc.abstractmethod
    def _mask(self, weight: torch.Tensor, layer: LayerDescription) -> torch.Tensor:
        """The mask of a resolved scheme."""

    # ---- metadata and regularisation ----------------------------------------------------------
    def params(self) -> dict:
        """JSON-serialisable parameters recorded in `LayerSparsity.params`."""
        out = {}
        for f in self.param_fields:
            value = getattr(self, f)
            out[f] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_params(cls, params: dict, rate: float | None) -> "Scheme":
        """The scheme that reproduces a `LayerSparsity` (rate is the target for rate-driven schemes)."""
        unknown = set(params) - set(cls.param_fields)
        if unknown:
            raise ValueError(f"{cls.name}: unknown params {sorted(unknown)}; expected {list(cls.param_fields)}")
        fields = {f: tuple(v) if isinstance(v, list) else v for f, v in params.items()}
        if "rate" in {f.name for f in dataclasses.fields(cls)}:
            fields["rate"] = rate
        return cls(**fields)

    @abc.abstractmethod
    def partitions(self, layer: LayerDescription) -> list[torch.Tensor]:
        """Unit ids over the matrix view, one tensor per partition (-1 = not regularised)."""

    def target_kept(self, total: int) -> float:
        rate = getattr(self, "rate", None)
        if rate is None:
            raise ValueError(f"scheme {self.name!r} needs a rate; pass rate=8 (say) for 8x fewer weights")
        return total / rate
