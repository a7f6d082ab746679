"""Scheme mapping (Gong et al.): choose each layer's scheme and block size, by rule or by search.

Both return a plan `{param name: LayerSparsity}` whose rate is the target; `to_json(plan)` is what
the compiler reads, and `prune(model, plan=plan)` applies it.

- `rule_based_plan`: 3x3 Conv2d -> pattern + connectivity; Conv3d -> KGS; 1x1/other convs, grouped
  convs, Linear and RNN gate matrices -> BCR; depthwise convs and small layers stay dense.
- `search_plan`: per layer, try every applicable (scheme, block/group) candidate, keep those
  within an accuracy budget, and pick the fastest by a `LatencyModel`; a layer whose best sparse
  latency does not beat dense stays dense.

Latency comes from `MeasuredLatency` (compile one layer with `bcr_mlir.compile` and time it) when
the compiler is there, else from `FlopLatency`, a FLOP/byte model.
"""
from __future__ import annotations

import abc
import copy
import dataclasses
import json
import os
import sys
from typing import Callable

import torch
from torch import nn

from .core import Target, commit, select_targets
from .layers import Layer, LayerDescription, describe, find_layers
from .metadata import LayerSparsity
from .schemes import BCR, KGS, Group, Pattern, Scheme, Unstructured, scheme_class
from .schemes.pattern import PATTERN_RATE


# ---- latency ---------------------------------------------------------------------------------------
class LatencyModel(abc.ABC):
    """Seconds for one sample through one layer, dense (`scheme=None`) or pruned by a scheme."""

    @abc.abstractmethod
    def latency(self, layer: LayerDescription, scheme: str | None, params: dict, rate: float = 1.0) -> float:
        """`params` are the scheme's LayerSparsity params; `rate` is total / nonzero weights."""


@dataclasses.dataclass
class FlopLatency(LatencyModel):
    """time = multiply-adds / (peak x efficiency) + bytes moved / bandwidth.

    The efficiencies are estimates of the fraction of dense throughput each scheme's kernels reach
    (BCR reuses one input load across the block's rows, so taller blocks do better; unstructured
    sparsity gathers one input per weight). Use `MeasuredLatency` for decisions that matter.
    """

    flops_per_second: float = 4e10   # ~ what IREE reaches on a dense 3x3 conv, one x86 core
    bytes_per_second: float = 1e10
    efficiency: dict = dataclasses.field(default_factory=lambda: {
        None: 1.0, "bcr": 0.85, "pattern": 0.7, "kgs": 0.8, "kgs_vanilla": 0.9, "group": 0.8,
        "nm": 0.5, "unstructured": 0.25})
    # Bytes of index data per kept weight (compressed-storage overhead).
    index_bytes: dict = dataclasses.field(default_factory=lambda: {
        None: 0.0, "bcr": 0.5, "pattern": 0.25, "kgs": 0.25, "kgs_vanilla": 0.1, "group": 0.25,
        "nm": 0.5, "unstructured": 4.0})

    def latency(self, layer, scheme, params, rate=1.0):
        scheme = None if scheme in (None, "dense") else scheme
        rows, cols = layer.matrix_shape
        kept = rows * cols / (rate if scheme else 1.0)
        efficiency = self.efficiency[scheme]
        if scheme == "bcr":
            block_rows = params.get("block", [8, 16])[0]
            efficiency *= block_rows / (block_rows + 1) * (1.0 if params.get("balanced") else 0.9)
        elif scheme in ("kgs", "group"):
            group_rows = params.get("group", [4, 4])[0]
            efficiency *= group_rows / (group_rows + 1)
        flops = 2.0 * kept * layer.positions
        moved = kept * (4 + self.index_bytes[scheme]) + 4 * (cols + rows) * layer.positions
        return flops / (self.flops_per_second * efficiency) + moved / self.bytes_per_second


def single_layer_module(layer: LayerDescription, scheme: str | None, params: dict, rate: float,
                        seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    """A one-layer module shaped like `layer` (random weights, pruned as asked) and an input for it.

    Conv layers are rebuilt from their config; Linear and RNN gate matrices become an nn.Linear
    applied to `positions` input vectors.
    """
    torch.manual_seed(seed)
    if layer.kind.startswith("conv"):
        if not layer.input_shape:
            raise ValueError(f"{layer.name} has no input shape; describe the model with an example input first")
        cfg = dict(layer.config)
        dims = int(layer.kind[4])
        padding = cfg["padding"] if isinstance(cfg["padding"], str) else tuple(cfg["padding"])
        options = dict(stride=tuple(cfg["stride"]), padding=padding, dilation=tuple(cfg["dilation"]),
                       groups=cfg["groups"], bias=cfg["bias"])
        if cfg.get("transposed"):
            conv = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[dims - 1]
            options["output_padding"] = tuple(cfg["output_padding"])
        else:
            conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]
        module = conv(cfg["in_channels"], cfg["out_channels"], tuple(cfg["kernel_size"]), **options)
        x = torch.randn(1, *layer.input_shape)
    else:
        rows, cols = layer.matrix_shape
        module = nn.Linear(cols, rows)
        x = torch.randn(layer.positions, cols)
    module.eval()
    if scheme not in (None, "dense"):
        rule = scheme_class(scheme).from_params(params, rate)
        commit(select_targets(module, {"weight": rule}))
    return module, x


