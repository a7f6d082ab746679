"""Every CPU kernel schedule bcr-tune may pick matches PyTorch, forced through a tune cache.

bcr-tune times candidate schedules and keeps the fastest, so which kernel a layer gets depends on the
host's timings; here each schedule kind is forced (a cache holding just that schedule) on layers with
the awkward cases: ragged register blocks, reordered rows (patterns), strides, batch > 1, ReLU.
"""
from __future__ import annotations

import json
import warnings

import pytest
import torch

import bcr_mlir
from bcr_mlir.dialect import Schedule
from bcr_mlir.importer import import_model
from bcr_mlir.passes.matching import sparse_ops_with_weights
from bcr_mlir.passes.registry import PassContext
from bcr_mlir.passes.lower_to_kernels import tap_layout, tap_segments_fit
from bcr_mlir.passes.tune import cache_entry, layer_key, tunable_ops
from bcr_mlir.pipelines import run_pipeline, sparsify_pipeline
from bcr_mlir.targets import parse_target
from helpers import assert_matches_torch, reference
from bcr_mlir import ir


def _layer(cin, cout, hw, stride, scheme, batch=1, relu=False, padding=1, **options):
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(cin, cout, 3, stride, padding)] + ([torch.nn.ReLU()] if relu else [])
    model = torch.nn.Sequential(*layers).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, scheme, **options)
    return model, torch.randn(batch, cin, hw, hw)


def _raised_layer(model, x):
    """The imported model and its one sparse layer (op, weight), as the compile pipeline has them when
    bcr-tune runs; use the op inside `with imported.context`."""
    imported = import_model(model, (x,))
    context = PassContext(imported.weights, parse_target("x86-host"))
    with imported.context, ir.Location.unknown():
        run_pipeline(imported.module, "bcr-raise-sparse-layers,canonicalize,bcr-reorder-filters,"
                                      "bcr-eliminate-redundant-loads", context)
        (op, weight), = list(sparse_ops_with_weights(imported.module, imported.weights))
    return imported, op, weight


def _key(model, *inputs) -> str:
    """The tune-cache key of the model's one tuned layer (sparse, or a depthwise conv in packed storage),
    as the compile pipeline computes it."""
    imported = import_model(model, inputs)
    context = PassContext(imported.weights, parse_target("x86-host"))
    before_tuning = sparsify_pipeline("x86-host", "off").split(",bcr-compress-weights")[0]
    with imported.context, ir.Location.unknown():
        run_pipeline(imported.module, before_tuning, context)
        (op, weight), = list(tunable_ops(imported.module, imported.weights))
        return layer_key(op, weight)


def _forced(model, x, schedule: Schedule, tmp_path, monkeypatch, inputs=None, **compile_options):
    """The model compiled with `schedule` for its sparse layer, through a tune cache holding only that
    (`inputs`: all the model's example inputs, when it takes more than `x`)."""
    inputs = inputs or (x,)
    cache = tmp_path / "bcr-mlir" / "tune.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({_key(model, *inputs): {"schedule": cache_entry(schedule)}}))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return bcr_mlir.compile(model, inputs, "x86-host", **{"tune": "cache", **compile_options})


LAYERS = {
    # name: (cin, cout, hw, stride, scheme, batch, relu, options)
    "bcr 7x7": (16, 20, 7, 1, "bcr", 1, True, {"rate": 4}),          # 20 rows: ragged 8-row blocks
    "bcr 4x4 batch 2": (32, 16, 4, 1, "bcr", 2, False, {"rate": 4}),
    "bcr 2x2": (128, 20, 2, 1, "bcr", 1, True, {"rate": 4}),
    "bcr 14x14": (16, 20, 14, 1, "bcr", 1, True, {"rate": 4}),
    "bcr 14 -> 7 stride 2": (16, 16, 14, 2, "bcr", 1, True, {"rate": 4}),
    "bcr 36 -> 18 stride 2 batch 2": (16, 24, 36, 2, "bcr", 2, False, {"rate": 4}),  # 18 = 16 + a tail of 2
    "bcr 7 -> 4 stride 2": (64, 20, 7, 2, "bcr", 1, True, {"rate": 4}),  # odd input: the last column reads past it
    "pattern 7x7": (24, 20, 7, 1, "pattern", 1, False, {"connectivity_rate": 2.0}),  # reordered rows
}

