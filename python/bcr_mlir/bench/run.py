"""The benchmark run: per model, compile and convert for every engine, then time them all interleaved.

For each model and thread count, every engine that compiled/converted and loaded gets `rounds` turns in
round-robin order (rotated each round, so no engine always runs first or right after another); each turn
is one untimed call followed by `ceil(repeats / rounds)` timed calls. Python-hosted engines run in worker
processes (bench/worker.py) in their own venvs, started once per thread count and kept loaded; the IREE
modules are run by iree-benchmark-module once per turn. Every engine's output is checked against PyTorch.
"""
from __future__ import annotations

import json
import math
import os
import platform
import select
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bcr_mlir.bench import convert as conv
from bcr_mlir.bench.iree_modules import IREE_ENGINES, compile_module, time_calls
from bcr_mlir.bench.models import MODEL_NAMES, RECIPES, build

ENGINES = ["bcr-sparse", "iree-dense-tuned", "iree-dense-default", "torch", "torch-csr", "onnxruntime", "mnn",
           "tvm", "ncnn", "litert"]
QUICK_ENGINES = ["bcr-sparse", "iree-dense-tuned", "iree-dense-default", "torch", "torch-csr"]
DENSE_PEERS = ["torch", "onnxruntime", "mnn", "tvm", "ncnn", "litert"]
LABELS = {"bcr-sparse": "bcr-mlir sparse", "iree-dense-tuned": "IREE dense, tuned flags",
          "iree-dense-default": "IREE dense, default flags", "torch": "PyTorch eager (dense)",
          "torch-csr": "torch.sparse CSR", "onnxruntime": "ONNX Runtime", "mnn": "MNN", "tvm": "TVM (untuned)",
          "ncnn": "ncnn", "litert": "LiteRT (XNNPACK)"}

# An output matches PyTorch when max|y - y_torch| <= ATOL + RTOL * max|y_torch| (float32).
RTOL = 1e-3
ATOL = 1e-4


