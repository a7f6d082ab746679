"""bcr_mlir.prune: fine-grained structured pruning for the bcr-mlir compiler (pure PyTorch).

    import bcr_mlir
    bcr_mlir.prune(model, "bcr", rate=8)                  # one-shot, in place; returns the model
    bcr_mlir.prune(model, "pattern", connectivity_rate=3.6, method="admm", data=(x, y))
    bcr_mlir.prune.sparsity_plan(model)                   # per-layer scheme, params, achieved rate
    bcr_mlir.prune.plot(model, "masks/")                  # PNG heatmaps + per-layer sparsity chart

The package itself is callable: `bcr_mlir.prune(...)` is `bcr_mlir.prune.prune(...)`.
See docs/pruning.md.
"""
from __future__ import annotations

import sys
import types

from .api import prune
from .core import Target, select_targets
from .layers import Layer, LayerDescription, describe, find_layers, matrix_view
from .mapping import FlopLatency, LatencyModel, MeasuredLatency, rule_based_plan, search_plan
from .metadata import LayerSparsity, apply_plan, as_plan, from_json, sparsity_plan, to_json
from .plotting import plot
from .schemes import BCR, KGS, NM, SCHEMES, Group, KGSVanilla, Pattern, Scheme, Unstructured, make_scheme
from .train import TrainConfig, accuracy, admm, fit, prune_and_finetune, reweighted

__all__ = [
    "prune", "plot", "sparsity_plan", "apply_plan", "to_json", "from_json", "as_plan", "LayerSparsity",
    "Scheme", "SCHEMES", "make_scheme", "BCR", "Pattern", "KGS", "KGSVanilla", "Group", "Unstructured", "NM",
    "TrainConfig", "fit", "accuracy", "admm", "reweighted", "prune_and_finetune",
    "rule_based_plan", "search_plan", "LatencyModel", "FlopLatency", "MeasuredLatency",
    "Layer", "LayerDescription", "describe", "find_layers", "matrix_view", "Target", "select_targets",
]


class _CallableModule(types.ModuleType):
    """Lets `bcr_mlir.prune(model, ...)` call the entry point while staying a package."""

    def __call__(self, *args, **kwargs):
        return prune(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
