"""Pass pipelines: parsing `-p` strings that mix bcr passes and upstream MLIR passes, named pipelines,
and running them with verification, IR printing and a repro report on failure.

    bcr-opt -p 'bcr-raise-sparse-layers,canonicalize,bcr-compress-weights' model.mlir
    bcr-opt -p 'bcr-sparsify-pipeline{target=arm64-android}' model.mlir
"""
from __future__ import annotations

import os
import shlex
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, TextIO

from bcr_mlir import ir
from bcr_mlir.dialect import verify
from bcr_mlir.errors import BcrError, PipelineError
from bcr_mlir.passes.registry import PASS_MODULES, Pass, PassContext, pass_class
from bcr_mlir.targets import parse_target


@dataclass(frozen=True)
class Step:
    text: str                 # as written in the pipeline
    bcr_pass: Pass | None     # a bcr pass, or None for an upstream MLIR pass run by PassManager


def split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for char in text:
        if char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise BcrError(f"unbalanced brackets in pass pipeline '{text}'", "close every '(' and '{'")
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return [p for p in parts if p]


def parse_options(text: str) -> dict[str, str]:
    options = {}
    for item in text.replace(",", " ").split():
        key, eq, value = item.partition("=")
        if not eq:
            raise BcrError(f"pass option '{item}' has no value", "write options as name=value")
        options[key] = value
    return options


TUNE_MODES = ("off", "cache", "measure")


def tune_threads(threads) -> int:
    """The thread count bcr-tune times schedules at, checked: a whole number of at least 1."""
    try:
        count = int(threads)
    except (TypeError, ValueError):
        count = 0
    if count < 1 or str(count) != str(threads).strip():
        raise BcrError(f"the tune thread count must be a whole number of at least 1, got {threads!r}",
                       "pass the thread count the module will run with, e.g. tune_threads=2 (bcr-compile --tune-threads 2)")
    return count


def sparsify_pipeline(target: str = "x86-host", tune: str = "cache", threads: int | str = 1) -> str:
    """The pipeline `bcr_mlir.compile` runs, per target kind.

    Stage 1 finds the sparse layers (weights computed from constants in forward() folded first); stage 2 orders their rows, picks the register blocks and (x86)
    the tuned schedules; stage 3 packs their weights; stage 4 generates their kernels: CPU kernels, or
    GLSL for Vulkan, with a dense linalg fallback for what those cannot take.
    tune: "off" (default schedule model), "cache" (tuned schedules already cached, default model
    otherwise), "measure" (time candidates for uncached layers). threads: the thread count the schedules
    are timed at, and cached for (bcr-tune's `threads`).
    """
    resolved = parse_target(target)
    if tune not in TUNE_MODES:
        raise BcrError(f"unknown tune mode '{tune}'", f"use one of {', '.join(TUNE_MODES)}")
    threads = tune_threads(threads)
    at = f" threads={threads}" if threads != 1 else ""
    tuning = {"off": [], "cache": [f"bcr-tune{{measure=0{at}}}"],
              "measure": [f"bcr-tune{{{at.strip()}}}" if at else "bcr-tune"]}[tune]
    stages = ["bcr-fold-constant-weights", "bcr-split-transposed-convs", "bcr-raise-sparse-layers", "canonicalize"]
    if resolved.is_cpu:
        stages += ["bcr-reorder-filters", "bcr-eliminate-redundant-loads", "bcr-zero-pool-padding",
                   "bcr-raise-max-pools", *tuning, "bcr-compress-weights", "bcr-fuse-residual-adds",
                   "bcr-fuse-expand-depthwise", "bcr-fuse-gate-cells", "bcr-lower-to-kernels"]
    else:  # Vulkan: generated GLSL kernels; what they cannot take stays for bcr-densify
        stages += ["bcr-reorder-filters", "bcr-eliminate-redundant-loads", "bcr-compress-weights",
                   "bcr-lower-to-gpu-kernels", "bcr-densify", "bcr-fusion-barriers", "bcr-generalize-depthwise"]
    stages += ["canonicalize"]
    return ",".join(stages)


NAMED_PIPELINES: dict[str, Callable[..., str]] = {"bcr-sparsify-pipeline": sparsify_pipeline}


