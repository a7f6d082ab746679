"""The default schedule model: vector width, block rows, tile and axis for a layer, without measuring.

bcr-tune replaces these choices by measured ones on the host; cross targets (arm64, which cannot be
timed here) always use this model. The model counts vector instructions and registers:
  * lanes over positions pays ceil(width / VW) vector ops per row, so it wants the widest vector that
    does not waste most lanes, and as many vectors per tile as the registers hold
    (BR accumulators x tile vectors + tile input vectors + 1 broadcast);
  * a workgroup runs up to MAX_BLOCKS_PER_WORKGROUP consecutive block-rows (blocks_per_workgroup), as
    long as the dispatch keeps MIN_CPU_WORKGROUPS workgroups: IREE pays a call and its workgroup state
    per workgroup, and a block-row of a batch-1 matmul is ~75 ns of work (measured on x86, 1 thread: a
    1024x4096 BCR-10x linear 0.032 -> 0.028 ms with 16 per workgroup, a 2x1024 GRU of 100 steps 5.64 ->
    5.23 ms). Convs take it too: at 1 thread they hardly changed, but at 2 threads the hand-out of
    MobileNet-V2's ~19,000 workgroups a call (a depthwise conv of 960 channels is 960 of them) cost
    more than its kernels (docs/benchmarks.md, "2026-12-07 (night): fewer, larger workgroups");
  * lanes over rows suits matmuls (batch 1 is a matrix-vector product) and outputs too narrow to fill a
    vector; it keeps one accumulator per position of its tile, and for tiles of fewer than 4 positions
    independent accumulator sets up to 4 chains: one chain runs at the FMA latency (4 cycles on
    Cortex-A76 and on x86), 4 chains at about the load rate (measured on x86: a 1024x4096 BCR-10x
    matrix-vector product 0.066 ms with one set, 0.032 ms with 4).
"""
from __future__ import annotations

from bcr_mlir.dialect import Schedule
from bcr_mlir.targets import Target

VECTOR_CHOICES = (4, 8, 16)
# Tallest tile of outer positions (output rows) per workgroup: a 1-row register block (PatDNN patterns)
# fits a whole 14-row output in 32 registers, and more accumulators hide the FMA latency.
MAX_TILE_ROWS = 16


def positions_vector_width(width: int, target: Target) -> int:
    widest = target.vector_width(32)
    candidates = [vw for vw in VECTOR_CHOICES if vw <= widest] or [widest]
    return min(candidates, key=lambda vw: (-(-width // vw), vw))


def conv_schedule(block_rows: int, out_width: int, outer_rows: int, positions: int, target: Target) -> Schedule:
    """Lanes over output positions when the output is wide enough, with a TH x TW tile (outer
    positions x vectors) maximising FMAs per load within the vector registers."""
    if out_width >= 4 or positions > 16:
        vw = positions_vector_width(out_width, target)
        chunks = -(-out_width // vw)
        candidates = [(th, tw) for th in range(1, MAX_TILE_ROWS + 1) if outer_rows % th == 0
                      for tw in range(1, min(chunks, 8) + 1)
                      if (block_rows + 1) * th * tw + 1 <= target.vector_registers] or [(1, 1)]

        def preference(tile):
            th, tw = tile
            # More FMAs per load, then wider rows (contiguous loads), then fewer rows per workgroup.
            return round(block_rows * th * tw / (th * tw + block_rows), 3), tw, -th
        th, tw = max(candidates, key=preference)
        return Schedule(vector_width=vw, block_rows=block_rows, tile=(th, tw), vector_axis=0)
    return Schedule(vector_width=block_rows, block_rows=block_rows, tile=rows_in_lanes_tile(positions), vector_axis=1)


def matmul_schedule(block_rows: int, positions: int, target: Target) -> Schedule:
    limit = max(1, min(8, target.vector_registers - 4))
    tile = max(d for d in range(1, limit + 1) if positions % d == 0)
    return Schedule(vector_width=block_rows, block_rows=block_rows, tile=rows_in_lanes_tile(tile), vector_axis=1)


MAX_BLOCKS_PER_WORKGROUP = 16
# Enough workgroups for the CPU's threads to share the dispatch (8 cores twice over).
MIN_CPU_WORKGROUPS = 16


def blocks_per_workgroup(grid: tuple[int, int, int]) -> int:
    """How many consecutive block-rows (grid axis 0) one workgroup of a matmul kernel runs: the largest
    power of two up to MAX_BLOCKS_PER_WORKGROUP that leaves at least MIN_CPU_WORKGROUPS workgroups."""
    count, rest = grid[0], grid[1] * grid[2]
    blocks = MAX_BLOCKS_PER_WORKGROUP
    while blocks > 1 and (blocks > count or -(-count // blocks) * rest < MIN_CPU_WORKGROUPS):
        blocks //= 2
    return blocks


# FMA chains a lanes-over-rows kernel keeps in flight: the FMA latency (4 cycles) times one FMA per cycle.
FMA_CHAINS = 4


def rows_in_lanes_tile(positions: int) -> tuple[int, ...]:
    """The tile of a lanes-over-rows schedule: `positions` accumulators, in sets enough for FMA_CHAINS chains."""
    sets = FMA_CHAINS // positions
    return (positions, 1, sets) if sets > 1 else (positions, 1)
