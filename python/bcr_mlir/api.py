"""`bcr_mlir.compile` and `bcr_mlir.load`: PyTorch model in, runnable IREE module out.

    cm = bcr_mlir.compile(model, (x,), target="x86-host")   # or "arm64-android", "vulkan"
    y = cm(x)                                               # numpy
    cm.save("model.vmfb"); cm = bcr_mlir.load("model.vmfb", "x86-host")
    print(cm.report)
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bcr_mlir import ir
from bcr_mlir.backends import iree
from bcr_mlir.errors import BcrError
from bcr_mlir.dialect import ParseError, parse_text, walk
from bcr_mlir.importer import ImportedModel, import_model, normalize_inputs
from bcr_mlir.passes.generalize_depthwise import GeneralizeDepthwise
from bcr_mlir.passes.fusion_barriers import FusionBarriers
from bcr_mlir.passes.raise_sparse_layers import RaiseSparseLayers
from bcr_mlir.passes.registry import PassContext
from bcr_mlir.pipelines import Step, run_pipeline, sparsify_pipeline
from bcr_mlir.pipelines import tune_threads as checked_tune_threads
from bcr_mlir.report import LayerDecision, Report
from bcr_mlir.targets import Target, parse_target
from bcr_mlir.weights import WeightTable, element_dtype, resource_name

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
    variants: list[Target] = field(default_factory=list)  # multi-target modules: every target, `target` first
    reports: dict[str, Report] = field(default_factory=dict)  # multi-target modules: per target name
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

    def __call__(self, *inputs, variant: str | None = None):
        """Runs the module. For a multi-target module, `variant` picks the target ('vulkan', ...; default the first)."""
        arrays = self._arrays(inputs)
        if self.variants:
            from bcr_mlir.backends import multi_target
            chosen = multi_target.variant_named(self.variants, variant) if variant else self.target
            outputs = iree.multi_target_runner(self.variants, chosen, self._file(), self.results)(*arrays)
            return outputs[0] if len(outputs) == 1 else tuple(outputs)
        if variant is not None and parse_target(variant).name != self.target.name:
            raise BcrError(f"this module has one target, {self.target.name}; it has no {variant} variant",
                           "compile a multi-target module: target=['arm64-android', 'vulkan']")
        if self._runner is None:
            self._runner = iree.runner_for(self.target, self.vmfb, self._file() if self.target.name == "arm64-android" else None,
                                           self.results)
        outputs = self._runner(*arrays)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def benchmark(self, *inputs, threads: int = 1, repeats: int = 20) -> float:
        """Median seconds per call, measured by iree-benchmark-module on this host."""
        self._check_host("benchmarking")
        return iree.benchmark(self._file(), self._arrays(inputs), threads=threads, repeats=repeats)

    def profile(self, *inputs, threads: int = 1, calls: int = 20) -> list[iree.DispatchTime]:
        """Where a call spends its time: one `iree.DispatchTime` per executable function (a generated
        kernel is `bcr_kernel_<layer>`), slowest first, from IREE's HAL profiler on this host."""
        self._check_host("profiling")
        return iree.profile(self._file(), self._arrays(inputs), threads=threads, calls=calls)

    def _check_host(self, what: str) -> None:
        if self.target.name != "x86-host" or self.variants:
            raise BcrError(f"{what} runs on the host; this module targets {self.describe()}",
                           "use an x86-host build here, or run iree-benchmark-module on the device (docs/android.md)")

    def describe(self) -> str:
        return " + ".join(t.describe() for t in self.variants) if self.variants else self.target.describe()

    def save(self, path) -> Path:
        """Writes the .vmfb, and next to it `<path>.json` with the target, input shapes and report."""
        path = Path(path)
        if path.is_dir():
            raise BcrError(f"cannot write the module to {path}: it is a directory", f"pass a file name, e.g. {path / 'model.vmfb'}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BcrError(f"cannot create the folder {path.parent}: {exc.strerror}", "pass an output path in a writable folder") from None
        meta = {"target": self.target.name, "target_spec": _target_spec(self.target),
                "inputs": [{"shape": list(s.shape), "dtype": s.dtype} for s in self.inputs],
                "results": self.results, "flags": self.flags, "report": self.report.to_json()}
        if self.variants:
            meta["targets"] = [_target_spec(t) for t in self.variants]
            meta["reports"] = {name: report.to_json() for name, report in self.reports.items()}
        _write_atomically(path, self.vmfb)
        _write_atomically(Path(str(path) + ".json"), json.dumps(meta, indent=1).encode())
        return path


def _write_atomically(path: Path, data: bytes) -> None:
    """Writes a temporary file beside `path`, then renames it: a failure leaves nothing behind."""
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise BcrError(f"cannot write {path}: {exc.strerror}", "pass an output path in a writable folder") from None
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        raise BcrError(f"cannot write {path}: {exc.strerror}", "pass an output path in a writable folder") from None
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


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
    _check_vmfb(path, vmfb)
    meta_path = Path(str(path) + ".json")
    meta = _read_metadata(meta_path) if meta_path.is_file() else {}
    if meta.get("targets"):
        return _load_multi_target(path, vmfb, meta, meta_path, target)
    if target is None:
        target = meta.get("target_spec") or meta.get("target")
        if target is None:
            raise BcrError(f"{path} has no metadata file naming its target", "pass the target: load(path, 'x86-host')")
    target = parse_target(target)
    if meta.get("target") and meta["target"] != target.name:
        raise BcrError(f"{path} was compiled for {meta['target']}, not {target.name}", f"load it with target='{meta['target']}'")
    with _metadata_errors(meta_path):
        inputs = _input_specs(meta)
        module = CompiledModule(vmfb, target, inputs, int(meta.get("results", 1)), _report_of(meta.get("report", {})),
                                meta.get("flags", []))
    module._path = path
    return module


def _input_specs(meta: dict) -> list[InputSpec]:
    return [InputSpec(tuple(int(d) for d in i["shape"]), str(np.dtype(i["dtype"]))) for i in meta.get("inputs", [])]


def _report_of(data: dict) -> Report:
    return Report([LayerDecision(**layer) for layer in data.get("layers", [])], data.get("notes", []))


@contextlib.contextmanager
def _metadata_errors(meta_path: Path):
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BcrError(f"the metadata file {meta_path} is malformed ({type(exc).__name__}: {str(exc)[:80]})",
                       "delete it and pass the target (load(path, 'x86-host'), bcr-run --target), or compile again") from None


def _load_multi_target(path: Path, vmfb: bytes, meta: dict, meta_path: Path, target) -> CompiledModule:
    with _metadata_errors(meta_path):
        variants = [parse_target(spec) for spec in meta["targets"]]
        inputs = _input_specs(meta)
        reports = {name: _report_of(data) for name, data in meta.get("reports", {}).items()}
        module = CompiledModule(vmfb, variants[0], inputs, int(meta.get("results", 1)), _report_of(meta.get("report", {})),
                                meta.get("flags", []), variants=variants, reports=reports)
    if target is not None:  # a target names the variant that runs by default
        from bcr_mlir.backends import multi_target
        module.target = multi_target.variant_named(variants, target if isinstance(target, str) else target.name)
    module._path = path
    return module


# A .vmfb is a zip archive around IREE's bytecode FlatBuffer.
VMFB_MAGIC = b"PK\x03\x04"


def _check_vmfb(path: Path, vmfb: bytes) -> None:
    """A clear error for files that are not IREE modules, or truncated or corrupt ones."""
    if not vmfb.startswith(VMFB_MAGIC):
        what = "is empty" if not vmfb else "is not an IREE module (.vmfb)"
        raise BcrError(f"{path} {what}", "pass a .vmfb written by bcr-compile or CompiledModule.save, or compile again")
    import iree.runtime as rt

    try:  # parses the bytecode archive only (any target): executables are loaded when it runs
        rt.VmModule.copy_buffer(rt.VmInstance(), vmfb)
    except (ValueError, RuntimeError) as exc:
        detail = str(exc).split(";")[-1].strip() if ";" in str(exc) else str(exc)
        raise BcrError(f"{path} is a truncated or corrupt IREE module ({detail[:120]})",
                       "compile it again (bcr-compile ... -o file.vmfb)") from None


def _read_metadata(meta_path: Path) -> dict:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BcrError(f"cannot read the metadata file {meta_path}: {str(exc)[:120]}",
                       "delete it and pass the target (load(path, 'x86-host'), bcr-run --target), or compile again") from None
    if not isinstance(meta, dict):
        raise BcrError(f"the metadata file {meta_path} is not a JSON object",
                       "delete it and pass the target (load(path, 'x86-host'), bcr-run --target), or compile again")
    return meta


def _main_signature(module: ir.Module) -> tuple[list[InputSpec], int]:
    """Input specs and result count of @main."""
    for op in module.body.operations:
        op = op.operation
        if op.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == "main":
            function_type = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
            specs = []
            for i, t in enumerate(function_type.inputs):
                tensor = _static_tensor(t, f"@main argument {i}", "export the model with static input shapes")
                try:
                    dtype = element_dtype(tensor.element_type)
                except ValueError:
                    raise BcrError(f"@main argument {i} has element type {tensor.element_type}, which bcr-mlir cannot "
                                   f"pass in", "use f32 (or f16, or integer) inputs") from None
                specs.append(InputSpec(tuple(tensor.shape), str(np.dtype(dtype))))
            if not function_type.results:
                raise BcrError("@main returns nothing, so there is nothing to compute",
                               "return the model's output tensor(s)")
            for i, t in enumerate(function_type.results):
                _static_tensor(t, f"@main result {i}", "avoid data-dependent output sizes (nonzero, masked_select, "
                               "unique, ...) and export with static shapes")
            return specs, len(function_type.results)
    if not any(True for _ in module.body.operations):
        raise BcrError("the module is empty", "pass a model: a func.func @main in linalg-on-tensors MLIR")
    raise BcrError("the module has no func.func @main", "name the entry function @main (torch-mlir's default)")


# Inputs and results larger than this (elements) are refused, as the importer refuses example inputs.
MAX_ELEMENTS = 1 << 31


def _static_tensor(t: ir.Type, what: str, fix: str) -> ir.RankedTensorType:
    if not isinstance(t, ir.RankedTensorType):
        raise BcrError(f"{what} has type {t}; only statically shaped tensors are supported", fix)
    tensor = ir.RankedTensorType(t)
    if not tensor.has_static_shape:
        raise BcrError(f"{what} has type {t}; only statically shaped tensors are supported", fix)
    elements = math.prod(tensor.shape)
    if elements > MAX_ELEMENTS:
        raise BcrError(f"{what} has type {t} ({elements:,} elements), too large to compile",
                       f"use tensors of at most {MAX_ELEMENTS:,} elements")
    return tensor


def _check_computes(module: ir.Module) -> None:
    """An @main that only returns its arguments or constants is an empty model (an empty nn.Sequential)."""
    for op in module.body.operations:
        op = op.operation
        if op.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == "main":
            body = [child.operation.name for child in op.regions[0].blocks[0].operations]
            if all(name in ("func.return", "arith.constant") for name in body):
                raise BcrError("the model is empty: @main computes nothing (it returns its inputs or constants)",
                               "check that the model has its layers (an empty nn.Sequential is the identity)")


DTYPES = ("f32", "f16")


def _check_dtype(dtype: str, target: Target) -> None:
    if dtype not in DTYPES:
        raise BcrError(f"unknown dtype '{dtype}'", "use 'f32' or 'f16'")
    if dtype != "f16":
        return
    if target.name == "arm64-android" and "fullfp16" not in target.features:
        raise BcrError("dtype='f16' on arm64 needs the fullfp16 CPU feature",
                       "add it: target='arm64-android:features=neon+fullfp16'")
    if target.name == "vulkan" and target.vulkan_target == "vp_android_baseline_2022":
        raise BcrError("dtype='f16' needs a Vulkan target with 16-bit floats; vp_android_baseline_2022 has none",
                       "use target='vulkan:baseline_f16' (the baseline plus VK_KHR_shader_float16_int8 and "
                       "16-bit storage), or 'vulkan:adreno' / 'vulkan:valhall'")


def _to_half(model, inputs):
    """The model and its floating-point inputs in f16 (weights and activations stored as f16)."""
    import copy
    half = copy.deepcopy(model).half()
    return half, tuple(x.half() if x.is_floating_point() else x for x in inputs)


def compile(model, example_inputs, target: str | Target | list = "x86-host", *, sparse: bool = True,
            dense_flags: str | None = None, tune: str = "cache", dtype: str = "f32",
            save_temps: str | None = None, tune_threads: int = 1) -> CompiledModule:
    """Compiles a (pruned) torch.nn.Module for a target.

    sparse=False compiles the same model dense: the IREE baseline. dense_flags picks IREE's flags for the
    dense baseline and the dense parts of sparse models: 'tuned' (IREE's best CPU flags), 'default', or
    'best' (x86 only: compile both, time both here, keep the faster). Default: 'best' for sparse=False
    on x86-host, 'tuned' otherwise.
    tune picks each sparse layer's kernel schedule (bcr-tune): 'off' (the default model), 'cache'
    (schedules tuned before on this CPU, else the model), 'measure' (time candidates for new layers;
    slower to compile, cached for next time).
    tune_threads: the thread count the module will run with on this host; bcr-tune times and caches
    schedules at it (the fastest kernel at 2 threads is not always the fastest at 1).
    dtype='f16' stores weights and activations as f16 (inputs are converted, outputs are f16); the
    kernels accumulate in f32. It needs fullfp16 on arm64 and an f16-capable Vulkan target.
    A list of targets, one CPU and one Vulkan (['arm64-android', 'vulkan']), gives one multi-target
    module holding both variants (backends/multi_target.py); cm(x, variant='vulkan') runs the second.
    """
    started = time.perf_counter()
    targets = _parse_targets(target)
    tune_threads = checked_tune_threads(tune_threads)
    if len(targets) > 1:
        inputs = normalize_inputs(example_inputs)
        return _compile_variants(lambda: import_model(model, inputs), targets, sparse=sparse, dense_flags=dense_flags,
                                 tune=tune, dtype=dtype, save_temps=save_temps, started=started,
                                 tune_threads=tune_threads)
    target = targets[0]
    _check_dtype(dtype, target)
    _check_options(target, sparse, dense_flags, save_temps)
    inputs = normalize_inputs(example_inputs)
    if dtype == "f16":
        model, inputs = _to_half(model, inputs)
    imported = import_model(model, inputs)
    arrays = [x.detach().numpy() for x in inputs]
    if dtype == "f16":
        imported.notes.append("f16: weights and activations stored as f16, accumulation in f32")
    return compile_imported(imported, target, sparse=sparse, dense_flags=dense_flags, save_temps=save_temps,
                            example_arrays=arrays, started=started, tune=tune, tune_threads=tune_threads)


def compile_mlir(text: str, target: str | Target | list = "x86-host", *, sparse: bool = True,
                 dense_flags: str | None = None, tune: str = "cache", save_temps: str | None = None,
                 source: str = "<input>", tune_threads: int = 1) -> CompiledModule:
    """Compiles linalg-on-tensors MLIR text (as torch-mlir emits, weights as dense_resource constants)."""
    started = time.perf_counter()
    targets = _parse_targets(target)
    tune_threads = checked_tune_threads(tune_threads)
    if len(targets) > 1:
        return _compile_variants(lambda: _parse_mlir(text, source), targets, sparse=sparse, dense_flags=dense_flags,
                                 tune=tune, dtype="f32", save_temps=save_temps, started=started,
                                 tune_threads=tune_threads)
    target = targets[0]
    _check_options(target, sparse, dense_flags, save_temps)
    return compile_imported(_parse_mlir(text, source), target, sparse=sparse, dense_flags=dense_flags,
                            save_temps=save_temps, started=started, tune=tune, tune_threads=tune_threads)


def _parse_targets(target) -> list[Target]:
    if isinstance(target, (list, tuple)):
        if not target:
            raise BcrError("the target list is empty", "pass a target, e.g. 'x86-host', or ['arm64-android', 'vulkan']")
        return [parse_target(t) for t in target]
    return [parse_target(target)]


def _parse_mlir(text: str, source: str) -> ImportedModel:
    """Linalg MLIR text -> an ImportedModel, with clear errors for what bcr-mlir cannot compile."""
    try:
        context, weights, module = parse_text(text)
    except ParseError as exc:
        details = re.sub(r'loc\("-":(\d+):(\d+)\)', lambda m: f"{source}:{m.group(1)}:{m.group(2)}", exc.details)
        if "!torch." in text or "torch.aten." in text:
            raise BcrError(f"{source} is in the torch dialect ({details[:300]})",
                           "pass linalg-on-tensors MLIR: bcr-compile --model NAME --emit-mlir, or torch-mlir's "
                           "fx.export_and_import(..., output_type='linalg-on-tensors')") from None
        unknown = _unregistered_op(text, exc.cause)
        if unknown:
            raise BcrError(f"{source}: unsupported op '{unknown[0]}' at line {unknown[1]} (its dialect is not "
                           f"one bcr-mlir compiles)", "pass linalg-on-tensors MLIR (linalg, tensor, arith, math, "
                           "func, scf and bcr ops), as torch-mlir emits it") from None
        raise BcrError(f"{source}: cannot parse the input: {details[:1000]}", "pass valid MLIR text") from None
    with context, ir.Location.unknown():
        _check_constants(module, weights, source)
        for op in module.body.operations:
            op = op.operation
            if op.name == "func.func" and not op.regions[0].blocks:
                name = ir.StringAttr(op.attributes["sym_name"]).value
                raise BcrError(f"{source}: function @{name} is declared but not defined (an external call)",
                               "define it in the module: bcr-mlir compiles self-contained modules")
    return ImportedModel(context, module, weights)


def _unregistered_op(text: str, exc: ir.MLIRError) -> tuple[str, int] | None:
    """(op name, line) when parsing failed on an op of a dialect that is not loaded."""
    for d in exc.error_diagnostics:
        where = re.match(r'loc\("-":(\d+):(\d+)\)', str(d.location))
        if "unregistered dialect" not in d.message or not where:
            continue
        line, column = int(where.group(1)), int(where.group(2))
        lines = text.splitlines()
        # MLIR points at or just after the op name: take the last dialect.op name up to that column.
        names = re.findall(r'"?([A-Za-z_][\w$-]*\.[\w$.-]+)"?', lines[line - 1][:column + 40]) if line <= len(lines) else []
        if names:
            return names[0], line
    return None


def _check_constants(module: ir.Module, weights: WeightTable, source: str) -> None:
    """Every dense_resource constant has its bytes in the file, and no weight holds NaN or Inf."""
    for op in walk(module):
        if op.name != "arith.constant" or not isinstance(op.result.type, ir.ShapedType):
            continue
        attr = op.attributes["value"]
        line = re.match(r'loc\("-":(\d+)', str(op.location))
        where = f"{source}:{line.group(1)}" if line else source
        name = resource_name(attr)
        if name is not None:
            if name not in weights:
                raise BcrError(f"{where}: constant dense_resource<{name}> has no data in the file's "
                               f"dialect_resources section", "keep the {-# dialect_resources #-} block when editing "
                               "the file (bcr-compile --model NAME --emit-mlir writes it)")
            try:
                array = weights.array_of_attr(attr)
            except ValueError:
                continue  # an element type numpy cannot read: left to IREE
            if array is None:
                raise BcrError(f"{where}: the data of dense_resource<{name}> does not fill its type {op.result.type}",
                               "give the resource exactly the bytes of the tensor (plus the 4-byte alignment header)")
        else:
            if not isinstance(attr, ir.DenseElementsAttr) or attr.is_splat:
                continue  # splats: fill values such as -inf for max pooling
            try:
                array = weights.array_of_attr(attr)
            except (ValueError, TypeError):
                continue
            if array is None or array.size <= 1:
                continue
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise BcrError(f"{where}: constant {name or ''} of type {op.result.type} contains NaN or Inf values".replace("  ", " "),
                           "fix the weights; the compiler cannot give meaningful results for non-finite weights")


@contextlib.contextmanager
def _pass_temps(save_temps: str | None):
    """run_pipeline keeps the IR before each pass in $BCR_SAVE_TEMPS: point it at save_temps= too (it
    only saw the environment variable, so save_temps= and bcr-compile --save-temps lost those files)."""
    if not save_temps or os.environ.get("BCR_SAVE_TEMPS") == save_temps:
        yield
        return
    previous = os.environ.get("BCR_SAVE_TEMPS")
    os.environ["BCR_SAVE_TEMPS"] = str(save_temps)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["BCR_SAVE_TEMPS"]
        else:
            os.environ["BCR_SAVE_TEMPS"] = previous


def _check_options(target: Target, sparse: bool, dense_flags: str | None, save_temps: str | None):
    """(dense_flags, save_temps) resolved; errors before any work is done."""
    if dense_flags is None:
        dense_flags = "best" if (not sparse and target.name == "x86-host") else "tuned"
    if dense_flags not in DENSE_FLAG_CHOICES:
        raise BcrError(f"unknown dense_flags '{dense_flags}'", f"use one of {', '.join(DENSE_FLAG_CHOICES)}")
    if dense_flags == "best" and target.name != "x86-host":
        raise BcrError("dense_flags='best' times both flag sets, which only works for x86-host",
                       "use dense_flags='tuned' for cross targets")
    save_temps = save_temps or os.environ.get("BCR_SAVE_TEMPS")
    if save_temps and Path(save_temps).exists() and not Path(save_temps).is_dir():
        raise BcrError(f"save_temps / BCR_SAVE_TEMPS names {save_temps}, which is a file, not a folder",
                       "pass a folder (it is created if missing)")
    return dense_flags, save_temps


def _lower(imported: ImportedModel, target: Target, sparse: bool, save_temps: str | None, tune: str,
           tune_threads: int = 1):
    """Runs the bcr pipeline for a target: (IREE input text, input specs, result count, report)."""
    context = PassContext(imported.weights, target)
    context.report.notes += imported.notes
    with imported.context, ir.Location.unknown():
        specs, results = _main_signature(imported.module)
        _check_computes(imported.module)
        with _pass_temps(save_temps):
            if sparse:
                run_pipeline(imported.module, sparsify_pipeline(target.name, tune, tune_threads), context)
            else:
                steps = [Step("bcr-raise-sparse-layers{analyze-only=1}", RaiseSparseLayers(analyze_only=True))]
                if target.name == "vulkan":  # the same IREE workarounds as the sparse pipeline
                    steps += [Step("bcr-fusion-barriers", FusionBarriers()),
                              Step("bcr-generalize-depthwise", GeneralizeDepthwise())]
                run_pipeline(imported.module, steps, context)
        text = iree.to_iree_text(imported.module)
    if not sparse:
        context.report.notes.append("compiled dense (sparse=False): the IREE baseline")
    return text, specs, results, context.report


def _compile_variants(import_once, targets: list[Target], *, sparse: bool, dense_flags: str | None, tune: str,
                      dtype: str, save_temps: str | None, started: float, tune_threads: int = 1) -> CompiledModule:
    """One multi-target module: every target lowered by its own pipeline, then merged (backends/multi_target.py)."""
    from bcr_mlir.backends import multi_target
    multi_target.check_variants(targets, dtype)
    flags = dense_flags or "tuned"
    texts, reports = [], {}
    for target in targets:
        _, temps = _check_options(target, sparse, flags, save_temps)
        text, specs, results, report = _lower(import_once(), target, sparse, temps and str(Path(temps) / target.name), tune,
                                              tune_threads)
        texts.append((target, text))
        reports[target.name] = report
    text = multi_target.merge(texts)
    with tempfile.TemporaryDirectory() as tmp:
        keep = Path(save_temps) / "iree_input.mlir" if save_temps else None
        if keep:
            keep.parent.mkdir(parents=True, exist_ok=True)
        output = Path(tmp) / "module.vmfb"
        command = iree.compile_text(text, targets[0], output, flags, keep=keep,
                                    target_flags=multi_target.compile_flags(targets, flags))
        vmfb = output.read_bytes()
        if save_temps:
            shutil.copy(output, Path(save_temps) / "module.vmfb")
    return CompiledModule(vmfb, targets[0], specs, results, reports[targets[0].name], command[4:],
                          time.perf_counter() - started, variants=list(targets), reports=reports)


def compile_imported(imported: ImportedModel, target: Target, *, sparse: bool, dense_flags: str | None,
                     save_temps: str | None, example_arrays: list[np.ndarray] | None = None,
                     started: float | None = None, tune: str = "cache", tune_threads: int = 1) -> CompiledModule:
    started = started or time.perf_counter()
    dense_flags, save_temps = _check_options(target, sparse, dense_flags, save_temps)
    text, specs, results, report = _lower(imported, target, sparse, save_temps, tune, tune_threads)
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
            try:
                command = iree.compile_text(text, target, output, flags, keep=keep)
            except BcrError as error:
                if flags != "tuned" or not target.is_cpu:
                    raise
                # IREE 3.13's tuned CPU flags fail on some modules its defaults compile (a 1x1 conv feeding a
                # Linear: "exceeded stack allocation limit"); they are only a speed-up, so say so and go on.
                report.notes.append(f"IREE's tuned CPU flags failed here ({error.problem.split('error: ')[-1][:120]}); "
                                    "compiled with its default flags")
                if "default" not in candidates:
                    candidates.append("default")
                continue
            built.append((flags, output, command))
        if len(built) > 1:
            arrays = [spec.check(i, x) for i, (spec, x) in enumerate(zip(specs, example_arrays))]
            timed = [(iree.benchmark(path, arrays, threads=1, repeats=10), flags, path, command)
                     for flags, path, command in built]
            best = min(timed)
            report.notes.append("dense flags: " + ", ".join(f"{f} {t * 1e3:.2f} ms" for t, f, _, _ in timed) +
                                        f" -> using {best[1]}")
            built = [(best[1], best[2], best[3])]
        flags, output, command = built[0]
        vmfb = output.read_bytes()
        if save_temps:
            shutil.copy(output, Path(save_temps) / "module.vmfb")
    return CompiledModule(vmfb, target, specs, results, report, command[4:], time.perf_counter() - started)