def parse_pipeline(text: str) -> list[Step]:
    text = text.strip()
    if text.startswith("builtin.module(") and text.endswith(")"):
        text = text[len("builtin.module("):-1]
    steps = []
    for element in split_top_level(text):
        name, brace, rest = element.partition("{")
        name = name.strip()
        options = parse_options(rest.rstrip("}")) if brace else {}
        if name in NAMED_PIPELINES:
            try:
                expanded = NAMED_PIPELINES[name](**{k.replace("-", "_"): v for k, v in options.items()})
            except TypeError as exc:
                raise BcrError(f"bad option for pipeline '{name}': {exc}", "its options are: target, tune, threads") from None
            steps += parse_pipeline(expanded)
        elif name in PASS_MODULES:
            steps.append(Step(element, pass_class(name).from_options(options)))
        elif name.startswith("bcr-"):
            raise BcrError(f"unknown pass '{name}'", "run `bcr-opt --list-passes` to see the passes")
        else:
            steps.append(Step(element, None))
    return steps


def module_text(module: ir.Module, large: bool = True) -> str:
    if large:
        return module.operation.get_asm(enable_debug_info=False)
    return module.operation.get_asm(large_elements_limit=16)


def save_temp(text: str, stem: str) -> str:
    directory = os.environ.get("BCR_SAVE_TEMPS") or tempfile.gettempdir()
    os.makedirs(directory, exist_ok=True)
    handle, path = tempfile.mkstemp(prefix=f"{stem}-", suffix=".mlir", dir=directory)
    with os.fdopen(handle, "w") as f:
        f.write(text)
    return path


def _check(module: ir.Module, context: PassContext, after: str) -> None:
    try:
        ok = module.operation.verify()
    except ir.MLIRError as exc:
        raise BcrError(f"IR is invalid after {after}: {_diagnostics(exc)}") from None
    if ok is False:
        raise BcrError(f"IR is invalid after {after}")
    problems = verify(module, context.weights, context.memoized)
    if problems:
        raise BcrError(f"{problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                       "fix the layout attribute or the packed constants")


def _diagnostics(exc: Exception) -> str:
    diagnostics = getattr(exc, "error_diagnostics", None)
    if diagnostics:
        return "; ".join(f"{d.location}: {d.message}" for d in diagnostics)[:2000]
    return str(exc).strip().splitlines()[-1][:2000] if str(exc).strip() else type(exc).__name__


def run_pipeline(module: ir.Module, pipeline: str | list[Step], context: PassContext, *,
                 print_after_all: TextIO | None = None, verify_each: bool = True) -> None:
    """Runs every step in order. On failure raises PipelineError carrying the saved IR and a repro."""
    steps = parse_pipeline(pipeline) if isinstance(pipeline, str) else pipeline
    for index, step in enumerate(steps):
        try:
            if os.environ.get("BCR_SAVE_TEMPS"):
                save_temp(module_text(module), f"before-{index:02d}-{step.text.split('{')[0]}")
            if step.bcr_pass is not None:
                step.bcr_pass.run(module, context)
            else:
                with module.context:
                    ir.PassManager.parse(f"builtin.module({step.text})").run(module.operation)
            if verify_each:
                _check(module, context, step.text)
        except (BcrError, ir.MLIRError, ValueError, RuntimeError) as exc:
            message = exc.one_line() if isinstance(exc, BcrError) else _diagnostics(exc)
            # Passes validate before they rewrite, so the IR at failure is the IR the step started from.
            saved = save_temp(module_text(module), "bcr-failure")
            remaining = ",".join(s.text for s in steps[index:])
            repro = f"bcr-opt -p {shlex.quote(remaining)} {saved}" if saved else None
            if isinstance(exc, BcrError) and exc.fix:
                raise PipelineError(f"pass '{step.text}' failed: {exc.problem}", exc.fix, repro) from None
            raise PipelineError(f"pass '{step.text}' failed: {message}", None, repro) from None
        if print_after_all is not None:
            print(f"// -----// IR Dump After {step.text} //----- //", file=print_after_all)
            print(module_text(module, large=False), file=print_after_all)


def list_passes(out: TextIO = sys.stdout) -> None:
    print("bcr passes:", file=out)
    for name in PASS_MODULES:
        print(f"  {name:<28} {pass_class(name).summary}", file=out)
    print("pipelines:", file=out)
    print("  bcr-sparsify-pipeline{target=x86-host|arm64-android|vulkan tune=off|cache|measure}", file=out)
    print("Upstream MLIR passes (canonicalize, cse, func.func(...), ...) mix in freely.", file=out)
