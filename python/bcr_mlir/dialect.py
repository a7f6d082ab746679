"""The `bcr` dialect from Python: loading dialect/bcr.irdl.mlir, typed layouts, and the semantic verifier.

IRDL checks structure only (operand counts, attribute kinds). `verify()` adds the rules IRDL cannot
express: a layout fits its weight, counts stay inside their block, packed sizes agree, indices are in
range, and claimed zeros are really zero. bcr-opt runs it after parsing and after every pass.
"""
from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from bcr_mlir import ir
from bcr_mlir.errors import BcrError

ACTIVATIONS = ("none", "relu", "relu6")
# A packed op's optional `reduction`: "max" makes it a max-pool (the maximum over its taps, values unread).
REDUCTIONS = ("add", "max")
# Module attribute carrying the pruning library's per-weight metadata: {"<param>" = "<json>"}.
SPARSITY_ATTR = "bcr.sparsity"


def dialect_path() -> Path:
    """dialect/bcr.irdl.mlir: from $BCR_DIALECT, the source tree, or the installed package."""
    if os.environ.get("BCR_DIALECT"):
        return Path(os.environ["BCR_DIALECT"])
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent / "dialect" / "bcr.irdl.mlir", here / "dialect_files" / "bcr.irdl.mlir"):
        if candidate.is_file():
            return candidate
    raise BcrError("cannot find the bcr dialect definition bcr.irdl.mlir",
                   "reinstall bcr-mlir, or point BCR_DIALECT at dialect/bcr.irdl.mlir")


def new_context() -> ir.Context:
    """An MLIR context with every upstream dialect and the `bcr` dialect registered."""
    context = ir.Context()
    with context, ir.Location.unknown():
        definition = ir.Module.parse(dialect_path().read_text())
        ir.irdl.load_dialects(definition)
    return context


class ParseError(Exception):
    """MLIR text that does not parse: `details` joins the parser's diagnostics, `cause` is the MLIRError."""

    def __init__(self, details: str, cause: Exception):
        super().__init__(details)
        self.details, self.cause = details, cause


def parse_text(text: str):
    """(context, weights, module) for MLIR text, parsed in a fresh bcr context; raises ParseError."""
    from bcr_mlir.weights import WeightTable
    context = new_context()
    weights = WeightTable.from_mlir_text(text)
    with context, ir.Location.unknown():
        try:
            return context, weights, ir.Module.parse(text)
        except ir.MLIRError as exc:
            raise ParseError("; ".join(f"{d.location}: {d.message}" for d in exc.error_diagnostics) or str(exc),
                             exc) from None


# ---- Layouts ----------------------------------------------------------------------------------------

_ARRAY = re.compile(r"array<i64(?::\s*([^>]*))?>|(-?\d+)\s*:\s*i64")


def _parse_params(text: str, mnemonic: str) -> list:
    body = text.strip()
    prefix = f"#bcr.{mnemonic}<"
    if not body.startswith(prefix):
        raise ValueError(f"not a #bcr.{mnemonic}: {text}")
    params = []
    for array, integer in _ARRAY.findall(body[len(prefix):-1]):
        if integer:
            params.append(int(integer))
        else:
            params.append(tuple(int(v) for v in array.split(",")) if array.strip() else ())
    return params


def _array(values) -> str:
    values = [int(v) for v in values]
    return f"array<i64: {', '.join(map(str, values))}>" if values else "array<i64>"


def _blocks(extent: int, size: int) -> list[int]:
    """Sizes of the blocks that tile `extent` with `size`; the last one may be ragged."""
    return [min(size, extent - start) for start in range(0, extent, size)]


