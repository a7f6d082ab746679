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
