"""What every bcr console script shares: reading input, writing output atomically, one-line errors."""
from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
import traceback
from pathlib import Path

from bcr_mlir.errors import BcrError


def fail(error: BcrError, repro: str | None = None) -> int:
    print(f"error: {error.problem}", file=sys.stderr)
    if error.fix:
        print(f"  fix: {error.fix}", file=sys.stderr)
    if repro:
        print(f"  reproduce with: {repro}", file=sys.stderr)
    return 1


def guarded(main):
    """Runs a CLI entry point: user errors exit 1 with one line, bugs exit 2 with a short report.

    Set BCR_DEBUG=1 for the full traceback of an internal error.
    """
    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        try:
            return main(argv)
        except BcrError as exc:
            return fail(exc, getattr(exc, "repro", None))
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return 0
        except Exception as exc:  # a bug: say so plainly, without a wall of traceback
            if os.environ.get("BCR_DEBUG"):
                traceback.print_exc()
            where = traceback.extract_tb(exc.__traceback__)[-1]
            print(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''} "
                  f"(at {Path(where.filename).name}:{where.lineno}); rerun with BCR_DEBUG=1 and report it",
                  file=sys.stderr)
            return 2
    return wrapper


def relocate(message: str, filename: str, line_offset: int = 0) -> str:
    """Turns MLIR's `loc("-":3:8)` (text parsed from memory) into `file.mlir:LINE:8`."""
    return re.sub(r'loc\("-":(\d+):(\d+)\)', lambda m: f"{filename}:{int(m.group(1)) + line_offset}:{m.group(2)}", message)


def read_input(path: str) -> tuple[str, str]:
    """(display name, text) of a file or of stdin ('-')."""
    if path == "-":
        return "<stdin>", sys.stdin.read()
    file = Path(path)
    try:
        exists, is_dir = file.exists(), file.is_dir()
    except OSError as exc:  # e.g. a folder on the way that we may not enter
        raise BcrError(f"cannot read {path}: {exc.strerror}", "check the path and its folders' permissions") from None
    if not exists:
        raise BcrError(f"no such file: {path}", "check the path")
    if is_dir:
        raise BcrError(f"{path} is a directory, not a file", "pass an .mlir file")
    try:
        return path, file.read_text()
    except PermissionError:
        raise BcrError(f"cannot read {path}: permission denied", "check the file's permissions") from None
    except UnicodeDecodeError:
        raise BcrError(f"{path} is not a text file", "pass textual MLIR (.mlir); MLIR bytecode is not supported") from None
    except OSError as exc:
        raise BcrError(f"cannot read {path}: {exc.strerror}", "check the path and the file's permissions") from None


def write_output_atomically(path: str, data: str | bytes) -> None:
    """Writes to a temporary file beside `path` and renames it, so a failure leaves no partial output."""
    if path == "-":
        sys.stdout.write(data if isinstance(data, str) else data.decode())
        return
    target = Path(path)
    if target.parent and not target.parent.exists():
        raise BcrError(f"output folder {target.parent} does not exist", "create it first")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(handle, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
