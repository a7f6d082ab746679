"""The one place that names the MLIR Python binding bcr_mlir builds on.

The sparsity compiler runs in upstream MLIR as packaged by torch-mlir (it carries `irdl`, Python
passes and every upstream dialect); IREE is reached by textual hand-off in bcr_mlir.backends.iree.
Everything else imports MLIR as `from bcr_mlir import ir` and uses `ir.Module`, `ir.arith`, ...
"""
from torch_mlir.ir import *  # noqa: F401,F403
from torch_mlir.ir import MLIRError  # noqa: F401
from torch_mlir.dialects import arith, func, irdl, linalg, tensor  # noqa: F401
from torch_mlir.passmanager import PassManager  # noqa: F401
