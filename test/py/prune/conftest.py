"""Shared fixtures for the pruning-library tests.

Makes `python/` importable when bcr-mlir is not pip-installed, and keeps torch to one thread so
timings are conservative and results bit-reproducible.
"""
import os
import sys

import pytest
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
try:
    import bcr_mlir  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(ROOT, "python"))


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
