"""User-facing errors: one line that names the problem and the fix, and no traceback from the CLIs."""
from __future__ import annotations


class BcrError(Exception):
    """A mistake in the user's input (model, IR, options, files), explained in one line.

    `fix` says what to do about it; the CLIs print `error: <problem> (fix: <fix>)` and exit 1.
    """

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem.rstrip(".")
        self.fix = fix
        super().__init__(self.one_line())

    def one_line(self) -> str:
        return f"{self.problem}; {self.fix}" if self.fix else self.problem


class PipelineError(BcrError):
    """A pass failed. Carries the saved IR and the command that reproduces the failure."""

    def __init__(self, problem: str, fix: str | None = None, repro: str | None = None):
        super().__init__(problem, fix)
        self.repro = repro


class TargetError(BcrError):
    """A target, CPU or feature the compiler does not know, or a runtime tool that is missing."""
