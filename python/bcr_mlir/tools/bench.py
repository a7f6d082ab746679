"""bcr-bench: side-by-side benchmarks of bcr-mlir against the engines users would pick instead.

    bcr-bench --quick                       # CI smoke run: tiny models, engines of the project's venv only
    bcr-bench --full                        # everything (install the peers first: tools/bench_setup.sh)
    bcr-bench --full --models vgg16,gru --engines bcr-sparse,iree-dense-tuned,onnxruntime --threads 1
    bcr-bench --full --out docs/benchmarks  # where results.json, results.md and the PNGs go

Everything runs on this CPU in one run, engines interleaved, outputs checked against PyTorch. See
docs/benchmarks.md for the methodology.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bcr_mlir.errors import BcrError
from bcr_mlir.tools.common import guarded


def _list(value: str, choices: list[str], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if items == ["all"]:
        return list(choices)
    unknown = [v for v in items if v not in choices]
    if unknown or not items:
        raise BcrError(f"unknown {what} '{unknown[0] if unknown else value}'", f"choose from {', '.join(choices)} (comma-separated)")
    return items


def _threads(value: str) -> list[int]:
    try:
        threads = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        threads = []
    if not threads or any(t < 1 for t in threads):
        raise BcrError(f"invalid --threads '{value}'", "pass thread counts such as 1,2")
    return threads


def parse(argv):
    from bcr_mlir.bench.models import MODEL_NAMES
    from bcr_mlir.bench.run import ENGINES
    parser = argparse.ArgumentParser(prog="bcr-bench", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="tiny models, the engines of the project's venv (bcr-mlir, IREE dense, PyTorch, CSR), few runs")
    mode.add_argument("--full", action="store_true", help="full-size models and every engine (the default)")
    parser.add_argument("--models", help=f"comma-separated, from: {', '.join(MODEL_NAMES)} (default: all)")
    parser.add_argument("--engines", help=f"comma-separated, from: {', '.join(ENGINES)} (default: all; --quick: the first five)")
    parser.add_argument("--threads", default="1,2", help="thread counts (default: 1,2)")
    parser.add_argument("--repeats", type=int, help="timed calls per engine, model and thread count (default: 20; --quick: 6)")
    parser.add_argument("--rounds", type=int, help="interleaving rounds the calls are split over (default: 5; --quick: 2)")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds of timed calls per engine, model and thread count; slower engines get fewer calls (default: 60)")
    parser.add_argument("--tune-at-one-thread", action="store_true",
                        help="time bcr-mlir sparse at every thread count with the schedules tuned at 1 thread "
                             "(default: at N threads, a module compiled with those cached for N threads)")
    parser.add_argument("--out", default="bench-results", help="output folder (default: ./bench-results)")
    parser.add_argument("--from", dest="source", metavar="RESULTS_JSON",
                        help="measure nothing: re-render results.md and the charts from an earlier results.json")
    parser.add_argument("--docs", action="store_true",
                        help="also copy results.md, results.json and the charts to docs/benchmarks/ (for a --full run)")
    return parser.parse_args(argv)


@guarded
def main(argv=None) -> int:
    args = parse(argv)
    from bcr_mlir.bench import plots, report
    from bcr_mlir.bench.models import MODEL_NAMES
    from bcr_mlir.bench.run import ENGINES, QUICK_ENGINES, Options, run

    options = Options(quick=args.quick)
    options.models = _list(args.models, MODEL_NAMES, "model") if args.models else list(MODEL_NAMES)
    options.engines = _list(args.engines, ENGINES, "engine") if args.engines else \
        list(QUICK_ENGINES if args.quick else ENGINES)
    options.engines = [e for e in ENGINES if e in options.engines]    # the table's order
    options.threads = _threads(args.threads)
    options.repeats = args.repeats or (6 if args.quick else 20)
    options.rounds = args.rounds or (2 if args.quick else 5)
    if options.repeats < 1 or options.rounds < 1:
        raise BcrError("--repeats and --rounds must be at least 1")
    options.rounds = min(options.rounds, options.repeats)
    options.budget = args.budget
    options.tune_at_one_thread = args.tune_at_one_thread
    if args.quick:
        options.warmup = 0.05
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BcrError(f"cannot create the output folder {out}: {exc.strerror}", "pass a writable --out") from None

    if args.source:
        import json
        try:
            results = json.loads(Path(args.source).read_text())
        except (OSError, ValueError) as exc:
            raise BcrError(f"cannot read {args.source}: {exc}", "pass a results.json written by bcr-bench") from None
        report.add_ratios_and_goals(results)
    else:
        results = run(options)
    charts = plots.write_charts(results, out)
    json_path, md_path = report.write(results, out, charts)
    print(report.to_markdown(results, charts).split("## Compile time")[0].rstrip())
    print(f"\nwrote {json_path}, {md_path} and {len(charts)} chart(s) in {out}")
    if args.docs:
        from bcr_mlir.bench.convert import project_root
        docs = project_root() / "docs" / "benchmarks"
        docs.mkdir(parents=True, exist_ok=True)
        for name in ["results.json", "results.md"] + list(charts.values()):
            shutil.copy(out / name, docs / name)
        print(f"copied to {docs}")
    mismatches = [(m, e) for m, model in results["models"].items()
                  for e, entry in model.get("engines", {}).items() if entry.get("status") == "MISMATCH"]
    if mismatches:
        print("OUTPUT MISMATCH against PyTorch: " + ", ".join(f"{e} on {m}" for m, e in mismatches), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
