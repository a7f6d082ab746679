"""Runs bad-input cases, each in its own process, without paying Python's and torch's start-up per case.

The server imports bcr_mlir, the three CLIs and the corpus's models.py once, then reads one JSON request
per line on stdin and forks a child per request. The child runs like the console script would: its
cwd, environment and (optionally) uid are the case's, fds 1 and 2 go to files (so MLIR's and IREE's
C++ diagnostics are caught too), and it exits with the CLI's return code. The server answers one JSON
line: {"status": exit code, or -signal} (a child running over its timeout is killed: -9).

    request: {"tool": "bcr-opt", "argv": [...]} or {"api": "api_nan_weight", "work": "..."},
             plus "cwd", "env", "stdout", "stderr", "uid" (optional)
"""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import tempfile
import time
import traceback


def _load_models(corpus: str):
    spec = importlib.util.spec_from_file_location("bad_input_models", os.path.join(corpus, "models.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _child(request: dict, models) -> int:
    from bcr_mlir.tools.common import guarded

    if request.get("uid") is not None:
        os.setgid(request["uid"])
        os.setuid(request["uid"])
    if "tool" in request:
        module = {"bcr-opt": "opt", "bcr-compile": "compile", "bcr-run": "run"}[request["tool"]]
        main = importlib.import_module(f"bcr_mlir.tools.{module}").main
        sys.argv = [request["tool"], *request["argv"]]
        return main(request["argv"])
    function = getattr(models, request["api"])

    @guarded
    def call(argv):
        from pathlib import Path
        function(Path(request["work"]))
        return 0

    return call(None)


def _warm_up() -> None:
    """One import of a tiny model, so every child starts with torch.export's lazily built tables
    (about 4 s per child otherwise). One intra-op thread: no thread pool to lose in the fork."""
    import torch

    from bcr_mlir.importer import import_model

    torch.set_num_threads(1)
    import_model(torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3), torch.nn.ReLU()), (torch.zeros(1, 2, 4, 4),))


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL
        time.sleep(0.01)


def serve(corpus: str) -> None:
    import bcr_mlir.api  # noqa: F401  (imports torch, torch_mlir, IREE: the start-up cost paid once)
    import bcr_mlir.tools.compile  # noqa: F401
    import bcr_mlir.tools.opt  # noqa: F401
    import bcr_mlir.tools.run  # noqa: F401

    models = _load_models(corpus)
    _warm_up()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 3
            try:
                os.chdir(request["cwd"])
                os.environ.update(request["env"])
                tempfile.tempdir = None  # re-read TMPDIR
                for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
                    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
                    os.dup2(handle, fd)
                    os.close(handle)
                code = _child(request, models)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException:  # the CLIs' wrapper should have caught it: show it, the test fails
                traceback.print_exc()
                code = 3
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code if isinstance(code, int) else 0)
        print(json.dumps({"status": _wait(pid, request.get("timeout", 300))}), flush=True)


if __name__ == "__main__":
    serve(sys.argv[1])
