"""bcr-tune: choose each sparse layer's schedule (vector width, rows per register block, output tile,
unroll) by compiling candidates and timing them with iree-benchmark-module on this host.

Every candidate is the layer alone (its real weights, a random input of its shape), lowered by the same
bcr-compress-weights and bcr-lower-to-kernels passes and compiled by IREE with the production flags,
then timed single-threaded (or at `threads` threads), twice, interleaved; the fastest few (by their best sample) are timed
again, interleaved, the two best again while they are within 5% of each other, and the fastest sample
wins (the host may be busy, and a busy host only slows a sample). Candidates cover the default
model's choice, taller tiles, other vector widths, unrolling, other register blocks, independent
accumulator sets where a kernel has few accumulators (matrix-vector products, tiny outputs), for narrow
outputs flattened positions and lanes over rows or im2col positions, for zero-padded convs of stride
1 or 2 tap segments on the unpadded input (at stride 2 also on its split into phase planes), and for
stride-2 convs deinterleaved loads. A layer whose input is a zero pad is timed with that pad, so
kernels that do without it are credited. Depthwise convs, which bcr-raise-sparse-layers sends straight
to packed storage (one row per channel), are tuned too, over the schedules of that one-row block: at
stride 2 the default model reads a phase-split copy of the padded input, made by a transpose dispatch
that costs more than the kernel (MobileNet-V2's 96x112x112 one: ~300 us), and deinterleaved loads or
tap segments do without it. Pairs that bcr-fuse-expand-depthwise will run as one kernel
are left alone (`skip-fused=0` times them too, for a pipeline without that pass): the fused kernel
does not use their schedules. The winner is written into the op's #bcr.schedule and kept
in a JSON cache keyed by the layer's shapes, sparsity pattern and the host CPU, so a second compile
of the same model costs nothing; the key includes GENERATOR_VERSION, so schedules tuned for an older
kernel generator are re-tuned (`~/.cache/bcr-mlir/tune.json`, or `cache=PATH`).

The fastest schedule can depend on the thread count the module runs with (on a 2-vCPU guest a
BCR-4x conv's best kernel at 1 thread was 1.4x slower than another at 2): `threads=N` times the
candidates at N threads (IREE's local-task device with N workers) and caches the choice per thread
count; bcr_mlir.compile(..., tune_threads=N) passes it. At N threads the layer's 1-thread pick (when
cached; else the default model's choice) is the incumbent: it is always a finalist, and another
candidate replaces it only when more than THREADED_MARGIN faster. Timing at 2 threads on a 2-vCPU guest
is noisy (each call waits ~50 us for a worker to wake), and picks won by smaller margins made whole
models slower. Without measuring (`measure=0`), a layer cached only at 1 thread takes that schedule
rather than the default model.

Cross targets cannot be timed here (arm64 runs under emulation; Vulkan on a software driver): they
keep the default model of bcr_mlir.kernels.schedule, documented there. With `measure=0` only cached
schedules are applied; the rest use the default model too. A candidate that fails to build is skipped
(BCR_DEBUG=1 prints which, and why).

Before:
    %r = "bcr.sparse_conv2d"(...) {..., schedule = #bcr.schedule<0 : i64, 8 : i64, array<i64: 0, 0>, 1 : i64, 0 : i64>}
After:
    %r = "bcr.sparse_conv2d"(...) {..., schedule = #bcr.schedule<16 : i64, 8 : i64, array<i64: 2, 1>, 2 : i64, 0 : i64>}
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bcr_mlir import ir
from bcr_mlir.dialect import (PACKED_OPERANDS, PACKED_OPS, SPARSE_OPS, Schedule, int_array, new_context, packed_operands,
                              parse_attr, shape_of, string_attr, to_attr, walk)
from bcr_mlir.kernels.schedule import (MAX_TILE_ROWS, VECTOR_CHOICES, conv_schedule, matmul_schedule,
                                      rows_in_lanes_tile)
from bcr_mlir.passes.lower_to_kernels import (MAX_TAP_VECTORS, PHASE_TAP_AXIS, tap_layout, tap_segments_fit,
                                              tap_tile_vectors, unpadded_padding)
from bcr_mlir.passes.functions import zero_pad
from bcr_mlir.passes.fuse_expand_depthwise import layers_to_fuse
from bcr_mlir.passes.matching import defining_op, sparse_ops_with_weights, zero_pad_amounts
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.structure import GROUP_CHOICES
from bcr_mlir.targets import host_cpu_flags
from bcr_mlir.weights import WeightTable


# Bumped whenever the kernel generator or the candidate list changes what a cached schedule means or
# which schedules are worth timing: older cache entries are then ignored and the layer is re-tuned.
GENERATOR_VERSION = 12  # 12: every CPU kernel runs several block-rows per workgroup (blocks_per_workgroup)

# At N threads the 1-thread pick (timed reliably: one thread is the quiet case) is the incumbent, and a
# candidate replaces it only when it is this much faster at N threads. Without the margin, 2-thread
# picks won by run-to-run noise made VGG-16 and MobileNet-V2 ~12% slower in-model on a 2-vCPU guest.
THREADED_MARGIN = 0.10


def default_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "bcr-mlir" / "tune.json"


CACHE_FIELDS = ("vector_width", "block_rows", "tile", "unroll", "vector_axis")


def cache_entry(schedule: Schedule) -> dict:
    """A schedule as the tune cache stores it (JSON)."""
    return {name: list(getattr(schedule, name)) if name == "tile" else getattr(schedule, name) for name in CACHE_FIELDS}


def cached_schedule(entry: dict) -> Schedule:
    """The schedule of a tune cache entry."""
    return Schedule.from_params([entry["schedule"][name] for name in CACHE_FIELDS])


def layer_key(op: ir.Operation, weight: np.ndarray, threads: int = 1) -> str:
    """Identifies what a schedule's speed depends on: shapes, attributes, where the nonzeros are, the CPU
    and the thread count it was timed at."""
    digest = hashlib.sha1()
    digest.update(f"generator {GENERATOR_VERSION}".encode())
    if threads != 1:  # 1-thread keys stay those of the caches written before threads were an option
        digest.update(f"threads {threads} margin {THREADED_MARGIN}".encode())
    for part in (op.name, shape_of(op.operands[0]), shape_of(op.result), weight.shape,
                 *(str(op.attributes[n]) for n in ("strides", "dilations", "activation", "row_order", "reduction")
                   if n in op.attributes),
                 sorted(host_cpu_flags() & {"avx2", "avx512f", "fma"})):
        digest.update(repr(part).encode())
    digest.update(np.packbits(weight != 0).tobytes())
    return digest.hexdigest()


def packed_taps(op: ir.Operation, weights: WeightTable) -> np.ndarray | None:
    """The [C, 1, *kernel] weight of a depthwise conv (or max-pool) held as packed storage (one row per channel), rebuilt
    from its packed indices and values: what its layer key and schedule depend on."""
    if op.name not in ("bcr.packed_conv2d", "bcr.packed_conv3d"):
        return None
    operands = packed_operands(op)
    arrays = [weights.array(v) for v in (operands.offsets, operands.indices, operands.values)]
    if any(array is None for array in arrays):
        return None
    offsets, indices, values = arrays
    channels, kernel = shape_of(op.result)[1], int_array(op, "kernel")
    taps = np.zeros((channels, math.prod(kernel)), values.dtype)
    for channel in range(channels):
        columns = indices[offsets[channel]:offsets[channel + 1]]
        taps[channel, columns - channel * taps.shape[1]] = values[offsets[channel]:offsets[channel + 1], 0]
    return taps.reshape(channels, 1, *kernel)


def tunable_ops(module: ir.Module, weights: WeightTable):
    """(op, weight) for every layer bcr-tune schedules: the sparse layers, and the depthwise convs, which
    bcr-raise-sparse-layers sends straight to packed storage (the only packed ops before compression)."""
    yield from sparse_ops_with_weights(module, weights)
    for op in walk(module):
        if op.name in PACKED_OPS and (taps := packed_taps(op, weights)) is not None:
            yield op, taps


def candidates(op: ir.Operation, block_rows: int, target, limit: int) -> list[Schedule]:
    """Schedules worth timing, the default model's choice first. A packed op's storage fixes its register
    block (one row for a depthwise conv), so only schedules of that block are candidates."""
    out_shape, rows = shape_of(op.result), shape_of(op.operands[1])[0]
    blocks = [g for g in sorted({block_rows, block_rows // 2, block_rows * 2}) if g in GROUP_CHOICES and g <= rows]
    if op.name in PACKED_OPS:
        blocks = [block_rows]
    found: list[Schedule] = []
    extra: list[Schedule] = []  # always timed, whatever the limit
    if op.name == "bcr.sparse_matmul":
        positions = out_shape[0]
        for g in [block_rows] + [b for b in blocks if b != block_rows]:
            base = matmul_schedule(g, positions, target)
            found.append(base)
            for tile in (1, 2, 4, 8):
                if positions % tile == 0 and tile != base.tile[0]:
                    found.append(replace(base, tile=(tile, 1)))
            found.append(replace(base, unroll=2))
            # Independent accumulator sets: a matrix-vector product otherwise runs at the FMA latency.
            for sets in (2, 4, 8):
                if base.tile[0] * sets <= 8 and g in (block_rows, 2 * block_rows):
                    extra.append(replace(base, tile=(base.tile[0], 1, sets)))
    else:
        spatial = out_shape[2:]
        positions, width, outer_rows = math.prod(spatial), spatial[-1], spatial[-2] if len(spatial) > 1 else 1
        groups = [block_rows] + [b for b in blocks if b != block_rows]
        # The default model's schedule for every register block first, then variations of each.
        found += [conv_schedule(g, width, outer_rows, positions, target) for g in groups]
        for g in groups:
            base = conv_schedule(g, width, outer_rows, positions, target)
            if base.vector_axis == 0:
                def fits(th, tw):
                    return outer_rows % th == 0 and (g + 1) * th * tw + 1 <= target.vector_registers
                # The tallest one-vector-wide tile: most accumulators per row, contiguous loads.
                tall = max((th for th in range(1, MAX_TILE_ROWS + 1) if fits(th, 1)), default=1)
                if (tall, 1) != tuple(base.tile[:2]):
                    found.append(replace(base, tile=(tall, 1)))
                found.append(replace(base, unroll=2))
                for vw in VECTOR_CHOICES:
                    if vw != base.vector_width and vw <= target.vector_width(32) and vw <= 2 * width:
                        found.append(replace(conv_schedule(g, width, outer_rows, positions, target), vector_width=vw))
                for th in (1, 2, 4):
                    if fits(th, base.tile[1]):
                        found.append(replace(base, tile=(th, base.tile[1])))
        if _per_dim(op, "strides")[-1] == 2:
            # Stride 2 read straight from the padded input, even lanes kept by a shuffle (vector_axis 6),
            # for the default and the tall tile of every register block.
            for schedule in list(found):
                if schedule.vector_axis == 0 and schedule.unroll == 1 and len(schedule.tile) == 2:
                    extra.append(replace(schedule, vector_axis=6))
        extra += flattened_candidates(op, blocks, target) + tap_candidates(op, blocks, target)
        if positions <= 16:
            # Small outputs (4x4, 2x2): lanes over a block of rows instead, one accumulator per position.
            for g in (8, 16):
                if g <= rows and positions + 2 <= target.vector_registers:
                    extra.append(Schedule(vector_width=g, block_rows=g, tile=rows_in_lanes_tile(positions), vector_axis=1))
    if op.name in PACKED_OPS:
        found, extra = ([s for s in group if s.block_rows == block_rows] for group in (found, extra))
    unique = []
    for schedule in found:
        if schedule not in unique and schedule not in extra:
            unique.append(schedule)
    return unique[:max(min(MIN_REGULAR, limit), limit - len(extra))] + extra


# Regular (lanes over positions) candidates timed even when the special ones fill the limit.
MIN_REGULAR = 3


# Largest im2col-gathered input (bytes) worth trying: it should stay in the L2 cache (1 MB here).
IM2COL_MAX_BYTES = 1 << 20


def flattened_candidates(op: ir.Operation, blocks: list[int], target) -> list[Schedule]:
    """Schedules for a 2-D conv whose output rows are narrower than the widest vector, per block.

    Flattened positions (vector_axis 2, unit horizontal stride): the tallest tile of output rows whose
    flattened run fits the registers. im2col positions (vector_axis 3): every lane an output position,
    when the gathered input stays small."""
    out_shape, x_shape = shape_of(op.result), shape_of(op.operands[0])
    strides = _per_dim(op, "strides")
    vw = target.vector_width(32)
    if op.name not in ("bcr.sparse_conv2d", "bcr.packed_conv2d") or len(out_shape) != 4 or out_shape[-1] >= vw:
        return []
    outer_rows, width, pitch = out_shape[2], out_shape[3], strides[0] * x_shape[-1]
    found = []
    for g in blocks if strides[-1] == 1 else []:
        def vectors(th):
            return -(-((th - 1) * pitch + width) // vw)
        fitting = [th for th in range(1, outer_rows + 1)
                   if outer_rows % th == 0 and (g + 1) * vectors(th) + 1 <= target.vector_registers]
        if fitting:
            th = max(fitting)
            found.append(Schedule(vector_width=vw, block_rows=g, tile=(th, vectors(th)), vector_axis=2))
            if g * vectors(th) <= 8 and (2 * g + 1) * vectors(th) + 1 <= target.vector_registers:
                # Few accumulators: a second set keeps more FMAs in flight.
                found.append(Schedule(vector_width=vw, block_rows=g, tile=(th, vectors(th), 2), vector_axis=2))
    if op.name == "bcr.packed_conv2d":
        return found  # a depthwise conv's im2col would gather every channel's taps for every row
    positions = outer_rows * width
    depth = math.prod(shape_of(op.operands[1])[1:])
    padded = -(-positions // vw) * vw
    if positions * 2 > vw and depth * padded * 4 <= IM2COL_MAX_BYTES:
        for g in blocks:
            if (g + 1) * (padded // vw) + 1 <= target.vector_registers:
                found.append(Schedule(vector_width=vw, block_rows=g, tile=(1, padded // vw), vector_axis=3))
    return found


def tap_candidates(op: ir.Operation, blocks: list[int], target) -> list[Schedule]:
    """Tap segments on the unpadded input of a zero-padded 2-D conv of stride 1 or 2 (its zero pad, and
    the pad's dispatch, disappear): the whole output in the fewest vectors that hold it, or the
    tallest tiles of whole rows that fit 4 and MAX_TAP_VECTORS vectors (vector_axis 4; at stride 2 also
    on the input split into phases, axis 7); for tiny outputs, lanes over rows that skip the border
    products (axis 5)."""
    if _unpadded_padding(op) is None:
        return []
    height, width = shape_of(op.result)[2:]
    strides, source_width = _per_dim(op, "strides"), _source_shape(op)[-1]
    widest, found = target.vector_width(32), []
    for axis in (4, PHASE_TAP_AXIS):
        layout = tap_layout(axis, strides, source_width, width)
        if layout is None:
            continue
        flattened, stride = layout
        for lanes in VECTOR_CHOICES:
            # Narrower vectors only where they waste fewer lanes: a whole output, or a row, narrower than the widest.
            if lanes > widest or (lanes < widest and (height * width if flattened else width) > lanes):
                continue
            # Vectors per block row of each tile height that fits (its layout built once).
            counts = {th: count for th in range(1, height + 1)
                      if (count := tap_tile_vectors(Schedule(lanes, 0, (th, 0), 1, axis), height, width, flattened,
                                                    stride)) is not None}
            for g in blocks:
                # The tallest tile in 4 vectors, and the tallest in MAX_TAP_VECTORS (when the registers hold it).
                for budget in (4, MAX_TAP_VECTORS):
                    usable = [th for th, v in counts.items()
                              if v <= budget and (g + 1) * v + 1 <= target.vector_registers]
                    if usable:
                        schedule = Schedule(vector_width=lanes, block_rows=g, tile=(max(usable), counts[max(usable)]),
                                            vector_axis=axis)
                        if schedule not in found:
                            found.append(schedule)
    rows = shape_of(op.operands[1])[0]
    for g in (8, 16):
        schedule = Schedule(vector_width=g, block_rows=g, tile=(height * width, 1), vector_axis=5)
        if g <= rows and g <= widest and height * width + 2 <= target.vector_registers and \
                tap_segments_fit(schedule, height, width):
            found.append(schedule)
            # A corner tap feeds one position: a second accumulator set keeps two FMA chains in flight.
            if 2 * height * width + 2 <= target.vector_registers:
                found.append(replace(schedule, tile=(height * width, 1, 2)))
    return found


def _per_dim(op: ir.Operation, name: str) -> list[int]:
    """A conv's strides or dilations (1, 1 when absent)."""
    return list(ir.DenseI64ArrayAttr(op.attributes[name])) if name in op.attributes else [1, 1]


def _unpadded_padding(op: ir.Operation) -> tuple[int, int] | None:
    """(ph, pw) when a 2-D conv reads a zero pad of its input that tap segments can skip."""
    if op.name not in ("bcr.sparse_conv2d", "bcr.packed_conv2d"):
        return None
    kernel = int_array(op, "kernel") if op.name in PACKED_OPS else shape_of(op.operands[1])[2:]
    return unpadded_padding(shape_of(op.operands[0]), shape_of(op.result), kernel, _per_dim(op, "strides"),
                            _per_dim(op, "dilations"), zero_pad_amounts(defining_op(op.operands[0])))


def _source_shape(op: ir.Operation) -> list[int]:
    """The shape of the conv's input before the zero pad tap segments can skip (the input's own without one)."""
    if _unpadded_padding(op) is None:
        return list(shape_of(op.operands[0]))
    return list(shape_of(defining_op(op.operands[0]).operands[0]))


def _standalone(op: ir.Operation, weights: WeightTable, schedule: Schedule):
    """The layer alone, as a module of its own, with the candidate schedule. A layer whose input is a
    zero pad gets that pad too, so every candidate is timed with the padding it costs."""
    pad_amounts = zero_pad_amounts(defining_op(op.operands[0])) if _unpadded_padding(op) is not None else None
    context = new_context()
    table = WeightTable()
    # Every operand but the input is a constant: a sparse op's weight and bias, or packed storage.
    arrays = [weights.array(value) for value in list(op.operands)[1:PACKED_OPERANDS]]
    x_shape, y_shape = shape_of(op.operands[0]), shape_of(op.result)
    attributes = {name: str(op.attributes[name]) for name in ("layout", "strides", "dilations", "kernel", "activation",
                                                               "layer", "row_order", "reduction") if name in op.attributes}
    source_shape = _source_shape(op)
    with context, ir.Location.unknown():
        module = ir.Module.create()
        with ir.InsertionPoint(module.body):
            x_type = ir.RankedTensorType.get(list(x_shape), ir.F32Type.get())
            y_type = ir.RankedTensorType.get(list(y_shape), ir.F32Type.get())
            source_type = ir.RankedTensorType.get(source_shape, ir.F32Type.get())
            function = ir.func.FuncOp("main", ir.FunctionType.get([source_type], [y_type]))
            block = function.add_entry_block()
            with ir.InsertionPoint(block):
                x = block.arguments[0]
                if pad_amounts is not None:
                    x = zero_pad(x, list(pad_amounts[0]), list(pad_amounts[1]), x_type)
                constants = [table.constant(array, f"operand{index}") for index, array in enumerate(arrays, 1)]
                attrs = {k: ir.Attribute.parse(v) for k, v in attributes.items()}
                attrs["schedule"] = to_attr(schedule)
                layer = ir.Operation.create(op.name, results=[y_type], operands=[x, *constants], attributes=attrs)
                ir.func.ReturnOp([layer.result])
    return context, module, table, tuple(source_shape)


def build_schedule(op: ir.Operation, weights: WeightTable, schedule: Schedule, target, path: Path) -> np.ndarray:
    """Compiles the layer alone with `schedule` into `path`; returns a random input for it."""
    from bcr_mlir.backends import iree
    from bcr_mlir.pipelines import run_pipeline
    context, module, table, x_shape = _standalone(op, weights, schedule)
    with context, ir.Location.unknown():
        run_pipeline(module, "bcr-compress-weights,bcr-lower-to-kernels", PassContext(table, target), verify_each=False)
        text = iree.to_iree_text(module)
    iree.compile_text(text, target, path)
    return np.random.default_rng(0).standard_normal(x_shape).astype(np.float32)


def _time(path: Path, x: np.ndarray, repeats: int, threads: int = 1) -> float:
    from bcr_mlir.backends import iree
    return iree.benchmark(path, [x], threads=threads, repeats=repeats, min_time=0.02)


def time_candidates(op: ir.Operation, weights: WeightTable, schedules: list[Schedule], target, repeats: int,
                    finalists: int = 3, rounds: int = 3, screening: int = 2, close: float = 0.05,
                    tie_rounds: int = 4, threads: int = 1,
                    incumbent_margin: float | None = None) -> tuple[list[tuple[float, Schedule]], tuple[float, Schedule] | None]:
    """(seconds, schedule) for every candidate that builds, in candidate order, and the winner.

    Every candidate is timed `screening` times, interleaved, and ranked by its fastest sample; the
    `finalists` fastest are then timed `rounds` more times, interleaved. While the two best finalists
    are within `close` of each other, the pair is timed again, up to `tie_rounds` more times. Every
    score is a candidate's fastest sample: on a shared host, other work only ever slows a sample
    (bursts of 2x were seen on a KVM guest, lasting several samples), so the fastest sample is the
    most repeatable estimate of the kernel's own speed, where a median of five can still be set by a
    burst that hit one candidate's rounds and not another's. The winner is the finalist with the
    fastest sample (a non-finalist's fewer samples do not compete with it).

    With `incumbent_margin`, candidate 0 is the incumbent: it is always a finalist, and it stays the
    winner unless another finalist's score is more than `incumbent_margin` faster."""
    with tempfile.TemporaryDirectory() as tmp:
        built, samples = [], {}
        for index, schedule in enumerate(schedules):
            path = Path(tmp) / f"layer{index}.vmfb"
            try:
                x = build_schedule(op, weights, schedule, target, path)
            except Exception as error:  # a candidate that fails to build is simply not a candidate
                if os.environ.get("BCR_DEBUG"):
                    print(f"bcr-tune: candidate {schedule} did not build: {error}", file=sys.stderr)
                continue
            built.append((index, schedule, path, x))
            samples[index] = []

        def time_round(entries) -> None:
            for index, _, path, x in entries:
                samples[index].append(_time(path, x, repeats, threads))

        def ranked(entries):
            return sorted(entries, key=lambda item: min(samples[item[0]]))

        for _ in range(screening if len(built) > 1 else 1):
            time_round(built)
        best = ranked(built)[:finalists]
        incumbent = next((entry for entry in built if entry[0] == 0), None) if incumbent_margin is not None else None
        if incumbent is not None and incumbent not in best:
            best = best[:finalists - 1] + [incumbent]
        if len(best) > 1:
            for _ in range(rounds):
                time_round(best)
            for _ in range(tie_rounds):
                best = ranked(best)
                if min(samples[best[1][0]]) > (1 + close) * min(samples[best[0][0]]):
                    break
                time_round(best[:2])
        def score(index: int, schedule: Schedule) -> tuple[float, Schedule]:
            return min(samples[index]), schedule
        winner = min((score(index, schedule) for index, schedule, _, _ in best), key=lambda item: item[0],
                     default=None)
        if incumbent is not None and winner[0] * (1 + incumbent_margin) >= min(samples[0]):
            winner = score(0, incumbent[1])
        return [score(index, schedule) for index, schedule, _, _ in built], winner


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        return {}


def _save(path: Path, entries: dict) -> None:
    """Adds `entries` to the cache file as it is now: concurrent compiles each add their own layers
    (under a lock, so neither drops the other's), and readers see the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cache = _load(path)
        cache.update(entries)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(cache, indent=1, sort_keys=True))
        partial.replace(path)


@dataclass(frozen=True)
class Tune(Pass):
    name = "bcr-tune"
    summary = "Time candidate schedules per layer on the host and keep the fastest (cached)"

    measure: bool = True      # time uncached layers (else: cache or default model)
    cache: str = ""           # cache file; default ~/.cache/bcr-mlir/tune.json
    candidates: int = 8       # at most this many schedules per layer
    repeats: int = 5
    threads: int = 1          # time the candidates at this many threads (and cache per thread count)
    skip_fused: bool = True   # leave alone the pairs bcr-fuse-expand-depthwise will fuse (their schedules go unused)

    def run(self, module: ir.Module, context: PassContext) -> None:
        if context.target.name != "x86-host":
            for op in walk(module):
                decision = context.report.find(string_attr(op, "layer")) if op.name in SPARSE_OPS + PACKED_OPS else None
                if decision is not None:
                    decision.explain(f"default schedule model ({context.target.name} cannot be timed here)")
            return
        from bcr_mlir.pipelines import tune_threads
        tune_threads(self.threads)
        path = Path(self.cache) if self.cache else default_cache()
        cache = _load(path)
        tuned: list[str] = []
        partners = layers_to_fuse(module, context) if self.skip_fused else {}
        for op, weight in tunable_ops(module, context.weights):
            decision = context.report.find(string_attr(op, "layer"))
            if (partner := partners.get(string_attr(op, "layer"))) is not None:
                if decision is not None:
                    decision.explain(f"not tuned: runs as one kernel with '{partner}' (bcr-fuse-expand-depthwise)")
                continue
            if "schedule" in op.attributes:
                current = parse_attr(op.attributes["schedule"])
            else:  # a packed op's register block is its storage's
                current = Schedule(0, shape_of(packed_operands(op).values)[1] if op.name in PACKED_OPS else 8, (0, 0), 1, 0)
            key = layer_key(op, weight, self.threads)
            at_threads = f" at {self.threads} threads" if self.threads != 1 else ""
            if key in cache:
                how = f"tuned (cached){at_threads}"
            elif at_threads and not self.measure and layer_key(op, weight) in cache:
                # Not timed at this thread count: the 1-thread pick beats the untimed default model.
                key, how = layer_key(op, weight), f"tuned at 1 thread (cached; none{at_threads})"
            elif self.measure:
                started = time.perf_counter()
                schedules = candidates(op, current.block_rows, context.target, self.candidates)
                margin, incumbent = None, "default model"
                if at_threads:
                    # The incumbent: the 1-thread pick when there is one, else the default model's choice.
                    if (one_thread := cache.get(layer_key(op, weight))) is not None:
                        schedules.insert(0, cached_schedule(one_thread))
                        incumbent = "1-thread pick"
                    schedules = list(dict.fromkeys(schedules))
                    margin = THREADED_MARGIN
                timed, winner = time_candidates(op, context.weights, schedules, context.target, self.repeats,
                                                threads=self.threads, incumbent_margin=margin)
                if winner is None:
                    continue
                seconds, chosen = winner
                cache[key] = {"schedule": cache_entry(chosen), "ms": seconds * 1e3, "candidates": len(timed),
                              "default_ms": timed[0][0] * 1e3}
                tuned.append(key)
                how = f"tuned over {len(timed)} schedules in {time.perf_counter() - started:.0f} s{at_threads}"
                incumbent_seconds = next((t for t, schedule in timed if schedule == schedules[0]), None)
                if at_threads and chosen == schedules[0]:
                    how += f" (kept the {incumbent}: no candidate {THREADED_MARGIN:.0%} faster)"
                elif at_threads and incumbent_seconds is not None:
                    how += f" ({incumbent_seconds / seconds:.2f}x faster than the {incumbent})"
            else:
                continue
            op.attributes["schedule"] = to_attr(cached_schedule(cache[key]))
            if decision is not None:
                decision.explain(how)
        if tuned:
            _save(path, {key: cache[key] for key in tuned})
