"""PNG bar charts (matplotlib, Agg): one per model (ms per engine at each thread count, log scale) and a
summary of bcr-mlir sparse's speed-ups against IREE dense, the fastest dense peer and CSR."""
from __future__ import annotations

from pathlib import Path

from bcr_mlir.bench.run import LABELS


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def model_chart(name: str, model: dict, threads: list[str], path: Path, mode: str) -> Path | None:
    engines = [(e, entry) for e, entry in model.get("engines", {}).items() if entry.get("threads")]
    if not engines:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * len(engines) + 2), 4.2))
    width = 0.8 / max(1, len(threads))
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for i, t in enumerate(threads):
        xs, ys = [], []
        for j, (engine, entry) in enumerate(engines):
            stats = entry["threads"].get(t)
            if stats:
                xs.append(j + (i - (len(threads) - 1) / 2) * width)
                ys.append(stats["median_ms"])
        bars = ax.bar(xs, ys, width, label=f"{t} thread{'s' if t != '1' else ''}", color=colors[i % len(colors)])
        for bar, y in zip(bars, ys):
            ax.annotate(f"{y:.0f}" if y >= 100 else f"{y:.3g}", (bar.get_x() + bar.get_width() / 2, y), ha="center",
                        va="bottom", fontsize=6)
    labels = []
    for engine, entry in engines:
        label = LABELS.get(engine, engine).replace(", ", ",\n").replace(" (", "\n(")
        if entry.get("status") == "MISMATCH":
            label += "\nMISMATCH"
        labels.append(label)
    ax.set_xticks(range(len(engines)))
    ax.set_xticklabels(labels, fontsize=7)
    for tick, (engine, _) in zip(ax.get_xticklabels(), engines):
        if engine == "bcr-sparse":
            tick.set_fontweight("bold")
    ax.set_yscale("log")
    ax.set_ylabel("ms per inference (median, log scale)")
    ax.set_title(f"{model.get('title', name)}{' [quick: tiny model]' if mode == 'quick' else ''}\n"
                 f"{model.get('pruning', '')}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def speedup_chart(results: dict, threads: list[str], path: Path) -> Path | None:
    models = [n for n, m in results["models"].items() if m.get("ratios")]
    if not models:
        return None
    plt = _pyplot()
    series = [("vs_iree-dense", "vs IREE dense (best flags)"), ("vs_dense-peer", "vs fastest dense peer"),
              ("vs_csr", "vs torch.sparse CSR")]
    fig, axes = plt.subplots(1, len(threads), figsize=(5.5 * len(threads), 4.0), squeeze=False)
    for ax, t in zip(axes[0], threads):
        width = 0.8 / len(series)
        for i, (key, label) in enumerate(series):
            xs = [j + (i - 1) * width for j in range(len(models))]
            ys = [results["models"][n]["ratios"].get(t, {}).get(key) or 0 for n in models]
            bars = ax.bar(xs, ys, width, label=label)
            for bar, y in zip(bars, ys):
                if y:
                    ax.annotate(f"{y:.3g}x", (bar.get_x() + bar.get_width() / 2, y), ha="center", va="bottom", fontsize=6)
        for j, n in enumerate(models):
            for goal in results["models"][n].get("goals", []):
                i = [k for k, _ in series].index(f"vs_{goal['against']}")
                x = j + (i - 1) * width
                ax.hlines(goal["minimum"], x - width / 2, x + width / 2, colors="black", linestyles="dashed", linewidth=1)
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models)
        ax.set_yscale("log")
        ax.set_ylabel("speed-up of bcr-mlir sparse (log)")
        ax.set_title(f"{t} thread{'s' if t != '1' else ''} (dashes: goals)", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(axis="y", which="both", alpha=0.3)
    mode = results["meta"]["mode"]
    fig.suptitle(f"bcr-bench speed-ups{' [quick: tiny models]' if mode == 'quick' else ''}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_charts(results: dict, out: Path) -> dict[str, str]:
    """Writes the PNGs into `out`; returns {model name or "speedups": file name relative to out}."""
    out.mkdir(parents=True, exist_ok=True)
    threads = [str(t) for t in results["meta"]["threads"]]
    charts = {}
    for name, model in results["models"].items():
        path = model_chart(name, model, threads, out / f"{name}.png", results["meta"]["mode"])
        if path:
            charts[name] = path.name
    path = speedup_chart(results, threads, out / "speedups.png")
    if path:
        charts["speedups"] = path.name
    return charts