class MeasuredLatency(LatencyModel):
    """Compile each single-layer module with `bcr_mlir.compile` and time it; results cached in JSON.

    Falls back to `fallback` (a FlopLatency by default), printing a notice, when the compiler is not
    importable (then for every call) or fails on a layer (then for that layer).
    """

    def __init__(self, target: str = "x86-host", cache_path: str | os.PathLike | None = None, repeats: int = 20,
                 fallback: LatencyModel | None = None):
        self.target = target
        self.cache_path = cache_path
        self.repeats = repeats
        self.fallback = fallback or FlopLatency()
        self.cache: dict[str, float] = {}
        self.compiler_missing = False
        if cache_path and os.path.exists(cache_path):
            with open(cache_path) as f:
                self.cache = json.load(f)

    def _key(self, layer, scheme, params, rate) -> str:
        what = {"target": self.target, "kind": layer.kind, "shape": list(layer.shape), "config": layer.config,
                "input_shape": list(layer.input_shape), "positions": layer.positions,
                "scheme": scheme, "params": params, "rate": rate if scheme else 1.0}
        return json.dumps(what, sort_keys=True)

    def latency(self, layer, scheme, params, rate=1.0):
        scheme = None if scheme in (None, "dense") else scheme
        key = self._key(layer, scheme, params, rate)
        if key in self.cache:
            return self.cache[key]
        if self.compiler_missing:
            return self.fallback.latency(layer, scheme, params, rate)
        try:
            from bcr_mlir.api import compile as compile_module
        except Exception as error:  # noqa: BLE001 -- any import failure means "no compiler here"
            self.compiler_missing = True
            print(f"bcr_mlir.prune: bcr_mlir.compile is not available ({type(error).__name__}: {error}); "
                  "latency comes from the FLOP model", file=sys.stderr)
            return self.fallback.latency(layer, scheme, params, rate)
        try:
            module, x = single_layer_module(layer, scheme, params, rate)
            seconds = float(compile_module(module, (x,), target=self.target).benchmark(x, repeats=self.repeats))
        except Exception as error:  # noqa: BLE001 -- a layer the compiler rejects still gets an estimate
            print(f"bcr_mlir.prune: could not compile/time {layer.name} as {scheme or 'dense'} "
                  f"({type(error).__name__}: {error}); using the FLOP model for it", file=sys.stderr)
            return self.fallback.latency(layer, scheme, params, rate)
        self.cache[key] = seconds
        if self.cache_path:
            with open(self.cache_path, "w") as f:
                json.dump(self.cache, f, indent=1)
        return seconds


# ---- plans -----------------------------------------------------------------------------------------
def _fit_pair(pair: tuple[int, int], limit: tuple[int, int]) -> tuple[int, int]:
    return min(pair[0], limit[0]), min(pair[1], limit[1])


def rule_scheme(desc: LayerDescription, rate: float, min_weights: int = 1024) -> Scheme | None:
    """The rule-based choice for one layer, or None to keep it dense."""
    if (desc.groups > 1 and desc.in_channels == 1) or desc.matrix_shape[0] * desc.matrix_shape[1] < min_weights:
        return None   # a depthwise conv has no columns to share; small layers do not pay
    if desc.groups > 1:
        # The compiler runs a grouped conv as one conv of its block-diagonal weight; BCR blocks inside a group
        # (BCR.resolve) measured fastest there (ResNeXt's grouped 3x3 convs at 8x: BCR 1.5-5.2x over the
        # unpruned layer, patterns 1.3-3.7x; x86, 1 thread).
        return BCR(rate=rate)
    if desc.kind == "conv2d" and tuple(desc.kernel) == (3, 3) and rate >= PATTERN_RATE:
        return Pattern(rate=rate)
    if desc.kind == "conv3d" and desc.kernel_volume > 1:
        return KGS(rate=rate, group=_fit_pair((4, 4), desc.shape[:2]))
    return BCR(rate=rate)


