"""The per-layer report: for every contraction, what the compiler decided and why."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class LayerDecision:
    name: str          # the layer's parameter name, e.g. "features.0"
    op: str            # conv2d, conv3d, matmul, depthwise conv2d, max-pool2d, max-pool3d
    scheme: str        # bcr 8x16, pattern 8x3x3, dense, ...
    sparsity: float    # fraction of weights that are zero
    mode: str          # "sparse" (generated kernel), "dense" (IREE), or "kernel" (a max-pool as a generated kernel)
    reason: str
    kernel: str = ""   # how it runs: generated kernel and schedule, IREE dense, ...
    uses: int = 1      # an RNN's gate weight is used once per time step

    def explain(self, clause: str) -> None:
        """Adds `clause` to the reason once: a layer used at every time step meets each pass once per use."""
        if clause not in self.reason.split("; "):
            self.reason += f"; {clause}"

    def row(self) -> list[str]:
        name = self.name if self.uses == 1 else f"{self.name} (x{self.uses})"
        sparsity = f"{self.sparsity:.1%}" if self.sparsity == self.sparsity else "?"  # NaN: weights not known
        return [name, self.op, self.scheme, sparsity, self.mode, self.kernel, self.reason]


@dataclass
class Report:
    layers: list[LayerDecision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, decision: LayerDecision) -> LayerDecision:
        self.layers.append(decision)
        return decision

    def find(self, name: str) -> LayerDecision | None:
        return next((layer for layer in self.layers if layer.name == name), None)

    def to_json(self) -> dict:
        return {"layers": [asdict(layer) for layer in self.layers], "notes": list(self.notes)}

    @property
    def sparse_layers(self) -> list[LayerDecision]:
        return [layer for layer in self.layers if layer.mode == "sparse"]

    @property
    def weight_layers(self) -> list[LayerDecision]:
        """The layers with weights, sparse or dense: not the max-pools run as generated kernels (mode "kernel")."""
        return [layer for layer in self.layers if layer.mode != "kernel"]

    def table(self) -> str:
        header = ["layer", "op", "scheme", "sparsity", "mode", "kernel", "why"]
        rows = [header] + [layer.row() for layer in self.layers]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + "  " + r[-1] for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 3)
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()