SCHEDULES = {
    # flattened positions: 7 rows of pitch 9 (or 4 of pitch 6) in 16-lane vectors
    "flattened": lambda hw, br: Schedule(16, br, (hw, -(-((hw - 1) * (hw + 2) + hw) // 16)), 1, 2),
    "flattened split": lambda hw, br: Schedule(16, br, (hw, -(-((hw - 1) * (hw + 2) + hw) // 16), 2), 1, 2),
    "flattened 1 row": lambda hw, br: Schedule(8, br, (1, -(-hw // 8)), 2, 2),
    "im2col": lambda hw, br: Schedule(16, br, (1, -(-hw * hw // 16)), 1, 3),
    "im2col split": lambda hw, br: Schedule(8, br, (1, -(-hw * hw // 8), 3), 1, 3),
    "positions split": lambda hw, br: Schedule(8, br, (1, 1, 2), 1, 0),
    "positions tall": lambda hw, br: Schedule(8, br, (hw, 1), 1, 0),
    # tap segments on the unpadded input: the whole output in 16- or 8-lane vectors, or rows in lanes
    "taps": lambda hw, br: Schedule(16, br, (hw, -(-hw * hw // 16)), 1, 4),
    "taps split": lambda hw, br: Schedule(8, br, (hw, -(-hw * hw // 8), 2), 1, 4),
    # tap segments, one output row per workgroup: the top and bottom rows masked at run time
    "taps row tiles": lambda hw, br: Schedule(16, br, (1, -(-hw // 16)), 1, 4),
    "taps two-row tiles": lambda hw, br: Schedule(16, br, (2, -(-2 * hw // 16)), 1, 4),
    # 7-row tiles: on 14x14, 7 vectors per block row (more than 4, as bcr-tune offers 1-row blocks)
    "taps 7-row tiles": lambda hw, br: Schedule(16, br, (7, -(-7 * hw // 16)), 1, 4),
    "taps rows": lambda hw, br: Schedule(8, 8, (hw * hw, 1), 1, 5),
    "taps rows split": lambda hw, br: Schedule(8, 8, (hw * hw, 1, 2), 1, 5),   # 2 accumulator sets per position
    # stride 2 as tap segments over the input split into 4 phases: whole output, or one row per workgroup
    "taps phases": lambda hw, br: Schedule(16, br, (hw, -(-hw * hw // 16)), 1, 7),
    "taps phases row tiles": lambda hw, br: Schedule(16, br, (1, -(-hw // 16)), 1, 7),
    "taps phases split": lambda hw, br: Schedule(8, br, (hw, -(-hw * hw // 8), 2), 1, 7),
    # stride 2 from the padded input, two loads and an even-lane shuffle per vector (a tail on 7 wide)
    "strided loads": lambda hw, br: Schedule(8, br, (1, 1), 1, 6),
    "strided loads tall": lambda hw, br: Schedule(16, br, (hw, 1), 1, 6),
}


def _applies(layer: str, schedule: str) -> bool:
    """Flattened positions need a unit stride, tap segments an output their tile fits
    (tap_segments_fit: stride-1 tiles flatten their rows, stride-2 ones put two narrow rows in a
    vector or give each row its own vectors, or run at stride 1 over the phase planes);
    strided loads are for stride 2: other pairs are not generated at all."""
    hw, stride = LAYERS[layer][2], LAYERS[layer][3]
    return _schedule_fits(hw, stride, 1 if LAYERS[layer][4] == "pattern" else 8, schedule)


def _schedule_fits(hw: int, stride: int, block_rows: int, schedule: str) -> bool:
    out = (hw - 1) // stride + 1
    if schedule.startswith("flattened") and stride != 1:
        return False
    if schedule.startswith("strided") and stride != 2:
        return False
    if not schedule.startswith("taps"):
        return True
    forced = SCHEDULES[schedule](out, block_rows)
    layout = tap_layout(forced.vector_axis, (stride, stride), hw, out)
    return layout is not None and tap_segments_fit(forced, out, out, *layout)


PAIRS = [(layer, schedule) for layer in sorted(LAYERS) for schedule in sorted(SCHEDULES) if _applies(layer, schedule)]
KERNEL_TEXT = {"flattened": "flattened", "im2col": "im2col", "positions": "outputs", "taps": "columns by tap",
               "strided": "deinterleaved"}


@pytest.mark.parametrize("layer, schedule", PAIRS)
def test_forced_schedule_matches_torch(layer, schedule, tmp_path, monkeypatch):
    cin, cout, hw, stride, scheme, batch, relu, options = LAYERS[layer]
    model, x = _layer(cin, cout, hw, stride, scheme, batch, relu, **options)
    out = (hw - 1) // stride + 1
    block_rows = 1 if scheme == "pattern" else 8
    forced = SCHEDULES[schedule](out, block_rows)
    compiled = _forced(model, x, forced, tmp_path, monkeypatch)
    (layer_report,) = compiled.report.sparse_layers
    assert "tuned (cached)" in layer_report.reason
    assert KERNEL_TEXT[schedule.split()[0]] in layer_report.kernel
    assert ("phases" in schedule) == ("phases" in layer_report.kernel)
    assert ("split" in schedule) == ("accumulator sets" in layer_report.kernel)
    assert_matches_torch(compiled(x), reference(model, x))


class WithResidual(torch.nn.Module):
    """layer(x) + skip, then a ReLU when `relu`: a skip connection bcr-fuse-residual-adds moves into the
    layer's kernel (the layer itself without an activation)."""

    def __init__(self, layer: torch.nn.Module, relu: bool):
        super().__init__()
        self.layer, self.relu = layer, relu

    def forward(self, x, skip):
        y = self.layer(x) + skip
        return torch.relu(y) if self.relu else y


# Per schedule, the first two layers it applies to in this order (reordered rows, stride 2 with batch 2,
# ragged blocks first); the first with a ReLU after the add, the second without.
RESIDUAL_ORDER = ["pattern 7x7", "bcr 36 -> 18 stride 2 batch 2", "bcr 4x4 batch 2", "bcr 7 -> 4 stride 2",
                  "bcr 7x7", "bcr 14 -> 7 stride 2", "bcr 2x2", "bcr 14x14"]
RESIDUAL_PAIRS = [(layer, schedule, relu) for schedule in sorted(SCHEDULES)
                  for layer, relu in zip([n for n in RESIDUAL_ORDER if _applies(n, schedule)], (True, False))]


@pytest.mark.parametrize("layer, schedule, relu", RESIDUAL_PAIRS)
def test_forced_schedule_with_a_fused_residual_matches_torch(layer, schedule, relu, tmp_path, monkeypatch):
    """Every kernel kind adds the residual at each output's own index (ragged blocks, reordered rows,
    masked tails, strides, batch 2), before the ReLU that follows the add."""
    cin, cout, hw, stride, scheme, batch, _, options = LAYERS[layer]
    conv, x = _layer(cin, cout, hw, stride, scheme, batch, False, **options)
    model = WithResidual(conv, relu).eval()
    out = (hw - 1) // stride + 1
    skip = torch.randn(batch, cout, out, out)
    forced = SCHEDULES[schedule](out, 1 if scheme == "pattern" else 8)
    compiled = _forced(model, x, forced, tmp_path, monkeypatch, inputs=(x, skip))
    (layer_report,) = compiled.report.sparse_layers
    assert "tuned (cached)" in layer_report.reason
    assert KERNEL_TEXT[schedule.split()[0]] in layer_report.kernel and "residual add fused" in layer_report.kernel
    assert_matches_torch(compiled(x, skip), reference(model, x, skip))


@pytest.mark.parametrize("batch, schedule", [(1, Schedule(8, 8, (1, 1, 4), 1, 1)), (3, Schedule(8, 8, (3, 1, 2), 1, 1))])
def test_forced_matmul_schedule_with_a_fused_residual_matches_torch(batch, schedule, tmp_path, monkeypatch):
    """A Linear's residual: rows in lanes, one contiguous vector per position (20 rows: a ragged block)."""
    torch.manual_seed(0)
    model = WithResidual(torch.nn.Linear(2600, 20), True).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, "bcr", rate=3)
    x, skip = torch.randn(batch, 2600), torch.randn(batch, 20)
    compiled = _forced(model, x, schedule, tmp_path, monkeypatch, inputs=(x, skip))
    (layer_report,) = compiled.report.sparse_layers
    assert "residual add fused" in layer_report.kernel
    assert_matches_torch(compiled(x, skip), reference(model, x, skip))


DEPTHWISE = {
    # name: (channels, hw, stride); each over the 50k-MAC floor below which a depthwise conv stays in IREE
    "dw 16x16": (32, 16, 1),
    "dw 28 -> 14 stride 2": (64, 28, 2),
    "dw 29 -> 15 stride 2": (48, 29, 2),    # odd input: the last phase plane is one short
}
# The schedules a depthwise conv can take: its storage holds one row per register block, so not lanes
# over rows (taps rows), and no im2col (it would gather every channel's taps for every row).
DEPTHWISE_PAIRS = [(layer, schedule) for layer in sorted(DEPTHWISE) for schedule in sorted(SCHEDULES)
                   if not schedule.startswith(("taps rows", "im2col"))
                   and _schedule_fits(DEPTHWISE[layer][1], DEPTHWISE[layer][2], 1, schedule)]


def _depthwise(channels, hw, stride):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, stride, 1, groups=channels),
                                torch.nn.ReLU6()).eval()
    return model, torch.randn(1, channels, hw, hw) * 4


@pytest.mark.parametrize("layer, schedule", DEPTHWISE_PAIRS)
def test_forced_depthwise_schedule_matches_torch(layer, schedule, tmp_path, monkeypatch):
    """bcr-tune schedules depthwise convs too (packed storage, one row per block): each kind forced."""
    channels, hw, stride = DEPTHWISE[layer]
    model, x = _depthwise(channels, hw, stride)
    out = (hw - 1) // stride + 1
    compiled = _forced(model, x, SCHEDULES[schedule](out, 1), tmp_path, monkeypatch)
    (layer_report,) = compiled.report.sparse_layers
    assert "tuned (cached)" in layer_report.reason
    assert KERNEL_TEXT[schedule.split()[0]] in layer_report.kernel
    assert ("phases" in schedule) == ("phases" in layer_report.kernel)
    assert_matches_torch(compiled(x), reference(model, x))


POOLS = {
    # name: (channels, hw, kernel, stride, padding) of a MaxPool2d over a ReLU output
    "pool 3x3 s2 p1 on 28x28": (32, 28, 3, 2, 1),      # ResNet's stem pool, smaller
    "pool 2x2 s2 on 29x29": (96, 29, 2, 2, 0),         # odd input: the last column is dropped
    "pool 3x3 s1 p1 on 16x16": (32, 16, 3, 1, 1),
}
POOL_PAIRS = [(pool, schedule) for pool in sorted(POOLS) for schedule in sorted(SCHEDULES)
              if not schedule.startswith(("taps rows", "im2col")) and (schedule.startswith("taps") <= (POOLS[pool][4] > 0))
              and _schedule_fits(POOLS[pool][1], POOLS[pool][3], 1, schedule)]


def _pool(channels, hw, kernel, stride, padding):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.MaxPool2d(kernel, stride, padding)).eval()
    return model, torch.randn(1, channels, hw, hw)


@pytest.mark.parametrize("pool, schedule", POOL_PAIRS)
def test_forced_max_pool_schedule_matches_torch(pool, schedule, tmp_path, monkeypatch):
    """A max-pool over a ReLU output runs as the depthwise kernel with a max reduction: each schedule
    kind it can take, forced, matches torch (the masked border lanes read 0, exact for inputs >= 0)."""
    channels, hw, kernel, stride, padding = POOLS[pool]
    model, x = _pool(channels, hw, kernel, stride, padding)
    out = (hw + 2 * padding - kernel) // stride + 1
    compiled = _forced(model, x, SCHEDULES[schedule](out, 1), tmp_path, monkeypatch)
    (layer_report,) = compiled.report.layers
    assert layer_report.op == "max-pool2d" and "tuned (cached)" in layer_report.reason
    assert KERNEL_TEXT[schedule.split()[0]] in layer_report.kernel
    assert_matches_torch(compiled(x), reference(model, x))


def test_depthwise_convs_are_tuned(tmp_path, monkeypatch):
    """tune='measure' times a stride-2 depthwise conv's candidates (the register block its storage fixes,
    the kernels that read its input without a phase-split copy among them) and caches the pick."""
    from bcr_mlir.passes import tune
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    timed = []
    real_time = tune._time

    def recording(path, x, repeats, threads=1):
        timed.append(path.stem)
        return real_time(path, x, repeats, threads)
    monkeypatch.setattr(tune, "_time", recording)
    model, x = _depthwise(64, 28, 2)
    compiled = bcr_mlir.compile(model, (x,), "x86-host", tune="measure")
    (layer,) = compiled.report.sparse_layers
    assert layer.op == "depthwise conv2d" and "tuned over" in layer.reason and len(set(timed)) >= 4
    assert_matches_torch(compiled(x), reference(model, x))
    imported = import_model(model, (x,))
    with imported.context, ir.Location.unknown():
        run_pipeline(imported.module, "bcr-raise-sparse-layers", PassContext(imported.weights, parse_target("x86-host")))
        (op, _), = list(tunable_ops(imported.module, imported.weights))
        offered = tune.candidates(op, 1, parse_target("x86-host"), 8)
    assert {s.block_rows for s in offered} == {1}
    assert {0, 4, 6, 7} <= {s.vector_axis for s in offered}
    again = bcr_mlir.compile(model, (x,), "x86-host", tune="cache")
    assert "tuned (cached)" in again.report.sparse_layers[0].reason


@pytest.mark.parametrize("batch, schedule", [
    (1, Schedule(8, 8, (1, 1, 4), 1, 1)),      # a matrix-vector product, 4 accumulator sets
    (1, Schedule(8, 8, (1, 1, 2), 2, 1)),      # 2 sets, unrolled by 2: odd column counts take the tail loop
    (3, Schedule(8, 8, (3, 1, 2), 1, 1)),      # 3 positions per workgroup, 2 sets of 3 accumulators
    (2, Schedule(16, 16, (1, 1, 4), 1, 1)),    # 16 rows in lanes: the 20 rows leave a ragged block
])
def test_forced_matmul_schedule_matches_torch(batch, schedule, tmp_path, monkeypatch):
    """Lanes over rows with independent accumulator sets (tile[2]) on a Linear with 20 output rows
    (ragged register blocks) and a ReLU, at batch 1, 2 and 3."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2600, 20), torch.nn.ReLU()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, "bcr", rate=3)
    x = torch.randn(batch, 2600)
    compiled = _forced(model, x, schedule, tmp_path, monkeypatch)
    (layer_report,) = compiled.report.sparse_layers
    assert "tuned (cached)" in layer_report.reason
    assert f"{schedule.tile[2]} accumulator sets" in layer_report.kernel
    assert_matches_torch(compiled(x), reference(model, x))


@pytest.mark.parametrize("rows, batch, blocks, workgroups", [
    (2604, 1, 16, 21),   # 326 block-rows, the last ragged: 21 workgroups of 16, the last with 6
    (2604, 2, 16, 21),
    (264, 1, 2, 17),     # 33 block-rows: workgroups of 2, the last with 1
    (200, 1, 1, 25),     # 25 block-rows: one each, as 2 would leave fewer than 16 workgroups
])
def test_matmul_workgroups_run_several_block_rows(rows, batch, blocks, workgroups, tmp_path):
    """A matmul's workgroup runs `blocks` consecutive block-rows; the grid shrinks by that factor and the
    block-rows past the end of the last workgroup are skipped."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(300, rows), torch.nn.ReLU()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, "bcr", rate=8)
    x = torch.randn(batch, 300)
    compiled = bcr_mlir.compile(model, (x,), "x86-host", tune="off", save_temps=str(tmp_path))
    (layer_report,) = compiled.report.sparse_layers
    assert (f"{blocks} block-rows per workgroup" in layer_report.kernel) == (blocks > 1)
    text = (tmp_path / "iree_input.mlir").read_text()
    assert f"%x = arith.constant {workgroups} : index" in text
    assert_matches_torch(compiled(x), reference(model, x))


def test_tap_segments_need_a_padded_input(tmp_path, monkeypatch):
    """A cached tap-segment schedule on an unpadded conv (no zero pad to skip) falls back to the
    default model and still matches."""
    model, x = _layer(16, 16, 9, 1, "bcr", padding=0, rate=4)
    compiled = _forced(model, x, SCHEDULES["taps"](7, 8), tmp_path, monkeypatch)
    (layer_report,) = compiled.report.sparse_layers
    assert "by tap" not in layer_report.kernel
    assert_matches_torch(compiled(x), reference(model, x))


@pytest.mark.parametrize("schedule, cin, hw, stride", [("flattened", 16, 7, 1), ("im2col", 16, 7, 1),
                                                       ("taps", 16, 7, 1), ("taps rows", 64, 4, 1),
                                                       ("taps row tiles", 16, 14, 2), ("taps phases", 16, 14, 2)])
def test_forced_schedule_f16(schedule, cin, hw, stride, tmp_path, monkeypatch):
    """f16 storage (widened on load, f32 accumulation) through the flattened, im2col and tap kernels."""
    model, x = _layer(cin, 20, hw, stride, "bcr", 1, True, rate=4)
    compiled = _forced(model, x, SCHEDULES[schedule]((hw - 1) // stride + 1, 8), tmp_path, monkeypatch, dtype="f16")
    (layer_report,) = compiled.report.sparse_layers
    assert KERNEL_TEXT[schedule.split()[0]] in layer_report.kernel
    assert_matches_torch(compiled(x), reference(model, x), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("schedule, cin, hw", [("flattened", 16, 7), ("taps rows", 64, 4), ("positions split", 16, 7)])
def test_forced_schedule_f16_with_a_fused_residual(schedule, cin, hw, tmp_path, monkeypatch):
    """An f16 residual is widened on load and added in f32, in the vector and the per-row scalar stores."""
    conv, x = _layer(cin, 20, hw, 1, "bcr", 1, False, rate=4)
    model = WithResidual(conv, True).eval()
    skip = torch.randn(1, 20, hw, hw)
    compiled = _forced(model, x, SCHEDULES[schedule](hw, 8), tmp_path, monkeypatch, inputs=(x, skip), dtype="f16")
    (layer_report,) = compiled.report.sparse_layers
    assert "residual add fused" in layer_report.kernel
    assert_matches_torch(compiled(x, skip), reference(model, x, skip), rtol=1e-2, atol=1e-2)


def test_tune_cache_keeps_every_concurrent_writer(tmp_path):
    """Compiles tuning at the same time each add their layers to the cache; none is lost."""
    from concurrent.futures import ThreadPoolExecutor
    from bcr_mlir.passes import tune
    path = tmp_path / "tune.json"
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: tune._save(path, {f"layer{i}": {"ms": i}}), range(16)))
    assert set(json.loads(path.read_text())) == {f"layer{i}" for i in range(16)}


def _scripted_tuning(monkeypatch, times: dict[int, list[float]], **options):
    """Runs bcr-tune's time_candidates on a small Linear's first candidates (really built by IREE), with
    each candidate's samples taken from `times` in order instead of from the host; returns the winner's
    candidate index and how many samples each candidate got."""
    from bcr_mlir.passes import tune
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1024, 256)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, "bcr", rate=4)
    imported, op, _ = _raised_layer(model, torch.randn(1, 1024))
    target = parse_target("x86-host")
    taken = {index: 0 for index in times}

    def scripted(path, x, repeats, threads=1):
        index = int(path.stem.removeprefix("layer"))
        taken[index] += 1
        return times[index][taken[index] - 1]
    monkeypatch.setattr(tune, "_time", scripted)
    with imported.context, ir.Location.unknown():
        schedules = list(dict.fromkeys(tune.candidates(op, 8, target, 8)))[:len(times)]
        assert len(schedules) == len(times)
        _, (_, chosen) = tune.time_candidates(op, imported.weights, schedules, target, repeats=1, **options)
    return schedules.index(chosen), taken


def test_tune_is_not_misled_by_a_burst_of_host_load(monkeypatch):
    """Candidate 0 is the faster kernel (1.0 against 1.2), but a burst of load doubles its finalist
    rounds: the fastest sample still picks it (by the median of its five samples, 2.0, it would lose).
    The three finalists are not close, so no pair is timed again; candidate 3, not a finalist, is
    timed only in the screening."""
    winner, taken = _scripted_tuning(monkeypatch, {0: [1.0, 1.0, 2.0, 2.0, 2.0],
                                                   1: [1.2, 1.2, 1.2, 1.2, 1.2],
                                                   2: [1.5, 1.5, 1.5, 1.5, 1.5],
                                                   3: [3.0, 3.0]})
    assert winner == 0
    assert taken == {0: 5, 1: 5, 2: 5, 3: 2}


def test_tune_times_close_finalists_again(monkeypatch):
    """Two finalists within 5% of each other are timed again, pair only, until one pulls ahead: here
    candidate 1's sixth sample does, and the third finalist gets no more samples."""
    winner, taken = _scripted_tuning(monkeypatch, {0: [1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00],
                                                   1: [1.02, 1.02, 1.02, 1.02, 1.02, 0.90, 0.90],
                                                   2: [1.50, 1.50, 1.50, 1.50, 1.50],
                                                   3: [3.00, 3.00]})
    assert winner == 1
    assert taken == {0: 6, 1: 6, 2: 5, 3: 2}


def test_an_incumbent_is_always_a_finalist_and_is_replaced_only_by_a_clear_margin(monkeypatch):
    """With an incumbent (candidate 0, as the 1-thread pick is at N threads), a candidate 5% faster does
    not replace it (margin 10%); one 20% faster does. The incumbent is timed as a finalist even when
    three others screened faster."""
    kept, taken = _scripted_tuning(monkeypatch, {0: [1.0] * 5, 1: [0.95] * 5, 2: [1.5] * 5, 3: [3.0] * 2},
                                   incumbent_margin=0.1)
    assert kept == 0 and taken == {0: 5, 1: 5, 2: 5, 3: 2}
    replaced, taken = _scripted_tuning(monkeypatch, {0: [1.0] * 5, 1: [0.8] * 5, 2: [0.85] * 5, 3: [0.9] * 2},
                                       incumbent_margin=0.1)
    assert replaced == 1 and taken == {0: 5, 1: 5, 2: 5, 3: 2}


def test_tuning_at_threads_starts_from_the_one_thread_pick(tmp_path, monkeypatch):
    """tune='measure' at 2 threads with a 1-thread pick cached: that pick is candidate 0 (the
    incumbent), and a rival only 5% faster at 2 threads does not replace it; the report says so."""
    from bcr_mlir.passes import tune
    model, x = _layer(16, 20, 7, 1, "bcr", 1, True, rate=4)
    monkeypatch.setattr(tune, "_time", lambda path, x, repeats, threads=1: 1.0 if path.stem == "layer0" else 0.95)
    compiled = _forced(model, x, SCHEDULES["flattened"](7, 8), tmp_path, monkeypatch, tune="measure",
                       tune_threads=2)
    (layer,) = compiled.report.sparse_layers
    assert "at 2 threads (kept the 1-thread pick: no candidate 10% faster)" in layer.reason
    assert KERNEL_TEXT["flattened"] in layer.kernel
    assert_matches_torch(compiled(x), reference(model, x))


def test_tune_threads_times_and_caches_per_thread_count(tmp_path, monkeypatch):
    """tune_threads=2 times the candidates at 2 threads (IREE's local-task device) and caches the choice
    under a key of its own: a 1-thread compile does not take it, a second 2-thread compile does."""
    from bcr_mlir.passes import tune
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    threads_timed = []
    real_time = tune._time

    def recording(path, x, repeats, threads=1):
        threads_timed.append(threads)
        return real_time(path, x, repeats, threads)
    monkeypatch.setattr(tune, "_time", recording)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(512, 256), torch.nn.ReLU()).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, "bcr", rate=4)
    x = torch.randn(1, 512)
    compiled = bcr_mlir.compile(model, (x,), "x86-host", tune="measure", tune_threads=2)
    (layer,) = compiled.report.sparse_layers
    assert "at 2 threads" in layer.reason and threads_timed and set(threads_timed) == {2}
    assert "the default model" in layer.reason  # no 1-thread pick to start from
    assert_matches_torch(compiled(x), reference(model, x))
    cache = json.loads((tmp_path / "bcr-mlir" / "tune.json").read_text())
    assert len(cache) == 1 and _key(model, x) not in cache  # not the 1-thread key
    again = bcr_mlir.compile(model, (x,), "x86-host", tune="cache", tune_threads=2)
    assert "tuned (cached) at 2 threads" in again.report.sparse_layers[0].reason
    single = bcr_mlir.compile(model, (x,), "x86-host", tune="cache")
    assert "tuned" not in single.report.sparse_layers[0].reason


def test_cached_compile_at_threads_without_their_own_schedule_takes_the_one_thread_pick(tmp_path, monkeypatch):
    """tune='cache' at 2 threads, with a schedule cached only at 1 thread: the layer gets that schedule
    (a timed pick), not the untimed default model, and the report says so."""
    model, x = _layer(16, 20, 7, 1, "bcr", 1, True, rate=4)
    flattened = SCHEDULES["flattened"](7, 8)
    compiled = _forced(model, x, flattened, tmp_path, monkeypatch, tune_threads=2)
    (layer,) = compiled.report.sparse_layers
    assert "tuned at 1 thread (cached; none at 2 threads)" in layer.reason
    assert KERNEL_TEXT["flattened"] in layer.kernel
    assert_matches_torch(compiled(x), reference(model, x))


@pytest.mark.parametrize("threads", [0, -1, 1.5, "two"])
def test_tune_threads_must_be_a_positive_whole_number(threads):
    model = torch.nn.Sequential(torch.nn.Linear(64, 64)).eval()
    from bcr_mlir.errors import BcrError
    with pytest.raises(BcrError, match="tune thread count"):
        bcr_mlir.compile(model, (torch.randn(1, 64),), "x86-host", tune_threads=threads)


def test_a_recurrent_layer_is_explained_once_for_all_its_steps(tmp_path, monkeypatch):
    """A GRU's recurrent weight runs once per time step, and bcr-tune meets it at every step. The report's
    row ("weight_hh_l0 (x6)") said "tuned (cached)" six times over: each clause is now said once."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    torch.manual_seed(0)
    gru = torch.nn.GRU(64, 256, batch_first=True).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(gru, "bcr", rate=4)
    x = torch.randn(1, 6, 64)
    for tune in ("measure", "cache"):
        compiled = bcr_mlir.compile(gru, (x,), "x86-host", tune=tune)
        layer = compiled.report.find("weight_hh_l0")
        assert layer is not None and layer.uses == 6, compiled.report
        clauses = layer.reason.split("; ")
        assert len(clauses) == len(set(clauses)) and any(c.startswith("tuned") for c in clauses), layer.reason
    assert_matches_torch(compiled(x)[0], reference(gru, x)[0])


class _LastState(torch.nn.Module):
    """An RNN's outputs at every step, batch 1."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


@pytest.mark.parametrize("kind, gates", [("GRU", 3), ("LSTM", 4)])
@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64)])
def test_rnn_cells_run_inside_the_recurrent_kernel(target, kind, gates):
    """bcr-fuse-gate-cells: each step's gate arithmetic runs in the W_hh kernel (one dispatch a step, not
    two), on both layers of a 2-layer GRU or LSTM, and the outputs still match PyTorch. An LSTM step adds
    the input projection to all four gates before slicing them, and its cell has two results (c and h)."""
    torch.manual_seed(0)
    model = _LastState(getattr(torch.nn, kind)(64, 256, num_layers=2, batch_first=True)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, "bcr", rate=4)
    x = torch.randn(1, 5, 64)
    compiled = bcr_mlir.compile(model, (x,), target)
    assert_matches_torch(compiled(x), reference(model, x))
    for name in ("rnn.weight_hh_l0", "rnn.weight_hh_l1"):
        layer = compiled.report.find(name)
        assert layer is not None and layer.mode == "sparse" and f"{gates}-gate cell fused" in layer.kernel, \
            compiled.report
        assert f"gate cell fused ({gates} gates of 256)" in layer.reason
    assert "cell fused" not in compiled.report.find("rnn.weight_ih_l0").kernel
