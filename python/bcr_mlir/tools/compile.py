"""bcr-compile: compile a model to an IREE .vmfb for x86, arm64 Android or Vulkan.

    bcr-compile model.mlir --target arm64-android -o model.vmfb
    bcr-compile --model vgg16 --prune bcr:8 --target x86-host -o vgg16.vmfb --report
    bcr-compile --model demo --emit-mlir demo.mlir        # the imported linalg MLIR, for bcr-opt
    bcr-compile model.mlir --target arm64-android --target vulkan -o both.vmfb   # one multi-target module

The input is linalg-on-tensors MLIR as torch-mlir emits it (weights as dense_resource constants), or a
built-in model (`--model`, see bcr_mlir.zoo). A `<output>.json` beside the module records the target,
input shapes and the per-layer report; bcr-run reads it.
"""
from __future__ import annotations

import argparse
import os
import sys

from bcr_mlir.errors import BcrError
from bcr_mlir.targets import TARGET_NAMES
from bcr_mlir.tools.common import guarded, read_input, write_output_atomically


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bcr-compile", description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", help="linalg-on-tensors .mlir file ('-' for stdin)")
    parser.add_argument("--model", help="a built-in model instead of an input file (demo, vgg16, resnet18, ...)")
    parser.add_argument("--small", action="store_true", help="the built-in model at its small test size")
    parser.add_argument("--prune", metavar="SCHEME:RATE",
                        help="prune the built-in model first by magnitude, e.g. bcr:8 (block 8x16)")
    parser.add_argument("--target", action="append", default=None,
                        help=f"{', '.join(TARGET_NAMES)}; options after ':', e.g. arm64-android:cpu=cortex-a76,api=30. "
                             "Give it twice (a CPU target and vulkan) for one multi-target module (default: x86-host)")
    parser.add_argument("-o", "--output", help="where to write the .vmfb (default: <input>.<target>.vmfb)")
    parser.add_argument("--dense", action="store_true", help="compile dense (the IREE baseline)")
    parser.add_argument("--dense-flags", choices=("tuned", "default", "best"), default=None,
                        help="IREE flags for dense code (default: tuned; best times both, x86 only)")
    parser.add_argument("--tune", choices=("off", "cache", "measure"), default="cache",
                        help="kernel schedules (x86-host): off = the default model, cache = schedules tuned before "
                             "on this CPU (default), measure = time candidates for new layers (slower, cached)")
    parser.add_argument("--tune-threads", type=int, default=1, metavar="N",
                        help="the thread count the module will run with: schedules are timed and cached at N (default 1)")
    parser.add_argument("--report", action="store_true", help="print the per-layer report")
    parser.add_argument("--emit-mlir", metavar="PATH", help="write the imported linalg MLIR and stop")
    parser.add_argument("--save-temps", metavar="DIR", help="keep every intermediate file in DIR")
    return parser


def _builtin_model(args):
    from bcr_mlir import zoo
    try:
        model, example = zoo.get(args.model, small=args.small)
    except KeyError as exc:
        raise BcrError(str(exc).strip("'\""), "run bcr-compile --help for the list") from None
    if args.prune:
        scheme, _, rate = args.prune.partition(":")
        if scheme != "bcr" or not rate:
            raise BcrError(f"--prune takes bcr:RATE here, got '{args.prune}'",
                           "use e.g. --prune bcr:8; other schemes are in the Python API bcr_mlir.prune")
        try:
            rate = float(rate)
        except ValueError:
            raise BcrError(f"pruning rate '{rate}' is not a number", "use e.g. --prune bcr:8") from None
        from bcr_mlir import prune
        try:
            model = prune(model, scheme="bcr", rate=rate)
        except ValueError as exc:  # the pruning library's option errors
            raise BcrError(f"--prune {args.prune}: {exc}", "use a rate > 1, e.g. --prune bcr:8") from None
    return model, example


def _target_stem(module) -> str:
    return "+".join(t.name for t in module.variants) if module.variants else module.target.name


@guarded
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.target = args.target or ["x86-host"]
    if len(args.target) == 1:
        args.target = args.target[0]
    import bcr_mlir
    from bcr_mlir.api import compile_mlir
    from bcr_mlir.importer import import_model

    if bool(args.input) == bool(args.model):
        raise BcrError("give either an input .mlir file or --model NAME", "e.g. bcr-compile model.mlir --target x86-host")
    if args.emit_mlir and args.emit_mlir != "-" and not os.path.isdir(os.path.dirname(args.emit_mlir) or "."):
        # checked before the model is imported (write_output_atomically would, after)
        raise BcrError(f"output folder {os.path.dirname(args.emit_mlir)} does not exist", "create it first")
    if args.model:
        model, example = _builtin_model(args)
        if args.emit_mlir:
            imported = import_model(model, (example,))
            with imported.context:
                write_output_atomically(args.emit_mlir, imported.module.operation.get_asm(enable_debug_info=False))
            return 0
        module = bcr_mlir.compile(model, (example,), args.target, sparse=not args.dense,
                                  dense_flags=args.dense_flags, save_temps=args.save_temps, tune=args.tune,
                                  tune_threads=args.tune_threads)
        default_output = f"{args.model}.{_target_stem(module)}.vmfb"
    else:
        if args.emit_mlir:
            raise BcrError("--emit-mlir works with --model", "the input is already MLIR")
        name, text = read_input(args.input)
        module = compile_mlir(text, args.target, sparse=not args.dense, dense_flags=args.dense_flags,
                              save_temps=args.save_temps, source=name, tune=args.tune, tune_threads=args.tune_threads)
        stem = "stdin" if args.input == "-" else args.input.rsplit(".mlir", 1)[0]
        default_output = f"{stem}.{_target_stem(module)}.vmfb"
    path = module.save(args.output or default_output)
    if args.report:
        for name, report in (module.reports or {module.target.name: module.report}).items():
            print(f"{name}:\n{report.table()}" if module.reports else report.table())
    sparse = sum(len(r.sparse_layers) for r in (module.reports or {"": module.report}).values())
    print(f"wrote {path} ({len(module.vmfb) / 1e6:.2f} MB, {module.describe()}, "
          f"{sparse} sparse layer(s), {module.compile_seconds:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