@dataclass
class Options:
    models: list[str] = field(default_factory=lambda: list(MODEL_NAMES))
    engines: list[str] = field(default_factory=lambda: list(ENGINES))
    threads: list[int] = field(default_factory=lambda: [1, 2])
    quick: bool = False
    rounds: int = 5
    repeats: int = 20          # timed calls per engine, model and thread count (at least)
    budget: float = 60.0       # seconds of timed calls per engine, model and thread count; slow engines get fewer
    warmup: float = 0.2        # seconds of warm-up calls when a worker starts
    start_timeout: float = 900.0
    tune_at_one_thread: bool = False  # time bcr-sparse at every thread count with its 1-thread schedules


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def one_line(exc: BaseException) -> str:
    problem = getattr(exc, "problem", None)
    text = (problem or str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".replace("BcrError: ", "")


def check_output(output, reference: np.ndarray) -> dict:
    output = np.asarray(output, dtype=np.float32)
    if output.size != reference.size:
        return {"match": False, "max_abs_err": None, "rel_err": None,
                "why": f"output has shape {list(output.shape)}, PyTorch's {list(reference.shape)}"}
    error = float(np.abs(output.reshape(reference.shape) - reference).max()) if reference.size else 0.0
    if not np.isfinite(error):
        return {"match": False, "max_abs_err": error, "rel_err": None, "why": "output has NaN or Inf"}
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    ok = error <= ATOL + RTOL * scale
    return {"match": bool(ok), "max_abs_err": error, "rel_err": error / scale if scale else error,
            "why": "" if ok else f"max |error| {error:.3g} > {ATOL:g} + {RTOL:g} x {scale:.3g}"}


def merge_check(old: dict | None, new: dict) -> dict:
    """The worse of two output checks (an engine is checked at every thread count)."""
    if old is None:
        return new
    if not new["match"] or (old["match"] and (new["max_abs_err"] or 0) > (old["max_abs_err"] or 0)):
        return new
    return old


class Worker:
    """A worker process (bench/worker.py) in the engine's venv, at one thread count."""

    def __init__(self, engine: str, threads: int, folder: Path, name: str, small: bool, options: Options):
        self.engine, self.threads = engine, threads
        self.output = folder / f"out-{engine}-{threads}t.npy"
        spec = {"engine": engine, "threads": threads, "dir": str(folder), "input": str(folder / "input.npy"),
                "output": str(self.output), "warmup_seconds": options.warmup, "zoo": {"name": name, "small": small}}
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), TVM_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
        if conv.HOSTS[engine] != "main":
            env["PYTHONPATH"] = str(conv.project_root() / "python")
        self.log_path = folder / f"worker-{engine}-{threads}t.log"
        self.process = subprocess.Popen([str(conv.host_python(engine)), str(Path(__file__).with_name("worker.py")),
                                         json.dumps(spec)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=open(self.log_path, "w"), text=True, env=env)
        self.ready = self._read(options.start_timeout)

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self.kill()
            return {"error": f"no answer within {timeout:.0f} s"}
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] if self.log_path.exists() else []
            return {"error": f"worker exited with {self.process.returncode}" + (f": {tail[0][:300]}" if tail else "")}
        return json.loads(line)

    def _ask(self, request: dict, timeout: float) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read(timeout)

    def time(self, calls: int, timeout: float) -> list[float]:
        answer = self._ask({"cmd": "time", "n": calls, "warmup": 1}, timeout)
        if "times" not in answer:
            raise RuntimeError(answer.get("error", "worker failed"))
        return answer["times"]

    def quit(self) -> dict:
        try:
            answer = self._ask({"cmd": "quit"}, 60)
            self.process.wait(timeout=30)
            return answer
        except Exception:
            self.kill()
            return {}

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _stats(times: list[float]) -> dict:
    ms = [t * 1e3 for t in times]
    quartiles = statistics.quantiles(ms, n=4) if len(ms) >= 2 else [ms[0]] * 3
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "q1_ms": quartiles[0], "q3_ms": quartiles[2],
            "runs": len(ms), "times_ms": [round(t, 4) for t in ms]}


def _sparse_module_at(threads: int, bm, folder: Path, single_thread, engines: dict):
    """bcr-sparse compiled with the schedules bcr-tune cached for `threads` threads (the fastest kernel
    at 2 threads is not always the fastest at 1; layers tuned only at 1 thread keep that schedule), as
    IREE dense gets its faster flag set per thread count. Falls back to the 1-thread module."""
    try:
        module = compile_module("bcr-sparse", bm, folder, tune_threads=threads)
    except Exception as exc:
        log(f"  bcr-sparse: tuning for {threads} threads failed, timing the 1-thread module: {one_line(exc)}")
        return single_thread
    entry = engines["bcr-sparse"]
    entry["check"] = merge_check(entry["check"], check_output(module.output, bm.reference))
    own = sum(f"at {threads} threads" in layer.get("reason", "") and "none at" not in layer.get("reason", "")
              for layer in module.report.get("layers", []))
    entry.setdefault("tuned_layers", {})[str(threads)] = own
    log(f"  bcr-sparse: at {threads} threads, {own} of {module.sparse_layers} sparse layers use a schedule tuned "
        f"at {threads} threads, the rest their 1-thread one")
    return module


