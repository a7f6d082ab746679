"""Pass infrastructure: the Pass base class, the per-run PassContext, and the name -> pass registry.

Passes are small frozen dataclasses (as in xDSL): the class attribute `name` is the kebab-case name
used in `-p` pipelines, and the dataclass fields are its options (`bcr-tune{threads=2}`).
"""
from __future__ import annotations

import abc
import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import ClassVar

from bcr_mlir import ir
from bcr_mlir.dialect import constant_identity, memoize
from bcr_mlir.errors import BcrError
from bcr_mlir.report import Report
from bcr_mlir.targets import Target, parse_target
from bcr_mlir.weights import WeightTable

# Pass name -> module that defines it; imported on first use.
PASS_MODULES = {
    "bcr-fold-constant-weights": "bcr_mlir.passes.fold_constant_weights",
    "bcr-split-transposed-convs": "bcr_mlir.passes.split_transposed_convs",
    "bcr-raise-sparse-layers": "bcr_mlir.passes.raise_sparse_layers",
    "bcr-reorder-filters": "bcr_mlir.passes.reorder_filters",
    "bcr-eliminate-redundant-loads": "bcr_mlir.passes.eliminate_redundant_loads",
    "bcr-tune": "bcr_mlir.passes.tune",
    "bcr-compress-weights": "bcr_mlir.passes.compress_weights",
    "bcr-zero-pool-padding": "bcr_mlir.passes.zero_pool_padding",
    "bcr-raise-max-pools": "bcr_mlir.passes.raise_max_pools",
    "bcr-fuse-residual-adds": "bcr_mlir.passes.fuse_residual_adds",
    "bcr-fuse-expand-depthwise": "bcr_mlir.passes.fuse_expand_depthwise",
    "bcr-fuse-gate-cells": "bcr_mlir.passes.fuse_gate_cells",
    "bcr-lower-to-kernels": "bcr_mlir.passes.lower_to_kernels",
    "bcr-lower-to-gpu-kernels": "bcr_mlir.passes.lower_to_gpu_kernels",
    "bcr-densify": "bcr_mlir.passes.densify",
    "bcr-generalize-depthwise": "bcr_mlir.passes.generalize_depthwise",
    "bcr-fusion-barriers": "bcr_mlir.passes.fusion_barriers",
}


@dataclass
class PassContext:
    """What a pipeline run shares between passes: the constants, the target and the layer report."""

    weights: WeightTable
    target: Target = field(default_factory=lambda: parse_target("x86-host"))
    report: Report = field(default_factory=Report)
    # Per-weight analysis results, so a weight used many times (an RNN's W_hh at every time step) is
    # analysed once: key -> value, with keys built by `memo_key`.
    memo: dict = field(default_factory=dict)
    # A constant bcr-fold-constant-weights computed -> the parameters it is computed from, for the report.
    folded_from: dict[str, list[str]] = field(default_factory=dict)

    def memoized(self, key, compute):
        return memoize(self.memo, key, compute)


def memo_key(stage: str, op: ir.Operation, *extra) -> tuple:
    """Identifies an op's weight analysis: the stage, the weight constant and anything else it depends on."""
    return (stage, op.name, constant_identity(op.operands[1]), *(str(op.attributes[n]) for n in ("layout", "row_order", "schedule")
                                     if n in op.attributes), *extra)


@dataclass(frozen=True)
class Pass(abc.ABC):
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""

    @abc.abstractmethod
    def run(self, module: ir.Module, context: PassContext) -> None:
        """Rewrites `module` in place; every pass defines it."""

    @classmethod
    def from_options(cls, options: dict[str, str]) -> "Pass":
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, text in options.items():
            attr = key.replace("-", "_")
            if attr not in fields:
                known = ", ".join(f.name.replace("_", "-") for f in fields.values()) or "none"
                raise BcrError(f"pass '{cls.name}' has no option '{key}'", f"its options are: {known}")
            values[attr] = _convert(fields[attr], text, cls.name, key)
        return cls(**values)


def _convert(f: dataclasses.Field, text: str, pass_name: str, key: str):
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "bool":
            if text.lower() not in ("1", "0", "true", "false"):
                raise ValueError
            return text.lower() in ("1", "true")
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise BcrError(f"option '{key}' of pass '{pass_name}' expects a {kind}, got '{text}'",
                       f"write e.g. {pass_name}{{{key}=...}}") from None
    return text


def pass_class(name: str) -> type[Pass]:
    module = PASS_MODULES.get(name)
    if module is None:
        raise KeyError(name)
    imported = importlib.import_module(module)
    for value in vars(imported).values():
        if isinstance(value, type) and issubclass(value, Pass) and value.name == name:
            return value
    raise KeyError(name)


def all_passes() -> list[type[Pass]]:
    return [pass_class(name) for name in PASS_MODULES]
