"""Generated GLSL compute shaders for row-group sparse contractions (Vulkan), one per layer.

Every packed layer (BCR, pattern, group/KGS; conv2d, conv3d, matmul) is the same "gather GEMM" as on
the CPU (bcr_mlir.kernels.cpu): output row `row` at output position `q` of batch item `n` is

    y[n, row, q] = act(bias[row] + sum_j w[j, row] * x[n, in_offset[j] + position_offset(q)])

over the packed columns j of the row's group. `in_offset[j]` is where column j (an input channel and
kernel tap of a conv, an input feature of a matmul) starts in the (already padded) input, so no
im2col is built; `position_offset(q)` is the strided input offset of output position q. Every shape,
stride and count is a compile-time constant of the shader (one shader per layer), so there are no
push constants and the index arithmetic folds to multiplies and shifts by constants.

Workgroup mapping (chosen for mobile GPUs):

* An invocation computes the G rows of one row group (the register block of
  bcr-eliminate-redundant-loads) at T output positions: G x T accumulators in registers, with
  G x T <= 32: with T inputs, a weight and the addresses that is about 45 registers, inside the
  64 registers per thread that keep Mali Valhall at full occupancy (Adreno's waves per SP also fall
  with registers, so no more). Per packed column it reads the column's input offset and G weights once
  and the input at its T positions, for G x T FMAs: one input load feeds G rows, the register-level
  load-redundancy elimination of GRIM/PatDNN.
* A workgroup is LX x LY = 64 invocations (at most 64 when the layer is smaller): LX consecutive
  output positions by LY row groups. 64 is a whole Adreno wave (64) and four Mali Valhall warps
  (16), and within the 128-invocation limit of the Android baseline profile. The LX lanes that share
  a row group walk the same column list in lock-step, so its loads are warp-uniform: the hardware
  serves each as one broadcast (no shared-memory staging: Mali has no dedicated shared memory, and
  staging would only add barriers). With one row group per workgroup (LY = 1) the group index is
  gl_WorkGroupID.y, so the compiler sees the whole column walk as uniform. Their input loads are LX consecutive positions, coalesced for
  stride-1 layers. The T positions of an invocation are LX apart, so every one of the T loads is
  coalesced across the lanes.
* LX is the smallest power of two covering the layer's output positions, at most 64 (convs: 64;
  a batch-1 linear layer: LX = 1, LY = 64 row groups, so GEMV-shaped layers still fill a workgroup);
  T grows (up to 32 / G, at most 4) only while the grid keeps at least MIN_WORKGROUPS workgroups, so
  small layers keep their parallelism (on lavapipe, T = 4 ran a 64x64@56 BCR conv 1.9x faster than
  T = 1, interleaved in one run). Grid: (ceil(positions / (LX T)), ceil(groups / LY), batch).
* GEMV-shaped layers (at most 4 output positions, e.g. a batch-1 linear layer or an RNN gate, with at
  least SPLIT_MIN_COLUMNS packed columns per group) would give one invocation per row group: a
  1024x1024 layer at 8x is 128 invocations walking 128 columns each, two workgroups on a GPU with
  many cores. Instead the 64 lanes of a workgroup split one group's columns (lane i takes columns
  i, i + 64, ...: coalesced record reads), keep G x P partial sums, and tree-sum them in shared
  memory (G x P x 64 floats, at most 8 KB of the baseline's 16 KB); lane 0 adds the bias and stores.
  Grid: (1, groups, batch). (On lavapipe, where barriers are emulated, this was no faster at
  1024x1024 and about 1.3x faster at 4096x4096.)

Bindings (at most 4 storage buffers, the Vulkan minimum and the limit of older Mali drivers, which
the Android baseline profile reflects): the input x, a read-only parameter block `p` (uint words)
holding everything constant about the layer, and the output y. A bias that is not a constant gets
its own binding. The parameter block, one allocation and one stream:

    p[0 .. groups]             group g owns packed columns p[g] .. p[g + 1]
    p[ROWMAP + k]              output row of packed row k (only when bcr-reorder-filters permuted them)
    p[BIAS + row]              bias of output row `row` (float bits)
    p[RECORDS + j (G + 1)]     column j: its input offset, then its G weights (float bits)

Each column's record (G + 1 words) is contiguous: offset and weights arrive in one burst.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOCAL_SIZE = 64          # invocations per workgroup
MAX_ACCUMULATORS = 32    # G x T floats per invocation
MAX_POSITIONS = 4        # T
MIN_WORKGROUPS = 32      # keep at least this many workgroups before giving an invocation more positions
MAX_GROUP_COUNT = 65535  # maxComputeWorkGroupCount minimum
SPLIT_MIN_COLUMNS = 32   # average packed columns per group from which GEMV-shaped layers split them over lanes


@dataclass(frozen=True)
class GpuGemm:
    """One sparse contraction, all sizes static (in elements)."""

    name: str
    op: str                           # conv2d, conv3d, matmul
    rows: int                         # output rows (channels / features)
    group_rows: int                   # G
    groups: int
    nnz: int                          # packed columns
    batch: int                        # grid z: images (convs) or 1 (matmul)
    out_dims: tuple[int, ...]         # output positions as a grid: (OH, OW), (OD, OH, OW) or (M,)
    in_strides: tuple[int, ...]       # input offset of one step along each output dim
    x_batch_stride: int
    y_batch_stride: int
    y_row_stride: int
    y_position_stride: int
    x_size: int
    y_size: int
    activation: str = "none"
    identity_rows: bool = True        # packed row k computes output row k
    bias_bound: bool = False          # the bias is a binding of its own (not a constant)
    # Storage types: "float" or "float16_t" (f16 models: 16-bit loads and stores, f32 accumulation,
    # needing only 16-bit storage (SPV_KHR_16bit_storage), not 16-bit arithmetic)
    x_type: str = "float"
    y_type: str = "float"
    bias_type: str = "float"

    @property
    def positions(self) -> int:
        return math.prod(self.out_dims)


@dataclass(frozen=True)
class Mapping:
    local: tuple[int, int]       # (LX positions, LY row groups)
    per_invocation: int          # T positions per invocation
    grid: tuple[int, int, int]
    split: bool = False          # the lanes of a workgroup split one group's columns (GEMV-shaped layers)

    def describe(self, g: GpuGemm) -> str:
        if self.split:
            return (f"vulkan glsl: {g.group_rows} rows x {self.per_invocation} positions per workgroup, "
                    f"{self.local[0]} lanes split the columns")
        return (f"vulkan glsl: {g.group_rows} rows x {self.per_invocation} positions per invocation, "
                f"workgroup {self.local[0]}x{self.local[1]}")


@dataclass(frozen=True)
class ParamLayout:
    rowmap: int | None
    bias: int | None
    records: int
    words: int


def _pow2_at_least(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def choose_mapping(g: GpuGemm) -> Mapping:
    if (g.positions <= MAX_POSITIONS and g.group_rows * g.positions <= MAX_ACCUMULATORS
            and g.nnz >= SPLIT_MIN_COLUMNS * g.groups):
        return Mapping((LOCAL_SIZE, 1), g.positions, (1, g.groups, g.batch), split=True)
    lx = min(LOCAL_SIZE, _pow2_at_least(g.positions))
    ly = min(LOCAL_SIZE // lx, _pow2_at_least(g.groups))

    def grid(t: int) -> tuple[int, int, int]:
        return (math.ceil(g.positions / (lx * t)), math.ceil(g.groups / ly), g.batch)

    t = 1
    limit = max(1, min(MAX_POSITIONS, MAX_ACCUMULATORS // g.group_rows))
    while t < limit and g.positions > lx * t and math.prod(grid(2 * t)) >= MIN_WORKGROUPS:
        t *= 2
    t = min(t, limit)
    return Mapping((lx, ly), t, grid(t))


def param_block(offsets: np.ndarray, rows: np.ndarray, input_offsets: np.ndarray, values: np.ndarray,
                bias: np.ndarray | None, identity_rows: bool) -> tuple[np.ndarray, ParamLayout]:
    """The layer's parameter block (int32 words; floats as their bits) and where its parts start."""
    group = values.shape[1]
    parts = [np.asarray(offsets, np.int32)]
    at = parts[0].size
    rowmap = None
    if not identity_rows:
        rowmap = at
        parts.append(np.asarray(rows, np.int32))
        at += rows.size
    bias_at = None
    if bias is not None:
        bias_at = at
        parts.append(np.ascontiguousarray(bias, np.float32).view(np.int32))
        at += bias.size
    records = np.empty((len(input_offsets), group + 1), np.int32)
    records[:, 0] = input_offsets
    records[:, 1:] = np.ascontiguousarray(values, np.float32).view(np.int32).reshape(len(input_offsets), group)
    parts.append(records.reshape(-1))
    block = np.concatenate(parts).astype(np.int32)
    if block.size == 0:
        block = np.zeros(1, np.int32)
    return block, ParamLayout(rowmap, bias_at, at, int(block.size))