def bench_model(name: str, options: Options) -> dict:
    started = time.perf_counter()
    recipe = RECIPES[name]
    bm = build(name, small=options.quick)
    folder = conv.model_dir(bm)
    result = {"title": recipe.title, "input_shape": list(bm.x.shape), "small": bm.small, "pruning": recipe.description,
              "scheme": recipe.scheme, "rate": round(recipe.rate, 3), "pruned_weights": len(bm.plan),
              "prunable_weights": bm.prunable, "input_note": bm.input_note, "engines": {}, "compile": {}}
    engines = {e: {"label": LABELS[e], "status": "ok", "reason": "", "check": None, "threads": {}, "peak_rss_mb": {},
                   "model_rss_mb": {}} for e in options.engines}
    result["engines"] = engines

    def fail(engine, status, reason):
        engines[engine].update(status=status, reason=reason)
        log(f"  {engine}: {status}: {reason}")

    # 1. IREE modules: compile, size, compile time, output check.
    modules = {}
    for engine in [e for e in options.engines if e in IREE_ENGINES]:
        log(f"  {engine}: compiling")
        try:
            module = compile_module(engine, bm, folder)
        except Exception as exc:
            if os.environ.get("BCR_DEBUG"):
                traceback.print_exc()
            fail(engine, "compile failed", one_line(exc))
            continue
        modules[engine] = module
        engines[engine]["check"] = check_output(module.output, bm.reference)
        engines[engine]["version"] = _iree_version()
        engines[engine]["note"] = "; ".join(n for n in module.notes if not n.startswith("compiled dense"))[:300]
        result["compile"][engine] = {"seconds": round(module.compile_seconds, 2), "bytes": module.size_bytes,
                                     "sparse_layers": module.sparse_layers, "layers": module.layers}
        if engine == "bcr-sparse":
            result["sparse_layers"] = module.sparse_layers
            result["layers"] = module.layers
            result["report"] = module.report
        log(f"  {engine}: compiled in {module.compile_seconds:.1f} s, {module.size_bytes / 1e6:.2f} MB, "
            f"{module.sparse_layers}/{module.layers} layers sparse, max |err| {engines[engine]['check']['max_abs_err']:.2e}")

    # 2. Peer engines: installed? converted?
    peers = []
    for engine in [e for e in options.engines if e not in IREE_ENGINES]:
        missing = conv.engine_available(engine)
        if missing:
            fail(engine, "not installed", missing)
            continue
        try:
            conv.convert(engine, folder, name, bm.small, list(bm.x.shape))
        except conv.ConversionError as exc:
            fail(engine, "conversion failed", exc.reason)
            continue
        peers.append(engine)
    if "tvm" in engines:
        engines["tvm"]["untuned"] = True

    # 3. Per thread count: start the workers, then interleave everyone.
    per_turn = max(1, math.ceil(options.repeats / options.rounds))
    for threads in options.threads:
        timed_modules = dict(modules)
        if "bcr-sparse" in modules and threads != 1 and not options.tune_at_one_thread:
            timed_modules["bcr-sparse"] = _sparse_module_at(threads, bm, folder, modules["bcr-sparse"], engines)
        workers = {}
        for engine in peers:
            if engines[engine]["status"] != "ok":
                continue
            log(f"  {engine}: loading at {threads} thread(s)")
            worker = Worker(engine, threads, folder, name, bm.small, options)
            if "error" in worker.ready:
                worker.kill()
                fail(engine, "load failed", worker.ready["error"])
                continue
            workers[engine] = worker
            engines[engine]["version"] = worker.ready.get("version", "?")
            engines[engine]["note"] = worker.ready.get("note", "")
            engines[engine]["load_seconds"] = round(worker.ready.get("load_seconds", 0), 2)
            engines[engine]["check"] = merge_check(engines[engine]["check"],
                                                   check_output(np.load(worker.output), bm.reference))
        participants = [e for e in options.engines if e in modules or e in workers]
        # A time budget per engine: an engine slower than budget/repeats per call gets fewer calls (>= 3).
        calls = {}
        for engine in participants:
            estimate = workers[engine].ready.get("first_call_seconds", 0) if engine in workers else 0
            total = options.repeats
            if estimate * options.repeats > options.budget:
                total = max(3, int(options.budget / max(estimate, 1e-9)))
            calls[engine] = max(1, math.ceil(total / options.rounds))
        times: dict[str, list[float]] = {e: [] for e in participants}
        peaks: dict[str, int] = {e: 0 for e in participants}
        for round_index in range(options.rounds):
            shift = round_index % max(1, len(participants))
            for engine in participants[shift:] + participants[:shift]:
                if engine not in times:
                    continue
                try:
                    if engine in modules:
                        chunk, peak = time_calls(timed_modules[engine].path, folder / "input.npy", threads,
                                                 calls[engine])
                        peaks[engine] = max(peaks[engine], peak)
                    else:
                        chunk = workers[engine].time(calls[engine], timeout=max(600.0, 20 * options.budget))
                except Exception as exc:
                    fail(engine, "run failed", f"{threads} thread(s): {one_line(exc)}")
                    del times[engine]
                    if engine in workers:
                        workers.pop(engine).kill()
                    continue
                times[engine] += chunk
        for engine, worker in workers.items():
            answer = worker.quit()
            if answer.get("peak_rss_kb"):
                peaks[engine] = answer["peak_rss_kb"]
                engines[engine]["model_rss_mb"][str(threads)] = round(
                    (answer["peak_rss_kb"] - answer.get("baseline_rss_kb", 0)) / 1024, 1)
        for engine, values in times.items():
            if not values:
                continue
            stats = _stats(values)
            if stats["runs"] < options.repeats:
                stats["budget_limited"] = True
            engines[engine]["threads"][str(threads)] = stats
            engines[engine]["peak_rss_mb"][str(threads)] = round(peaks[engine] / 1024, 1)
            log(f"  {threads}T {engine:<19} median {stats['median_ms']:9.3f} ms  min {stats['min_ms']:9.3f} ms  "
                f"({stats['runs']} runs)")
    for engine, entry in engines.items():
        check = entry.get("check")
        if entry["status"] == "ok" and check is not None and not check["match"]:
            entry["status"] = "MISMATCH"
            entry["reason"] = check["why"]
            log(f"  {engine}: OUTPUT MISMATCH against PyTorch: {check['why']}")
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


