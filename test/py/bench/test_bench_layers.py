"""tools/bench_layers.py: the per-layer harness's output-only floor module and its table.

A quick check of the pieces, not a benchmark: the floor must produce the layer's output shape from
the input (so IREE really writes it), and the table must report each thread count's floor, ceiling
and scaled bound.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

import bcr_mlir

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools"))
import bench_layers  # noqa: E402


def test_output_floor_compiles_and_writes_the_layer_output():
    case = next(c for c in bench_layers.cases("all") if c.name == "vgg 64x128@16 bcr 8x")
    model, x = bench_layers.build(case)
    with torch.no_grad():
        shape = model(x).shape
    floor = bcr_mlir.compile(bench_layers.OutputFloor(shape), (x,), "x86-host", sparse=False, dense_flags="default")
    y = floor(x)
    assert y.shape == tuple(shape)
    np.testing.assert_array_equal(y, np.full(shape, x.flatten()[0].item(), np.float32))


def test_table_reports_floor_ceiling_and_scaled_bound_per_thread_count():
    result = bench_layers.Result(
        case={"name": "layer", "goal": 6.0}, dense_ms={1: 1.0, 2: 0.6}, sparse_ms={1: 0.1, 2: 0.2},
        speedup={1: 10.0, 2: 3.0}, dense_flags={1: "tuned", 2: "default"}, sparse_layers=1, error=1e-7, ok=True,
        floor_ms={1: 0.01, 2: 0.04}, reduction=8.0)
    assert bench_layers.ceiling(result, 1) == 100.0 and bench_layers.ceiling(result, 2) == 15.0
    # Dense's arithmetic: 0.99 thread-ms at 1 thread (1.12 at 2); / 8, plus the floor.
    assert abs(bench_layers.dense_scaled(result, 1) - 1.0 / (0.01 + 0.99 / 8)) < 1e-9
    assert abs(bench_layers.dense_scaled(result, 2) - 0.6 / (0.04 + 0.99 / 16)) < 1e-9
    row = bench_layers.markdown([result], (1, 2)).splitlines()[-1]
    assert "| 0.010, 100.0x, 7.5x |" in row and "| 0.040, 15.0x, 5.9x |" in row and row.endswith("| no | 1.0e-07 |")


def test_work_reduction_counts_the_pruned_weights():
    for name, expected in (("vgg 64x128@16 bcr 8x", 8.0), ("pattern 64x64@56 4/9 + 3.6x conn", 9 / 4 * 3.6)):
        model, _ = bench_layers.build(next(c for c in bench_layers.cases("all") if c.name == name))
        assert abs(bench_layers.work_reduction(model) / expected - 1) < 0.05, name
