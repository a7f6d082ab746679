"""Compilation targets: what the kernel generator and the IREE hand-off need to know about a device.

Targets are parsed tolerantly from strings such as `x86-host`, `arm64-android`,
`arm64-android:cpu=cortex-a76,features=+neon+dotprod,api=30`, `vulkan` or `vulkan:adreno`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from bcr_mlir.errors import TargetError

ARM_FEATURES = ("neon", "dotprod", "fullfp16", "i8mm")
ARM_CPUS = ("generic", "cortex-a55", "cortex-a75", "cortex-a76", "cortex-a77", "cortex-a78", "cortex-x1",
            "cortex-x2", "cortex-a510", "cortex-a710")
VULKAN_TARGETS = ("vp_android_baseline_2022", "adreno", "valhall", "baseline_f16")
# baseline_f16: vp_android_baseline_2022 plus 16-bit float arithmetic and storage
# (VK_KHR_shader_float16_int8 + VK_KHR_16bit_storage, common on Android GPUs and on Mesa's lavapipe).
# IREE has no such named target, so bcr_mlir declares it in the module (backends/iree.py).
BASELINE_F16_TARGET_INFO = (
    '#iree_gpu.target<arch = "", features = "spirv:v1.3,cap:Shader", wgp = <compute = fp32|fp16|int32, '
    'storage = b32|b16, subgroup = none, subgroup_size_choices = [64], max_workgroup_sizes = [128, 128, 64], '
    'max_thread_count_per_workgroup = 128, max_workgroup_memory_bytes = 16384, '
    'max_workgroup_counts = [65535, 65535, 65535]>>')
TARGET_NAMES = ("x86-host", "arm64-android", "vulkan")


@functools.cache
def host_cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@dataclass(frozen=True)
class Target:
    name: str                      # one of TARGET_NAMES
    cpu: str = ""                  # llvm cpu name ("host" on x86)
    features: tuple[str, ...] = ()  # arm64 features, without '+'
    api_level: int = 34            # Android API level (arm64)
    vulkan_target: str = "vp_android_baseline_2022"

    @property
    def is_cpu(self) -> bool:
        return self.name != "vulkan"

    @property
    def triple(self) -> str:
        if self.name == "arm64-android":
            return f"aarch64-linux-android{self.api_level}"
        return "x86_64-unknown-linux-gnu"

    @property
    def vector_bits(self) -> int:
        """Width of the vector registers the kernels are generated for."""
        if self.name == "x86-host":
            return 512 if "avx512f" in host_cpu_flags() else 256 if "avx2" in host_cpu_flags() else 128
        return 128  # NEON; lavapipe/mobile GPUs do not use CPU vectors

    @property
    def vector_registers(self) -> int:
        if self.name == "x86-host":
            return 32 if "avx512f" in host_cpu_flags() else 16
        return 32  # AArch64 has 32 SIMD registers

    def vector_width(self, element_bits: int = 32) -> int:
        return self.vector_bits // element_bits

    def describe(self) -> str:
        if self.name == "arm64-android":
            return f"arm64-android (api {self.api_level}, cpu {self.cpu or 'generic'}, +{'+'.join(self.features)})"
        if self.name == "vulkan":
            return f"vulkan ({self.vulkan_target})"
        return "x86-host"


def parse_target(spec: "str | Target") -> Target:
    """`name[:key=value,...]` -> Target. Unknown names, CPUs and features are errors naming the choices."""
    if isinstance(spec, Target):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise TargetError(f"target must be a non-empty string, got {spec!r}", f"use one of {', '.join(TARGET_NAMES)}")
    name, _, options = spec.strip().partition(":")
    name = {"x86": "x86-host", "host": "x86-host", "arm64": "arm64-android", "aarch64": "arm64-android",
            "android": "arm64-android", "gpu": "vulkan"}.get(name.lower(), name.lower())
    if name not in TARGET_NAMES:
        raise TargetError(f"unknown target '{spec}'", f"use one of {', '.join(TARGET_NAMES)}")
    target = Target(name, cpu="host" if name == "x86-host" else "",
                    features=("neon", "dotprod", "fullfp16") if name == "arm64-android" else ())
    for item in filter(None, (o.strip() for o in options.split(","))):
        key, eq, value = item.partition("=")
        if not eq and name == "vulkan":
            key, value = "gpu", key
        target = _apply_option(target, key.strip().lower(), value.strip())
    return target


def _apply_option(target: Target, key: str, value: str) -> Target:
    if target.name == "arm64-android":
        if key == "cpu":
            if value not in ARM_CPUS:
                raise TargetError(f"unknown arm64 cpu '{value}'", f"use one of {', '.join(ARM_CPUS)}")
            return replace(target, cpu="" if value == "generic" else value)
        if key == "features":
            features = tuple(f for f in value.replace(",", "+").split("+") if f)
            unknown = [f for f in features if f not in ARM_FEATURES]
            if unknown:
                raise TargetError(f"unknown arm64 cpu feature '{unknown[0]}'", f"use any of {', '.join(ARM_FEATURES)}")
            if "neon" not in features:
                features = ("neon",) + features
            return replace(target, features=features)
        if key in ("api", "api_level", "android_api"):
            if not value.isdigit() or not 21 <= int(value) <= 40:
                raise TargetError(f"invalid Android API level '{value}'", "use an integer from 21 to 40, e.g. api=34")
            return replace(target, api_level=int(value))
    if target.name == "vulkan" and key in ("gpu", "target"):
        if value not in VULKAN_TARGETS:
            raise TargetError(f"unknown Vulkan target '{value}'", f"use one of {', '.join(VULKAN_TARGETS)}")
        return replace(target, vulkan_target=value)
    raise TargetError(f"unknown option '{key}' for target {target.name}",
                      "arm64-android takes cpu=, features=, api=; vulkan takes a GPU name; x86-host takes none")