def _plan_entry(layer: Layer, scheme: Scheme, rate: float) -> LayerSparsity:
    resolved = scheme.resolve(layer.conv_weight, layer.desc)
    return LayerSparsity(resolved.name, resolved.params(), float(rate))


def rule_based_plan(model: nn.Module, rate: float = 8.0, min_weights: int = 1024) -> dict[str, LayerSparsity]:
    """Per-layer plan by layer type and shape (see `rule_scheme`)."""
    plan = {}
    for layer in find_layers(model):
        scheme = rule_scheme(layer.desc, rate, min_weights)
        if scheme is not None:
            plan[layer.name] = _plan_entry(layer, scheme, rate)
    return plan


def default_candidates(desc: LayerDescription, rate: float) -> list[Scheme]:
    """What `search_plan` tries: BCR block shapes, patterns for 3x3, kernel/channel groups."""
    rows, cols = desc.matrix_shape
    blocks = {_fit_pair(b, (rows, cols)) for b in [(4, 8), (4, 16), (8, 16), (16, 16), (8, 32)]}
    options: list[Scheme] = [BCR(rate=rate, block=b, balanced=bal) for b in sorted(blocks) for bal in (False, True)]
    if desc.kind == "conv2d" and tuple(desc.kernel) == (3, 3) and rate >= PATTERN_RATE:
        options.append(Pattern(rate=rate))
    groups = {_fit_pair(g, desc.shape[:2]) for g in [(4, 4), (8, 4), (8, 8)]}
    for g in sorted(groups):
        options.append(Group(rate=rate, group=g))
        if desc.kind.startswith("conv") and desc.kernel_volume > 1:
            options.append(KGS(rate=rate, group=g))
    return [s for s in options if s.why_not(desc) is None and _inside_groups(s, desc)]


def _inside_groups(scheme: Scheme, desc: LayerDescription) -> bool:
    """Whether the scheme's row blocks stay inside the conv's groups (see BCR.resolve); patterns have none."""
    rows = getattr(scheme, "block", None) or getattr(scheme, "group", None)
    return rows is None or desc.filters_per_group % rows[0] == 0


def energy_loss(weight: torch.Tensor, scheme: Scheme, desc: LayerDescription, rate: float) -> float:
    """Accuracy proxy: weight energy the scheme loses beyond unstructured pruning at the same rate."""
    total = float(weight.detach().double().pow(2).sum()) or 1.0
    kept = float(scheme.project(weight.detach(), desc).double().pow(2).sum())
    best = float(Unstructured(rate=rate).project(weight.detach(), desc).double().pow(2).sum())
    return (best - kept) / total


def search_plan(model: nn.Module, example_input, rate: float = 8.0, latency: LatencyModel | None = None,
                budget: float = 0.05, accuracy_fn: Callable[[nn.Module], float] | None = None,
                candidates: Callable[[LayerDescription, float], list[Scheme]] = default_candidates,
                ) -> dict[str, LayerSparsity]:
    """Per layer, the fastest candidate whose accuracy cost is within `budget`.

    The cost of a candidate is `accuracy_fn(dense) - accuracy_fn(model with only this layer
    pruned)` when `accuracy_fn` is given (e.g. validation accuracy in [0, 1]), else `energy_loss`.
    """
    latency = latency or FlopLatency()
    plan = {}
    base_accuracy = accuracy_fn(model) if accuracy_fn else None
    for layer in describe(model, example_input):
        options = candidates(layer.desc, rate)
        if not options:   # a depthwise conv: nothing to time
            continue
        best, best_time = None, latency.latency(layer.desc, None, {}, 1.0)
        weight = layer.conv_weight   # a copy for a transposed conv: made once, not per candidate
        for scheme in options:
            resolved = scheme.resolve(weight, layer.desc)
            if accuracy_fn is None:
                cost = energy_loss(weight, resolved, layer.desc, rate)
            else:
                trial = copy.deepcopy(model)
                commit([Target(_same_layer(trial, layer), resolved)])
                cost = base_accuracy - accuracy_fn(trial)
            if cost > budget:
                continue
            seconds = latency.latency(layer.desc, resolved.name, resolved.params(), rate)
            if seconds < best_time:
                best, best_time = resolved, seconds
        if best is not None:
            plan[layer.name] = LayerSparsity(best.name, best.params(), float(rate))
    return plan


def _same_layer(model: nn.Module, layer: Layer) -> Layer:
    """`layer` as found in a copy of its model."""
    return next(l for l in find_layers(model) if l.name == layer.name)
