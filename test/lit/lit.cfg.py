# lit configuration for bcr-mlir's FileCheck tests. Run: lit -sv test/lit
import os
import sys

import lit.formats

config.name = "bcr-mlir"
config.test_format = lit.formats.ShTest(False)  # lit's internal shell (the external one fails in lit 23)
config.suffixes = [".mlir", ".py"]
config.excludes = ["lit.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.test_source_root, "Output")

root = os.path.dirname(os.path.dirname(config.test_source_root))
bindir = os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([bindir, os.environ.get("PATH", "")])
config.environment["PYTHONPATH"] = os.path.join(root, "python")
for name in ("HOME", "XDG_CACHE_HOME", "BCR_AARCH64_TOOLS", "TMPDIR"):
    if name in os.environ:
        config.environment[name] = os.environ[name]

config.substitutions.append(("%PYTHON", sys.executable))
config.substitutions.append(("%bcr_dialect", os.path.join(root, "dialect", "bcr.irdl.mlir")))
config.substitutions.append(("FileCheck", "filecheck"))