@dataclass(frozen=True)
class BcrLayout:
    """Block-based column-row sparsity of a weight matrix (see dialect/bcr.irdl.mlir)."""

    shape: tuple[int, int]
    block: tuple[int, int]
    kept_rows: tuple[int, ...]
    kept_cols: tuple[int, ...]
    mnemonic = "bcr_layout"
    scheme = "bcr"

    @property
    def grid(self) -> tuple[int, int]:
        return math.ceil(self.shape[0] / self.block[0]), math.ceil(self.shape[1] / self.block[1])

    @property
    def nnz(self) -> int:
        return sum(r * c for r, c in zip(self.kept_rows, self.kept_cols))

    @property
    def rate(self) -> float:
        return self.shape[0] * self.shape[1] / max(self.nnz, 1)

    def describe(self) -> str:
        return f"bcr {self.block[0]}x{self.block[1]}"

    def problems(self) -> list[str]:
        out = []
        if len(self.shape) != 2 or len(self.block) != 2:
            return [f"shape and block must each have 2 entries, got shape {list(self.shape)} and block {list(self.block)}"]
        if min(self.shape) <= 0 or min(self.block) <= 0:
            return [f"shape {list(self.shape)} and block {list(self.block)} must be positive"]
        if self.block[0] > self.shape[0] or self.block[1] > self.shape[1]:
            out.append(f"block {self.block[0]}x{self.block[1]} is larger than the {self.shape[0]}x{self.shape[1]} weight matrix")
        blocks = self.grid[0] * self.grid[1]
        for label, counts in (("kept_rows", self.kept_rows), ("kept_cols", self.kept_cols)):
            if len(counts) != blocks:
                out.append(f"{label} has {len(counts)} entries but the {self.grid[0]}x{self.grid[1]} block grid has {blocks}")
        if out:
            return out
        heights, widths = _blocks(self.shape[0], self.block[0]), _blocks(self.shape[1], self.block[1])
        grid_columns = self.grid[1]
        for index, (rows, cols) in enumerate(zip(self.kept_rows, self.kept_cols)):
            i, j = divmod(index, grid_columns)
            if not 0 <= rows <= heights[i]:
                out.append(f"block ({i}, {j}) keeps {rows} rows but has {heights[i]}")
            if not 0 <= cols <= widths[j]:
                out.append(f"block ({i}, {j}) keeps {cols} columns but has {widths[j]}")
            if len(out) > 3:
                break
        return out

    def to_text(self) -> str:
        return (f"#bcr.bcr_layout<{_array(self.shape)}, {_array(self.block)}, "
                f"{_array(self.kept_rows)}, {_array(self.kept_cols)}>")

    @classmethod
    def from_params(cls, params):
        shape, block, rows, cols = params
        return cls(tuple(shape), tuple(block), tuple(rows), tuple(cols))

    @classmethod
    def of_matrix(cls, matrix: np.ndarray, block: tuple[int, int]) -> "BcrLayout":
        """The tightest BCR layout covering the nonzeros of `matrix` with the given block shape."""
        rows, cols = matrix.shape
        br, bc = block
        nonzero = matrix != 0
        kept_rows, kept_cols = [], []
        for i in range(0, rows, br):
            for j in range(0, cols, bc):
                tile = nonzero[i:i + br, j:j + bc]
                kept_rows.append(int(tile.any(axis=1).sum()))
                kept_cols.append(int(tile.any(axis=0).sum()))
        return cls((rows, cols), (br, bc), tuple(kept_rows), tuple(kept_cols))

    def zero_violations(self, matrix: np.ndarray) -> str | None:
        """None when `matrix` has the claimed structure; otherwise where it breaks it."""
        actual = BcrLayout.of_matrix(matrix, self.block)
        for index, (r, c, rr, cc) in enumerate(zip(self.kept_rows, self.kept_cols, actual.kept_rows, actual.kept_cols)):
            if rr > r or cc > c:
                i, j = divmod(index, self.grid[1])
                return (f"block ({i}, {j}) has nonzeros in {rr} rows and {cc} columns, "
                        f"but the layout claims at most {r} rows and {c} columns")
        return None


