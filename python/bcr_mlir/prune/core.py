"""Choosing which weights get which scheme, and committing masks to a model with their metadata."""
from __future__ import annotations

import fnmatch
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from bcr_mlir.errors import BcrError

from .layers import COMPUTED_WEIGHT_FIXES, COMPUTED_WEIGHT_KINDS, Layer, computed_weights, find_layers
from .metadata import LayerSparsity, record
from .schemes import Scheme, scheme_class


class PruneError(BcrError, ValueError):
    """A pruning request the model cannot satisfy; a ValueError too, as the library always raised."""


PRUNABLE = ("prunable layers are nn.Conv1d, nn.Conv2d, nn.Conv3d (and their nn.ConvTranspose forms), nn.Linear "
            "and the gate matrices of nn.GRU and nn.LSTM")


def _listing(names: list[str]) -> str:
    return ", ".join(names) if names else f"none ({PRUNABLE})"


@dataclass(frozen=True)
class Target:
    """One weight to prune and its resolved scheme (block, pattern set, ... fixed)."""

    layer: Layer
    scheme: Scheme

    def mask(self) -> torch.Tensor:
        """True where the weight is kept, in the weight's own layout."""
        return self.layer.from_conv(self.scheme.mask(self.layer.conv_weight, self.layer.desc))


def _match(names: list[str], patterns, what: str) -> list[str]:
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    chosen = []
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise PruneError(f"{what} {pattern!r} matches no prunable weight",
                             f"use a parameter name or pattern from: {_listing(names)}")
        chosen += [n for n in hits if n not in chosen]
    return chosen


def select_targets(model: nn.Module, scheme: "Scheme | dict[str, Scheme]", layers=None, exclude=()) -> list[Target]:
    """Resolve the scheme(s) for each weight to prune.

    `scheme` is one scheme for the whole model, or a dict from parameter name to scheme. With one
    scheme and no `layers`, every layer the scheme applies to is pruned and the others are left
    dense with a warning; naming a layer explicitly (in `layers` or the dict) makes an inapplicable
    scheme an error instead. `layers` and `exclude` take parameter names or fnmatch patterns.
    """
    found = {layer.name: layer for layer in find_layers(model)}
    names = list(found)
    excluded = set(_match(names, exclude, "exclude")) if exclude else set()
    if isinstance(scheme, dict):
        for name in scheme:
            if name not in found:
                raise PruneError(f"no prunable weight named {name!r}",
                                 f"use a parameter name from: {_listing(names)}")
        rules = {n: s for n, s in scheme.items() if n not in excluded}
    elif layers is not None:
        rules = {n: scheme for n in _match(names, layers, "layer") if n not in excluded}
    else:
        rules, skipped = {}, []
        for name in names:
            if name in excluded:
                continue
            reason = scheme.why_not(found[name].desc)
            if reason is None:
                rules[name] = scheme
            else:
                skipped.append(reason)
        if skipped:
            warnings.warn("left dense: " + " | ".join(skipped), stacklevel=3)
    if not rules:
        if not names:
            raise PruneError("nothing to prune: the model has no prunable layer", f"prune a model with layers; {PRUNABLE}")
        raise PruneError("nothing to prune: no layer of the model takes this scheme",
                         f"pick a scheme for these weights (see docs/pruning.md): {_listing(names)}")
    for name in rules:
        _check_plain_weight(found[name])
    return [Target(found[n], s.resolve(found[n].conv_weight, found[n].desc)) for n, s in rules.items()]


def _check_plain_weight(layer: Layer) -> None:
    """A weight PyTorch recomputes from other tensors on every forward pass would lose the zeros written
    into it: refuse it, with the call that makes it a plain parameter."""
    prefix = layer.name.rpartition(".")[0]
    for kind, name in computed_weights(layer.module):
        if name == layer.param_name:
            raise PruneError(f"{layer.name} is computed at run time ({COMPUTED_WEIGHT_KINDS[kind]}): zeros written into "
                             "it would be undone by the next forward pass",
                             "make it a plain weight first: " + COMPUTED_WEIGHT_FIXES[kind].format(
                                 module=f"model.get_submodule('{prefix}')" if prefix else "model", name=name))


def achieved_rate(weight: torch.Tensor) -> float:
    return weight.numel() / max(1, int(torch.count_nonzero(weight)))


@torch.no_grad()
def commit(targets: list[Target], masks: dict[str, torch.Tensor] | None = None) -> None:
    """Zero each target's pruned weights (masks computed now unless given) and record its metadata."""
    for target in targets:
        mask = masks[target.layer.name] if masks is not None else target.mask()
        weight = target.layer.weight
        weight.mul_(mask.to(weight.dtype))
        record(target.layer.module, target.layer.param_name,
               LayerSparsity(target.scheme.name, target.scheme.params(), achieved_rate(weight)))


def rules_from_plan(plan: dict[str, LayerSparsity]) -> dict[str, Scheme]:
    rules = {}
    for name, sparsity in plan.items():
        rate = sparsity.rate if sparsity.rate == sparsity.rate else None   # NaN: not given
        rules[name] = scheme_class(sparsity.scheme).from_params(sparsity.params, rate)
    return rules
