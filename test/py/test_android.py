"""The adb path of bcr-run: the command sequence it builds (no phone is attached here)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bcr_mlir.backends.android import AdbRunner
from bcr_mlir.errors import BcrError


def test_run_commands_push_run_pull():
    runner = AdbRunner(Path("/models/vgg16.vmfb"), results=2)
    commands = runner.commands(input_count=2, local_dir="/tmp/work", device_tool="/data/local/tmp/iree-run-module")
    assert commands[0] == ["adb", "shell", "mkdir -p /data/local/tmp/bcr"]
    assert commands[1] == ["adb", "push", "/models/vgg16.vmfb", "/data/local/tmp/bcr/vgg16.vmfb"]
    assert commands[2] == ["adb", "push", "/tmp/work/in0.npy", "/data/local/tmp/bcr/in0.npy"]
    assert commands[3] == ["adb", "push", "/tmp/work/in1.npy", "/data/local/tmp/bcr/in1.npy"]
    run = commands[4]
    assert run[:2] == ["adb", "shell"]
    assert run[2] == ("/data/local/tmp/iree-run-module --device=local-sync --module=/data/local/tmp/bcr/vgg16.vmfb "
                      "--function=main --device_allocator=caching --input=@/data/local/tmp/bcr/in0.npy --input=@/data/local/tmp/bcr/in1.npy "
                      "--output=@/data/local/tmp/bcr/out0.npy --output=@/data/local/tmp/bcr/out1.npy")
    assert commands[5:] == [["adb", "pull", "/data/local/tmp/bcr/out0.npy", "/tmp/work/out0.npy"],
                            ["adb", "pull", "/data/local/tmp/bcr/out1.npy", "/tmp/work/out1.npy"]]


def test_serial_threads_and_benchmark():
    runner = AdbRunner(Path("m.vmfb"), serial="R58M123", benchmark=True, threads=2)
    commands = runner.commands(1, "/tmp/w", "iree-benchmark-module")
    assert all(c[:3] == ["adb", "-s", "R58M123"] for c in commands)
    run = commands[-1][-1]
    assert run.startswith("iree-benchmark-module --device=local-task ")
    assert "--task_topology_max_group_count=2" in run and "--output" not in run
    assert not any("pull" in c for c in commands)


def test_device_tool_given_by_path_is_used_as_is():
    runner = AdbRunner(Path("m.vmfb"), device_tool="/sdcard/tools/iree-run-module")
    assert runner.find_device_tool() == "/sdcard/tools/iree-run-module"


@pytest.mark.skipif(shutil.which("adb") is not None, reason="adb is installed here")
def test_missing_adb_is_a_clear_error():
    with pytest.raises(BcrError, match="adb is not installed"):
        AdbRunner(Path("m.vmfb"))(np.zeros(3, np.float32))
