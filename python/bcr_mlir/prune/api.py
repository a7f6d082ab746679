"""`prune(model, ...)`: the library's one entry point (also reachable as `bcr_mlir.prune(...)`)."""
from __future__ import annotations

from torch import nn

from .core import rules_from_plan, select_targets
from .metadata import as_plan
from .schemes import Scheme, make_scheme
from .train import TrainConfig, run_method


def prune(model: nn.Module, scheme: "str | Scheme" = "bcr", rate: float | None = None, *, plan=None,
          layers=None, exclude=(), method: str = "magnitude", data=None, eval_data=None,
          config: TrainConfig | None = None, **options) -> nn.Module:
    """Prune `model` in place and return it, with exact zeros and per-layer metadata.

    scheme   -- "bcr", "pattern", "kgs", "kgs_vanilla", "group", "unstructured", "nm", or a Scheme;
                `options` are the scheme's options (block=(8, 16), balanced=True, group=(4, 4), ...).
    rate     -- total / nonzero weights per pruned layer (8 keeps 12.5%).
    plan     -- instead of scheme/rate: a per-layer plan (from scheme mapping or `sparsity_plan`).
    layers, exclude -- parameter names or fnmatch patterns ("conv*.weight"); by default every layer
                the scheme applies to is pruned and the rest stay dense (with a warning).
    method   -- "magnitude" (one shot), "admm" or "reweighted"; the last two need `data`.
    data, eval_data -- (inputs, labels) tensors or Datasets; with data, magnitude pruning is
                followed by masked fine-tuning. eval_data adds validation accuracy to the progress bar.
    config   -- TrainConfig (epochs, finetune_epochs, lr, rho, seed, ...).
    """
    if plan is not None:
        if rate is not None or options or layers is not None:
            raise ValueError("pass either plan=... or scheme/rate/layers/options, not both")
        targets = select_targets(model, rules_from_plan(as_plan(plan)), exclude=exclude)
    else:
        if rate is not None:
            options["rate"] = rate
        targets = select_targets(model, make_scheme(scheme, **options), layers, exclude)
    run_method(method, model, targets, data, config or TrainConfig(), eval_data)
    return model
