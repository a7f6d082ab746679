"""Per-layer sparsity metadata: what a pruned module carries, and the JSON plan the compiler reads.

After pruning, each pruned module has an attribute `_bcr_sparsity: dict[str, LayerSparsity]`,
keyed by the local parameter name ("weight", "weight_ih_l0", ...). It is a plain attribute: no
parametrization or hook stays in the model, so `torch.export.export` sees an ordinary module.

A plan is `{"layers": {"<param fqn>": {"scheme": ..., "params": {...}, "rate": ...}}}`. Scheme
mapping writes one (rate = target); `sparsity_plan(model)` reads one back (rate = achieved).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from torch import nn

SPARSITY_ATTR = "_bcr_sparsity"
SCHEME_NAMES = ("bcr", "pattern", "kgs", "kgs_vanilla", "group", "unstructured", "nm")


@dataclass(frozen=True)
class LayerSparsity:
    scheme: str   # "bcr" | "pattern" | "kgs" | "kgs_vanilla" | "group" | "unstructured" | "nm"
    params: dict  # JSON-serialisable; see the schemes' `params()`
    rate: float   # total elements / nonzero elements (achieved, or the target in a mapping plan)

    def to_dict(self) -> dict:
        return {"scheme": self.scheme, "params": self.params, "rate": self.rate}

    @classmethod
    def from_dict(cls, entry: dict, name: str = "?") -> "LayerSparsity":
        if not isinstance(entry, dict) or set(entry) - {"scheme", "params", "rate"} or "scheme" not in entry:
            raise ValueError(f"plan entry for {name} must be {{'scheme', 'params', 'rate'}}, got {entry!r}")
        if entry["scheme"] not in SCHEME_NAMES:
            raise ValueError(f"plan entry for {name}: unknown scheme {entry['scheme']!r}; "
                             f"use one of {', '.join(SCHEME_NAMES)}")
        return cls(entry["scheme"], dict(entry.get("params", {})), float(entry.get("rate", math.nan)))


def record(module: nn.Module, param_name: str, sparsity: LayerSparsity) -> None:
    table = dict(getattr(module, SPARSITY_ATTR, {}))
    table[param_name] = sparsity
    # object.__setattr__ keeps nn.Module from treating the dict as anything but a plain attribute.
    object.__setattr__(module, SPARSITY_ATTR, table)


def sparsity_plan(model: nn.Module) -> dict[str, LayerSparsity]:
    """Every pruned parameter of `model`, by full name (as in `model.named_parameters()`)."""
    plan = {}
    for prefix, module in model.named_modules():
        for local, sparsity in getattr(module, SPARSITY_ATTR, {}).items():
            plan[f"{prefix}.{local}" if prefix else local] = sparsity
    return plan


def to_json(plan: dict[str, LayerSparsity], path: str | os.PathLike | None = None) -> str:
    """The plan as JSON text (also written to `path` when given)."""
    text = json.dumps({"layers": {name: s.to_dict() for name, s in plan.items()}}, indent=2, allow_nan=False)
    if path is not None:
        with open(path, "w") as f:
            f.write(text + "\n")
    return text


def from_json(source) -> dict[str, LayerSparsity]:
    """A plan from JSON text, a path to a JSON file, or the already-parsed `{"layers": ...}` dict."""
    if isinstance(source, dict):
        data = source
    else:
        text = str(source)
        if not text.lstrip().startswith("{"):
            with open(text) as f:
                text = f.read()
        data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("layers"), dict):
        raise ValueError('a plan must be a JSON object {"layers": {"<param name>": {...}}}')
    return {name: LayerSparsity.from_dict(entry, name) for name, entry in data["layers"].items()}


def as_plan(plan) -> dict[str, LayerSparsity]:
    """A plan from any accepted form: dict of LayerSparsity, JSON text, a JSON file's path, or parsed JSON."""
    if isinstance(plan, dict) and all(isinstance(v, LayerSparsity) for v in plan.values()):
        return dict(plan)
    return from_json(plan)


def apply_plan(model: nn.Module, plan, **training) -> nn.Module:
    """Prune `model` in place by a plan (any form `as_plan` takes); same as `prune(model, plan=plan)`.

    Each layer's scheme is rebuilt from its params; for rate-driven schemes (bcr, kgs, group,
    unstructured) the plan's rate is the target. `training` takes `prune`'s method/data options.
    """
    from .api import prune   # the entry point imports this module: import late to avoid a cycle

    return prune(model, plan=plan, **training)
