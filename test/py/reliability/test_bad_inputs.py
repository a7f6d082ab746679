"""The bad-input corpus (test/bad_inputs/cases.toml): every case must give one clear line naming the
problem and the fix, exit 1, print no traceback, and leave no output or partial file behind.

Cases run in their own processes, forked from corpus_server.py (which has imported bcr_mlir once);
cases marked `real = true` run the installed console scripts in a fresh interpreter instead, and
BCR_CORPUS_REAL=1 runs every CLI case that way.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CORPUS = ROOT / "test" / "bad_inputs"
CASES = tomllib.loads((CORPUS / "cases.toml").read_text())["case"]
BIN = Path(sys.executable).parent
ALL_REAL = os.environ.get("BCR_CORPUS_REAL", "") not in ("", "0")
NOBODY = 65534

# The issue's categories; each needs at least one case.
CATEGORIES = {"malformed-mlir", "irdl-verifier", "claimed-zeros", "unsupported-op", "dynamic-shape",
              "non-finite-weights", "empty-model", "no-prunable-layers", "missing-file", "unreadable-file",
              "unknown-target", "absurd-shape", "partial-output"}
ALLOWED_STDERR = re.compile(r"^(error: .+|  fix: .+|  reproduce with: .+)$")


class Server:
    """corpus_server.py, started once per session."""

    def __init__(self):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen([sys.executable, str(HERE / "corpus_server.py"), str(CORPUS)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        ready = self.process.stdout.readline()
        assert json.loads(ready) == {"ready": True}, f"corpus server did not start: {ready!r}"

    def run(self, request: dict) -> int:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, "the corpus server died"
        return json.loads(answer)["status"]

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server():
    server = Server()
    yield server
    server.close()


@pytest.fixture(scope="module")
def valid_module(tmp_path_factory):
    """A .vmfb (with metadata) of mlir/valid_linear.mlir, for the bcr-run cases."""
    from bcr_mlir.api import compile_mlir

    path = tmp_path_factory.mktemp("module") / "valid.vmfb"
    compile_mlir((CORPUS / "mlir" / "valid_linear.mlir").read_text(), "x86-host", source="valid_linear.mlir").save(path)
    return path


def _files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def _params():
    out = []
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case["xfail"])] if case.get("xfail") else []
        out.append(pytest.param(case, id=case["id"], marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_bad_input(case, server, valid_module, tmp_path):
    import models_for_corpus as models

    root = Path(tempfile.mkdtemp(prefix="bcr-corpus-"))
    try:
        root.chmod(0o755)
        work, temp = root / "work", root / "tmp"
        work.mkdir()
        temp.mkdir()
        work.chmod(0o777)
        temp.chmod(0o777)
        if case.get("setup"):
            getattr(models, case["setup"])(work, valid_module)
        before = _files(work)
        stdout, stderr = root / "stdout.txt", root / "stderr.txt"
        env = {"TMPDIR": str(temp), "BCR_SAVE_TEMPS": "", "BCR_DEBUG": ""}
        uid = NOBODY if case.get("as_nobody") and os.geteuid() == 0 else None

        def expand(text: str) -> str:
            return text.replace("{corpus}", str(CORPUS)).replace("{work}", str(work))

        if "run" in case:
            argv = [expand(a) for a in case["run"]]
            if case.get("real") or ALL_REAL:
                assert uid is None, "as_nobody cases run in the server (the interpreter may not be readable)"
                with open(stdout, "w") as out, open(stderr, "w") as err:
                    status = subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=work, stdout=out, stderr=err,
                                            env={k: v for k, v in {**os.environ, **env}.items() if v},
                                            timeout=600).returncode
            else:
                status = server.run({"tool": argv[0], "argv": argv[1:], "cwd": str(work), "env": env, "uid": uid,
                                     "stdout": str(stdout), "stderr": str(stderr)})
        else:
            status = server.run({"api": case["api"], "work": str(work), "cwd": str(work), "env": env, "uid": uid,
                                 "stdout": str(stdout), "stderr": str(stderr)})

        err = stderr.read_text(errors="replace")
        shown = f"case {case['id']}: exit {status}\n--- stderr ---\n{err}\n--- stdout ---\n" + \
            stdout.read_text(errors="replace")[-2000:]
        assert "Traceback" not in err and "internal error" not in err, shown
        assert status == case.get("exit", 1), shown
        lines = err.splitlines()
        bad = [line for line in lines if not ALLOWED_STDERR.match(line)]
        assert not bad, f"stderr has more than the one-line error: {bad[:3]}\n{shown}"
        errors = [i for i, line in enumerate(lines) if line.startswith("error: ")]
        assert len(errors) == 1, shown
        problem = lines[errors[0]][len("error: "):]
        fix = lines[errors[0] + 1][len("  fix: "):] if errors[0] + 1 < len(lines) and \
            lines[errors[0] + 1].startswith("  fix: ") else ""
        assert expand(case["problem"]) in problem, f"expected the problem to say {expand(case['problem'])!r}\n{shown}"
        assert fix and expand(case["fix"]) in fix, f"expected the fix to say {expand(case['fix'])!r}\n{shown}"

        after = _files(work)
        assert after == before, f"the work folder changed (output or partial files left): " \
                                f"{sorted(set(after) - set(before))}\n{shown}"
        left = [name for name in _files(temp) if name.split("/")[0] not in err]
        assert not left, f"temporary files left behind and not named in the message: {left}\n{shown}"
    finally:
        for path in root.rglob("*"):
            try:
                path.chmod(0o700 if path.is_dir() else 0o600)
            except OSError:
                pass
        shutil.rmtree(root, ignore_errors=True)


def test_corpus_covers_the_issue():
    counts: dict[str, int] = {}
    for case in CASES:
        counts[case["covers"]] = counts.get(case["covers"], 0) + 1
    assert CATEGORIES <= set(counts), f"categories without a case: {CATEGORIES - set(counts)}"
    assert len(CASES) >= 30
    ids = [case["id"] for case in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    for case in CASES:
        assert ("run" in case) != ("api" in case), case["id"]
        assert case["problem"].strip() and case["fix"].strip(), case["id"]
        assert set(case) <= {"id", "covers", "run", "api", "setup", "real", "as_nobody", "xfail", "problem",
                             "fix", "exit"}, case["id"]
        if "run" in case:
            assert case["run"][0] in ("bcr-opt", "bcr-compile", "bcr-run"), case["id"]
            for arg in case["run"]:
                if arg.startswith("{corpus}/"):
                    assert (CORPUS / arg[len("{corpus}/"):]).exists(), f"{case['id']}: missing {arg}"
    # Every file of the corpus is used by a case (or is the valid module).
    used = {arg[len("{corpus}/"):] for case in CASES for arg in case.get("run", []) if arg.startswith("{corpus}/")}
    unused = {str(p.relative_to(CORPUS)) for p in (CORPUS / "mlir").glob("*.mlir")} - used - {"mlir/valid_linear.mlir"}
    assert not unused, f"corpus files no case uses: {sorted(unused)}"


def test_valid_input_compiles(valid_module):
    """The control: the corpus's one valid model compiles and runs (so the cases fail for their reason)."""
    import numpy as np

    from bcr_mlir.api import load

    module = load(valid_module)
    out = module(np.ones((2, 16), np.float32))
    np.testing.assert_allclose(out, np.full((2, 8), 4.0, np.float32))
