"""Generated CPU kernels for block-row sparse contractions (scf + vector + memref, target-neutral).

Every sparse layer is a "gather GEMM": output row `row` (a conv filter, a matmul output feature) at
output position `p` is

    y[n, row, p] = act(bias[row] + sum_j values[j, row % BR] * x[n, in_offset[j] + position_offset(p)])

over the packed columns j of the row's block-row. `in_offset[j]` is where column j's input starts (a
conv column is an (input channel, kernel position) pair; a matmul column is an input feature), so the
kernel never materialises im2col. The schedules (`vector_axis` of the layer's #bcr.schedule):

* lanes over positions (vector_axis 0, convs with a wide enough output): one vector load of
  consecutive outputs' inputs feeds BR accumulators, one per row of the block-row (the register-level
  load-redundancy elimination of GRIM/PatDNN). Strided convs read a phase-split input so those loads
  stay contiguous. Widths that no vector divides end in a masked vector.
* lanes over rows (vector_axis 1, matmuls and small convs): one vector load of BR packed weights
  feeds TP accumulators, one per output position, each fed by a broadcast input scalar.
* flattened positions (vector_axis 2, 2-D convs with outputs narrower than a vector): several output
  rows read as one run of the input, so consecutive rows share vectors (see conv_flattened).
* tap segments (vector_axis 4, zero-padded 2-D convs of stride 1 or 2): a tile of output rows read
  from the unpadded input, flattened into as few vectors as hold it ("same" stride 1) or a run of
  vectors per row (stride 2, two loads and an even-lane shuffle each); each block-row's columns are
  grouped by kernel tap, and each tap's lane masks stand in for the zero padding (see conv_tap_segments).
  vector_axis 7 runs a stride-2 conv as the stride-1 kernel over its input split into 4 phase planes
  (even/odd rows x columns, bcr-lower-to-kernels emits the split): unit-stride loads, no shuffles.

A 1x1 conv and the 3x3 depthwise conv it feeds (bcr-fuse-expand-depthwise) run as one kernel,
expand_depthwise: the expanded rows stay on the stack (see there), never in memory.

`tile[2]`, when present (any axis), keeps that many independent sets of accumulators in the
loop over packed columns (more FMA chains in flight for small register blocks), summed at the end. A
matrix-vector product (lanes over rows, one position) needs it most: with one accumulator every FMA
waits for the previous one, and the loop runs at the FMA latency instead of the load rate.

The kernel is a func.func whose first three arguments are the workgroup ids; bcr_mlir.backends.iree
wraps it into an IREE stream.executable. Bias and ReLU/ReLU6 are fused into the epilogue.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from bcr_mlir.dialect import Schedule
from bcr_mlir.errors import BcrError


@dataclass(frozen=True)
class GatherGemm:
    """Shapes and strides of one sparse contraction, all static (in elements)."""

    name: str
    rows: int                      # output rows M (channels / features)
    block_rows: int                # BR: rows sharing a column list
    nnz: int                       # packed columns
    batch: int
    x_shape: tuple[int, ...]       # the kernel's input memref (flattened inside)
    y_shape: tuple[int, ...]       # the kernel's output memref
    x_batch_stride: int
    y_batch_stride: int
    y_row_stride: int
    y_position_stride: int
    # Output positions, as an outer grid (one workgroup per `tile[0]` outer positions) times an inner
    # run of `inner` positions. The input offset of position (outer o, inner i) is
    # o * in_outer_stride + i * in_inner_stride for 1-D outer; `outer_dims` splits o for conv3d.
    outer: int
    inner: int
    outer_dims: tuple[int, ...]            # sizes of the outer output dims (e.g. (OD, OH) or (OH,) or (M,))
    in_outer_strides: tuple[int, ...]      # input stride per outer dim
    in_inner_stride: int
    activation: str = "none"
    dtype: str = "f32"
    # rows[i] == i for every packed row: stores and bias loads need no indirection (known at compile time)
    identity_rows: bool = True
    # Output written straight into the next conv's zero-padded input (lanes over positions, 2-D convs):
    # (top, bottom, left, right) border widths; the kernel also writes the zero borders.
    out_pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    # Segments per block-row in %off (vector_axis 4: one per kernel tap, the block-row's columns grouped by tap).
    taps: int = 1
    # "add": y = bias + sum of weight * x; "max": y = max(bias, x over the columns), the weights unread
    # (a max-pool over a non-negative input, its bias zero: masked border lanes read as 0 stay exact).
    reduction: str = "add"
    # A residual shaped as the output (%res, read at each output's own index) is added before the
    # activation: y = act(bias + W x + res), a ResNet/MobileNet skip connection (bcr-fuse-residual-adds).
    residual: bool = False

    @property
    def out_row_width(self) -> int:
        return self.inner + self.out_pad[2] + self.out_pad[3]

    @property
    def block_row_count(self) -> int:
        return math.ceil(self.rows / self.block_rows)

    @property
    def packed_rows(self) -> int:
        return self.block_row_count * self.block_rows


class _Emitter:
    """Builds MLIR text with fresh SSA names and hoisted index constants."""

    def __init__(self):
        self.lines: list[str] = []
        self.constants: dict[str, str] = {}
        self.counter = 0
        self.indent = 2

    def fresh(self, stem: str = "v") -> str:
        self.counter += 1
        return f"%{stem}{self.counter}"

    def index(self, value: int) -> str:
        key = f"index{value}"
        if key not in self.constants:
            self.constants[key] = f"%c{value}".replace("-", "m")
        return self.constants[key]

    def emit(self, line: str) -> None:
        self.lines.append("  " * self.indent + line)

    def op(self, text: str, stem: str = "v") -> str:
        name = self.fresh(stem)
        self.emit(f"{name} = {text}")
        return name

    def add(self, a: str, b: str) -> str:
        return self.op(f"arith.addi {a}, {b} : index")

    def mul(self, a: str, b: str) -> str:
        return self.op(f"arith.muli {a}, {b} : index")

    def affine(self, terms: list[tuple[str, int]], constant: int = 0) -> str:
        """sum(value * scale) + constant, skipping zero terms."""
        acc = None
        for value, scale in terms:
            if scale == 0:
                continue
            term = value if scale == 1 else self.mul(value, self.index(scale))
            acc = term if acc is None else self.add(acc, term)
        if constant or acc is None:
            acc = self.index(constant) if acc is None else self.add(acc, self.index(constant))
        return acc

    def loop(self, var: str, lo: str, hi: str, step: int, body) -> None:
        """`scf.for var = lo to hi step step { body(var) }`."""
        self.emit(f"scf.for {var} = {lo} to {hi} step {self.index(step)} {{")
        self.indent += 1
        body(var)
        self.indent -= 1
        self.emit("}")

    def function(self, signature: str) -> str:
        constants = [f"    {name} = arith.constant {key[5:]} : index" for key, name in sorted(self.constants.items())]
        return "\n".join([signature + " {"] + constants + self.lines + ["    return", "}"])


def _memref(shape, dtype: str) -> str:
    return f"memref<{'x'.join(str(d) for d in shape)}x{dtype}>"


# Arithmetic is always f32: f16 models store weights and activations as f16 (half the memory traffic)
# and widen them on load, so they accumulate as precisely as PyTorch's f32 reference.
ACCUMULATE = "f32"


def _load_scalar(e: _Emitter, memory: str, indices: str, memref: str, dtype: str) -> str:
    value = e.op(f"memref.load {memory}[{indices}] : {memref}")
    return value if dtype == ACCUMULATE else e.op(f"arith.extf {value} : {dtype} to {ACCUMULATE}")


def _load_vector(e: _Emitter, memory: str, at: str, memref: str, lanes: int, dtype: str, mask: str | None = None) -> str:
    stored = f"vector<{lanes}x{dtype}>"
    if mask:
        zero = e.op(f"arith.constant dense<0.0> : {stored}")
        value = e.op(f"vector.maskedload {memory}[{at}], {mask}, {zero} : {memref}, vector<{lanes}xi1>, {stored} into {stored}")
    else:
        value = e.op(f"vector.load {memory}[{at}] : {memref}, {stored}")
    return value if dtype == ACCUMULATE else e.op(f"arith.extf {value} : {stored} to vector<{lanes}x{ACCUMULATE}>")


def _store_vector(e: _Emitter, value: str, memory: str, at: str, memref: str, lanes: int, dtype: str,
                  mask: str | None = None) -> None:
    stored = f"vector<{lanes}x{dtype}>"
    if dtype != ACCUMULATE:
        value = e.op(f"arith.truncf {value} : vector<{lanes}x{ACCUMULATE}> to {stored}")
    if mask:
        e.emit(f"vector.maskedstore {memory}[{at}], {mask}, {value} : {memref}, vector<{lanes}xi1>, {stored}")
    else:
        e.emit(f"vector.store {value}, {memory}[{at}] : {memref}, {stored}")


def _store_lanes(e: _Emitter, g: "GatherGemm", value: str, vtype: str, first: int, count: int, at: str, memref: str,
                 vw: int, masked: bool = False) -> None:
    """Finishes (_epilogue) and stores lanes [first, first + count) of a `vw`-lane accumulator at `at`: the
    whole vector when it is all of them, a leading run under a lane mask when `masked`, else the lanes
    shuffled into a shorter vector."""
    if masked and first == 0 and count < vw:
        mask = e.op(f"vector.constant_mask [{count}] : vector<{vw}xi1>")
        _store_vector(e, _epilogue(e, g, value, vw, at, mask), "%y", at, memref, vw, g.dtype, mask)
        return
    if (first, count) != (0, vw):
        value = e.op(f"vector.shuffle {value}, {value} [{', '.join(str(i) for i in range(first, first + count))}] "
                     f": {vtype}, {vtype}")
    _store_vector(e, _epilogue(e, g, value, count, at), "%y", at, memref, count, g.dtype)


def _store_scalar(e: _Emitter, value: str, memory: str, at: str, memref: str, dtype: str) -> None:
    if dtype != ACCUMULATE:
        value = e.op(f"arith.truncf {value} : {ACCUMULATE} to {dtype}")
    e.emit(f"memref.store {value}, {memory}[{at}] : {memref}")


def _activation(e: _Emitter, value: str, vtype: str, activation: str) -> str:
    """ReLU / ReLU6 of a vector or (vtype ACCUMULATE) a scalar."""
    if activation == "none":
        return value

    def constant(c: float) -> str:
        return e.op(f"arith.constant {c} : {vtype}" if vtype == ACCUMULATE else f"arith.constant dense<{c}> : {vtype}")
    value = e.op(f"arith.maximumf {value}, {constant(0.0)} : {vtype}")
    if activation == "relu6":
        value = e.op(f"arith.minimumf {value}, {constant(6.0)} : {vtype}")
    return value


def _epilogue(e: _Emitter, g: "GatherGemm", value: str, lanes: int, at: str, mask: str | None = None) -> str:
    """An accumulator of `lanes` lanes (0: a scalar) bound for output index `at` of %y, finished: plus the
    residual at the same index (under the store's mask), then the activation."""
    vtype = ACCUMULATE if lanes == 0 else f"vector<{lanes}x{ACCUMULATE}>"
    if g.residual:
        flat = _memref((math.prod(g.y_shape),), g.dtype)
        residual = _load_scalar(e, "%res", at, flat, g.dtype) if lanes == 0 else \
            _load_vector(e, "%res", at, flat, lanes, g.dtype, mask)
        value = e.op(f"arith.addf {value}, {residual} : {vtype}")
    return _activation(e, value, vtype, g.activation)


def _signature(g: GatherGemm, name: str, bias: int | None = None, outputs: int | None = None) -> str:
    """The kernel's arguments; `bias` and `outputs` size %bias and %y when they are not g's (the fused
    expand-depthwise kernel: its parameters, its depthwise output)."""
    # x and y are flat: the dispatch binds raw buffers, and flat indexing keeps address arithmetic
    # to one add per load (a collapse_shape view makes IREE delinearize and relinearize every index).
    d = g.dtype
    y = _memref((outputs or math.prod(g.y_shape),), d)
    return (f"func.func private @{name}(%wg0: index, %wg1: index, %wg2: index, "
            f"%x: {_memref((math.prod(g.x_shape),), d)}, %bias: {_memref((bias or g.rows,), d)}, "
            f"%rows: {_memref((g.packed_rows,), 'i32')}, %off: {_memref((g.block_row_count * g.taps + 1,), 'i32')}, %idx: {_memref((max(g.nnz, 1),), 'i32')}, "
            f"%val: {_memref((max(g.nnz, 1), g.block_rows), d)}, "
            + (f"%res: {y}, " if g.residual else "")
            + f"%y: {y})")


def _prologue(e: _Emitter, g: GatherGemm):
    """The block-row's packed range [j0, j1)."""
    xf, yf = "%x", "%y"
    b1 = e.add("%wg0", e.index(1))
    offsets = _memref((g.block_row_count * g.taps + 1,), "i32")
    lo = e.op(f"memref.load %off[%wg0] : {offsets}")
    hi = e.op(f"memref.load %off[{b1}] : {offsets}")
    j0 = e.op(f"arith.index_cast {lo} : i32 to index")
    j1 = e.op(f"arith.index_cast {hi} : i32 to index")
    row0 = e.mul("%wg0", e.index(g.block_rows))
    return xf, yf, j0, j1, row0


def _tap_bounds(e: _Emitter, g: GatherGemm) -> list[str]:
    """The g.taps + 1 segment starts of this workgroup's block-row in %off (its columns grouped by tap)."""
    offsets = _memref((g.block_row_count * g.taps + 1,), "i32")
    first = e.mul("%wg0", e.index(g.taps))
    bounds = []
    for t in range(g.taps + 1):
        at = e.add(first, e.index(t)) if t else first
        bounds.append(e.op(f"arith.index_cast {e.op(f'memref.load %off[{at}] : {offsets}')} : i32 to index"))
    return bounds


def _reduction(e: _Emitter, j0: str, j1: str, inits: list[str], vtype: str, body, unroll: int = 1,
               split: int = 1, combine: str = "arith.addf") -> list[str]:
    """Emits the loop over packed columns j in [j0, j1) carrying the accumulators `inits`.

    `body(j, accumulators) -> updated accumulators` emits one column's loads and FMAs. With
    unroll > 1 the main loop runs `unroll` columns per iteration and a second loop takes the rest; with
    split > 1 it also keeps `split` independent sets of accumulators, merged by `combine` (arith.addf,
    or arith.maximumf for a max reduction). Returns the names of the final accumulators.
    """
    def loop(lo: str, hi: str, step: int, carried: list[str], body=body) -> list[str]:
        results, j = e.fresh("acc"), e.fresh("j")
        names = [f"{results}_in{i}" for i in range(len(carried))]
        args = ", ".join(f"{n} = {c}" for n, c in zip(names, carried))
        types = ", ".join([vtype] * len(carried))
        e.emit(f"{results}:{len(carried)} = scf.for {j} = {lo} to {hi} step {e.index(step)} iter_args({args}) -> ({types}) {{")
        e.indent += 1
        current = names
        for k in range(step):
            jk = e.add(j, e.index(k)) if k else j
            current = body(jk, current)
        e.emit(f"scf.yield {', '.join(current)} : {types}")
        e.indent -= 1
        e.emit("}")
        return [f"{results}#{i}" for i in range(len(carried))]

    if unroll <= 1 and split <= 1:
        return loop(j0, j1, 1, inits)
    step = max(unroll, split)
    count = e.op(f"arith.subi {j1}, {j0} : index")
    whole = e.op(f"arith.muli {e.op(f'arith.divui {count}, {e.index(step)} : index')}, {e.index(step)} : index")
    middle = e.add(j0, whole)
    if split <= 1:
        return loop(middle, j1, 1, loop(j0, middle, step, inits))
    # `split` independent accumulator sets, column k of each step feeding set k % split: more FMA chains
    # in flight when a register block has few accumulators. The sets are summed after the loop.
    n = len(inits)
    zero = e.op(f"arith.constant dense<0.0> : {vtype}")

    def split_body(j: str, carried: list[str]) -> list[str]:
        k = split_body.k % split
        split_body.k += 1
        part = body(j, carried[k * n:(k + 1) * n])
        return carried[:k * n] + part + carried[(k + 1) * n:]
    split_body.k = 0
    sets = loop(j0, middle, step, list(inits) + [zero] * (n * (split - 1)), split_body)
    total = sets[:n]
    for k in range(1, split):
        total = [e.op(f"{combine} {a}, {b} : {vtype}") for a, b in zip(total, sets[k * n:(k + 1) * n])]
    return loop(middle, j1, 1, total)


def _combine(g: GatherGemm) -> str:
    """How two partial results of the reduction merge."""
    return "arith.maximumf" if g.reduction == "max" else "arith.addf"


def accumulator_sets(s: Schedule) -> int:
    """Independent accumulator sets: `tile[2]` of any schedule (default 1). Every kernel passes it to
    _reduction, and describe_schedule reports it, so the two cannot disagree."""
    return int(s.tile[2]) if len(s.tile) > 2 and s.tile[2] > 1 else 1


def _output_row(e: _Emitter, g: GatherGemm, packed: str) -> str:
    """The output row a packed row computes (rows[packed]; itself when the order is the identity)."""
    if g.identity_rows:
        return packed
    loaded = e.op(f"memref.load %rows[{packed}] : {_memref((g.packed_rows,), 'i32')}")
    return e.op(f"arith.index_cast {loaded} : i32 to index")


def _guard(e: _Emitter, g: GatherGemm, packed: str, r: int):
    """Opens `scf.if packed < rows` for the padding rows of a ragged last group; returns a closer."""
    if not (g.rows % g.block_rows and r >= g.rows % g.block_rows):
        return lambda: None
    valid = e.op(f"arith.cmpi ult, {packed}, {e.index(g.rows)} : index")
    e.emit(f"scf.if {valid} {{")
    e.indent += 1

    def close():
        e.indent -= 1
        e.emit("}")
    return close


def _outer_input_offset(e: _Emitter, g: GatherGemm, outer: str) -> str:
    """Input offset of the first inner position of outer position `outer`."""
    if len(g.outer_dims) == 1:
        return e.affine([(outer, g.in_outer_strides[0])])
    terms, rest = [], outer
    for size, stride in zip(reversed(g.outer_dims[1:]), reversed(g.in_outer_strides[1:])):
        coordinate = e.op(f"arith.remui {rest}, {e.index(size)} : index")
        rest = e.op(f"arith.divui {rest}, {e.index(size)} : index")
        terms.append((coordinate, stride))
    terms.append((rest, g.in_outer_strides[0]))
    return e.affine(terms)


def _block_rows(e: _Emitter, g: GatherGemm, br: int, row0: str, vtype: str, d: str) -> list[tuple[str, str, str]]:
    """Each row of a register block: (packed row, output row, its bias broadcast to `vtype`)."""
    rows = []
    for r in range(br):
        packed = e.add(row0, e.index(r)) if r else row0
        row = _output_row(e, g, packed)
        if g.identity_rows and g.rows % br:
            # Padding rows of a ragged last group read a valid bias and are never stored.
            row = e.op(f"arith.minui {row}, {e.index(g.rows - 1)} : index")
        bias = _load_scalar(e, "%bias", row, _memref((g.rows,), d), d)
        rows.append((packed, row, e.op(f"vector.broadcast {bias} : {ACCUMULATE} to {vtype}")))
    return rows


def _column_offset(e: _Emitter, g: GatherGemm, j: str, base: str | None = None) -> str:
    """Where packed column j's input starts: its offset in %idx, plus `base` when given."""
    o32 = e.op(f"memref.load %idx[{j}] : " + _memref((max(g.nnz, 1),), "i32"))
    offset = e.op(f"arith.index_cast {o32} : i32 to index")
    return e.add(offset, base) if base else offset


def _column_fmas(e: _Emitter, g: GatherGemm, j: str, inputs: list[str], accumulators: list[str], vtype: str) -> list[str]:
    """Packed column j's products: each of its BR weights, broadcast, times every input vector, added to
    accumulators[r * len(inputs) + k] (row r, input k). One input load serves all BR rows."""
    br, d = g.block_rows, g.dtype
    if g.reduction == "max":
        return [e.op(f"arith.maximumf {accumulators[r * len(inputs) + k]}, {value} : {vtype}")
                for r in range(br) for k, value in enumerate(inputs)]
    updated = []
    for r in range(br):
        w = _load_scalar(e, "%val", f"{j}, {e.index(r)}", _memref((max(g.nnz, 1), br), d), d)
        wb = e.op(f"vector.broadcast {w} : {ACCUMULATE} to {vtype}")
        for k, value in enumerate(inputs):
            updated.append(e.op(f"vector.fma {wb}, {value}, {accumulators[r * len(inputs) + k]} : {vtype}"))
    return updated


def _row_blocks(e: _Emitter, width: int, vw: int, tw: int, block, var: str = "%w0") -> None:
    """A row of `width` positions in blocks of `tw` vectors: block(w0, tw, 0) in a loop over the whole
    blocks, then block(start, vectors, tail) once for the rest, its last vector masked to `tail` lanes."""
    step = vw * tw
    main = (width // step) * step
    if main:
        e.loop(var, e.index(0), e.index(main), step, lambda w0: block(w0, tw, 0))
    if width - main:
        full, tail = divmod(width - main, vw)
        block(e.index(main), full + (1 if tail else 0), tail)


def conv_lanes_over_positions(g: GatherGemm, s: Schedule, name: str) -> tuple[str, tuple[int, int, int]]:
    """vector_axis 0: each workgroup computes BR rows x `tile[0]` outer positions x their `inner` outputs.

    Accumulators: BR rows x TH outer positions x TW vectors. Per packed column the kernel loads
    TH x TW input vectors and BR weights, for BR x TH x TW FMAs.
    vector_axis 6 (g.in_inner_stride 2, the padded input as it is): each input vector of a stride-2
    conv is two contiguous loads and one shuffle keeping the even lanes, instead of a phase-split copy
    of the input (one dispatch and one pass over memory fewer); the second load stops at the last
    element read, so no lane reads past the row.
    """
    e, d, vw, br = _Emitter(), g.dtype, s.vector_width, g.block_rows
    th = max(1, s.tile[0])
    tw = max(1, s.tile[1] if len(s.tile) > 1 else 1)
    if g.outer_dims[-1] % th:
        raise ValueError(f"tile of {th} outer positions does not divide {g.outer_dims[-1]}")
    if g.residual and any(g.out_pad):
        raise ValueError("a residual is read at the output's own index: the output cannot be written padded")
    vtype = f"vector<{vw}x{ACCUMULATE}>"
    xflat = _memref((math.prod(g.x_shape),), d)
    yflat = _memref((math.prod(g.y_shape),), d)
    xf, yf, j0, j1, row0 = _prologue(e, g)
    first = e.mul("%wg1", e.index(th)) if th > 1 else "%wg1"  # first outer position of this workgroup
    in_base = e.add(e.mul("%wg2", e.index(g.x_batch_stride)), _outer_input_offset(e, g, first))
    out_rows, biases = [], []
    for packed, row, bias in _block_rows(e, g, br, row0, vtype, d):
        biases.append(bias)
        row_base = e.affine([("%wg2", g.y_batch_stride), (row, g.y_row_stride)])
        out_rows.append((packed, e.affine([(row_base, 1), (first, g.out_row_width)],
                                          g.out_pad[0] * g.out_row_width + g.out_pad[2]), row_base))
    # Tile positions (outer t, vector v): input offset t * stride + v * vw * inner stride, output offset
    # t * inner + v * vw.
    in_step, step_in = g.in_outer_strides[-1], g.in_inner_stride
    if step_in not in (1, 2):
        raise ValueError(f"lanes over positions read inner strides 1 and 2, not {step_in}")

    def block(w0: str, vectors: int, tail: int) -> None:
        """Accumulate TH x `vectors` vectors from inner position w0 (the last vector of a row masked to `tail`)."""
        mask = e.op(f"vector.constant_mask [{tail}] : vector<{vw}xi1>") if tail else None
        base = e.add(in_base, e.mul(w0, e.index(step_in)) if step_in > 1 else w0)
        tiles = [(t, v) for t in range(th) for v in range(vectors)]
        # Stride 2: output lanes [0, n) of a vector read 2n - 1 inputs, split over two loads.
        reads = [2 * (tail if tail and v == vectors - 1 else vw) - 1 for v in range(vectors)]
        halves = {count: (e.op(f"vector.constant_mask [{min(count, vw)}] : vector<{vw}xi1>") if count < vw else None,
                          e.op(f"vector.constant_mask [{count - vw}] : vector<{vw}xi1>") if count > vw else None)
                  for count in set(reads)} if step_in == 2 else {}
        evens = ", ".join(str(2 * i) for i in range(vw))

        def column(j: str, accumulators: list[str]) -> list[str]:
            offset = _column_offset(e, g, j, base)
            loads = {}
            for t, v in tiles:
                delta = t * in_step + v * vw * step_in
                at = e.add(offset, e.index(delta)) if delta else offset
                if step_in == 1:
                    loads[t, v] = _load_vector(e, xf, at, xflat, vw, d, mask if tail and v == vectors - 1 else None)
                    continue
                low_mask, high_mask = halves[reads[v]]
                low = _load_vector(e, xf, at, xflat, vw, d, low_mask)
                high = _load_vector(e, xf, e.add(at, e.index(vw)), xflat, vw, d, high_mask) if reads[v] > vw \
                    else low
                loads[t, v] = e.op(f"vector.shuffle {low}, {high} [{evens}] : {vtype}, {vtype}")
            return _column_fmas(e, g, j, [loads[tile] for tile in tiles], accumulators, vtype)

        results = _reduction(e, j0, j1, [biases[r] for r in range(br) for _ in tiles], vtype, column, s.unroll,
                             accumulator_sets(s), _combine(g))
        for r in range(br):
            packed, out_base, _ = out_rows[r]
            close = _guard(e, g, packed, r)
            row_base = e.add(out_base, w0)
            for k, (t, v) in enumerate(tiles):
                delta = t * g.out_row_width + v * vw
                at = e.add(row_base, e.index(delta)) if delta else row_base
                lane_mask = mask if tail and v == vectors - 1 else None
                result = _epilogue(e, g, results[r * len(tiles) + k], vw, at, lane_mask)
                _store_vector(e, result, yf, at, yflat, vw, d, lane_mask)
            close()

    _row_blocks(e, g.inner, vw, tw, block)
    if any(g.out_pad):
        _zero_borders(e, g, out_rows, first, th)
    return e.function(_signature(g, name)), (g.block_row_count, g.outer // th, g.batch)


def _zero_fill(e: _Emitter, g: GatherGemm, start: str, count: int) -> None:
    if count <= 0:
        return
    zero = e.op(f"arith.constant 0.0 : {g.dtype}")  # the storage type
    k = e.fresh("k")
    e.emit(f"scf.for {k} = {e.index(0)} to {e.index(count)} step {e.index(1)} {{")
    e.emit(f"  %zat{k[1:]} = arith.addi {start}, {k} : index")
    e.emit(f"  memref.store {zero}, %y[%zat{k[1:]}] : {_memref((math.prod(g.y_shape),), g.dtype)}")
    e.emit("}")


def _zero_borders(e: _Emitter, g: GatherGemm, out_rows, first: str, th: int) -> None:
    """Writes the zero border of the padded output around this workgroup's rows: left and right of
    each of its TH output rows, and the top (bottom) border rows in the first (last) workgroup."""
    top, bottom, left, right = g.out_pad
    width = g.out_row_width
    is_first = e.op(f"arith.cmpi eq, %wg1, {e.index(0)} : index")
    is_last = e.op(f"arith.cmpi eq, %wg1, {e.index(g.outer // th - 1)} : index")
    for r, (packed, _, row_base) in enumerate(out_rows):
        close = _guard(e, g, packed, r)
        for t in range(th):
            line = e.affine([(row_base, 1), (first, width)], (top + t) * width)
            _zero_fill(e, g, line, left)
            _zero_fill(e, g, e.add(line, e.index(left + g.inner)), right)
        for flag, start, count in ((is_first, 0, top * width), (is_last, (top + g.outer) * width, bottom * width)):
            if count:
                e.emit(f"scf.if {flag} {{")
                e.indent += 1
                _zero_fill(e, g, e.add(row_base, e.index(start)) if start else row_base, count)
                e.indent -= 1
                e.emit("}")
        close()


def _rows_in_lanes_column(e: _Emitter, g: GatherGemm, j: str, starts: list[str], accumulators: list[str]) -> list[str]:
    """Packed column j of a lanes-over-rows kernel: its BR weights as one vector, times the input of each
    position (its start offset in `starts`) broadcast, added to that position's accumulator."""
    d, br = g.dtype, g.block_rows
    vtype = f"vector<{br}x{ACCUMULATE}>"
    offset = _column_offset(e, g, j)
    w = e.op(f"vector.load %val[{j}, {e.index(0)}] : {_memref((max(g.nnz, 1), br), d)}, vector<{br}x{d}>")
    if d != ACCUMULATE:
        w = e.op(f"arith.extf {w} : vector<{br}x{d}> to {vtype}")
    updated = []
    for start, accumulator in zip(starts, accumulators):
        scalar = _load_scalar(e, "%x", e.add(offset, start), _memref((math.prod(g.x_shape),), d), d)
        broadcast = e.op(f"vector.broadcast {scalar} : {ACCUMULATE} to {vtype}")
        updated.append(e.op(f"vector.fma {w}, {broadcast}, {accumulator} : {vtype}"))
    return updated


def lanes_over_rows(g: GatherGemm, s: Schedule, name: str, position_offsets: list[int] | None = None,
                    tap_positions: list[list[int]] | None = None) -> tuple[str, tuple[int, int, int]]:
    """vector_axis 1: lanes are the BR rows of a block-row; TP output positions per workgroup.

    For a matmul, positions are the rows of x (offset p * in_outer_stride, output stride y_position_stride).
    For a small conv, `position_offsets` lists each output position's static input offset (one tile).
    vector_axis 5 (small "same" convs on the unpadded input): %off splits each block-row's columns into
    g.taps segments, one per kernel tap, and `tap_positions[t]` lists the positions whose read of tap t
    falls inside the input; the others read padding, so their loads and FMAs are not emitted at all
    (a 2x2 output under a 3x3 kernel does 16 of its 36 position-tap products).
    """
    if g.reduction != "add":
        raise BcrError(f"layer '{g.name}': lanes over rows take weights in lanes; a {g.reduction} reduction has none",
                       "use a schedule with lanes over positions (bcr-tune offers no other for it)")
    e, d, br = _Emitter(), g.dtype, g.block_rows
    vtype = f"vector<{br}x{ACCUMULATE}>"
    yflat = _memref((math.prod(g.y_shape),), d)
    tp = s.tile[0]
    _, yf, j0, j1, row0 = _prologue(e, g)
    ragged = g.rows % br
    contiguous = g.identity_rows and g.y_row_stride == 1   # a group's outputs are one vector in memory
    mask = e.op(f"vector.create_mask {e.op(f'arith.subi {e.index(g.rows)}, {row0} : index')} : vector<{br}xi1>") \
        if ragged and g.identity_rows else None
    bias_mem = _memref((g.rows,), d)
    out_rows = []
    if g.identity_rows:
        bias = _load_vector(e, "%bias", row0, bias_mem, br, d, mask)
    else:  # reordered rows: gather the group's biases once per workgroup
        lanes = []
        for r in range(br):
            packed = e.add(row0, e.index(r)) if r else row0
            out_rows.append((packed, _output_row(e, g, packed)))
            lanes.append(_load_scalar(e, "%bias", out_rows[-1][1], bias_mem, d))
        bias = e.op(f"vector.from_elements {', '.join(lanes)} : {vtype}")
    x_base = e.mul("%wg2", e.index(g.x_batch_stride))
    first = e.mul("%wg1", e.index(tp))  # first position of this workgroup's tile
    if position_offsets is None:
        starts = [e.add(x_base, e.affine([(first, g.in_outer_strides[0])], p * g.in_outer_strides[0])) for p in range(tp)]
    else:
        starts = [e.add(x_base, e.index(position_offsets[p])) for p in range(tp)]

    def column(j: str, accumulators: list[str], positions=range(tp)) -> list[str]:
        return _rows_in_lanes_column(e, g, j, [starts[p] for p in positions], accumulators)

    if tap_positions is None:
        results = _reduction(e, j0, j1, [bias] * tp, vtype, column, s.unroll, accumulator_sets(s))
    else:
        results, bounds = [bias] * tp, _tap_bounds(e, g)
        for t, valid in enumerate(tap_positions):
            if valid:
                updated = _reduction(e, bounds[t], bounds[t + 1], [results[p] for p in valid], vtype,
                                     lambda j, carried, valid=valid: column(j, carried, valid), s.unroll, accumulator_sets(s))
                for p, value in zip(valid, updated):
                    results[p] = value
    y_batch = e.mul("%wg2", e.index(g.y_batch_stride))
    for p in range(tp):
        position = e.add(first, e.index(p)) if p else first
        if contiguous:
            out = e.affine([(y_batch, 1), (position, g.y_position_stride), (row0, g.y_row_stride)])
            lane_mask = mask if ragged else None
            _store_vector(e, _epilogue(e, g, results[p], br, out, lane_mask), yf, out, yflat, br, d, lane_mask)
            continue
        # Without a residual the activation runs once on the vector; a residual is read per output.
        result = results[p] if g.residual else _activation(e, results[p], vtype, g.activation)
        # Channel-major output (small convs) or reordered rows: one scalar store per row.
        base = e.affine([(y_batch, 1), (position, g.y_position_stride)])
        for r in range(br):
            if len(out_rows) < br:
                packed = e.add(row0, e.index(r)) if r else row0
                out_rows.append((packed, _output_row(e, g, packed)))
            packed, row = out_rows[r]
            lane = e.op(f"vector.extract {result}[{r}] : {ACCUMULATE} from {vtype}")
            at = e.add(base, e.mul(row, e.index(g.y_row_stride)) if g.y_row_stride != 1 else row)
            close = _guard(e, g, packed, r)
            _store_scalar(e, _epilogue(e, g, lane, 0, at) if g.residual else lane, yf, at, yflat, d)
            close()
    positions = g.outer if position_offsets is None else tp
    return e.function(_signature(g, name)), (g.block_row_count, positions // tp, g.batch)


@dataclass(frozen=True)
class CellOp:
    """One scalar op of a gate cell (bcr-fuse-gate-cells): `result = name operands`, or a constant."""
    result: str
    name: str
    operands: tuple[str, ...] = ()
    constant: float | None = None


def gate_cell(g: GatherGemm, s: Schedule, gates: int, cell: list[CellOp], outputs: list[str], inputs: int,
              name: str) -> tuple[str, tuple[int, int, int]]:
    """A batch-1 matmul of `gates` x H rows and the elementwise cell over its gates, as one kernel
    (bcr.packed_gate_cell): workgroup i takes hidden units [BR i, BR (i + 1)), runs the block-row of those
    units in each gate (lanes over rows, as lanes_over_rows), then the cell on the gate vectors and the
    matching lanes of its `inputs` cell inputs (%g<k> and %c<k> in `cell`; the arguments %cell<k>), and
    stores each of `outputs` once (to %y, or %y0, %y1, ... for several: an LSTM's c and h)."""
    e, br = _Emitter(), g.block_rows
    vtype = f"vector<{br}x{ACCUMULATE}>"
    width = g.rows // gates
    per_gate = width // br
    if g.dtype != ACCUMULATE or g.batch != 1 or g.outer != 1 or width % br or not g.identity_rows:
        raise BcrError(f"layer '{g.name}': a gate cell kernel takes f32, batch 1, natural row order and gates of "
                       f"whole {br}-row blocks", "run bcr-fuse-gate-cells, which fuses only such layers")
    row0 = e.mul("%wg0", e.index(br))
    offsets = _memref((g.block_row_count + 1,), "i32")
    values = {}
    for gate in range(gates):
        # The packed block-rows are interleaved by unit (lower_to_kernels): unit u's gates are u*G .. u*G + G-1.
        block = e.affine([("%wg0", gates)], gate)
        bounds = [e.op(f"arith.index_cast {e.op(f'memref.load %off[{at}] : {offsets}')} : i32 to index")
                  for at in (block, e.add(block, e.index(1)))]
        bias = _load_vector(e, "%bias", e.add(row0, e.index(gate * width)) if gate else row0,
                            _memref((g.rows,), g.dtype), br, g.dtype)
        values[f"%g{gate}"], = _reduction(e, *bounds, [bias], vtype,
                                          lambda j, carried: _rows_in_lanes_column(e, g, j, [e.index(0)], carried),
                                          s.unroll, accumulator_sets(s))
    flat = _memref((width,), g.dtype)
    for k in range(inputs):
        values[f"%c{k}"] = _load_vector(e, f"%cell{k}", row0, flat, br, g.dtype)
    for op in cell:
        if op.constant is not None:
            values[op.result] = e.op(f"arith.constant dense<{op.constant!r}> : {vtype}")
        else:
            values[op.result] = e.op(f"{op.name} {', '.join(values[v] for v in op.operands)} : {vtype}")
    stores = ["%y"] if len(outputs) == 1 else [f"%y{k}" for k in range(len(outputs))]
    for output, memory in zip(outputs, stores):
        _store_vector(e, values[output], memory, row0, flat, br, g.dtype)
    arguments = [f"%cell{k}: {flat}" for k in range(inputs)] + [f"{memory}: {flat}" for memory in stores]
    signature = _signature(g, name, outputs=width).replace(f"%y: {flat})", ", ".join(arguments) + ")")
    return e.function(signature), (per_gate, 1, 1)


def conv_flattened(g: GatherGemm, s: Schedule, name: str) -> tuple[str, tuple[int, int, int]]:
    """vector_axis 2 (2-D convs with unit stride and a narrow output): lanes over flattened positions.

    An output of width OW < vector width leaves most lanes of a lanes-over-positions vector idle. Here the
    `tile[0]` = TH output rows of a workgroup are read as one run of the input: virtual position
    q = t * P + w (P = the input row pitch, w < P) reads the input at q + the column's offset, so
    consecutive output rows share vectors; lanes with w >= OW compute values that are never stored.
    The run is L = (TH - 1) * P + OW lanes, `tile[1]` = ceil(L / VW) vectors, the last one masked to
    the run's end, which keeps every load inside the input. Accumulators: BR rows x tile[1] vectors.
    Each output row's lanes are sliced out of the accumulators and stored whole.
    """
    e, d, vw, br = _Emitter(), g.dtype, s.vector_width, g.block_rows
    th = max(1, s.tile[0])
    pitch, width = g.in_outer_strides[-1], g.inner
    if len(g.outer_dims) != 1 or g.outer % th or g.in_inner_stride != 1 or pitch < width or any(g.out_pad):
        raise ValueError("flattened positions need a 2-D unit-stride conv, a tile dividing the output rows, "
                         "and an unpadded output")
    run = (th - 1) * pitch + width
    vectors = -(-run // vw)
    if len(s.tile) > 1 and s.tile[1] and s.tile[1] != vectors:
        raise ValueError(f"tile {tuple(s.tile)} does not match {vectors} vectors for {th} rows")
    tail = run - (vectors - 1) * vw
    vtype = f"vector<{vw}x{ACCUMULATE}>"
    xflat = _memref((math.prod(g.x_shape),), d)
    yflat = _memref((math.prod(g.y_shape),), d)
    xf, yf, j0, j1, row0 = _prologue(e, g)
    first = e.mul("%wg1", e.index(th)) if th > 1 else "%wg1"
    in_base = e.add(e.mul("%wg2", e.index(g.x_batch_stride)), e.affine([(first, pitch)]))
    mask = e.op(f"vector.constant_mask [{tail}] : vector<{vw}xi1>") if tail < vw else None
    out_rows, biases = [], []
    for packed, row, bias in _block_rows(e, g, br, row0, vtype, d):
        biases.append(bias)
        out_rows.append((packed, e.affine([("%wg2", g.y_batch_stride), (row, g.y_row_stride), (first, width)])))

    def column(j: str, accumulators: list[str]) -> list[str]:
        offset = _column_offset(e, g, j, in_base)
        loads = []
        for v in range(vectors):
            at = e.add(offset, e.index(v * vw)) if v else offset
            loads.append(_load_vector(e, xf, at, xflat, vw, d, mask if v == vectors - 1 else None))
        return _column_fmas(e, g, j, loads, accumulators, vtype)

    results = _reduction(e, j0, j1, [biases[r] for r in range(br) for _ in range(vectors)], vtype, column,
                         s.unroll, accumulator_sets(s), _combine(g))
    for r in range(br):
        packed, out_base = out_rows[r]
        close = _guard(e, g, packed, r)
        values = results[r * vectors:(r + 1) * vectors]
        for t in range(th):
            # Output row t is lanes [t * pitch, t * pitch + OW) of the run, spread over one or two vectors.
            lo, hi = t * pitch, t * pitch + width
            for v in range(lo // vw, (hi - 1) // vw + 1):
                a, b = max(lo, v * vw), min(hi, (v + 1) * vw)
                delta = t * width + (a - lo)
                at = e.add(out_base, e.index(delta)) if delta else out_base
                _store_lanes(e, g, values[v], vtype, a - v * vw, b - a, at, yflat, vw)
        close()
    return e.function(_signature(g, name)), (g.block_row_count, g.outer // th, g.batch)


@dataclass(frozen=True)
class TapPiece:
    """Output lanes [lane, lane + lanes) of a tap-segment vector: tile positions [position, position + lanes)."""

    lane: int
    position: int
    lanes: int


@dataclass(frozen=True)
class TapVector:
    """One vector of a tap-segment tile: the tile-relative input offset (before the column's offset)
    of each of its loads (one, or two at stride 2), and the output pieces its lanes hold."""

    loads: tuple[int, ...]
    pieces: tuple[TapPiece, ...]


def tap_rows_flattened(g: GatherGemm) -> bool:
    """Whether a tap-segment tile's rows run on as one flattened vector run: unit stride and an input
    row as wide as the output row ("same" padding), so output q reads input q + the column's offset."""
    return g.in_inner_stride == 1 and g.in_outer_strides[0] == g.inner


def tap_vectors(rows: int, width: int, vw: int, stride: int, flattened: bool, pitch: int = 0) -> list[TapVector]:
    """The vectors of a tile of `rows` output rows of `width` outputs (input rows `pitch` apart, which
    only places the loads):
    - flattened ("same" stride 1, tap_rows_flattened): the rows in as few vectors as hold them;
    - stride 2 with rows of at most VW/2 outputs: two rows per vector, one load each (the even lanes of
      the first load are the first row, those of the second the next row);
    - otherwise each row in its own run of vectors (at stride 2, two consecutive loads per vector)."""
    if flattened:
        positions = rows * width
        return [TapVector((v * vw,), (TapPiece(0, v * vw, min(vw, positions - v * vw)),))
                for v in range(-(-positions // vw))]
    if stride == 2 and 2 * width <= vw:
        return [TapVector((t * pitch, (t + 1) * pitch),
                          tuple(TapPiece(k * vw // 2, (t + k) * width, width) for k in range(min(2, rows - t))))
                for t in range(0, rows, 2)]
    return [TapVector(tuple(t * pitch + u * vw * stride + k * vw for k in range(stride)),
                      (TapPiece(0, t * width + u * vw, min(vw, width - u * vw)),))
            for t in range(rows) for u in range(-(-width // vw))]


def tile_tap_vectors(g: GatherGemm, rows_per_tile: int, vw: int) -> list[TapVector]:
    """tap_vectors() of a tile of this conv's output rows."""
    return tap_vectors(rows_per_tile, g.inner, vw, g.in_inner_stride, tap_rows_flattened(g), g.in_outer_strides[0])


def conv_tap_segments(g: GatherGemm, s: Schedule, name: str, tap_masks: list[list[tuple[bool, ...]]],
                      tap_rows: list[tuple[int, int]] | None = None) -> tuple[str, tuple[int, int, int]]:
    """vector_axis 4 (2-D convs reading the unpadded input): one workgroup computes BR rows x `tile[0]`
    = TH output rows (g.outer = OH, g.inner = OW), laid out in the vectors of tile_tap_vectors().
    vector_axis 7 is this kernel at stride 1 over the 4 phase planes of a stride-2 conv's input (the
    pass gives it that geometry and the plane offsets).

    With no padding in the input, output (oh, ow) reads input (oh*sy + dy, ow*sx + dx) for the kernel
    tap at offset (dy, dx) from the padded origin, so column (c, tap) starts at c*H*W + dy*W + dx
    (negative for the first taps). Stride 1 with "same" padding flattens the tile's rows: output q reads
    input q + that offset, every lane an output position. Otherwise each output row gets its own
    vectors, and at stride 2 each vector is two loads (input lanes 2i of 2*VW) and an even-lane shuffle.
    The lanes whose read falls in the padding depend only on the tap, so %off splits each block-row's
    columns into one segment per tap (g.taps of them) and segment t loads vector v under the constant
    mask tap_masks[t][v] over its VW * sx input lanes: masked-off lanes read nothing and add zero. A
    vector no lane of a tap can use is skipped for that tap: small outputs skip most border work.
    The input needs no zero-padding pass. Accumulators: BR rows x V vectors.
    When the tile is part of the output (TH < OH), tap_masks[t] covers the horizontal border only and
    tap_rows[t] = (first, end) are the output rows whose read of the tap stays inside the input: the
    tile rows outside them depend on the workgroup, so their lanes are masked off at run time, once
    per segment.
    """
    e, d, vw, br = _Emitter(), g.dtype, s.vector_width, g.block_rows
    rows_per_tile = max(1, s.tile[0])
    stride = g.in_inner_stride
    layout = tile_tap_vectors(g, rows_per_tile, vw)
    vectors = len(layout)
    tiled = rows_per_tile < g.outer
    if g.outer % rows_per_tile or stride not in (1, 2) or len(tap_masks) != g.taps or \
            any(len(m) != vectors or any(len(lanes) != vw * stride for lanes in m) for m in tap_masks) or \
            (tiled and (tap_rows is None or len(tap_rows) != g.taps)):
        raise ValueError("tap segments need a tile of whole output rows dividing the output, a stride of 1 or 2, "
                         "one mask per tap and vector (and each tap's rows inside the input when the output is tiled)")
    vtype, mtype = f"vector<{vw}x{ACCUMULATE}>", f"vector<{vw}xi1>"
    xf, xflat = "%x", _memref((math.prod(g.x_shape),), d)
    yflat = _memref((math.prod(g.y_shape),), d)
    first_row = e.mul("%wg1", e.index(rows_per_tile))
    in_base = e.add(e.mul("%wg2", e.index(g.x_batch_stride)), e.mul(first_row, e.index(g.in_outer_strides[0])))
    out_start = e.mul(first_row, e.index(g.inner))
    row0 = e.mul("%wg0", e.index(br))
    bounds = _tap_bounds(e, g)
    out_rows, accumulators = [], []
    for packed, row, bias in _block_rows(e, g, br, row0, vtype, d):
        out_rows.append((packed, e.affine([("%wg2", g.y_batch_stride), (row, g.y_row_stride), (out_start, 1)])))
        accumulators += [bias] * vectors
    evens = ", ".join(str(2 * i) for i in range(vw))
    no_lanes = e.op(f"arith.constant dense<false> : {mtype}")
    all_lanes = e.op(f"arith.constant dense<true> : {mtype}") if tiled and stride == 2 else None
    zeros = e.op(f"arith.constant dense<0.0> : {vtype}") if stride == 2 else None

    def clamp(value: str, low: str, high: str) -> str:
        return e.op(f"arith.minsi {e.op(f'arith.maxsi {value}, {low} : index')}, {high} : index")

    masks_made: dict[tuple[bool, ...], str] = {}

    def constant_mask(lanes: tuple[bool, ...]) -> str | None:
        if all(lanes):
            return None
        if not any(lanes):
            return no_lanes
        if lanes not in masks_made:
            masks_made[lanes] = e.op(f"arith.constant dense<[{', '.join('true' if lane else 'false' for lane in lanes)}]> : {mtype}")
        return masks_made[lanes]

    def and_masks(a: str | None, b: str) -> str:
        return b if a is None else e.op(f"arith.andi {a}, {b} : {mtype}")

    for t, masks in enumerate(tap_masks):
        active = [v for v in range(vectors) if any(masks[v])]
        if not active:
            continue
        if tiled:
            # Tile rows [a, b) read input rows inside the image for this tap: a = first - (the tile's
            # first row), b = end - (the tile's first row), both clamped to the tile.
            zero, count = e.index(0), e.index(rows_per_tile)
            a = clamp(e.op(f"arith.subi {e.index(tap_rows[t][0])}, {first_row} : index"), zero, count)
            b = clamp(e.op(f"arith.subi {e.index(tap_rows[t][1])}, {first_row} : index"), a, count)
            live_from, live_to = e.mul(a, e.index(g.inner)), e.mul(b, e.index(g.inner))
        # Per active vector, the masks of its one (stride 1) or two (stride 2) loads.
        load_masks = {}
        for v in active:
            halves = [constant_mask(masks[v][k * vw:(k + 1) * vw]) for k in range(stride)]
            if tiled:
                pieces = layout[v].pieces
                start = e.index(pieces[0].position)
                if stride == 1:
                    lanes_in = e.index(vw)
                    upto = e.op(f"vector.create_mask {clamp(e.op(f'arith.subi {live_to}, {start} : index'), zero, lanes_in)} : {mtype}")
                    below = e.op(f"vector.create_mask {clamp(e.op(f'arith.subi {live_from}, {start} : index'), zero, lanes_in)} : {mtype}")
                    halves = [and_masks(halves[0], e.op(f"arith.xori {upto}, {below} : {mtype}"))]
                else:
                    # Each load of a strided vector reads one output row's input: all its lanes are live
                    # or none (the second load's row is the second piece's, when there is one).
                    def live(piece: TapPiece) -> str:
                        at = e.index(piece.position)
                        return e.op(f"arith.andi {e.op(f'arith.cmpi sge, {at}, {live_from} : index')}, "
                                    f"{e.op(f'arith.cmpi slt, {at}, {live_to} : index')} : i1")
                    halves = [h if h is no_lanes else
                              e.op(f"arith.select {live(pieces[min(k, len(pieces) - 1)])}, {h or all_lanes}, "
                                   f"{no_lanes} : i1, {mtype}")
                              for k, h in enumerate(halves)]
            load_masks[v] = halves

        def column(j: str, carried: list[str], active=active, load_masks=load_masks) -> list[str]:
            offset = _column_offset(e, g, j, in_base)
            loads = []
            for v in active:
                parts = [zeros if mask is no_lanes else
                         _load_vector(e, xf, e.add(offset, e.index(delta)) if delta else offset, xflat, vw, d, mask)
                         for delta, mask in zip(layout[v].loads, load_masks[v])]
                loads.append(parts[0] if stride == 1 else
                             e.op(f"vector.shuffle {parts[0]}, {parts[1]} [{evens}] : {vtype}, {vtype}"))
            return _column_fmas(e, g, j, loads, carried, vtype)

        selected = [accumulators[r * vectors + v] for r in range(br) for v in active]
        results = _reduction(e, bounds[t], bounds[t + 1], selected, vtype, column, s.unroll, accumulator_sets(s), _combine(g))
        for r in range(br):
            for k, v in enumerate(active):
                accumulators[r * vectors + v] = results[r * len(active) + k]
    for r in range(br):
        packed, out_base = out_rows[r]
        close = _guard(e, g, packed, r)
        for v, vector in enumerate(layout):
            for piece in vector.pieces:
                at = e.add(out_base, e.index(piece.position)) if piece.position else out_base
                _store_lanes(e, g, accumulators[r * vectors + v], vtype, piece.lane, piece.lanes, at, yflat, vw,
                             masked=True)
        close()
    return e.function(_signature(g, name)), (g.block_row_count, g.outer // rows_per_tile, g.batch)


@dataclass(frozen=True)
class ExpandDepthwise:
    """A 1x1 expand conv (packed, BR rows per block) feeding a 3x3 depthwise conv with zero padding 1, as
    one kernel (bcr-fuse-expand-depthwise). The depthwise conv's channels are in the identity order; the
    expand's packed rows may be reordered (expand.identity_rows False: rows[packed] is the channel)."""

    expand: GatherGemm             # the 1x1 conv over the unpadded input: x [N, Cin, H, W] -> [N, C, H, W]
    stride: int                    # the depthwise conv's, 1 or 2
    activation: str                # the depthwise conv's (the expand's is expand.activation)

    @property
    def channels(self) -> int:
        return self.expand.rows

    @property
    def height(self) -> int:
        return self.expand.outer

    @property
    def width(self) -> int:
        return self.expand.inner

    @property
    def out_size(self) -> tuple[int, int]:
        return ((self.height - 1) // self.stride + 1, (self.width - 1) // self.stride + 1)

    @property
    def out_image(self) -> int:
        """Elements of one image of the depthwise output."""
        return self.channels * math.prod(self.out_size)

    @property
    def params(self) -> int:
        """The kernel's %bias: the expand's biases, the depthwise biases, then 9 taps per channel."""
        return 11 * self.channels


# Workgroups a fused expand-depthwise dispatch aims for: its channel blocks, times row tiles when
# there are fewer blocks (each tile recomputes the 3 - stride expanded rows above it).
FUSED_MIN_WORKGROUPS = 8
FUSED_MIN_TILE_ROWS = 4
# Stack bytes for the expanded rows of a whole tile (IREE's CPU limit is 32 KB); larger tiles keep a
# ring of 3 rows instead.
FUSED_PLANE_BYTES = 16 * 1024
FUSED_STACK_BYTES = 24 * 1024     # the most a ring may take (bcr-fuse-expand-depthwise checks)


@dataclass(frozen=True)
class FusedPlan:
    """How expand_depthwise lays out one workgroup's work."""

    vw: int
    rows_per_tile: int      # output rows per workgroup
    pitch: int              # elements per expanded row in the scratch (zero pad, W values, zeros)
    slots: int              # expanded rows held: the whole tile's, or a ring of 3
    ring: bool
    expand_tile: tuple[int, int]   # (rows, vectors) of the expand's register block


def fused_row_pitch(width: int, out_width: int, stride: int, vw: int) -> int:
    """Elements per expanded row on the stack. Column 0 is the left zero pad, 1..W the expanded row, then
    zeros: wide enough for whole-vector stores from column 1 and for the last output vector's reads (at
    stride 2, two vectors from column 2 * first output + tap)."""
    in_vectors, out_vectors = -(-width // vw), -(-out_width // vw)
    return -(-max(width + 2, 1 + in_vectors * vw, stride * out_vectors * vw + 2) // vw) * vw


def fused_ring_fits(block_rows: int, width: int, out_width: int, stride: int, vw: int) -> bool:
    """Whether the smallest layout, a ring of 3 expanded rows per channel of a block, fits FUSED_STACK_BYTES."""
    return 3 * block_rows * fused_row_pitch(width, out_width, stride, vw) * 4 <= FUSED_STACK_BYTES


def fused_plan(f: ExpandDepthwise, vw: int, registers: int) -> FusedPlan:
    out_h, out_w = f.out_size
    br, s, w = f.expand.block_rows, f.stride, f.width
    blocks = f.expand.block_row_count
    # Tiles of at least FUSED_MIN_TILE_ROWS rows, so the rows recomputed above each stay a small part.
    allowed = [t for t in range(1, out_h + 1) if out_h % t == 0 and out_h // t >= min(out_h, FUSED_MIN_TILE_ROWS)]
    tiles = next((t for t in allowed if blocks * t >= FUSED_MIN_WORKGROUPS), allowed[-1])
    rows_per_tile = out_h // tiles
    in_vectors = -(-w // vw)
    pitch = fused_row_pitch(w, out_w, s, vw)
    tile_rows = (rows_per_tile - 1) * s + 3
    ring = br * tile_rows * pitch * 4 > FUSED_PLANE_BYTES
    # The expand's register block: BR rows x th input rows x tw vectors, most FMAs per load that the
    # registers hold (accumulators, input vectors and one broadcast weight); one input row in a ring.
    candidates = [(th, tw) for th in range(1, 1 if ring else 5) for tw in range(1, min(4, in_vectors) + 1)
                  if (br + 1) * th * tw + 1 <= registers] or [(1, 1)]
    th, tw = max(candidates, key=lambda t: (round(br * t[0] * t[1] / (t[0] * t[1] + br), 3), t[1], -t[0]))
    return FusedPlan(vw, rows_per_tile, pitch, 3 if ring else tile_rows, ring, (th, tw))


def expand_depthwise(f: ExpandDepthwise, plan: FusedPlan, name: str) -> tuple[str, tuple[int, int, int]]:
    """One workgroup computes BR channels x a tile of output rows of act(dw(pad(act(W x)))) without
    writing the expanded tensor to memory: its rows live on the stack (memref.alloca), zero-padded left
    and right. When the tile's expanded rows fit FUSED_PLANE_BYTES the kernel expands them all (BR rows x
    a register block of input rows and vectors per packed column, one input load feeding the BR rows),
    then runs each channel's taps over them, its 9 weights loaded once. Otherwise (MobileNet-V2's first
    blocks: 96x112x112 expanded, 4.8 MB) the rows go through a ring of 3: per output row the kernel
    expands the `stride` new input rows, then the taps slide down the ring. Rows outside the input are
    zeros (the conv's padding); at stride 2 each vector of taps is two loads and an even-lane shuffle.
    `plan` is fused_plan(f, ...)."""
    g, d, br, vw = f.expand, f.expand.dtype, f.expand.block_rows, plan.vw
    e = _Emitter()
    s, h, w, c = f.stride, f.height, f.width, f.channels
    out_h, out_w = f.out_size
    if s not in (1, 2):
        raise ValueError(f"the fused depthwise conv has stride {s}; only 1 and 2 are generated")
    vtype = f"vector<{vw}x{ACCUMULATE}>"
    xflat = _memref((math.prod(g.x_shape),), d)
    yflat = _memref((g.batch * f.out_image,), d)
    params = _memref((f.params,), d)
    in_vectors, out_vectors, pitch = -(-w // vw), -(-out_w // vw), plan.pitch
    scratch_type = f"memref<{plan.slots}x{br}x{pitch}x{ACCUMULATE}>"

    _, _, j0, j1, row0 = _prologue(e, g)
    scratch = e.op(f"memref.alloca() : {scratch_type}", "rows")

    def store_row(value: str, slot: str, r: int, column: str, mask: str | None = None) -> None:
        _store_vector(e, value, scratch, f"{slot}, {e.index(r)}, {column}", scratch_type, vw, ACCUMULATE, mask)

    zero = e.op(f"arith.constant dense<0.0> : {vtype}")
    e.loop(e.fresh("slot"), e.index(0), e.index(plan.slots), 1,
           lambda slot: [store_row(zero, slot, r, e.index(k * vw)) for r in range(br) for k in range(pitch // vw)])
    # Each block row's channel (rows[packed] when bcr-reorder-filters reordered the 1x1 conv; the bias, the
    # depthwise taps and the output are in channel order). A ragged last group's padding rows clamp to the
    # last packed row, so they load valid data; _guard keeps them from storing.
    channel = [_output_row(e, g, e.op(f"arith.minui {e.add(row0, e.index(r)) if r else row0}, {e.index(c - 1)} : index"))
               for r in range(br)]
    expand_bias = [e.op(f"vector.broadcast {_load_scalar(e, '%bias', channel[r], params, d)} : {ACCUMULATE} to {vtype}")
                   for r in range(br)]
    x_batch = e.mul("%wg2", e.index(g.x_batch_stride))
    y_batch = e.mul("%wg2", e.index(f.out_image))
    first = e.mul("%wg1", e.index(plan.rows_per_tile)) if plan.rows_per_tile != out_h else e.index(0)
    first_row = e.mul(first, e.index(s)) if s > 1 else first   # padded row of the scratch's slot 0

    def slot_of(p: str) -> str:
        return e.op(f"arith.remui {p}, {e.index(3)} : index") if plan.ring else e.op(f"arith.subi {p}, {first_row} : index")

    def expand_rows(p: str, th: int, tw: int) -> None:
        """Padded rows p .. p + th - 1 (input rows p - 1 ..., all inside the input) expanded into their slots."""
        slots = [slot_of(e.add(p, e.index(t)) if t else p) for t in range(th)]
        row_base = e.add(x_batch, e.mul(e.op(f"arith.subi {p}, {e.index(1)} : index"), e.index(w)))

        def block(w0: str, vectors: int, tail: int) -> None:
            mask = e.op(f"vector.constant_mask [{tail}] : vector<{vw}xi1>") if tail else None
            base = e.add(row_base, w0)
            tiles = [(t, v) for t in range(th) for v in range(vectors)]

            def column(j: str, accumulators: list[str]) -> list[str]:
                offset = _column_offset(e, g, j, base)
                inputs = []
                for t, v in tiles:
                    delta = t * w + v * vw
                    at = e.add(offset, e.index(delta)) if delta else offset
                    inputs.append(_load_vector(e, "%x", at, xflat, vw, d, mask if tail and v == vectors - 1 else None))
                return _column_fmas(e, g, j, inputs, accumulators, vtype)

            results = _reduction(e, j0, j1, [expand_bias[r] for r in range(br) for _ in tiles], vtype, column)
            for r in range(br):
                for k, (t, v) in enumerate(tiles):
                    value = _activation(e, results[r * len(tiles) + k], vtype, g.activation)
                    store_row(value, slots[t], r, e.add(w0, e.index(1 + v * vw)), mask if tail and v == vectors - 1 else None)

        _row_blocks(e, w, vw, tw, block, e.fresh("w"))

    def ring_row(p: str) -> None:
        """Ring slot p % 3 := padded row p, expanded inside the input, zeros in the padding."""
        low = e.op(f"arith.cmpi uge, {p}, {e.index(1)} : index")
        high = e.op(f"arith.cmpi ule, {p}, {e.index(h)} : index")
        e.emit(f"scf.if {e.op(f'arith.andi {low}, {high} : i1')} {{")
        e.indent += 1
        expand_rows(p, 1, plan.expand_tile[1])
        e.indent -= 1
        e.emit("} else {")
        e.indent += 1
        at = slot_of(p)
        for r in range(br):
            for k in range(in_vectors):
                store_row(zero, at, r, e.index(1 + k * vw))
        e.indent -= 1
        e.emit("}")

    evens = ", ".join(str(2 * i) for i in range(vw))

    def channel_taps(r: int) -> tuple[str, list[str]]:
        """Channel block row r's depthwise bias and 9 taps, broadcast."""
        taps_at = e.affine([(channel[r], 9)], 2 * c)
        scalars = [e.add(channel[r], e.index(c))] + [e.add(taps_at, e.index(k)) if k else taps_at for k in range(9)]
        bias, *taps = [e.op(f"vector.broadcast {_load_scalar(e, '%bias', at, params, d)} : {ACCUMULATE} to {vtype}")
                       for at in scalars]
        return bias, taps

    def depthwise_row(oh: str, r: int, bias: str, taps: list[str]) -> None:
        """Output row oh of channel block row r, from expanded rows oh * stride + 0, 1, 2."""
        top = e.mul(oh, e.index(s)) if s > 1 else oh
        slots = [slot_of(e.add(top, e.index(k)) if k else top) for k in range(3)]
        out_row = e.affine([(y_batch, 1), (channel[r], out_h * out_w), (oh, out_w)])

        def load(slot: str, column: int) -> str:
            return _load_vector(e, scratch, f"{slot}, {e.index(r)}, {e.index(column)}", scratch_type, vw, ACCUMULATE)

        for v in range(out_vectors):
            acc = bias
            for k in range(9):
                dy, dx = divmod(k, 3)
                value = load(slots[dy], s * v * vw + dx)
                if s == 2:
                    value = e.op(f"vector.shuffle {value}, {load(slots[dy], 2 * v * vw + dx + vw)} [{evens}] : {vtype}, {vtype}")
                acc = e.op(f"vector.fma {taps[k]}, {value}, {acc} : {vtype}")
            value = _activation(e, acc, vtype, f.activation)
            at = e.add(out_row, e.index(v * vw)) if v else out_row
            tail = out_w - v * vw
            lane_mask = e.op(f"vector.constant_mask [{tail}] : vector<{vw}xi1>") if tail < vw else None
            _store_vector(e, value, "%y", at, yflat, vw, d, lane_mask)

    def channels_of_row(oh: str) -> None:
        for r in range(br):
            close = _guard(e, g, e.add(row0, e.index(r)) if r else row0, r)
            depthwise_row(oh, r, *channel_taps(r))
            close()

    last = e.add(first, e.index(plan.rows_per_tile))
    if plan.ring:
        # The rows above the tile's first output row that no iteration of the row loop expands.
        e.loop(e.fresh("p"), first_row, e.add(first_row, e.index(3 - s)), 1, ring_row)

        def output_row(oh: str) -> None:
            newest = e.affine([(oh, s)], 3 - s)   # the first row this output row needs that is not there yet
            for q in range(s):
                ring_row(e.add(newest, e.index(q)) if q else newest)
            channels_of_row(oh)
        e.loop(e.fresh("oh"), first, last, 1, output_row)
    else:
        # The tile's rows inside the input (the others stay zero), th at a time, then one at a time.
        th, tw = plan.expand_tile
        lo = e.op(f"arith.maxui {first_row}, {e.index(1)} : index")
        hi = e.op(f"arith.minui {e.add(first_row, e.index(plan.slots))}, {e.index(h + 1)} : index")
        middle = lo
        if th > 1:
            count = e.op(f"arith.subi {hi}, {lo} : index")
            middle = e.add(lo, e.mul(e.op(f"arith.divui {count}, {e.index(th)} : index"), e.index(th)))
            e.loop(e.fresh("p"), lo, middle, th, lambda p: expand_rows(p, th, tw))
        e.loop(e.fresh("p"), middle, hi, 1, lambda p: expand_rows(p, 1, tw))
        for r in range(br):
            close = _guard(e, g, e.add(row0, e.index(r)) if r else row0, r)
            bias, taps = channel_taps(r)
            e.loop(e.fresh("oh"), first, last, 1, lambda oh, r=r: depthwise_row(oh, r, bias, taps))
            close()
    signature = _signature(g, name, bias=f.params, outputs=g.batch * f.out_image)
    return e.function(signature), (g.block_row_count, out_h // plan.rows_per_tile, g.batch)
