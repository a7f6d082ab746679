"""bcr-mlir sparse and IREE dense modules: compiled through bcr_mlir.compile, timed by iree-benchmark-module.

Timing uses the tool and device settings of `CompiledModule.benchmark` (`local-sync` for 1 thread,
`local-task` with `--task_topology_max_group_count=N` for N threads, IREE's caching allocator for both,
see bcr_mlir.backends.iree.ALLOCATOR), with one call per repetition
(`--benchmark_min_time=1x`), so that every engine in the table is timed per call. The harness runs the
tool once per interleaving round; each run warms up first (`--benchmark_min_warmup_time`). Its peak RSS
is VmHWM from /proc/<pid>/status, polled while it runs (VmHWM only grows, and belongs to the tool's own
address space; rusage's ru_maxrss would also count this Python process, which it inherits at exec).
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IREE_ENGINES = {
    "bcr-sparse": {"sparse": True, "dense_flags": "tuned"},
    "iree-dense-tuned": {"sparse": False, "dense_flags": "tuned"},
    "iree-dense-default": {"sparse": False, "dense_flags": "default"},
}


@dataclass
class IreeModule:
    engine: str
    path: Path
    compile_seconds: float
    size_bytes: int
    output: np.ndarray
    report: dict
    sparse_layers: int
    layers: int
    notes: list[str] = field(default_factory=list)


def compile_module(engine: str, bench_model, folder: Path, tune_threads: int = 1) -> IreeModule:
    """Compiles the pruned model for x86-host as `engine` asks, the sparse layers with the schedules
    bcr-tune cached for `tune_threads` threads; raises on failure."""
    import bcr_mlir
    settings = IREE_ENGINES[engine]
    started = time.perf_counter()
    module = bcr_mlir.compile(bench_model.model, (bench_model.x,), target="x86-host", tune_threads=tune_threads,
                              **settings)
    wall = time.perf_counter() - started
    path = folder / (f"{engine}.vmfb" if tune_threads == 1 else f"{engine}-tuned-{tune_threads}t.vmfb")
    path.write_bytes(module.vmfb)
    output = module(bench_model.x)
    output = output[0] if isinstance(output, tuple) else output
    report = module.report
    return IreeModule(engine, path, float(module.compile_seconds or wall), len(module.vmfb), np.asarray(output),
                      report.to_json(), len(report.sparse_layers), len(report.weight_layers),
                      list(report.notes))


def time_calls(path: Path, input_npy: Path, threads: int, calls: int, warmup_seconds: float = 0.05,
               timeout: float = 600) -> tuple[list[float], int]:
    """Seconds of each of `calls` calls of @main (after warm-up), and the tool's peak RSS in KiB."""
    from bcr_mlir.backends.iree import cpu_device_flags, runtime_tool
    args = [runtime_tool("iree-benchmark-module"), f"--module={path}", "--function=main", *cpu_device_flags(threads),
            f"--benchmark_repetitions={calls}", "--benchmark_min_time=1x", "--benchmark_format=json",
            f"--benchmark_min_warmup_time={warmup_seconds}", f"--input=@{input_npy}"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(args, stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        peak = 0
        while True:
            peak = max(peak, _vm_hwm_kb(process.pid))
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                os.waitpid(process.pid, 0)
                raise RuntimeError(f"iree-benchmark-module timed out after {timeout:.0f} s")
            time.sleep(0.02)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"iree-benchmark-module failed: {stderr.strip().splitlines()[-1][:300] if stderr.strip() else process.returncode}")
    report = json.loads(stdout)
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times = [b["real_time"] * scale[b.get("time_unit", "ms")] / max(1, int(b.get("iterations", 1)))
             for b in report["benchmarks"] if b.get("run_type") == "iteration"]
    return times, peak


def _vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
