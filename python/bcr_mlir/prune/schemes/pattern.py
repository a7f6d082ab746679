"""PatDNN: kernel patterns plus connectivity pruning, for 3x3 Conv2d.

Every kept kernel keeps exactly 4 weights, the centre among them, in one of the layer's patterns.
A pattern is an int bitmask over kernel positions, bit `kh*KW + kw` (the centre is bit 4). The
layer's pattern set is the K most frequent best-fitting patterns of the pretrained weights
(K = `num_patterns`, default 8, out of the 56 candidates); it is fixed at `resolve` time so that
ADMM projects onto a constant set. Connectivity pruning then removes whole kernels, keeping
1/`connectivity_rate` of them, the ones with the most energy under their pattern.

Total rate = 9/4 x connectivity_rate. Give either `connectivity_rate`, or `rate` (total), from
which connectivity_rate = rate * 4/9.
"""
from __future__ import annotations

import dataclasses
import itertools

import torch

from ..layers import LayerDescription
from .base import Scheme, check_rate, keep_top_units

KERNEL = (3, 3)
ENTRIES = 4
CENTRE_BIT = (KERNEL[0] // 2) * KERNEL[1] + KERNEL[1] // 2
PATTERN_RATE = KERNEL[0] * KERNEL[1] / ENTRIES   # 2.25x from patterns alone

# The 56 candidates, ascending, so ties in fit or frequency go to the smaller bitmask.
CANDIDATES = tuple(sorted(
    (1 << CENTRE_BIT) | sum(1 << b for b in others)
    for others in itertools.combinations([b for b in range(9) if b != CENTRE_BIT], ENTRIES - 1)))


def pattern_masks(patterns) -> torch.Tensor:
    """Bool tensor [len(patterns), 9]: which kernel positions each bitmask keeps."""
    bits = torch.arange(KERNEL[0] * KERNEL[1])
    return (torch.tensor(list(patterns))[:, None] >> bits) & 1 == 1


def _check_patterns(patterns) -> tuple[int, ...]:
    for p in patterns:
        if isinstance(p, bool) or not isinstance(p, int) or p not in CANDIDATES:
            raise ValueError(f"pattern: {p!r} is not a valid 3x3 pattern; a pattern is an int bitmask "
                             f"(bit kh*3+kw) with {ENTRIES} bits set including the centre bit {CENTRE_BIT}")
    if not patterns or len(set(patterns)) != len(patterns):
        raise ValueError(f"pattern: patterns must be a non-empty list of distinct bitmasks, got {list(patterns)}")
    return tuple(int(p) for p in patterns)


@dataclasses.dataclass(frozen=True)
class Pattern(Scheme):
    rate: float | None = None                 # total rate; alternative to connectivity_rate
    connectivity_rate: float | None = None    # kernels / kept kernels (1 = no connectivity pruning)
    num_patterns: int = 8
    patterns: tuple[int, ...] | None = None   # None: chosen from the weights at resolve time

    name = "pattern"
    kinds = frozenset({"conv2d"})
    param_fields = ("patterns", "connectivity_rate")

    def __post_init__(self):
        if self.rate is not None and (not isinstance(self.rate, (int, float)) or self.rate < PATTERN_RATE):
            raise ValueError(f"pattern: patterns alone give {PATTERN_RATE}x, so rate must be >= {PATTERN_RATE}, "
                             f"got {self.rate!r}; or pass connectivity_rate instead")
        if self.connectivity_rate is not None and self.connectivity_rate != 1:
            check_rate(self.connectivity_rate, "pattern connectivity")
        if self.rate is not None and self.connectivity_rate is not None and \
                abs(self.rate - PATTERN_RATE * self.connectivity_rate) > 1e-6 * self.rate:
            raise ValueError(f"pattern: rate={self.rate} disagrees with connectivity_rate={self.connectivity_rate} "
                             f"(rate = {PATTERN_RATE} x connectivity_rate); pass only one of them")
        if not isinstance(self.num_patterns, int) or not 1 <= self.num_patterns <= len(CANDIDATES):
            raise ValueError(f"pattern: num_patterns must be an int in [1, {len(CANDIDATES)}], got {self.num_patterns!r}")
        if self.patterns is not None:
            object.__setattr__(self, "patterns", _check_patterns(tuple(self.patterns)))

    def why_not(self, layer: LayerDescription) -> str | None:
        reason = super().why_not(layer)
        if reason is None and tuple(layer.kernel) != KERNEL:
            kernel = "x".join(map(str, layer.kernel))
            return (f"pattern: needs 3x3 kernels but {layer.name} has {kernel}; "
                    "use scheme 'bcr' or 'group' for this layer")
        return reason

    def resolve(self, weight, layer=None) -> "Pattern":
        super().resolve(weight, layer)
        connectivity = self.connectivity_rate
        if connectivity is None:
            connectivity = self.rate / PATTERN_RATE if self.rate is not None else 1.0
        patterns = self.patterns or self._most_frequent(weight)
        return dataclasses.replace(self, rate=None, connectivity_rate=float(connectivity), patterns=patterns)

    @classmethod
    def from_params(cls, params, rate):
        # A recorded rate is the achieved one; connectivity_rate is what reproduces the layer.
        return super().from_params(params, None)

    def _most_frequent(self, weight) -> tuple[int, ...]:
        energy = _kernel_energy(weight)
        fit = energy @ pattern_masks(CANDIDATES).double().T           # [kernels, 56]
        best = fit.argmax(1)[energy.sum(1) > 0]                        # all-zero kernels have no preference
        counts = torch.bincount(best, minlength=len(CANDIDATES))
        order = torch.sort(counts, descending=True, stable=True).indices[: self.num_patterns]
        return tuple(CANDIDATES[i] for i in order.tolist())

    def _mask(self, weight, layer):
        energy = _kernel_energy(weight)
        shapes = pattern_masks(self.patterns)
        fit = energy @ shapes.double().T
        best_fit, choice = fit.max(1)
        kernels = energy.shape[0]
        keep_kernel = keep_top_units(best_fit, torch.ones(kernels, dtype=torch.long),
                                     kernels / self.connectivity_rate)
        return (shapes[choice] & keep_kernel[:, None]).reshape(weight.shape)

    def partitions(self, layer):
        cout, cin = layer.shape[:2]
        kernel_ids = torch.arange(cout * cin).repeat_interleave(9).view(cout, cin * 9)
        entries = torch.arange(cout * cin * 9).view(cout, cin, 9)
        entries[:, :, CENTRE_BIT] = -1        # the centre is always kept: never push it to zero
        return [kernel_ids, entries.view(cout, cin * 9)]


def _kernel_energy(weight: torch.Tensor) -> torch.Tensor:
    return weight.detach().double().reshape(-1, KERNEL[0] * KERNEL[1]) ** 2
