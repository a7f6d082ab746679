"""Hand-off to IREE: module text with custom dispatches, iree-compile flags per target, and the runtimes.

The bcr pipeline runs in upstream MLIR (torch_mlir's bindings); IREE's Python context has no irdl. So
the hand-off is textual: every generated kernel function becomes a `stream.executable` (an export
with a static workgroup count, and an entry function that turns `!stream.binding`s into memrefs and
workgroup ids into the kernel's leading arguments), and every `bcr.dispatch` becomes a
`flow.dispatch` of it. Everything else is left for IREE to compile as usual.
"""
from __future__ import annotations

import json
import re
from collections import Counter
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcr_mlir import ir
from bcr_mlir.backends import vulkan_extern
from bcr_mlir.dialect import int_array, int_attr, ops_named
from bcr_mlir.errors import BcrError, TargetError
from bcr_mlir.passes.fusion_barriers import BARRIER_PREFIX
from bcr_mlir.targets import Target

# IREE's best CPU flags (shared/BENCHMARKS.md); dense baselines and the dense parts of sparse models use them.
TUNED_CPU_FLAGS = ["--iree-opt-level=O3", "--iree-global-opt-use-im2col-for-convs", "--iree-opt-data-tiling",
                   "--iree-llvmcpu-enable-ukernels=all"]
DISPATCH_STUB = "__bcr_dispatch_"

# IREE 3.13 miscompiles an elementwise op whose result feeds both a custom dispatch (through a pad)
# and a strided consumer (the im2col of a 1x1 stride-2 conv, as in ResNet's downsample): multi-use
# fusion folds the producer into the strided consumer and yields its full-size result through a
# strided map, so 3/4 of it is never written. Modules with our kernels turn that fusion off.
CUSTOM_DISPATCH_FLAGS = ["--iree-dispatch-creation-fuse-multi-use=false"]


def tool(name: str) -> str:
    from iree.compiler.tools import binaries
    return binaries.find_tool(name)


def runtime_tool(name: str) -> str:
    import iree._runtime_libs as libs
    path = Path(libs.__file__).parent / name
    if not path.exists():
        raise TargetError(f"IREE runtime tool {name} not found", "reinstall iree-base-runtime==3.13.0")
    return str(path)


def compile_flags(target: Target, dense_flags: str = "tuned") -> list[str]:
    """iree-compile flags for a target. `dense_flags` is 'tuned' (IREE's best CPU flags) or 'default'."""
    if target.name == "vulkan":
        if target.vulkan_target == "baseline_f16":
            return []  # the module declares its device (declare_device)
        return ["--iree-hal-target-device=vulkan", f"--iree-vulkan-target={target.vulkan_target}"]
    flags = ["--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=llvm-cpu"]
    if target.name == "x86-host":
        flags.append("--iree-llvmcpu-target-cpu=host")
    else:
        flags.append(f"--iree-llvmcpu-target-triple={target.triple}")
        if target.cpu:
            flags.append(f"--iree-llvmcpu-target-cpu={target.cpu}")
        flags.append("--iree-llvmcpu-target-cpu-features=" + ",".join(f"+{f}" for f in target.features))
    if dense_flags == "tuned":
        flags += TUNED_CPU_FLAGS
    return flags


# ---- The textual hand-off ------------------------------------------------------------------------

def _memref_types(function: ir.Operation) -> list[str]:
    function_type = ir.FunctionType(ir.TypeAttr(function.attributes["function_type"]).value)
    return [str(t) for t in function_type.inputs[3:]]


