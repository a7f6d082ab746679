"""scikit-learn's built-in digits (1797 8x8 images, no download) and two small models for them.

Used by the accuracy tests, the example script and the docs, so all three measure the same thing.
"""
from __future__ import annotations

import torch
from torch import nn


def load(layout: str = "image", seed: int = 0, test_fraction: float = 0.2):
    """((x_train, y_train), (x_test, y_test)) as float32/int64 tensors, stratified and seeded.

    layout "image": x is [N, 1, 8, 8]; "sequence": [N, 8, 8], one image row per time step.
    Pixels are scaled from 0..16 to 0..1.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if layout not in ("image", "sequence"):
        raise ValueError(f"layout must be 'image' or 'sequence', got {layout!r}")
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    if layout == "image":
        x = x.unsqueeze(1)
    train_idx, test_idx = train_test_split(range(len(y)), test_size=test_fraction, random_state=seed,
                                           stratify=digits.target)
    return (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])


class DigitsCNN(nn.Module):
    """Three 3x3 convs and a linear classifier: 8x8 -> 8x8 -> 4x4 -> 2x2 -> 10 classes."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * width, 2 * width, 3, padding=1)
        self.fc = nn.Linear(2 * width * 4, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv3(x)), 2)
        return self.fc(torch.flatten(x, 1))


class DigitsGRU(nn.Module):
    """A GRU reading the image row by row (8 steps of 8 pixels); classifies from the last state."""

    def __init__(self, hidden: int = 64):
        super().__init__()
        self.gru = nn.GRU(8, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 10)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.fc(out[:, -1])


# ---- the accuracy experiments (tests, example script and docs all run these) ---------------------
# conv1 (1 input channel, 288 weights) and the 10-row classifier stay dense: together they are 5% of
# the CNN's weights, and they are the layers whose pruning costs the most accuracy.
CNN_PRUNED = ["conv2.weight", "conv3.weight"]
# Both CNN cases prune the same dense model.
DENSE_CNN = ("image", lambda: DigitsCNN(32), dict(epochs=30, lr=2e-3))
EXPERIMENTS = {
    # name: (layout, model builder, dense TrainConfig fields, prune kwargs, pruning TrainConfig fields)
    "cnn-bcr": (*DENSE_CNN,
                dict(scheme="bcr", rate=8, layers=CNN_PRUNED),
                dict(epochs=30, finetune_epochs=30, lr=2e-3, rho=1e-2)),
    "cnn-pattern": (*DENSE_CNN,
                    dict(scheme="pattern", connectivity_rate=3.6, layers=CNN_PRUNED),
                    dict(epochs=20, finetune_epochs=20, lr=1e-3, rho=1e-2)),
    # Block (4, 8): the input matrix is only 8 columns wide (one image row), see docs/pruning.md.
    "gru-bcr": ("sequence", lambda: DigitsGRU(128), dict(epochs=60, lr=3e-3, batch_size=32),
                dict(scheme="bcr", rate=8, block=(4, 8), layers=["gru.*"]),
                dict(epochs=30, finetune_epochs=30, lr=1.5e-3, finetune_lr=3e-3, rho=1e-2, rho_growth=1.2,
                     batch_size=32)),
}


def train_dense(name: str, seed: int = 0, progress: bool = False):
    """Train the experiment's dense model; returns (model, train data, test data)."""
    from .train import TrainConfig, fit

    layout, build, dense_config, _, _ = EXPERIMENTS[name]
    train, test = load(layout)
    torch.manual_seed(seed)
    model = build()
    config = TrainConfig(progress=progress, seed=seed, **dense_config)
    fit(model, train, config, epochs=config.epochs,
        eval_data=test, desc=f"{name} dense")
    return model, train, test


def prune_experiment(name: str, model: nn.Module, train, test, seed: int = 0, progress: bool = False) -> nn.Module:
    """Prune a dense experiment model in place with ADMM + masked retraining."""
    from .api import prune
    from .train import TrainConfig

    _, _, _, prune_kwargs, prune_config = EXPERIMENTS[name]
    return prune(model, method="admm", data=train, eval_data=test,
                 config=TrainConfig(progress=progress, seed=seed, **prune_config), **prune_kwargs)
