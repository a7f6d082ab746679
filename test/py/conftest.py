"""Fixtures shared by the compiler tests (helpers live in helpers.py, importable as `helpers`)."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from helpers import pruned  # noqa: E402


@pytest.fixture(scope="session")
def demo_model():
    return pruned("demo")