def _u(value: int) -> str:
    return f"{int(value)}u"


def _activation(value: str, activation: str) -> str:
    if activation == "relu":
        return f"max({value}, 0.0)"
    if activation == "relu6":
        return f"clamp({value}, 0.0, 6.0)"
    return value


def _position_offset(g: GpuGemm, coordinate: str) -> str:
    """GLSL for the input offset of flat output position `coordinate` (dims decomposed with constants)."""
    terms, rest = [], coordinate
    for i in range(len(g.out_dims) - 1, -1, -1):
        size, stride = g.out_dims[i], g.in_strides[i]
        if i == 0:
            index = rest
        elif size == 1:
            continue
        else:
            index = f"({rest} % {_u(size)})"
            rest = f"({rest} / {_u(size)})"
        if stride:
            terms.append(index if stride == 1 else f"{index} * {_u(stride)}")
    return " + ".join(reversed(terms)) if terms else "0u"


def glsl(g: GpuGemm, m: Mapping, layout: ParamLayout) -> str:
    """The compute shader for one layer."""
    lx, ly = m.local
    t_count, rows = m.per_invocation, g.group_rows
    record = rows + 1
    lines = [
        "#version 450",
        f"// bcr-mlir: sparse {g.op} '{g.name}': {g.rows} rows in {g.groups} groups of {rows}, {g.nnz} packed columns,",
        f"// {g.positions} output positions x {g.batch}; {m.describe(g)}.",
    ]
    if "float16_t" in (g.x_type, g.y_type, g.bias_type if g.bias_bound else "float"):
        lines.append("#extension GL_EXT_shader_16bit_storage : require")
    lines += [f"layout(local_size_x = {lx}, local_size_y = {ly}, local_size_z = 1) in;",
              f"layout(set = 0, binding = 0) readonly restrict buffer Input {{ {g.x_type} x[]; }};"]
    binding = 1
    if g.bias_bound:
        lines.append(f"layout(set = 0, binding = {binding}) readonly restrict buffer Bias {{ {g.bias_type} bias[]; }};")
        binding += 1
    lines.append(f"layout(set = 0, binding = {binding}) readonly restrict buffer Params {{ uint p[]; }};")
    lines.append(f"layout(set = 0, binding = {binding + 1}) writeonly restrict buffer Output {{ {g.y_type} y[]; }};")
    if m.split:
        lines.append(f"shared float partial[{rows * t_count * lx}];")
    # With one row group per workgroup, the group (and so the whole column walk) is visibly uniform.
    group = "gl_WorkGroupID.y" if ly == 1 else "gl_GlobalInvocationID.y"
    body = ["void main() {",
            f"  uint group = {group};"]
    if g.groups % ly:
        body.append(f"  if (group >= {_u(g.groups)}) return;")
    body.append("  uint n = gl_WorkGroupID.z;")
    if not m.split:
        body.append(f"  uint first = gl_WorkGroupID.x * {_u(lx * t_count)} + gl_LocalInvocationID.x;")
    x_batch = f"n * {_u(g.x_batch_stride)} + " if g.batch > 1 and g.x_batch_stride else ""
    ragged_positions = not m.split and g.positions % (lx * t_count) != 0
    for t in range(t_count):
        if m.split:   # the workgroup covers every position
            body.append(f"  uint q{t} = {_u(t)};")
            body.append(f"  uint in{t} = {x_batch}{_position_offset(g, _u(t))};")
            continue
        body.append(f"  uint q{t} = first + {_u(t * lx)};" if t else "  uint q0 = first;")
        # Positions past the end (a ragged last workgroup) compute on a valid position and store nothing.
        clamped = f"min(q{t}, {_u(g.positions - 1)})" if ragged_positions else f"q{t}"
        if g.positions == 1:
            body.append(f"  uint in{t} = {x_batch}0u;")
        else:
            body.append(f"  uint c{t} = {clamped};")
            body.append(f"  uint in{t} = {x_batch}{_position_offset(g, f'c{t}')};")
    for r in range(rows):
        packed = f"group * {_u(rows)} + {_u(r)}" if r else f"group * {_u(rows)}"
        padding = g.rows % rows and r >= g.rows % rows     # a padding row in the last group: never stored
        if layout.rowmap is not None or padding:
            body.append(f"  uint k{r} = {packed};")
        if layout.rowmap is not None:
            body.append(f"  uint o{r} = p[{_u(layout.rowmap)} + k{r}];")
        elif padding:
            body.append(f"  uint o{r} = min(k{r}, {_u(g.rows - 1)});")   # reads a valid bias
        else:
            body.append(f"  uint o{r} = {packed};")
        if g.bias_bound:
            bias = f"bias[o{r}]" if g.bias_type == "float" else f"float(bias[o{r}])"
        elif layout.bias is not None:
            bias = f"uintBitsToFloat(p[{_u(layout.bias)} + o{r}])"
        else:
            bias = "0.0"
        start = "0.0" if m.split else f"b{r}"   # split: partial sums, the bias joins after the reduction
        accumulators = ", ".join(f"a{r}_{t} = {start}" for t in range(t_count))
        body.append(f"  float b{r} = {bias}, {accumulators};")
    loop = (f"  for (uint j = p[group] + gl_LocalInvocationID.x; j < end; j += {_u(lx)}) {{" if m.split
            else "  for (uint j = p[group]; j < end; ++j) {")
    body += ["  uint end = p[group + 1u];",
             loop,
             f"    uint at = {_u(layout.records)} + j * {_u(record)};",
             "    uint column = p[at];"]
    for t in range(t_count):
        load = f"x[column + in{t}]"
        body.append(f"    float x{t} = {load if g.x_type == 'float' else f'float({load})'};")
    for r in range(rows):
        body.append(f"    float w{r} = uintBitsToFloat(p[at + {_u(r + 1)}]);")
        body.append("    " + " ".join(f"a{r}_{t} += w{r} * x{t};" for t in range(t_count)))
    body.append("  }")
    if m.split:
        body += _reduce_over_lanes(rows, t_count, lx)
    y_batch = f"n * {_u(g.y_batch_stride)} + " if g.batch > 1 and g.y_batch_stride else ""
    for t in range(t_count):
        position = f"q{t} * {_u(g.y_position_stride)}" if g.y_position_stride != 1 else f"q{t}"
        body.append(f"  uint out{t} = {y_batch}{position};")
    for r in range(rows):
        padding = g.rows % rows and r >= g.rows % rows
        row = f"o{r} * {_u(g.y_row_stride)}" if g.y_row_stride != 1 else f"o{r}"
        for t in range(t_count):
            conditions = ([f"k{r} < {_u(g.rows)}"] if padding else []) + \
                ([f"q{t} < {_u(g.positions)}"] if ragged_positions else [])
            guard = f"if ({' && '.join(conditions)}) " if conditions else ""
            value = _activation(f"a{r}_{t}", g.activation)
            body.append(f"  {guard}y[out{t} + {row}] = {value if g.y_type == 'float' else f'{g.y_type}({value})'};")
    body.append("}")
    return "\n".join(lines + [""] + body) + "\n"


