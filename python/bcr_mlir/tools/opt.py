"""bcr-opt: an mlir-opt-style driver for the bcr passes, mixed freely with upstream MLIR passes.

    bcr-opt input.mlir -p 'bcr-raise-sparse-layers,canonicalize,bcr-compress-weights'
    bcr-opt --split-input-file --verify-roundtrip tests.mlir
    cat in.mlir | bcr-opt -p 'bcr-sparsify-pipeline{target=arm64-android}' --bcr-report -o out.mlir
"""
from __future__ import annotations

import argparse
import io
import sys

from bcr_mlir import ir
from bcr_mlir.dialect import ParseError, parse_text, verify
from bcr_mlir.errors import BcrError, PipelineError
from bcr_mlir.passes.registry import PassContext
from bcr_mlir.pipelines import list_passes, module_text, parse_pipeline, run_pipeline
from bcr_mlir.targets import parse_target
from bcr_mlir.tools.common import fail, guarded, read_input, relocate, write_output_atomically

SPLIT_MARKER = "// -----"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bcr-opt", description="Run bcr and MLIR passes on an .mlir file.")
    parser.add_argument("input", nargs="?", default="-", help="input .mlir file ('-' or nothing: stdin)")
    parser.add_argument("-p", "--pass-pipeline", default="", help="comma-separated passes, e.g. 'bcr-raise-sparse-layers,canonicalize'")
    parser.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    parser.add_argument("--split-input-file", action="store_true", help=f"process chunks separated by '{SPLIT_MARKER}' independently")
    parser.add_argument("--mlir-print-ir-after-all", action="store_true", help="print the IR after every pass to stderr")
    parser.add_argument("--list-passes", action="store_true", help="list the bcr passes and pipelines, then exit")
    parser.add_argument("--bcr-report", action="store_true", help="print the per-layer decisions to stderr")
    parser.add_argument("--target", default="x86-host", help="target the passes generate for (x86-host, arm64-android, vulkan)")
    parser.add_argument("--mlir-elide-elementsattrs-if-larger", type=int, default=None, metavar="N",
                        help="print large constants as opaque (smaller output)")
    parser.add_argument("--no-verify", action="store_true", help="skip verification after each pass")
    return parser


def process_chunk(text: str, args, pipeline, out: io.StringIO, label: str, name: str = "-", line_offset: int = 0) -> None:
    try:
        _process_chunk(text, args, pipeline, out, label)
    except BcrError as exc:
        exc.problem = relocate(exc.problem, name, line_offset)
        raise


def _process_chunk(text: str, args, pipeline, out: io.StringIO, label: str) -> None:
    try:
        context, weights, module = parse_text(text)
    except ParseError as exc:
        raise BcrError(f"cannot parse {label}: {exc.details[:1500]}",
                       "fix the IR (ops of the bcr dialect print in generic form: \"bcr.op\"(...))") from None
    with context, ir.Location.unknown():
        problems = verify(module, weights)
        if problems:
            raise BcrError(f"{problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                           problems[0].fix or "fix the layout attribute or the packed constants")
        pass_context = PassContext(weights, parse_target(args.target))
        run_pipeline(module, pipeline, pass_context, verify_each=not args.no_verify,
                     print_after_all=sys.stderr if args.mlir_print_ir_after_all else None)
        if args.bcr_report:
            print(pass_context.report.table(), file=sys.stderr)
        if args.mlir_elide_elementsattrs_if_larger is not None:
            out.write(module.operation.get_asm(large_elements_limit=args.mlir_elide_elementsattrs_if_larger))
        else:
            out.write(module_text(module))


@guarded
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_passes:
        list_passes()
        return 0
    try:
        pipeline = parse_pipeline(args.pass_pipeline) if args.pass_pipeline else []
        name, text = read_input(args.input)
        chunks = text.split(SPLIT_MARKER + "\n") if args.split_input_file else [text]
        out = io.StringIO()
        failed = False
        line_offset = 0
        for i, chunk in enumerate(chunks):
            if i:
                out.write(f"\n{SPLIT_MARKER}\n")
            label = f"{name} (chunk {i + 1})" if args.split_input_file else name
            offset, line_offset = line_offset, line_offset + chunk.count("\n") + 1
            try:
                process_chunk(chunk, args, pipeline, out, label, name, offset)
            except BcrError as exc:
                if not args.split_input_file:
                    raise
                # Like mlir-opt: report the chunk's error and go on with the next one.
                print(f"error: {exc.one_line()}", file=sys.stderr)
                out.write(f"// error: {exc.problem}\n")
                failed = True
        write_output_atomically(args.output, out.getvalue())
        return 1 if failed else 0
    except PipelineError as exc:
        return fail(exc, repro=exc.repro)
    except BcrError as exc:
        return fail(exc)


if __name__ == "__main__":
    sys.exit(main())
