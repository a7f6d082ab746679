"""Running arm64 modules on an Android phone through adb (see docs/android.md).

The device needs IREE's runtime tools built for Android (iree-run-module, iree-benchmark-module).
This path builds the exact adb commands: push the module and inputs, run the tool, pull the outputs.
It is unit-tested by its command construction only; no phone is attached to CI.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bcr_mlir.backends.iree import ALLOCATOR, cpu_device
from bcr_mlir.errors import BcrError

DEVICE_DIR = "/data/local/tmp/bcr"
DEFAULT_DEVICE_TOOL_DIR = "/data/local/tmp"


@dataclass
class AdbRunner:
    vmfb_path: Path
    serial: str | None = None
    device_tool: str | None = None     # path of iree-run-module on the device; found when None
    results: int = 1
    adb: str = "adb"
    device_dir: str = DEVICE_DIR
    benchmark: bool = False
    threads: int = 1
    function: str = "main"
    gpu_first: bool | None = None      # multi-target modules (arm64 + Vulkan): which device comes first

    def _adb(self) -> list[str]:
        return [self.adb] + (["-s", self.serial] if self.serial else [])

    def tool_name(self) -> str:
        return "iree-benchmark-module" if self.benchmark else "iree-run-module"

    def find_device_tool(self) -> str:
        """The tool given by path, else the one on the device's PATH, else /data/local/tmp/<tool>."""
        if self.device_tool:
            return self.device_tool
        probe = subprocess.run(self._adb() + ["shell", f"command -v {self.tool_name()}"], capture_output=True, text=True)
        found = probe.stdout.strip()
        return found if probe.returncode == 0 and found else f"{DEFAULT_DEVICE_TOOL_DIR}/{self.tool_name()}"

    def commands(self, input_count: int, local_dir: str, device_tool: str) -> list[list[str]]:
        """The adb command sequence, in order (also what the unit tests check)."""
        adb, remote = self._adb(), self.device_dir
        module = f"{remote}/{self.vmfb_path.name}"
        devices = [f"--device={cpu_device(self.threads)}"]
        if self.gpu_first is not None:  # both devices; the inputs are allocated on the first
            devices = ["--device=vulkan"] + devices if self.gpu_first else devices + ["--device=vulkan"]
        run = [device_tool] + devices + [f"--module={module}", f"--function={self.function}"]
        if self.threads > 1:
            run.append(f"--task_topology_max_group_count={self.threads}")
        if self.gpu_first is None:  # as on the host, CPU only: buffers kept for the next call
            run.append(f"--device_allocator={ALLOCATOR}")
        run += [f"--input=@{remote}/in{i}.npy" for i in range(input_count)]
        if not self.benchmark:
            run += [f"--output=@{remote}/out{i}.npy" for i in range(self.results)]
        commands = [adb + ["shell", f"mkdir -p {remote}"], adb + ["push", str(self.vmfb_path), module]]
        commands += [adb + ["push", f"{local_dir}/in{i}.npy", f"{remote}/in{i}.npy"] for i in range(input_count)]
        commands.append(adb + ["shell", " ".join(shlex.quote(part) for part in run)])
        if not self.benchmark:
            commands += [adb + ["pull", f"{remote}/out{i}.npy", f"{local_dir}/out{i}.npy"] for i in range(self.results)]
        return commands

    def __call__(self, *inputs: np.ndarray) -> list[np.ndarray]:
        if shutil.which(self.adb) is None:
            raise BcrError("adb is not installed", "install Android platform-tools (Debian: adb) and connect a device")
        tool = self.find_device_tool()
        with tempfile.TemporaryDirectory() as local:
            for i, x in enumerate(inputs):
                np.save(f"{local}/in{i}.npy", np.ascontiguousarray(x))
            for command in self.commands(len(inputs), local, tool):
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode != 0:
                    raise BcrError(f"adb step failed: {' '.join(command)}: {result.stderr.strip()[-300:]}",
                                   "check `adb devices`, and that the IREE tools are on the device (docs/android.md)")
                if self.benchmark and "shell" in command and self.tool_name() in command[-1]:
                    print(result.stdout)
            if self.benchmark:
                return []
            return [np.load(f"{local}/out{i}.npy") for i in range(self.results)]
