"""bcr-run: run a compiled .vmfb on its target and compare the output with a reference.

    bcr-run model.vmfb --input x.npy                          # target from model.vmfb.json
    bcr-run model.vmfb --input x.npy --reference y.npy --rtol 1e-4 --atol 1e-4
    bcr-run arm.vmfb --input x.npy --target arm64-android      # qemu-user on x86, detected automatically
    bcr-run arm.vmfb --input x.npy --adb [--device-tool /data/local/tmp/iree-run-module]
    bcr-run model.vmfb --input x.npy --benchmark --threads 2
    bcr-run model.vmfb --profile                              # time per dispatch: our kernels and IREE's
    bcr-run multi.vmfb --input x.npy --variant vulkan          # a multi-target module's Vulkan variant

Without --input, inputs are random (seeded) with the shapes recorded at compile time.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from bcr_mlir.errors import BcrError
from bcr_mlir.tools.common import guarded


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bcr-run", description=__doc__.splitlines()[0])
    parser.add_argument("module", help="a .vmfb written by bcr-compile or CompiledModule.save")
    parser.add_argument("--input", action="append", default=[], metavar="NPY", help="an input array (.npy); repeat per input")
    parser.add_argument("--reference", action="append", default=[], metavar="NPY", help="expected output (.npy); repeat per output")
    parser.add_argument("--output", action="append", default=[], metavar="NPY", help="where to save each output (.npy)")
    parser.add_argument("--target", help="x86-host, arm64-android or vulkan (default: from <module>.json)")
    parser.add_argument("--variant", help="for a multi-target module: the variant to run, e.g. vulkan (default: the first)")
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-4)
    parser.add_argument("--benchmark", action="store_true", help="also time it (x86 host only)")
    parser.add_argument("--profile", action="store_true",
                        help="also print where a call spends its time, per dispatch (x86 host only)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--adb", action="store_true", help="run on an Android device through adb (arm64 modules)")
    parser.add_argument("--adb-serial", help="adb device serial (-s)")
    parser.add_argument("--device-tool", default=None, help="iree-run-module on the device (default: found on PATH, "
                                                              "else /data/local/tmp/iree-run-module)")
    return parser


def _load_array(path: str, what: str) -> np.ndarray:
    file = Path(path)
    if not file.is_file():
        raise BcrError(f"{what} file not found: {path}", "pass an existing .npy file")
    try:
        with open(file, "rb") as f:
            magic = f.read(6)
    except OSError as exc:
        raise BcrError(f"cannot read {what} file {path}: {exc.strerror}", "check the file's permissions") from None
    if magic != b"\x93NUMPY":
        raise BcrError(f"{what} file {path} is not a .npy array", "save arrays with numpy.save (.npy, not .npz or text)")
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise BcrError(f"{what} file {path} is not a readable .npy array ({str(exc)[:80]})",
                       "save arrays with numpy.save") from None


def _check_output_path(path: str) -> None:
    file = Path(path)
    if file.is_dir():
        raise BcrError(f"--output {path} is a directory", f"pass a file name, e.g. {file / 'y.npy'}")
    if not file.parent.is_dir():
        raise BcrError(f"output folder {file.parent} does not exist", "create it first")


def _save_array(path: str, array: np.ndarray) -> None:
    """np.save through a temporary file beside `path`, so a failure leaves no partial file."""
    from bcr_mlir.tools.common import write_output_atomically
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    write_output_atomically(path, buffer.getvalue())


@guarded
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from bcr_mlir.api import load

    if args.threads < 1:
        raise BcrError(f"--threads {args.threads} is not a thread count", "use --threads 1 or more")
    if args.profile and args.adb:
        raise BcrError("--profile runs on this host, not through adb",
                       "drop --adb, or on the phone run iree-benchmark-module with --device_profiling_mode=host-execution")
    for path in args.output:  # before running, so a bad path costs nothing and leaves nothing
        _check_output_path(path)
    module = load(args.module, args.target)
    if module.inputs and len(args.output) > module.results:
        raise BcrError(f"{len(args.output)} --output files for {module.results} output(s)",
                       "pass one --output per output of the model")
    if args.input:
        inputs = [_load_array(p, "input") for p in args.input]
    elif module.inputs:
        rng = np.random.default_rng(0)
        inputs = [rng.standard_normal(spec.shape).astype(spec.dtype) for spec in module.inputs]
    else:
        raise BcrError("no --input given and no metadata recording the input shapes", "pass --input x.npy")
    if args.adb:
        from bcr_mlir.backends.android import AdbRunner
        if "arm64-android" not in [t.name for t in module.variants or [module.target]]:
            raise BcrError(f"--adb runs arm64-android modules; this one targets {module.describe()}",
                           "compile with --target arm64-android")
        options = {}
        if module.variants:
            from bcr_mlir.backends import multi_target
            chosen = multi_target.variant_named(module.variants, args.variant)
            options = {"function": multi_target.function_name(module.variants, chosen),
                       "gpu_first": chosen.name == "vulkan"}
        runner = AdbRunner(Path(args.module), serial=args.adb_serial, device_tool=args.device_tool,
                           results=module.results, benchmark=args.benchmark, threads=args.threads, **options)
        outputs = runner(*[spec.check(i, x) for i, (spec, x) in enumerate(zip(module.inputs, inputs))]
                         if module.inputs else inputs)
        if args.benchmark:  # iree-benchmark-module printed its report; there are no outputs to compare
            return 0
    else:
        result = module(*inputs, variant=args.variant)
        outputs = list(result) if isinstance(result, tuple) else [result]
    for i, out in enumerate(outputs):
        print(f"output {i}: shape {list(out.shape)} {out.dtype}, mean {float(np.mean(out)):.6g}")
    if len(args.output) > len(outputs):  # modules without metadata: known only now
        raise BcrError(f"{len(args.output)} --output files for {len(outputs)} output(s)",
                       "pass one --output per output of the model")
    for i, path in enumerate(args.output):
        _save_array(path, outputs[i])
    status = 0
    for i, path in enumerate(args.reference):
        expected = _load_array(path, "reference")
        if i >= len(outputs) or expected.shape != outputs[i].shape:
            raise BcrError(f"reference {i} has shape {list(expected.shape)}, output has "
                           f"{list(outputs[i].shape) if i < len(outputs) else 'none'}", "pass the matching reference")
        error = float(np.abs(outputs[i] - expected).max())
        good = bool(np.allclose(outputs[i], expected, rtol=args.rtol, atol=args.atol))
        print(f"output {i}: max |error| {error:.3e} -> {'OK' if good else 'MISMATCH'} (rtol {args.rtol:g}, atol {args.atol:g})")
        status |= 0 if good else 1
    if args.benchmark and not args.adb:
        seconds = module.benchmark(*inputs, threads=args.threads)
        print(f"latency: {seconds * 1e3:.3f} ms (median, {args.threads} thread(s))")
    if args.profile:
        _print_profile(module.profile(*inputs, threads=args.threads), args.threads)
    return status


def _print_profile(dispatches, threads: int) -> None:
    total = sum(d.microseconds for d in dispatches) or 1.0
    time_of = "worker time" if threads > 1 else "time"
    print(f"profile: {total:.1f} us of dispatch {time_of} per call ({threads} thread(s)); bcr = generated kernel")
    for d in dispatches:
        mark = "bcr " if d.function.startswith("bcr_kernel_") else "iree"
        print(f"  {d.microseconds:9.1f} us {d.microseconds / total:6.1%}  x{d.uses:<4g} {mark} {d.function}")


if __name__ == "__main__":
    sys.exit(main())
