"""Reliability suite: differential tests against PyTorch (hypothesis), the bad-input corpus, robustness.

CI (`make test`) runs fixed, derandomized cases: x86 50, arm64 30, Vulkan 30, inverted residual blocks
x86 12, arm64 6, Vulkan 6, and GRUs/LSTMs x86 16, arm64 8, Vulkan 8. The full run is opt-in:

    BCR_FULL_FUZZ=1 .venv/bin/python -m pytest -q test/py/reliability/test_differential.py -k x86

draws 360 fresh x86 cases (about 325 distinct, at least 300; without -k also arm64 30 and Vulkan 30), prints its
seed (BCR_FUZZ_SEED=N repeats a run) and keeps failing examples in .hypothesis/bcr-fuzz so the next run
tries them first. BCR_FUZZ_EXAMPLES_X86=n (ARM64, VULKAN; X86_BLOCKS, X86_RNN etc.) sets a count directly.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from fuzz_models import FULL, SEED  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    from fuzz_models import STATS

    if not STATS:
        return
    terminalreporter.section("bcr differential fuzzing")
    if FULL:
        terminalreporter.write_line(f"seed {SEED} (repeat with BCR_FUZZ_SEED={SEED} BCR_FULL_FUZZ=1)")
    for target, stats in sorted(STATS.items()):
        schemes = ", ".join(f"{k} {v}" for k, v in sorted(stats.schemes.items()))
        terminalreporter.write_line(
            f"{target}: {stats.cases} cases matched PyTorch, {stats.sparse_layers}/{stats.layers} layers sparse, "
            f"{stats.seconds:.0f} s; schemes: {schemes}"
            + "".join(f"; {fused} {'as a kernel' if fused == 'max-pool' else 'fused'} in {count}"
                      for fused, count in sorted(stats.fusions.items())))


def _corpus_models():
    """test/bad_inputs/models.py, importable by the corpus test as `models_for_corpus`."""
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "..", "bad_inputs", "models.py")
    spec = importlib.util.spec_from_file_location("models_for_corpus", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["models_for_corpus"] = module
    spec.loader.exec_module(module)


_corpus_models()