@dataclass(frozen=True)
class PatternLayout:
    """PatDNN kernel patterns plus connectivity pruning."""

    shape: tuple[int, int]
    kernel: tuple[int, int]
    patterns: tuple[int, ...]
    kept_kernels: int
    mnemonic = "pattern_layout"
    scheme = "pattern"

    @property
    def nnz(self) -> int:
        entries = {bin(p).count("1") for p in self.patterns}
        return self.kept_kernels * (max(entries) if entries else 0)

    @property
    def rate(self) -> float:
        return self.shape[0] * self.shape[1] * self.kernel[0] * self.kernel[1] / max(self.nnz, 1)

    def describe(self) -> str:
        return f"pattern {len(self.patterns)}x{self.kernel[0]}x{self.kernel[1]}"

    def problems(self) -> list[str]:
        out = []
        positions = self.kernel[0] * self.kernel[1] if len(self.kernel) == 2 else 0
        if len(self.shape) != 2 or len(self.kernel) != 2 or min(self.shape + self.kernel) <= 0:
            return [f"shape {list(self.shape)} and kernel {list(self.kernel)} must each be 2 positive sizes"]
        if not self.patterns:
            out.append("the pattern set is empty")
        for p in self.patterns:
            if p <= 0 or p >= (1 << positions):
                out.append(f"pattern {p} does not fit a {self.kernel[0]}x{self.kernel[1]} kernel (bits 0..{positions - 1})")
        if not 0 <= self.kept_kernels <= self.shape[0] * self.shape[1]:
            out.append(f"kept_kernels {self.kept_kernels} is outside 0..{self.shape[0] * self.shape[1]}")
        return out

    def to_text(self) -> str:
        return (f"#bcr.pattern_layout<{_array(self.shape)}, {_array(self.kernel)}, "
                f"{_array(self.patterns)}, {self.kept_kernels} : i64>")

    @classmethod
    def from_params(cls, params):
        shape, kernel, patterns, kept = params
        return cls(tuple(shape), tuple(kernel), tuple(patterns), int(kept))


