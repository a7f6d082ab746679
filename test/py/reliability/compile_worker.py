"""Compiles one fuzz Case in its own process (for the determinism and concurrency tests).

    python compile_worker.py "<Case(...) as printed>" TARGET OUT.vmfb
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bcr_mlir  # noqa: E402
from fuzz_models import Case, Layer, cost_model_off  # noqa: E402,F401  (Layer: for eval)


def main(case_text: str, target: str, out: str) -> None:
    case = eval(case_text, {"Case": Case, "Layer": Layer})  # noqa: S307 (our own repr)
    model, x = case.pruned()
    with cost_model_off(case.force_sparse):
        compiled = bcr_mlir.compile(model, (x,), target=target)
    compiled.save(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
