"""Python-side bad inputs of the corpus (see cases.toml).

`api_*` functions make one bad call of the public API; the corpus runner runs each in its own process
under the same error wrapper as the CLIs and expects `error: <problem>` / `  fix: <fix>`, exit 1.
`setup_*` functions create the input files a CLI case needs in `work` (files that cannot live in git:
binary junk, unreadable files, broken copies of a compiled module).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch
from torch import nn

import bcr_mlir

X = (1, 3, 8, 8)


def _x():
    return torch.randn(*X)


def _conv():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).eval()


# ---- NaN / Inf ----------------------------------------------------------------------------------

def api_nan_weight(work: Path):
    model = _conv()
    model[0].weight.data[0, 0, 0, 0] = float("nan")
    bcr_mlir.compile(model, (_x(),))


def api_inf_bias(work: Path):
    model = _conv()
    model[0].bias.data[3] = float("-inf")
    bcr_mlir.compile(model, (_x(),))


def api_nan_batchnorm_buffer(work: Path):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)).eval()
    model[1].running_var[2] = float("nan")
    bcr_mlir.compile(model, (_x(),))


def api_nan_after_pruning(work: Path):
    """Pruning keeps a NaN (NaN compares False with every threshold): still caught before compiling."""
    model = _conv()
    model[0].weight.data[1, 1, 1, 1] = float("nan")
    bcr_mlir.prune(model, "bcr", rate=4)
    bcr_mlir.compile(model, (_x(),))


# ---- empty models, no prunable layers -----------------------------------------------------------

def api_empty_sequential(work: Path):
    bcr_mlir.compile(nn.Sequential(), (_x(),))


class _ReturnsNone(nn.Module):
    def forward(self, x):
        return None


def api_forward_returns_none(work: Path):
    bcr_mlir.compile(_ReturnsNone(), (_x(),))


def api_no_example_inputs(work: Path):
    bcr_mlir.compile(_conv(), ())


def api_empty_example_input(work: Path):
    bcr_mlir.compile(_conv(), (torch.randn(0, 3, 8, 8),))


def api_prune_without_prunable_layers(work: Path):
    bcr_mlir.prune(nn.Sequential(nn.ReLU(), nn.Flatten()), "bcr", rate=8)


# ---- unsupported ops, dynamic shapes, dtypes ----------------------------------------------------

class _DataDependentShape(nn.Module):
    def forward(self, x):
        return torch.nonzero(x > 0)


def api_data_dependent_output_shape(work: Path):
    bcr_mlir.compile(_DataDependentShape(), (_x(),))


class _DataDependentBranch(nn.Module):
    def forward(self, x):
        return x * 2 if x.sum() > 0 else x


def api_data_dependent_control_flow(work: Path):
    bcr_mlir.compile(_DataDependentBranch(), (_x(),))


class _ComplexOp(nn.Module):
    def forward(self, x):
        return torch.fft.rfft(x).abs()


def api_unsupported_op(work: Path):
    bcr_mlir.compile(_ComplexOp(), (_x(),))


def api_float64_model(work: Path):
    bcr_mlir.compile(_conv().double(), (_x().double(),))


def api_input_does_not_fit(work: Path):
    bcr_mlir.compile(_conv(), (torch.randn(1, 4, 8, 8),))


# ---- targets ------------------------------------------------------------------------------------

def api_target_none(work: Path):
    bcr_mlir.compile(_conv(), (_x(),), target=None)


def api_unknown_dense_flags(work: Path):
    bcr_mlir.compile(_conv(), (_x(),), dense_flags="fastest")


# ---- absurd sizes -------------------------------------------------------------------------------

def api_huge_input(work: Path):
    # 30e9 elements, but no memory: a stride-0 view
    bcr_mlir.compile(_conv(), (torch.zeros(1).expand(1, 3, 100_000, 100_000),))


def api_huge_model(work: Path):
    # 10e9 parameters on the meta device (no memory)
    bcr_mlir.compile(nn.Linear(100_000, 100_000, device="meta"), (torch.randn(1, 100_000),))


# ---- files --------------------------------------------------------------------------------------

def api_save_temps_is_a_file(work: Path):
    bcr_mlir.compile(_conv(), (_x(),), save_temps=str(work / "temps"))


def api_load_missing_module(work: Path):
    bcr_mlir.load(work / "missing.vmfb")


# ---- setup for CLI cases (files that cannot be kept in git) --------------------------------------

def setup_binary_file(work: Path, vmfb: Path):
    (work / "binary.mlir").write_bytes(bytes(range(256)) * 4)


def setup_mlir_bytecode(work: Path, vmfb: Path):
    # MLIR bytecode starts with "ML\xefR"; bcr-mlir reads textual MLIR only
    (work / "model.mlirbc").write_bytes(b"ML\xefR\x00\x05" + bytes(64))


def setup_unreadable_file(work: Path, vmfb: Path):
    path = work / "secret.mlir"
    path.write_text("func.func @main() { return }\n")
    path.chmod(0)


def setup_file_named_temps(work: Path, vmfb: Path):
    (work / "temps").write_text("not a folder")


def setup_valid_module(work: Path, vmfb: Path):
    shutil.copy(vmfb, work / "model.vmfb")
    shutil.copy(str(vmfb) + ".json", work / "model.vmfb.json")


def setup_garbage_module(work: Path, vmfb: Path):
    (work / "garbage.vmfb").write_bytes(bytes(range(256)) * 8)
    shutil.copy(str(vmfb) + ".json", work / "garbage.vmfb.json")


def setup_truncated_module(work: Path, vmfb: Path):
    data = Path(vmfb).read_bytes()
    (work / "truncated.vmfb").write_bytes(data[: len(data) // 3])
    shutil.copy(str(vmfb) + ".json", work / "truncated.vmfb.json")


def setup_empty_module(work: Path, vmfb: Path):
    (work / "empty.vmfb").write_bytes(b"")


def setup_broken_metadata(work: Path, vmfb: Path):
    shutil.copy(vmfb, work / "model.vmfb")
    (work / "model.vmfb.json").write_text('{"target": "x86-host", "inputs": [')


def setup_module_without_metadata(work: Path, vmfb: Path):
    shutil.copy(vmfb, work / "model.vmfb")


def setup_arrays(work: Path, vmfb: Path):
    import numpy as np

    setup_valid_module(work, vmfb)
    np.save(work / "x.npy", np.ones((2, 16), np.float32))
    np.save(work / "x_wrong.npy", np.ones((2, 15), np.float32))
    (work / "x.txt").write_text("1 2 3\n")
    np.savez(work / "x.npz", x=np.ones((2, 16), np.float32))