@dataclass(frozen=True)
class GroupLayout:
    """Kernel-group sparsity (RT3D KGS) and per-operator group sparsity (SparseByteNN): the rows of an
    output group share their kept columns (input channel x kernel position) within each input group."""

    shape: tuple[int, int]
    kernel: tuple[int, ...]
    group: tuple[int, int]
    kept_positions: tuple[int, ...]
    mnemonic = "group_layout"
    scheme = "group"

    @property
    def grid(self) -> tuple[int, int]:
        return math.ceil(self.shape[0] / self.group[0]), math.ceil(self.shape[1] / self.group[1])

    @property
    def positions(self) -> int:
        return int(np.prod(self.kernel)) if self.kernel else 1

    @property
    def nnz(self) -> int:
        heights = _blocks(self.shape[0], self.group[0])
        return sum(heights[index // self.grid[1]] * kept for index, kept in enumerate(self.kept_positions))

    @property
    def rate(self) -> float:
        return self.shape[0] * self.shape[1] * self.positions / max(self.nnz, 1)

    def describe(self) -> str:
        return f"group {self.group[0]}x{self.group[1]}"

    def problems(self) -> list[str]:
        if len(self.shape) != 2 or len(self.group) != 2 or min(self.shape + self.group) <= 0:
            return [f"shape {list(self.shape)} and group {list(self.group)} must each be 2 positive sizes"]
        out = []
        if self.group[0] > self.shape[0] or self.group[1] > self.shape[1]:
            out.append(f"group {self.group[0]}x{self.group[1]} is larger than the {self.shape[0]}x{self.shape[1]} channels")
        blocks = self.grid[0] * self.grid[1]
        if len(self.kept_positions) != blocks:
            out.append(f"kept_positions has {len(self.kept_positions)} entries but the group grid has {blocks}")
        widths = _blocks(self.shape[1], self.group[1])
        for index, kept in enumerate(self.kept_positions[:blocks]):
            limit = widths[index % self.grid[1]] * self.positions
            if not 0 <= kept <= limit:
                out.append(f"group {index} keeps {kept} positions but has {limit}")
                break
        return out

    def to_text(self) -> str:
        return (f"#bcr.group_layout<{_array(self.shape)}, {_array(self.kernel)}, {_array(self.group)}, "
                f"{_array(self.kept_positions)}>")

    @classmethod
    def from_params(cls, params):
        shape, kernel, group, kept = params
        return cls(tuple(shape), tuple(kernel), tuple(group), tuple(kept))


@dataclass(frozen=True)
class Schedule:
    """Code-generation choices for one layer (the #bcr.schedule attribute, picked by bcr-tune)."""

    vector_width: int = 8
    block_rows: int = 8
    tile: tuple[int, int] = (1, 0)
    unroll: int = 1
    vector_axis: int = 0
    mnemonic = "schedule"

    def to_text(self) -> str:
        return (f"#bcr.schedule<{self.vector_width} : i64, {self.block_rows} : i64, {_array(self.tile)}, "
                f"{self.unroll} : i64, {self.vector_axis} : i64>")

    @classmethod
    def from_params(cls, params):
        vw, br, tile, unroll, axis = params
        return cls(int(vw), int(br), tuple(tile), int(unroll), int(axis))


LAYOUTS = {cls.mnemonic: cls for cls in (BcrLayout, PatternLayout, GroupLayout, Schedule)}
Layout = BcrLayout | PatternLayout | GroupLayout


_PARSED: dict = {}


def parse_attr(attr: ir.Attribute | str):
    """A #bcr.* attribute as its dataclass (cached: layouts of big matrices print to long strings)."""
    if isinstance(attr, ir.Attribute):
        key = (attr.context, attr)
        if key not in _PARSED:
            if len(_PARSED) > 4096:
                _PARSED.clear()
            _PARSED[key] = _parse_text(str(attr))
        return _PARSED[key]
    return _parse_text(attr)


def _parse_text(attr: str):
    text = str(attr).strip()
    match = re.match(r"#bcr\.(\w+)<", text)
    if not match or match.group(1) not in LAYOUTS:
        raise ValueError(f"not a bcr attribute: {text[:80]}")
    cls = LAYOUTS[match.group(1)]
    return cls.from_params(_parse_params(text, cls.mnemonic))


def to_attr(layout) -> ir.Attribute:
    return ir.Attribute.parse(layout.to_text())


# ---- Ops -------------------------------------------------------------------------------------------

SPARSE_OPS = ("bcr.sparse_conv2d", "bcr.sparse_conv3d", "bcr.sparse_matmul")
PACKED_OPS = ("bcr.packed_conv2d", "bcr.packed_conv3d", "bcr.packed_matmul")
# A packed 1x1 conv and the 3x3 depthwise conv it feeds, as one op (bcr-fuse-expand-depthwise); only
# bcr-lower-to-kernels lowers it.
EXPAND_DEPTHWISE_OP = "bcr.packed_expand_depthwise"
# A packed batch-1 matmul and the elementwise cell over its gate slices, as one op (bcr-fuse-gate-cells);
# only bcr-lower-to-kernels lowers it.
GATE_CELL_OP = "bcr.packed_gate_cell"


def string_attr(op: ir.Operation, name: str, default: str = "") -> str:
    if name not in op.attributes:
        return default
    return ir.StringAttr(op.attributes[name]).value


def int_attr(op: ir.Operation, name: str, default: int = 0) -> int:
    if name not in op.attributes:
        return default
    return ir.IntegerAttr(op.attributes[name]).value


def int_array(op: ir.Operation, name: str) -> tuple[int, ...]:
    return tuple(ir.DenseI64ArrayAttr(op.attributes[name]))


def shape_of(value: ir.Value) -> tuple[int, ...]:
    return tuple(ir.RankedTensorType(value.type).shape)


def create_op(name: str, operands, result_type, attributes: dict) -> ir.Operation:
    """Builds a bcr op in generic form (IRDL ops have no Python builders); `result_type` may be a list."""
    attrs = {}
    for key, value in attributes.items():
        if isinstance(value, str):
            value = ir.StringAttr.get(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            value = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), value)
        elif isinstance(value, (tuple, list)):
            value = ir.DenseI64ArrayAttr.get([int(v) for v in value])
        elif hasattr(value, "to_text"):
            value = to_attr(value)
        attrs[key] = value
    results = list(result_type) if isinstance(result_type, (list, tuple)) else [result_type]
    return ir.Operation.create(name, results=results, operands=list(operands), attributes=attrs)


@dataclass
class Diagnostic:
    op: str
    layer: str
    message: str
    location: str = ""
    fix: str = ""      # what to change, when it is not the layout or the packed constants

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        layer = f" (layer '{self.layer}')" if self.layer else ""
        return f"{where}'{self.op}'{layer}: {self.message}"


def _walk(op: ir.Operation):
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                child = child.operation
                yield child
                yield from _walk(child)


def walk(module: ir.Module):
    yield from _walk(module.operation)


def ops_named(module: ir.Module, names) -> list[ir.Operation]:
    """The ops of `module` whose name is in `names`, all collected before the caller rewrites any: erasing
    an op frees the ops nested in its regions, and a handle to one of those must never be touched again."""
    return [op for op in walk(module) if op.name in names]


def verify(module: ir.Module, weights=None, memoized=None) -> list[Diagnostic]:
    """Semantic checks of every bcr op; empty when the module is well formed.

    `memoized(key, compute)` caches the checks of a layout and of a weight under that layout (a
    PassContext's, so a pipeline checks an RNN's W_hh once, not at each of its time steps after each
    pass); without it they are cached for this call only."""
    memoized = memoized or functools.partial(memoize, {})
    diagnostics: list[Diagnostic] = []
    for op in walk(module):
        if not op.name.startswith("bcr."):
            continue
        layer = string_attr(op, "layer")

        def problem(message: str, fix: str = "", op=op, layer=layer):
            diagnostics.append(Diagnostic(op.name, layer, message, str(op.location), fix))

        activation = string_attr(op, "activation", "none")
        if "activation" in op.attributes and activation not in ACTIVATIONS:
            problem(f"unknown activation '{activation}'", f"use one of {', '.join(ACTIVATIONS)}")
        if string_attr(op, "reduction", "add") not in REDUCTIONS:
            problem(f"unknown reduction '{string_attr(op, 'reduction')}'", f"use one of {', '.join(REDUCTIONS)}")
        if not _static_tensors(op, problem):
            continue
        if "layout" not in op.attributes:
            continue
        try:
            layout = parse_attr(op.attributes["layout"])
        except ValueError as exc:
            problem(_layout_parse_problem(str(op.attributes["layout"]), exc))
            continue
        malformed = memoized(("layout-problems", layout), layout.problems)
        for message in malformed:
            problem(f"malformed {layout.mnemonic}: {message}")
        if malformed:
            continue
        if op.name in SPARSE_OPS + PACKED_OPS and not _verify_shapes(op, problem):
            continue
        if op.name in SPARSE_OPS:
            _verify_sparse(op, layout, weights, problem, memoized)
        elif op.name in PACKED_OPS:
            _verify_packed(op, layout, weights, problem)
        elif op.name == EXPAND_DEPTHWISE_OP:
            _verify_expand_depthwise(op, problem)
        elif op.name == GATE_CELL_OP:
            _verify_gate_cell(op, problem)
    return diagnostics


def _static_tensors(op, problem) -> bool:
    """Every operand and result of a bcr op is a statically shaped tensor (the kernels are generated
    for fixed sizes)."""
    values = [(f"operand {i}", v) for i, v in enumerate(op.operands)] + [(f"result {i}", r) for i, r in enumerate(op.results)]
    for label, value in values:
        if not isinstance(value.type, ir.RankedTensorType):
            problem(f"{label} has type {value.type}; bcr ops take ranked tensors", STATIC_FIX)
            return False
        if not ir.RankedTensorType(value.type).has_static_shape:
            problem(f"{label} has the dynamic shape {value.type}; bcr ops need static shapes", STATIC_FIX)
            return False
    return True


def _layout_parse_problem(text: str, exc: Exception) -> str:
    """Why a layout attribute could not be read, naming the parameter that is not i64."""
    wrong = re.search(r"array<(?!i64\b)[^:>]*|:\s*(?!i64\b)[iu]i?\d+", text)
    short = text if len(text) <= 160 else text[:157] + "..."
    if wrong:
        return (f"malformed layout {short}: parameter type '{wrong.group(0).lstrip(': ')}' is not i64; "
                f"write every parameter as array<i64: ...> or N : i64")
    return f"malformed layout {short}: {exc}"


_RANKS = {"conv2d": 4, "conv3d": 5, "matmul": 2}
STATIC_FIX = "give every operand and the result a static shape (tensor<1x16xf32>, not tensor<?x16xf32>)"
SHAPE_FIX = "make the operand and result types agree with the op (input, weight, strides, dilations, kernel)"


def _verify_shapes(op, problem) -> bool:
    """Operand ranks, attributes and the result shape agree with the contraction the op stands for."""
    kind = op.name.split("_", 1)[1]
    rank = _RANKS[kind]
    x_shape, y_shape = shape_of(op.operands[0]), shape_of(op.result)
    if len(x_shape) != rank or len(y_shape) != rank:
        problem(f"input and result must have rank {rank}, got {list(x_shape)} and {list(y_shape)}", SHAPE_FIX)
        return False
    if min(x_shape + y_shape) <= 0:
        problem(f"input {list(x_shape)} and result {list(y_shape)} must not be empty", SHAPE_FIX)
        return False
    if x_shape[0] != y_shape[0]:
        problem(f"input has {x_shape[0]} rows/images but the result has {y_shape[0]}", SHAPE_FIX)
        return False
    if op.name in SPARSE_OPS:
        w_shape = shape_of(op.operands[1])
        if len(w_shape) != rank:
            problem(f"weight must have rank {rank}, got {list(w_shape)}", SHAPE_FIX)
            return False
        if (x_shape[1], y_shape[1]) != (w_shape[1], w_shape[0]):
            problem(f"the {list(w_shape)} weight does not fit an input of {x_shape[1]} and a result of "
                    f"{y_shape[1]} {'features' if kind == 'matmul' else 'channels'}", SHAPE_FIX)
            return False
    if kind == "matmul":
        return True
    spatial = rank - 2
    try:
        attrs = {name: int_array(op, name) for name in ("strides", "dilations")}
        if op.name in PACKED_OPS:
            attrs["kernel"] = int_array(op, "kernel")
    except (ValueError, KeyError):
        problem("strides, dilations (and kernel) must be array<i64: ...> attributes", SHAPE_FIX)
        return False
    if op.name in SPARSE_OPS:
        attrs["kernel"] = shape_of(op.operands[1])[2:]
    for name, values in attrs.items():
        if len(values) != spatial or min(values, default=1) < 1:
            problem(f"{name} must be {spatial} positive sizes, got {list(values)}", SHAPE_FIX)
            return False
    expected = [(size - d * (k - 1) - 1) // s + 1
                for size, k, s, d in zip(x_shape[2:], attrs["kernel"], attrs["strides"], attrs["dilations"])]
    if list(y_shape[2:]) != expected:
        problem(f"result spatial size {list(y_shape[2:])} does not follow from the input {list(x_shape[2:])}, kernel "
                f"{list(attrs['kernel'])}, strides {list(attrs['strides'])} and dilations {list(attrs['dilations'])} "
                f"(expected {expected})", SHAPE_FIX)
        return False
    return True


def weight_matrix_shape(op_name: str, weight_shape: tuple[int, ...]) -> tuple[int, int]:
    if op_name.endswith("matmul"):
        return weight_shape[0], weight_shape[1]
    return weight_shape[0], int(np.prod(weight_shape[1:]))


def memoize(cache: dict, key, compute):
    """compute(), once per key of `cache`."""
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def constant_identity(value: ir.Value):
    """What identifies the constant behind `value` (its attribute's text: a dense_resource's name), for
    caching analyses of it; the value itself when it is not a constant."""
    owner = value.owner.operation if hasattr(value.owner, "operation") else value.owner
    return str(owner.attributes["value"]) if hasattr(owner, "attributes") and "value" in owner.attributes else id(value)


def _verify_sparse(op, layout, weights, problem, memoized):
    weight = op.operands[1]
    wshape = shape_of(weight)
    expected_rank = {"bcr.sparse_conv2d": 4, "bcr.sparse_conv3d": 5, "bcr.sparse_matmul": 2}[op.name]
    if len(wshape) != expected_rank:
        problem(f"weight must have rank {expected_rank}, got {list(wshape)}")
        return
    matrix_shape = weight_matrix_shape(op.name, wshape)
    if isinstance(layout, BcrLayout) and tuple(layout.shape) != matrix_shape:
        problem(f"layout shape {list(layout.shape)} does not match the {matrix_shape[0]}x{matrix_shape[1]} weight matrix")
        return
    if isinstance(layout, (PatternLayout, GroupLayout)) and tuple(layout.shape) != tuple(wshape[:2]):
        problem(f"layout shape {list(layout.shape)} does not match weight channels {list(wshape[:2])}")
        return
    if isinstance(layout, PatternLayout) and tuple(layout.kernel) != tuple(wshape[2:]):
        problem(f"layout kernel {list(layout.kernel)} does not match the weight's {list(wshape[2:])} kernel")
        return
    if shape_of(op.operands[2]) != (wshape[0],):
        problem(f"bias must be a {wshape[0]}-vector, got {list(shape_of(op.operands[2]))}",
                "pass one bias value per output row (zeros if the layer has no bias)")
    if weights is not None:
        array = weights.array(weight)
        if array is not None:
            from bcr_mlir.structure import constant_zero_violation  # structure imports this module

            violation = constant_zero_violation(layout, weight, array, memoized)
            if violation:
                problem(f"claimed zeros are not zero: {violation}")


def packed_weight_shape(op: ir.Operation) -> tuple[int, ...]:
    """The dense weight a packed op stands for, from its operand and result types."""
    x_shape, y_shape = shape_of(op.operands[0]), shape_of(op.result)
    if op.name.endswith("matmul"):
        return (y_shape[-1], x_shape[-1])
    return (y_shape[1], x_shape[1], *int_array(op, "kernel"))


# Operands every packed op (and bcr.dispatch) has; an optional residual may follow.
PACKED_OPERANDS = 6


class PackedOperands(NamedTuple):
    """A packed op's (or its bcr.dispatch's) operands by name: the input and bias, the four packed
    tensors, and the residual shaped as the result that bcr-fuse-residual-adds gives it (else None)."""

    input: ir.Value
    bias: ir.Value
    rows: ir.Value
    offsets: ir.Value
    indices: ir.Value
    values: ir.Value
    residual: ir.Value | None = None

    @property
    def storage(self) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value]:
        """The packed weight: rows, offsets, indices and values (storage.RowGroupStorage's order)."""
        return self.rows, self.offsets, self.indices, self.values


