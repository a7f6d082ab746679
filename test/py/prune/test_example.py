"""examples/prune_digits.py runs from a source checkout (its experiments run in test_accuracy.py)."""
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def test_example_starts_and_lists_the_experiments():
    run = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "prune_digits.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for name in ("cnn-bcr", "cnn-pattern", "gru-bcr"):
        assert name in run.stdout
