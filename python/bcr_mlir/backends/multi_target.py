"""Multi-target modules: one .vmfb holding a CPU variant (arm64 or x86) and a Vulkan variant of a model.

The sparse kernels differ per target (scf/vector custom dispatches on CPUs, GLSL compute shaders on
Vulkan), and so do the packed weights they read, so each variant is lowered by its own bcr pipeline.
The hand-off texts are then merged into one module with two entry points, each pinned to its device:

    // variant 0 (arm64-android)                // variant 1 (vulkan)
    func.func @main(%x) {                       func.func @main(%x) {
      flow.dispatch @bcr_kernel_conv1_ex...       hal.dispatch.extern "main"(...) objects({vulkan: spv})

    // merged: the second variant's symbols (and resources) renamed, every function given its device
    func.func @main(%x) attributes {stream.affinity = #hal.device.affinity<@bcr_cpu>} { ... }
    func.func @main_vulkan(%x) attributes {stream.affinity = #hal.device.affinity<@bcr_gpu>} { ... }

iree-compile gets two named devices: --iree-hal-target-device=bcr_cpu=local, bcr_gpu=vulkan.

What IREE 3.13 allows, and so what this does not do:
- Both devices must be present when the module is loaded. An optional GPU (a #hal.device.select with a
  #hal.device.fallback to the CPU) fails to compile ("immutable global ... is initialized both by
  initial value and by store in initializer").
- Its Python runtime cannot put a Vulkan device in a device group ("Vulkan queue frontier already
  assigned"), so these modules run through iree-run-module, given both --device flags with the called
  function's device first (iree-run-module allocates the inputs on the first device).
- Executables stay unlinked (--iree-hal-link-executables=false): with both devices, IREE's llvm-cpu
  linking passes crash on the external Vulkan executables.
- One CPU target and one Vulkan target: two CPU targets would be two `local` devices that are never both
  present on one machine.
"""
from __future__ import annotations

from bcr_mlir.errors import BcrError
from bcr_mlir.targets import Target

CPU_DEVICE = "bcr_cpu"
GPU_DEVICE = "bcr_gpu"
FUNCTION_SUFFIX = {"x86-host": "x86", "arm64-android": "arm64", "vulkan": "vulkan"}


def check_variants(targets: list[Target], dtype: str = "f32") -> None:
    """Errors for target lists a multi-target module cannot hold."""
    kinds = sorted("gpu" if t.name == "vulkan" else "cpu" for t in targets)
    if kinds != ["cpu", "gpu"]:
        raise BcrError(f"a multi-target module holds one CPU target and one Vulkan target, got "
                       f"{', '.join(t.name for t in targets)}",
                       "pass e.g. target=['arm64-android', 'vulkan'] (bcr-compile --target arm64-android --target vulkan)")
    if any(t.name == "vulkan" and t.vulkan_target == "baseline_f16" for t in targets) or dtype != "f32":
        raise BcrError("multi-target modules are f32 only (vulkan:baseline_f16 is declared in the module, which "
                       "IREE does not combine with a second device)", "compile f16 modules for one target each")


def device_of(target: Target) -> str:
    return GPU_DEVICE if target.name == "vulkan" else CPU_DEVICE


def function_name(targets: list[Target], target: Target) -> str:
    """The entry function of a variant: @main for the first target, @main_<kind> for the other."""
    return "main" if target == targets[0] else f"main_{FUNCTION_SUFFIX[target.name]}"


def variant_named(targets: list[Target], name: str | None) -> Target:
    """The variant for a target name ('vulkan', 'arm64-android', ...); None is the first."""
    if name is None:
        return targets[0]
    from bcr_mlir.targets import parse_target
    wanted = parse_target(name).name
    for target in targets:
        if target.name == wanted:
            return target
    raise BcrError(f"the module has no {wanted} variant", f"use one of {', '.join(t.name for t in targets)}")


def merge(texts: list[tuple[Target, str]]) -> str:
    """One IREE input module from the per-target hand-off texts (see the module docstring)."""
    from iree.compiler import ir  # IREE's own bindings: they know flow, stream and hal

    targets = [target for target, _ in texts]
    context = ir.Context()
    merged = None
    for target, text in texts:
        module = ir.Module.parse(text, context)  # a second parse renames colliding resource blobs
        suffix = "" if target == targets[0] else "_" + FUNCTION_SUFFIX[target.name]
        affinity = ir.Attribute.parse(f"#hal.device.affinity<@{device_of(target)}>", context)
        for op in list(module.body.operations):
            op = op.operation
            if suffix and "sym_name" in op.attributes:
                old = ir.StringAttr(op.attributes["sym_name"]).value
                ir.SymbolTable.replace_all_symbol_uses(old, old + suffix, module.operation)
                ir.SymbolTable.set_symbol_name(op, old + suffix)
            if op.name in ("func.func", "util.func"):
                op.attributes["stream.affinity"] = affinity
        if merged is None:
            merged = module
            continue
        last = list(merged.body.operations)[-1].operation
        for op in list(module.body.operations):
            op.operation.move_after(last)
            last = op.operation
    text = merged.operation.get_asm(enable_debug_info=False)
    # IREE 3.13 prints an inline executable object (no path) as `<{, data = ...}>`, which it cannot parse back.
    return text.replace("#hal.executable.object<{, data", "#hal.executable.object<{data")


def compile_flags(targets: list[Target], dense_flags: str) -> list[str]:
    """iree-compile flags for the two named devices, each with its target's own options."""
    from bcr_mlir.backends import iree
    flags = [f"--iree-hal-target-device={CPU_DEVICE}=local", f"--iree-hal-target-device={GPU_DEVICE}=vulkan",
             # IREE 3.13's llvm-cpu linking passes also visit the Vulkan variants and crash on the external
             # (GLSL) ones (LLVMCPUAssignImportOrdinalsPass); unlinked, each dispatch keeps its own executable.
             "--iree-hal-link-executables=false"]
    for target in targets:
        flags += [f for f in iree.compile_flags(target, dense_flags) if not f.startswith("--iree-hal-target-device=")]
    return flags


def run_devices(targets: list[Target], target: Target, threads: int = 1) -> list[str]:
    """iree-run-module --device values for calling `target`'s function: its own device first."""
    from bcr_mlir.backends.iree import cpu_device
    devices = ["vulkan", cpu_device(threads)]
    return devices if target.name == "vulkan" else devices[::-1]