def _executable_text(kernel: str, body: str, memrefs: list[str], grid: tuple[int, int, int], blocks: int = 1) -> str:
    """The kernel as a stream.executable whose entry calls it once per workgroup id of `grid`, or, when
    `blocks` > 1, once per id (i, y, z) for i in [x * blocks, (x + 1) * blocks) inside the kernel's grid,
    from a grid `blocks` times narrower along x."""
    bindings = ", ".join(f"%b{i}: !stream.binding" for i in range(len(memrefs)))
    subspans = "\n".join(f"        %m{i} = stream.binding.subspan %b{i}[%c0] : !stream.binding -> {t}"
                         for i, t in enumerate(memrefs))
    operands = ", ".join(f"%m{i}" for i in range(len(memrefs)))
    types = ", ".join(["index"] * 3 + memrefs)
    body = re.sub(rf"@{kernel}\b", f"@{kernel}_body", body, count=1)
    call = f"func.call @{kernel}_body(%w0, %w1, %w2, {operands}) : ({types}) -> ()"
    if blocks > 1:
        count, grid = grid[0], (-(-grid[0] // blocks), grid[1], grid[2])
        call = f"""%c1 = arith.constant 1 : index
        %blocks = arith.constant {blocks} : index
        %count = arith.constant {count} : index
        %first = arith.muli %w0, %blocks : index
        scf.for %k = %c0 to %blocks step %c1 {{
          %i = arith.addi %first, %k : index
          %inside = arith.cmpi ult, %i, %count : index
          scf.if %inside {{
            {call.replace("(%w0,", "(%i,", 1)}
          }}
        }}"""
    return f"""  stream.executable private @{kernel}_ex {{
    stream.executable.export public @{kernel} workgroups() -> (index, index, index) {{
      %x = arith.constant {grid[0]} : index
      %y = arith.constant {grid[1]} : index
      %z = arith.constant {grid[2]} : index
      stream.return %x, %y, %z : index, index, index
    }}
    builtin.module {{
{body}
      func.func @{kernel}({bindings}) {{
        %c0 = arith.constant 0 : index
{subspans}
        %w0 = stream.dispatch.workgroup.id[0] : index
        %w1 = stream.dispatch.workgroup.id[1] : index
        %w2 = stream.dispatch.workgroup.id[2] : index
        {call}
        return
      }}
    }}
  }}"""


def to_iree_text(module: ir.Module) -> str:
    """The module as IREE input text: kernels wrapped in stream.executables, bcr.dispatch -> flow.dispatch.

    Consumes `module` (it is rewritten in place).
    """
    functions = {ir.StringAttr(op.attributes["sym_name"]).value: op.operation
                 for op in module.body.operations if op.operation.name == "func.func"}
    executables, declared = [], set()
    externs = vulkan_extern.ExternDispatches(module, functions)  # GLSL kernels -> hal.dispatch.extern
    for op in ops_named(module, ("bcr.dispatch",)):
        if externs.rewrite(op):
            continue
        kernel = ir.FlatSymbolRefAttr(op.attributes["kernel"]).value
        if kernel not in declared:
            function = functions[kernel]
            executables.append(_executable_text(kernel, str(function), _memref_types(function),
                                                tuple(int_array(op, "workgroups")),
                                                int_attr(op, "blocks_per_workgroup", 1)))
            declared.add(kernel)
            with ir.InsertionPoint(module.body), op.location:
                stub_type = ir.FunctionType.get([v.type for v in op.operands], [r.type for r in op.results])
                ir.func.FuncOp(f"{DISPATCH_STUB}{kernel}", stub_type, visibility="private")
        with ir.InsertionPoint(op), op.location:
            results = ir.func.CallOp([r.type for r in op.results], ir.FlatSymbolRefAttr.get(f"{DISPATCH_STUB}{kernel}"),
                                     list(op.operands)).results
        for old, new in zip(op.results, results):
            old.replace_all_uses_with(new)
        op.erase()
    for kernel in declared:
        functions[kernel].erase()
    externs.erase_kernels()
    for name in ("bcr.sparsity",):
        if name in module.operation.attributes:
            del module.operation.attributes[name]
    text = module.operation.get_asm(enable_debug_info=False)
    text = externs.substitute(text)
    text = re.sub(rf"\bcall @{DISPATCH_STUB}([\w$.-]+)\(", lambda m: f"flow.dispatch @{m.group(1)}_ex::@{m.group(1)}(", text)
    text = re.sub(rf"^\s*func\.func private @{DISPATCH_STUB}[^\n]*\n", "", text, flags=re.M)
    # bcr-fusion-barriers' calls (the bindings have no IREE dialects).
    text = re.sub(rf"\bcall @{BARRIER_PREFIX}[\w$.-]+\((%[\w$.#-]+)\) : \((tensor<[^>]*>)\) -> tensor<[^>]*>",
                  r"util.optimization_barrier \1 : \2", text)
    text = re.sub(rf"^\s*func\.func private @{BARRIER_PREFIX}[^\n]*\n", "", text, flags=re.M)
    if executables:
        start = re.search(r"^module( attributes \{.*\})? \{\n", text, flags=re.M)
        if start is None:
            raise BcrError("internal error: cannot find the module body in the printed IR")
        text = text[:start.end()] + "\n".join(executables) + "\n" + text[start.end():]
    return text


def declare_device(text: str, target: Target) -> str:
    """Adds `hal.device.targets` to the module for targets IREE has no flag for (vulkan:baseline_f16)."""
    if not (target.name == "vulkan" and target.vulkan_target == "baseline_f16"):
        return text
    from bcr_mlir.targets import BASELINE_F16_TARGET_INFO
    device = ('#hal.device.target<"vulkan", [#hal.executable.target<"vulkan-spirv", "vulkan-spirv-fb", '
              f'{{iree_codegen.target_info = {BASELINE_F16_TARGET_INFO}}}>]> : !hal.device')
    header = re.search(r"^module( attributes \{)?", text, flags=re.M)
    if header is None:
        raise BcrError("internal error: cannot find the module in the printed IR")
    if header.group(1):
        return text[:header.end()] + f"hal.device.targets = [{device}], " + text[header.end():]
    return text[:header.end()] + f" attributes {{hal.device.targets = [{device}]}}" + text[header.end():]


def compile_text(text: str, target: Target, output: Path, dense_flags: str = "tuned",
                 extra_flags: list[str] | None = None, keep: Path | None = None,
                 target_flags: list[str] | None = None) -> list[str]:
    """Runs iree-compile on module text; returns the command. Errors become one-line BcrErrors.

    target_flags replaces the target's own device flags (multi-target modules name two devices)."""
    text = declare_device(text, target)
    if keep:
        Path(keep).write_text(text)
    workaround = CUSTOM_DISPATCH_FLAGS if "flow.dispatch @" in text else []
    device_flags = compile_flags(target, dense_flags) if target_flags is None else target_flags
    # The text goes in on stdin: IREE embeds its input's file name in the module, and a fresh
    # temporary path per compile would make the same model compile to different bytes.
    command = [tool("iree-compile"), "-", "-o", str(output)] + device_flags + workaround + list(extra_flags or [])
    result = subprocess.run(command, input=text, capture_output=True, text=True)
    if result.returncode != 0:
        first = next((line for line in result.stderr.splitlines() if "error" in line), result.stderr.strip()[:300])
        saved = Path(tempfile.mkdtemp(prefix="bcr-iree-")) / "input.mlir"
        saved.write_text(text)
        raise BcrError(f"iree-compile failed for {'multi-target' if target_flags else target.name}: {first.strip()[:400]}",
                       f"reproduce with: {' '.join(command[:1] + [str(saved)] + command[2:])}")
    return command


# ---- Running modules -----------------------------------------------------------------------------

def _to_host(array, device_name: str) -> np.ndarray:
    """DeviceArray -> numpy. On Vulkan, iree-base-runtime 3.13's to_host() fails (it imports unaligned
    host memory), so the result is copied into a mappable host-local staging buffer instead."""
    if device_name != "vulkan":
        return np.array(array.to_host())
    from iree.runtime import BufferUsage, HalFence, MemoryType
    view = array._buffer_view
    device = array._device
    source = view.get_buffer()
    staging = device.allocator.allocate_buffer(
        memory_type=int(MemoryType.HOST_LOCAL | MemoryType.DEVICE_VISIBLE),
        allowed_usage=int(BufferUsage.TRANSFER_TARGET | BufferUsage.MAPPING_SCOPED),
        allocation_size=source.byte_length())
    semaphore = device.create_semaphore(0)
    device.queue_copy(source, staging, wait_semaphores=HalFence.create_at(semaphore, 0),
                      signal_semaphores=HalFence.create_at(semaphore, 1))
    HalFence.create_at(semaphore, 1).wait()
    return np.array(staging.map().asarray(view.shape, array._get_raw_dtype()))


@dataclass
class InProcessRunner:
    """Runs a vmfb with the IREE Python runtime (x86 `local-task`, or `vulkan`)."""

    vmfb: bytes
    driver: str

    def __post_init__(self):
        import iree.runtime as rt
        try:
            # The caching allocator is for the CPU only: Vulkan queue allocations cannot go through it.
            allocators = [ALLOCATOR] if self.driver.startswith("local-") else None
            self.config = rt.Config(device=rt.get_driver(self.driver).create_device_by_uri(
                self.driver, allocators=allocators))
        except Exception as exc:
            fix = "install mesa-vulkan-drivers and libvulkan1 (make setup does)" if self.driver == "vulkan" else None
            raise TargetError(f"cannot create the IREE '{self.driver}' device: {str(exc).splitlines()[0][:200]}", fix) from None
        self.context = rt.SystemContext(config=self.config)
        self.context.add_vm_module(rt.VmModule.copy_buffer(self.config.vm_instance, self.vmfb))
        self.function = self.context.modules.module["main"]

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        results = self.function(*inputs)
        if not isinstance(results, (tuple, list)):
            results = [results]
        return [_to_host(r, self.driver) for r in results]


@dataclass
class ToolRunner:
    """Runs a vmfb with iree-run-module: the aarch64 build under qemu-user, or a host build.

    `devices` lists every device the module needs; the inputs are allocated on the first."""

    vmfb_path: Path
    prefix: list[str]
    devices: list[str]
    results: int
    function: str = "main"

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory() as tmp:
            args = list(self.prefix) + [f"--device={d}" for d in self.devices] + \
                [f"--module={self.vmfb_path}", f"--function={self.function}"]
            args += input_flags(inputs, tmp)
            args += [f"--output=@{tmp}/out{i}.npy" for i in range(self.results)]
            result = subprocess.run(args, capture_output=True, text=True)
            if result.returncode != 0:
                raise BcrError(f"iree-run-module failed: {result.stderr.strip()[-400:]}",
                               f"rerun by hand: {' '.join(args)}")
            return [np.load(f"{tmp}/out{i}.npy") for i in range(self.results)]


# Calls get their buffers from IREE's caching allocator, which keeps them for the next call. With the
# default heap allocator glibc hands every block over its mmap threshold (128 KB) back to the OS when
# a call frees it, and the next call page-faults it in again, zero-filled by the kernel: a 256x256@14
# pattern conv (x86, 1 thread) took ~74 faults and +0.19 ms per call on top of its 0.49 ms kernel, in
# some repetitions and not others. Every CPU runtime path here (timing, bcr-run, the device commands,
# the in-process runner) uses it, for sparse and dense modules alike. Not Vulkan: its queue
# allocations fail through the caching allocator ("cannot allocate a Vulkan buffer").
ALLOCATOR = "caching"


def cpu_device(threads: int) -> str:
    """The IREE CPU device for `threads` threads: local-sync (the calling thread) for 1, local-task
    (a pool of workers) otherwise."""
    return "local-task" if threads > 1 else "local-sync"


def input_flags(inputs: list[np.ndarray], folder: str) -> list[str]:
    """The IREE tools' --input flags for `inputs`, each saved as a .npy in `folder`."""
    flags = []
    for i, x in enumerate(inputs):
        np.save(f"{folder}/in{i}.npy", np.ascontiguousarray(x))
        flags.append(f"--input=@{folder}/in{i}.npy")
    return flags


def cpu_device_flags(threads: int, device: str | None = None) -> list[str]:
    """iree-run-module / iree-benchmark-module flags for the CPU device at `threads` threads (`device`:
    that device instead of the one cpu_device picks)."""
    device = device or cpu_device(threads)
    workers = [f"--task_topology_max_group_count={threads}"] if device == "local-task" else []
    return [f"--device={device}", *workers, f"--device_allocator={ALLOCATOR}"]


def run_tool(command: list[str]) -> subprocess.CompletedProcess:
    """Runs one of IREE's command-line tools; its failure is a BcrError with the end of its stderr."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BcrError(f"{Path(command[0]).name} failed: {result.stderr.strip()[-300:]}")
    return result


def benchmark(vmfb_path: Path, inputs: list[np.ndarray], threads: int = 1, repeats: int = 20, min_time: float = 0.05) -> float:
    """Median seconds per call of @main, measured by iree-benchmark-module (after its warm-up)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [runtime_tool("iree-benchmark-module"), f"--module={vmfb_path}", "--function=main",
                *cpu_device_flags(threads), f"--benchmark_repetitions={repeats}", "--benchmark_format=json",
                "--benchmark_min_warmup_time=0.05", f"--benchmark_min_time={min_time}s"]
        args += input_flags(inputs, tmp)
        report = json.loads(run_tool(args).stdout)
        times = [b["real_time"] for b in report["benchmarks"] if b.get("run_type") == "iteration"]
        unit = report["benchmarks"][0].get("time_unit", "ms")
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
        return float(np.median(times)) * scale


@dataclass(frozen=True)
class DispatchTime:
    """One executable function's share of a call of @main, from IREE's HAL profiler."""
    function: str          # bcr_kernel_<layer> for a generated kernel, main_dispatch_<n>_<what> for IREE's own
    microseconds: float    # per call of @main, summed over its uses (at N threads: worker time, all threads)
    uses: int              # dispatches per call


def profile(vmfb_path: Path, inputs: list[np.ndarray], threads: int = 1, calls: int = 20) -> list[DispatchTime]:
    """Where a call of @main spends its time, per executable function, slowest first: `calls` timed calls
    (after a warm-up) under iree-benchmark-module with HAL host-execution profiling, reduced by
    `iree-profile statistics`. The profile covers the warm-up calls too, the first (cold) one included,
    so each figure is an average over every call of the run.

    It runs on local-task with `threads` workers even at 1 thread: local-sync records no per-dispatch-site
    rows, and those give the number of calls (each site runs once per call) and each function's uses."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = f"{tmp}/profile.ireeprof"
        args = [runtime_tool("iree-benchmark-module"), f"--module={vmfb_path}", "--function=main",
                *cpu_device_flags(threads, "local-task"), "--benchmark_repetitions=1",
                "--benchmark_min_warmup_time=0.1", f"--benchmark_min_time={calls}x",
                "--device_profiling_mode=host-execution", f"--device_profiling_output={bundle}"]
        run_tool(args + input_flags(inputs, tmp))
        statistics = run_tool([runtime_tool("iree-profile"), "statistics", "--format=jsonl", bundle]).stdout
    samples_at, nanoseconds = Counter(), Counter()  # per (function, command index), per function: over all calls
    for row in map(json.loads, statistics.splitlines()):
        if row.get("row_type") == "host_execution_command_operation" and row.get("function_name"):
            samples_at[row["function_name"], row["command_index"]] += row["sample_count"]
            nanoseconds[row["function_name"]] += row["total_duration_ns"]
    if not samples_at:
        raise BcrError("IREE's profiler recorded no dispatches", "check that the module runs: bcr-run model.vmfb")
    runs, uses = max(samples_at.values()), Counter(function for function, _ in samples_at)
    return sorted((DispatchTime(name, ns / 1e3 / runs, uses[name]) for name, ns in nanoseconds.items()),
                  key=lambda d: d.microseconds, reverse=True)


def runner_for(target: Target, vmfb: bytes, vmfb_path: Path | None, results: int):
    if target.name == "x86-host":
        return InProcessRunner(vmfb, "local-task")
    if target.name == "vulkan":
        return InProcessRunner(vmfb, "vulkan")
    from bcr_mlir.backends import aarch64_tools
    if vmfb_path is None:
        raise BcrError("internal error: arm64 modules run from a file")
    return ToolRunner(vmfb_path, aarch64_tools.command_prefix("iree-run-module"), ["local-sync"], results)


def multi_target_runner(targets: list[Target], target: Target, vmfb_path: Path, results: int) -> ToolRunner:
    """Runs one variant of a multi-target module (backends/multi_target.py) on this host."""
    from bcr_mlir.backends import multi_target
    if any(t.name == "arm64-android" for t in targets):
        raise TargetError("an arm64 + Vulkan module needs both of its devices to load, and this host has no arm64 "
                          "Vulkan driver", "run it on the phone (bcr-run model.vmfb --adb [--variant vulkan]), or "
                          "compile x86-host + vulkan to run both variants here")
    return ToolRunner(vmfb_path, [runtime_tool("iree-run-module")], multi_target.run_devices(targets, target), results,
                      multi_target.function_name(targets, target))