def packed_operands(op: ir.Operation) -> PackedOperands:
    return PackedOperands(*list(op.operands)[:PACKED_OPERANDS + 1])


def reject_residual(op: ir.Operation, pass_name: str) -> None:
    """GPU passes lower packed ops without a residual: a fused one is an error, never dropped."""
    if op.name in PACKED_OPS and packed_operands(op).residual is not None:
        raise BcrError(f"layer '{string_attr(op, 'layer')}' adds a fused residual, which {pass_name} does not lower",
                       "run bcr-fuse-residual-adds only in CPU pipelines (bcr-lower-to-kernels lowers it)")


def reject_fused_pairs(module: ir.Module, pass_name: str) -> None:
    """GPU and dense lowerings take packed ops one layer at a time: a fused pair is an error, never dropped."""
    for op in ops_named(module, (EXPAND_DEPTHWISE_OP,)):
        raise BcrError(f"layers '{string_attr(op, 'layer')}' and '{string_attr(op, 'depthwise_layer')}' are fused into "
                       f"one {EXPAND_DEPTHWISE_OP}, which {pass_name} does not lower",
                       "run bcr-fuse-expand-depthwise only in CPU pipelines (bcr-lower-to-kernels lowers it)")
    for op in ops_named(module, (GATE_CELL_OP,)):
        raise BcrError(f"layer '{string_attr(op, 'layer')}' and its gate cell are fused into one {GATE_CELL_OP}, which "
                       f"{pass_name} does not lower",
                       "run bcr-fuse-gate-cells only in CPU pipelines (bcr-lower-to-kernels lowers it)")


