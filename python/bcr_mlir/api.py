"""`bcr_mlir.compile` and `bcr_mlir.load`: PyTorch model in, runnable IREE module out.

    cm = bcr_mlir.compile(model, (x,), target="x86-host")   # or "arm64-android", "vulkan"
    y = cm(x)                                               # numpy
    cm.save("model.vmfb"); cm = bcr_mlir.load("model.vmfb", "x86-host")
    print(cm.report)
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bcr_mlir import ir
from bcr_mlir.backends import iree
from bcr_mlir.errors import BcrError
from bcr_mlir.dialect import new_context
from bcr_mlir.importer import ImportedModel, import_model, normalize_inputs
from bcr_mlir.passes.raise_sparse_layers import RaiseSparseLayers
from bcr_mlir.passes.registry import PassContext
from bcr_mlir.pipelines import Step, run_pipeline, sparsify_pipeline
from bcr_mlir.report import LayerDecision, Report
from bcr_mlir.targets import Target, parse_target
from bcr_mlir.weights import WeightTable, element_dtype

DENSE_FLAG_CHOICES = ("tuned", "default", "best")


@dataclass
class InputSpec:
    shape: tuple[int, ...]
    dtype: str

    def check(self, index: int, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
        if tuple(value.shape) != self.shape:
            raise BcrError(f"input {index} has shape {list(value.shape)}, but the module was compiled for {list(self.shape)}",
                           "pass inputs of the example's shape, or compile again with new example inputs")
        if str(value.dtype) != self.dtype:
            value = value.astype(self.dtype)
        return np.ascontiguousarray(value)


@dataclass
class CompiledModule:
    """A compiled .vmfb for one target, callable on numpy or torch inputs."""

    vmfb: bytes
    target: Target
    inputs: list[InputSpec]
    results: int
    report: Report = field(default_factory=Report)
    flags: list[str] = field(default_factory=list)
    compile_seconds: float = 0.0
    _runner: object = None
    _path: Path | None = None

    def _file(self) -> Path:
        if self._path is None or not self._path.exists():
            handle, name = tempfile.mkstemp(prefix="bcr-", suffix=".vmfb")
            with os.fdopen(handle, "wb") as f:
                f.write(self.vmfb)
            self._path = Path(name)
        return self._path

    def _arrays(self, inputs) -> list[np.ndarray]:
        if not self.inputs:  # loaded without metadata: the runtime checks the shapes
            return [np.ascontiguousarray(x.detach().numpy() if hasattr(x, "detach") else x) for x in inputs]
        if len(inputs) != len(self.inputs):
            raise BcrError(f"the module takes {len(self.inputs)} input(s), got {len(inputs)}",
                           "pass the same number of inputs as the example inputs")
        return [spec.check(i, x) for i, (spec, x) in enumerate(zip(self.inputs, inputs))]

    def __call__(self, *inputs):
        arrays = self._arrays(inputs)
        if self._runner is None:
            self._runner = iree.runner_for(self.target, self.vmfb, self._file() if self.target.name == "arm64-android" else None,
                                           self.results)
        outputs = self._runner(*arrays)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def benchmark(self, *inputs, threads: int = 1, repeats: int = 20) -> float:
        """Median seconds per call, measured by iree-benchmark-module on this host."""
        if self.target.name != "x86-host":
            raise BcrError(f"benchmarking runs on the host; this module targets {self.target.name}",
                           "benchmark an x86-host build here, or run iree-benchmark-module on the device (docs/android.md)")
        arrays = self._arrays(inputs)
        return iree.benchmark(self._file(), arrays, threads=threads, repeats=repeats)

    def save(self, path) -> Path:
        """Writes the .vmfb, and next to it `<path>.json` with the target, input shapes and report."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(self.vmfb)
        partial.replace(path)
        meta = {"target": self.target.name, "target_spec": _target_spec(self.target),
                "inputs": [{"shape": list(s.shape), "dtype": s.dtype} for s in self.inputs],
                "results": self.results, "flags": self.flags, "report": self.report.to_json()}
        Path(str(path) + ".json").write_text(json.dumps(meta, indent=1))
        return path


