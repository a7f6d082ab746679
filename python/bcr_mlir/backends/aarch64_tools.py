"""IREE's aarch64 runtime tools (iree-run-module, iree-benchmark-module) for running arm64 modules.

They come from the manylinux aarch64 wheel of iree-base-runtime (same version as the host runtime),
fetched once with `pip download` into a cache, and run under qemu-user on x86 hosts.

    python -m bcr_mlir.backends.aarch64_tools --fetch     # what `make setup` runs
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from bcr_mlir.errors import TargetError

IREE_VERSION = "3.13.0"
SYSROOT = Path("/usr/aarch64-linux-gnu")
TOOLS = ("iree-run-module", "iree-benchmark-module")


def cache_dir() -> Path:
    if os.environ.get("BCR_AARCH64_TOOLS"):
        return Path(os.environ["BCR_AARCH64_TOOLS"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "bcr-mlir" / f"iree-runtime-{IREE_VERSION}-aarch64"


def tool_path(name: str) -> Path:
    return cache_dir() / name


def available() -> bool:
    return all(tool_path(t).is_file() for t in TOOLS)


def fetch(quiet: bool = True) -> Path:
    """Downloads the aarch64 iree-base-runtime wheel and extracts the tools. Idempotent."""
    target = cache_dir()
    if available():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--platform", "manylinux_2_28_aarch64", "--python-version", "3.11",
                   f"iree-base-runtime=={IREE_VERSION}", "-d", tmp]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise TargetError(f"could not download the aarch64 IREE runtime: {result.stderr.strip().splitlines()[-1:]}",
                              "check access to PyPI, or set BCR_AARCH64_TOOLS to a folder holding iree-run-module")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if member.startswith("iree/_runtime_libs/") and Path(member).name in TOOLS:
                    with archive.open(member) as src, open(target / Path(member).name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    os.chmod(target / Path(member).name, 0o755)
    if not available():
        raise TargetError("the aarch64 IREE wheel did not contain iree-run-module", "set BCR_AARCH64_TOOLS by hand")
    if not quiet:
        print(f"aarch64 IREE tools in {target}")
    return target


def command_prefix(tool: str) -> list[str]:
    """How to start an aarch64 tool here: directly on arm64 hosts, under qemu-aarch64 elsewhere."""
    path = tool_path(tool)
    if not path.is_file():
        fetch()
    if platform.machine() in ("aarch64", "arm64"):
        return [str(path)]
    qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if qemu is None:
        raise TargetError("qemu-aarch64 is not installed, so arm64 modules cannot run on this x86 host",
                          "install Debian's qemu-user and libc6-arm64-cross (make setup does)")
    if not (SYSROOT / "lib" / "ld-linux-aarch64.so.1").exists():
        raise TargetError(f"the arm64 C library is missing from {SYSROOT}",
                          "install libc6-arm64-cross and libstdc++6-arm64-cross (make setup does)")
    return [qemu, "-L", str(SYSROOT), str(path)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetch", action="store_true", help="download the tools if missing")
    args = parser.parse_args(argv)
    if args.fetch:
        try:
            fetch(quiet=False)
        except TargetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    else:
        print(cache_dir() if available() else "not fetched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