def _verify_gate_cell(op, problem) -> None:
    """The fused op's shapes: a batch-1 input, `gates` x H biases, and H values in every cell input and the output."""
    gates = ir.IntegerAttr(op.attributes["gates"]).value
    width = math.prod(shape_of(op.results[0]))
    x_shape, bias_shape = shape_of(op.operands[0]), shape_of(op.operands[1])
    if len(x_shape) != 2 or x_shape[0] != 1:
        problem(f"expects a batch-1 input [1, K], got {list(x_shape)}", "fuse only batch-1 matmuls (bcr-fuse-gate-cells)")
    if gates < 1 or list(bias_shape) != [gates * width]:
        problem(f"expects {gates} gates of the output's {width} values, {gates * width} biases; got {list(bias_shape)}",
                "give the bias one value per row of the packed matmul: gates x the output's size")
    for value in list(op.operands)[PACKED_OPERANDS:]:
        if math.prod(shape_of(value)) != width:
            problem(f"a cell input holds {math.prod(shape_of(value))} values, the output {width}",
                    "pass cell inputs with one value per output")
    if any(shape_of(r) != shape_of(op.results[0]) for r in op.results):
        problem("its outputs differ in shape", "give every output of the cell the same shape")


def _verify_expand_depthwise(op, problem) -> None:
    """The fused op's shapes: a 1x1 conv to C channels, then a 3x3 depthwise conv of stride 1 or 2, padding 1."""
    x_shape, y_shape = shape_of(op.operands[0]), shape_of(op.result)
    bias_shape, taps_shape = shape_of(op.operands[6]), shape_of(op.operands[7])
    strides = int_array(op, "strides") if "strides" in op.attributes else ()
    if len(x_shape) != 4 or len(y_shape) != 4 or strides not in ((1, 1), (2, 2)):
        problem(f"expects NCHW input and result and strides [1, 1] or [2, 2], got {list(x_shape)}, {list(y_shape)} "
                f"and {list(strides)}", SHAPE_FIX)
        return
    channels = y_shape[1]
    expected = [x_shape[0], channels, *((size - 1) // strides[0] + 1 for size in x_shape[2:])]
    if list(y_shape) != expected:
        problem(f"result {list(y_shape)} does not follow from the input {list(x_shape)} and stride {strides[0]} "
                f"(expected {expected})", SHAPE_FIX)
    elif bias_shape != (channels,) or taps_shape != (channels, 3, 3):
        problem(f"depthwise bias {list(bias_shape)} and taps {list(taps_shape)} must be [{channels}] and "
                f"[{channels}, 3, 3]", SHAPE_FIX)


def _verify_packed(op, layout, weights, problem):
    operands = packed_operands(op)
    residual = operands.residual
    if residual is not None and residual.type != op.result.type:
        problem(f"the residual {residual.type} must have the result's type {op.result.type}",
                "add a residual of the result's shape and element type, or none")
        return
    rows_shape, offsets_shape, indices_shape, values_shape = (shape_of(v) for v in operands.storage)
    weight_shape = packed_weight_shape(op)
    rows, columns = weight_shape[0], int(np.prod(weight_shape[1:]))
    if len(values_shape) != 2 or len(indices_shape) != 1 or values_shape[0] != indices_shape[0]:
        problem(f"packed sizes disagree: {indices_shape[0] if indices_shape else '?'} indices need values of shape "
                f"[{indices_shape[0] if indices_shape else '?'}, G], got {list(values_shape)}")
        return
    group = values_shape[1]
    if group < 1:
        problem(f"values must have shape [{indices_shape[0]}, G] with a register block G >= 1, got {list(values_shape)}")
        return
    for value, label in ((operands.rows, "rows"), (operands.offsets, "offsets"), (operands.indices, "indices")):
        element = str(ir.RankedTensorType(value.type).element_type)
        if element != "i32":
            problem(f"{label} must be a tensor of i32, got {value.type}",
                    "store rows, offsets and indices as i32 tensors (as bcr-compress-weights does)")
            return
    packed_rows = -(-rows // group) * group
    if rows_shape != (packed_rows,):
        problem(f"rows must list {packed_rows} packed rows ({rows} rows in groups of {group}), got {list(rows_shape)}")
        return
    if offsets_shape != (packed_rows // group + 1,):
        problem(f"offsets must have {packed_rows // group + 1} entries (one per group of {group} rows, plus one), "
                f"got {list(offsets_shape)}")
        return
    if weights is None:
        return
    row_ids, offsets, indices = (weights.array(v) for v in (operands.rows, operands.offsets, operands.indices))
    if row_ids is not None and sorted(row_ids[:rows].tolist()) != list(range(rows)):
        problem(f"rows must list each of the {rows} output rows once")
    if offsets is not None:
        if offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != indices_shape[0]:
            problem(f"offsets must rise from 0 to {indices_shape[0]}")
    if indices is not None and indices.size and (indices.min() < 0 or indices.max() >= columns):
        problem(f"column index {int(indices.max()) if indices.max() >= columns else int(indices.min())} "
                f"is out of range 0..{columns - 1}")