_IREE_VERSION = None


def _iree_version() -> str:
    global _IREE_VERSION
    if _IREE_VERSION is None:
        try:
            from importlib.metadata import version
            _IREE_VERSION = version("iree-base-compiler")
        except Exception:
            _IREE_VERSION = "?"
    return _IREE_VERSION


def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average": [round(v, 2) for v in os.getloadavg()], "nice": os.nice(0)}


def compiler_revision() -> str:
    """The git commit of the compiler being measured, with "+dirty" if python/ has uncommitted changes."""
    root = conv.project_root()
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "python"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return (commit or "?") + ("+dirty" if dirty else "")


def run(options: Options) -> dict:
    """Runs the benchmark and returns the results dict (see report.py for what it holds)."""
    from bcr_mlir.bench.report import add_ratios_and_goals
    import torch
    results = {"meta": {"tool": "bcr-bench", "mode": "quick" if options.quick else "full",
                        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
                        "torch": torch.__version__, "iree": _iree_version(), "bcr_mlir": compiler_revision(), "threads": options.threads,
                        "rounds": options.rounds, "repeats": options.repeats, "budget_seconds": options.budget,
                        "tolerance": {"rtol": RTOL, "atol": ATOL,
                                      "rule": "max|y - y_torch| <= atol + rtol * max|y_torch|"},
                        "engines": options.engines},
               "models": {}}
    started = time.perf_counter()
    for name in options.models:
        log(f"{name}: {RECIPES[name].title}{' (small)' if options.quick else ''}")
        try:
            results["models"][name] = bench_model(name, options)
        except Exception as exc:
            if os.environ.get("BCR_DEBUG"):
                traceback.print_exc()
            log(f"  {name}: failed: {one_line(exc)}")
            results["models"][name] = {"title": RECIPES[name].title, "error": one_line(exc), "engines": {},
                                       "compile": {}}
    results["meta"]["seconds"] = round(time.perf_counter() - started, 1)
    results["meta"]["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    add_ratios_and_goals(results)
    return results
