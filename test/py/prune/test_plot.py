"""`bcr_mlir.prune.plot(model, path)` writes mask heatmaps and a per-layer sparsity chart."""
import numpy as np
import torch
from torch import nn

import bcr_mlir


def test_plot_writes_pngs(tmp_path):
    from matplotlib.image import imread

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 16, 3), nn.Flatten(), nn.Linear(64, 32), nn.GRU(32, 16))
    bcr_mlir.prune(model, "bcr", rate=8, layers=["0.weight", "3.*"])
    files = bcr_mlir.prune.plot(model, tmp_path / "masks")
    names = sorted(p.rsplit("/", 1)[1] for p in map(str, files))
    assert names == sorted(["0.weight.png", "2.weight.png", "3.weight_ih_l0.png", "3.weight_hh_l0.png", "sparsity.png"])
    for f in files:
        with open(f, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    heat = imread(str(tmp_path / "masks" / "0.weight.png"))[..., :3].mean(-1)
    assert (heat < 0.2).any() and (heat > 0.8).any(), "a pruned mask shows both kept and pruned cells"
    assert np.ptp(imread(str(tmp_path / "masks" / "sparsity.png"))) > 0
