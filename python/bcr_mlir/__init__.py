"""bcr-mlir: compile structured-sparse PyTorch models into fast IREE modules.

The public API is three names:
  prune    -- the pruning library (callable: `bcr_mlir.prune(model, ...)`; see bcr_mlir.prune)
  compile  -- `bcr_mlir.compile(model, example_inputs, target=...)` -> CompiledModule
  load     -- `bcr_mlir.load(path, target)` -> CompiledModule from a saved .vmfb
"""
from __future__ import annotations

__all__ = ["prune", "compile", "load"]
__version__ = "0.1.0"


def __getattr__(name):
    # Lazy, so `import bcr_mlir` stays cheap and torch-only users never load MLIR or IREE.
    if name == "prune":
        import importlib
        return importlib.import_module("bcr_mlir.prune")
    if name in ("compile", "load"):
        from bcr_mlir import api
        return getattr(api, name)
    raise AttributeError(f"module 'bcr_mlir' has no attribute '{name}'")
