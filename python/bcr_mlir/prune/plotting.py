"""`plot(model, path)`: PNG heatmaps of each layer's mask and a bar chart of per-layer sparsity."""
from __future__ import annotations

import os

from torch import nn

from .layers import find_layers, matrix_view
from .metadata import sparsity_plan


def plot(model: nn.Module, path: str | os.PathLike) -> list[str]:
    """Write `<path>/<param name>.png` per prunable weight and `<path>/sparsity.png`; return the files.

    Each heatmap shows the weight's matrix view (kept = dark), titled with its scheme and rate.
    Uses matplotlib's Agg canvas directly, so no display or pyplot state is needed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    os.makedirs(path, exist_ok=True)
    plan = sparsity_plan(model)
    written, names, zero_fractions = [], [], []
    for layer in find_layers(model):
        kept = matrix_view(layer.conv_weight.detach()) != 0
        rows, cols = kept.shape
        zero_fraction = 1.0 - float(kept.float().mean())
        names.append(layer.name)
        zero_fractions.append(zero_fraction)
        info = plan.get(layer.name)
        title = f"{layer.name}  {rows}x{cols}  " + (
            f"{info.scheme} {info.rate:.2f}x" if info else f"dense ({zero_fraction:.0%} zeros)")
        # Keep pixels roughly square but the figure within 4..14 inches on each side.
        width = min(14.0, max(4.0, cols / 40))
        height = min(14.0, max(3.0, width * rows / max(cols, 1) + 1))
        fig = Figure(figsize=(width, height))
        ax = fig.add_subplot()
        ax.imshow(kept.numpy(), cmap="Greys", interpolation="nearest", aspect="auto", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("column (input x kernel position)")
        ax.set_ylabel("row (output)")
        fig.tight_layout()
        file = os.path.join(path, f"{layer.name}.png")
        FigureCanvasAgg(fig).print_png(file)
        written.append(file)

    fig = Figure(figsize=(max(5.0, 0.5 * len(names) + 2), 4))
    ax = fig.add_subplot()
    ax.bar(range(len(names)), [100 * z for z in zero_fractions], color="tab:blue")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("zeros (%)")
    ax.set_ylim(0, 100)
    ax.set_title("per-layer sparsity")
    fig.tight_layout()
    file = os.path.join(path, "sparsity.png")
    FigureCanvasAgg(fig).print_png(file)
    return written + [file]