def _reduce_over_lanes(rows: int, positions: int, lanes: int) -> list[str]:
    """Tree-sum each accumulator over the workgroup's lanes in shared memory; lane 0 keeps the totals."""
    count = rows * positions
    names = [(f"a{r}_{t}", f"b{r}") for r in range(rows) for t in range(positions)]
    out = [f"  uint lane = gl_LocalInvocationID.x;"]
    out += [f"  partial[{_u(k * lanes)} + lane] = {a};" for k, (a, _) in enumerate(names)]
    out += ["  barrier();",
            f"  for (uint s = {_u(lanes // 2)}; s > 0u; s >>= 1u) {{",
            "    if (lane < s) {"]
    out += [f"      partial[{_u(k * lanes)} + lane] += partial[{_u(k * lanes)} + lane + s];" for k in range(count)]
    out += ["    }", "    barrier();", "  }", "  if (lane != 0u) return;"]
    out += [f"  {a} = {b} + partial[{_u(k * lanes)}];" for k, (a, b) in enumerate(names)]
    return out


def reference(g: GpuGemm, m: Mapping, block: np.ndarray, layout: ParamLayout, x: np.ndarray,
              bias: np.ndarray | None = None) -> np.ndarray:
    """What the shader computes, in numpy, from the same parameter block (for tests and debugging)."""
    x = np.asarray(x, np.float32).reshape(-1)
    y = np.zeros(g.y_size, np.float32)
    words = block.view(np.int32)
    floats = block.view(np.float32)
    grid = np.stack(np.unravel_index(np.arange(g.positions), g.out_dims), axis=1)
    position_offsets = (grid * np.asarray(g.in_strides)).sum(axis=1)
    record = g.group_rows + 1
    for n in range(g.batch):
        for group in range(g.groups):
            j0, j1 = words[group], words[group + 1]
            at = layout.records + np.arange(j0, j1) * record
            columns = words[at]
            gathered = x[n * g.x_batch_stride + columns[:, None] + position_offsets[None, :]]
            for r in range(g.group_rows):
                k = group * g.group_rows + r
                if k >= g.rows:
                    continue
                row = words[layout.rowmap + k] if layout.rowmap is not None else k
                b = bias[row] if g.bias_bound else floats[layout.bias + row] if layout.bias is not None else 0.0
                value = b + floats[at + 1 + r] @ gathered
                if g.activation == "relu":
                    value = np.maximum(value, 0)
                elif g.activation == "relu6":
                    value = np.clip(value, 0, 6)
                y[n * g.y_batch_stride + row * g.y_row_stride + np.arange(g.positions) * g.y_position_stride] = value
    return y