def _target_spec(target: Target) -> str:
    if target.name == "arm64-android":
        return f"arm64-android:cpu={target.cpu or 'generic'},features={'+'.join(target.features)},api={target.api_level}"
    if target.name == "vulkan":
        return f"vulkan:{target.vulkan_target}"
    return target.name


def load(path, target: str | Target | None = None) -> CompiledModule:
    """Reads a .vmfb written by CompiledModule.save (or bcr-compile)."""
    path = Path(path)
    if not path.is_file():
        raise BcrError(f"no such module file: {path}", "check the path, or compile the model first")
    try:
        vmfb = path.read_bytes()
    except OSError as exc:
        raise BcrError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from None
    meta_path = Path(str(path) + ".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if target is None:
        target = meta.get("target_spec") or meta.get("target")
        if target is None:
            raise BcrError(f"{path} has no metadata file naming its target", "pass the target: load(path, 'x86-host')")
    target = parse_target(target)
    if meta.get("target") and meta["target"] != target.name:
        raise BcrError(f"{path} was compiled for {meta['target']}, not {target.name}", f"load it with target='{meta['target']}'")
    inputs = [InputSpec(tuple(i["shape"]), i["dtype"]) for i in meta.get("inputs", [])]
    report = Report([LayerDecision(**layer) for layer in meta.get("report", {}).get("layers", [])],
                    meta.get("report", {}).get("notes", []))
    module = CompiledModule(vmfb, target, inputs, int(meta.get("results", 1)), report, meta.get("flags", []))
    module._path = path
    return module


def _main_signature(module: ir.Module) -> tuple[list[InputSpec], int]:
    """Input specs and result count of @main."""
    for op in module.body.operations:
        op = op.operation
        if op.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == "main":
            function_type = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
            specs = []
            for i, t in enumerate(function_type.inputs):
                if not isinstance(t, ir.RankedTensorType) or not t.has_static_shape:
                    raise BcrError(f"@main argument {i} has type {t}; only statically shaped tensors are supported",
                                   "export the model with static input shapes")
                tensor = t
                specs.append(InputSpec(tuple(tensor.shape), str(np.dtype(element_dtype(tensor.element_type)))))
            return specs, len(function_type.results)
    raise BcrError("the module has no func.func @main", "name the entry function @main (torch-mlir's default)")


def compile(model, example_inputs, target: str | Target = "x86-host", *, sparse: bool = True,
            dense_flags: str | None = None, tune: str = "cache", save_temps: str | None = None) -> CompiledModule:
    """Compiles a (pruned) torch.nn.Module for a target.

    sparse=False compiles the same model dense: the IREE baseline. dense_flags picks IREE's flags for the
    dense baseline and the dense parts of sparse models: 'tuned' (IREE's best CPU flags), 'default', or
    'best' (x86 only: compile both, time both here, keep the faster). Default: 'best' for sparse=False
    on x86-host, 'tuned' otherwise.
    tune picks each sparse layer's kernel schedule (bcr-tune): 'off' (the default model), 'cache'
    (schedules tuned before on this CPU, else the model), 'measure' (time candidates for new layers;
    slower to compile, cached for next time).
    """
    started = time.perf_counter()
    target = parse_target(target)
    inputs = normalize_inputs(example_inputs)
    imported = import_model(model, inputs)
    arrays = [x.detach().numpy() for x in inputs]
    return compile_imported(imported, target, sparse=sparse, dense_flags=dense_flags, save_temps=save_temps,
                            example_arrays=arrays, started=started, tune=tune)


def compile_mlir(text: str, target: str | Target = "x86-host", *, sparse: bool = True, dense_flags: str | None = None,
                 tune: str = "cache", save_temps: str | None = None, source: str = "<input>") -> CompiledModule:
    """Compiles linalg-on-tensors MLIR text (as torch-mlir emits, weights as dense_resource constants)."""
    started = time.perf_counter()
    target = parse_target(target)
    context = new_context()
    weights = WeightTable.from_mlir_text(text)
    with context, ir.Location.unknown():
        try:
            module = ir.Module.parse(text)
        except ir.MLIRError as exc:
            details = "; ".join(f"{d.location}: {d.message}" for d in exc.error_diagnostics) or str(exc)
            raise BcrError(f"{source}: cannot parse the input: {details[:1000]}", "pass valid MLIR text") from None
    return compile_imported(ImportedModel(context, module, weights), target, sparse=sparse, dense_flags=dense_flags,
                            save_temps=save_temps, started=started, tune=tune)


def compile_imported(imported: ImportedModel, target: Target, *, sparse: bool, dense_flags: str | None,
                     save_temps: str | None, example_arrays: list[np.ndarray] | None = None,
                     started: float | None = None, tune: str = "cache") -> CompiledModule:
    started = started or time.perf_counter()
    if dense_flags is None:
        dense_flags = "best" if (not sparse and target.name == "x86-host") else "tuned"
    if dense_flags not in DENSE_FLAG_CHOICES:
        raise BcrError(f"unknown dense_flags '{dense_flags}'", f"use one of {', '.join(DENSE_FLAG_CHOICES)}")
    if dense_flags == "best" and target.name != "x86-host":
        raise BcrError("dense_flags='best' times both flag sets, which only works for x86-host",
                       "use dense_flags='tuned' for cross targets")
    save_temps = save_temps or os.environ.get("BCR_SAVE_TEMPS")
    context = PassContext(imported.weights, target)
    context.report.notes += imported.notes
    with imported.context, ir.Location.unknown():
        specs, results = _main_signature(imported.module)
        if sparse:
            run_pipeline(imported.module, sparsify_pipeline(target.name, tune), context)
        else:
            run_pipeline(imported.module, [Step("bcr-raise-sparse-layers{analyze-only=1}",
                                                RaiseSparseLayers(analyze_only=True))], context)
        text = iree.to_iree_text(imported.module)
    if not sparse:
        context.report.notes.append("compiled dense (sparse=False): the IREE baseline")
    if example_arrays is None:
        rng = np.random.default_rng(0)
        example_arrays = [rng.standard_normal(spec.shape).astype(spec.dtype) for spec in specs]
    with tempfile.TemporaryDirectory() as tmp:
        keep = Path(save_temps) / "iree_input.mlir" if save_temps else None
        if keep:
            keep.parent.mkdir(parents=True, exist_ok=True)
        candidates = ["tuned", "default"] if dense_flags == "best" else [dense_flags]
        built = []
        for flags in candidates:
            output = Path(tmp) / f"{flags}.vmfb"
            command = iree.compile_text(text, target, output, flags, keep=keep)
            built.append((flags, output, command))
        if len(built) > 1:
            arrays = [spec.check(i, x) for i, (spec, x) in enumerate(zip(specs, example_arrays))]
            timed = [(iree.benchmark(path, arrays, threads=1, repeats=10), flags, path, command)
                     for flags, path, command in built]
            best = min(timed)
            context.report.notes.append("dense flags: " + ", ".join(f"{f} {t * 1e3:.2f} ms" for t, f, _, _ in timed) +
                                        f" -> using {best[1]}")
            built = [(best[1], best[2], best[3])]
        flags, output, command = built[0]
        vmfb = output.read_bytes()
        if save_temps:
            shutil.copy(output, Path(save_temps) / "module.vmfb")
    return CompiledModule(vmfb, target, specs, results, context.report, command[4:],
                          time.perf_counter() - started)
