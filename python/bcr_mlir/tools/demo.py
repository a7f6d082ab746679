"""bcr-demo (`make demo`): prune the built-in model, compile it for x86, arm64 and Vulkan, run each,
check the numerics against PyTorch and print the sparse / dense speed-up on this host.

    bcr-demo                    # the default: DemoNet on a 3x32x32 input, BCR 8x
    bcr-demo --rate 16 --model vgg16
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from bcr_mlir.tools.common import guarded

TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@guarded
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bcr-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="demo", help="built-in model (default: demo)")
    parser.add_argument("--rate", type=float, default=8.0, help="BCR pruning rate (default: 8)")
    parser.add_argument("--targets", default="x86-host,arm64-android,vulkan")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per engine")
    args = parser.parse_args(argv)

    import torch

    import bcr_mlir
    from bcr_mlir import zoo

    model, x = zoo.get(args.model)
    print(f"model: {args.model}, input {list(x.shape)}; pruning with BCR at {args.rate:g}x (block 8x16)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, "bcr", rate=args.rate)
    with torch.no_grad():
        expected = model(x).numpy()

    rows = [["target", "runs on", "compile s", "max |error|", f"within rtol/atol {TOLERANCE['rtol']:g}"]]
    compiled = {}
    ok = True
    for target in args.targets.split(","):
        started = time.perf_counter()
        module = bcr_mlir.compile(model, (x,), target=target)
        seconds = time.perf_counter() - started
        output = module(x)
        error = float(np.abs(output - expected).max())
        good = bool(np.allclose(output, expected, **TOLERANCE))
        ok &= good
        where = {"x86-host": "this CPU (IREE Python runtime)", "arm64-android": "qemu-aarch64 + IREE aarch64 tools",
                 "vulkan": "Vulkan driver (lavapipe here)"}[module.target.name]
        rows.append([target, where, f"{seconds:.1f}", f"{error:.2e}", "yes" if good else "NO"])
        compiled[module.target.name] = module
    print()
    print(_table(rows))

    host = compiled.get("x86-host")
    if host is not None:
        print("\nper-layer report (x86-host):")
        print(host.report.table())
        dense = bcr_mlir.compile(model, (x,), target="x86-host", sparse=False)
        timing = [["threads", "IREE dense ms", "bcr-mlir sparse ms", "speed-up"]]
        for threads in (1, 2):
            # Interleave the engines so both see the same machine noise.
            dense_ms, sparse_ms = [], []
            for _ in range(3):
                dense_ms.append(dense.benchmark(x, threads=threads, repeats=args.repeats // 3 or 1) * 1e3)
                sparse_ms.append(host.benchmark(x, threads=threads, repeats=args.repeats // 3 or 1) * 1e3)
            d, s = float(np.median(dense_ms)), float(np.median(sparse_ms))
            timing.append([str(threads), f"{d:.3f}", f"{s:.3f}", f"{d / s:.2f}x"])
        print("\nlatency on this x86 host, batch 1 (median of repeated runs; baseline: "
              + next((n for n in dense.report.notes if n.startswith("dense flags")), "IREE tuned flags") + ")")
        print(_table(timing))
    print("\nall targets match PyTorch" if ok else "\nSOME TARGETS DO NOT MATCH PyTorch")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
