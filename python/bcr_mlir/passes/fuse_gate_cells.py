"""bcr-fuse-gate-cells: an RNN cell's gate arithmetic moves into the generated kernel of its recurrent matmul.

torch-mlir lowers a GRU step to the recurrent matmul h W_hh^T + b_hh (3H features), three slices of it
(the r, z and n gates), and a chain of elementwise generics that mixes them with the step's input
projection and the previous h into the new h. An LSTM step is alike: 4 gates, the input projection
added to the whole matmul output before the slices, and two results, the new c and h. IREE fuses each
chain into one small dispatch, so every step costs two dispatches. At batch 1 a step's matmul is ~20 us
of work, and at 2 threads each dispatch also pays a hand-off between the workers: the GRU of bcr-bench
(2 x 100 steps) ran no faster at 2 threads than at 1. Fused, the kernel computes the gate rows of each
block of hidden units and applies the cell in registers before its stores.

Applies to a bcr.packed_matmul (bcr-compress-weights) with a batch-1 input, no activation, no residual
and rows in their natural order, whose output (through at most one tensor.expand_shape) is cut into
G >= 2 equal slices of H features by tensor.extract_slice ops, its only users. Elementwise generics on
the whole output may come first (each with that output as its only flowing input): they run once per
gate, and their other inputs enter the op as G slices each. From the slices the pass gathers the
elementwise linalg.generic ops (all-parallel, on H values, their bodies of arith/math float ops on f32)
whose other inputs are defined before the matmul. One or two of their results (MAX_OUTPUTS) may be used
outside them, by ops after the last of them: the cell's outputs. The ops become one scalar func.func
(@bcr_cell_*: one argument per gate, then one per other input, returning the outputs) and a
bcr.packed_gate_cell referencing it. CPU targets only.

Before:
    %hh = "bcr.packed_matmul"(%h, %b_hh, %rows, %off, %idx, %val) {activation = "none", layer = "gru.weight_hh_l0"}
            : (...) -> tensor<1x768xf32>
    %e = tensor.expand_shape %hh [[0], [1, 2]] output_shape [1, 1, 768] : tensor<1x768xf32> into tensor<1x1x768xf32>
    %r = tensor.extract_slice %e[0, 0, 0] [1, 1, 256] [1, 1, 1] : tensor<1x1x768xf32> to tensor<1x1x256xf32>
    ... (z at 256, n at 512)
    %s = linalg.generic ... ins(%r, %gi_r : ...) { arith.addf }
    %sig = linalg.generic ... ins(%s : ...) { 1 / (1 + exp(-x)) }
    ... %h_new = linalg.generic ... ins(%t, %n : ...) { arith.addf }
After:
    %h_new = "bcr.packed_gate_cell"(%h, %b_hh, %rows, %off, %idx, %val, %gi_r, %gi_z, %gi_n, %h_prev)
               {cell = @bcr_cell_gru_weight_hh_l0, gates = 3 : i64, layer = "gru.weight_hh_l0", layout = ...}
               : (...) -> tensor<1x1x256xf32>
    func.func private @bcr_cell_gru_weight_hh_l0(%g0: f32, %g1: f32, %g2: f32, %c0: f32, ...) -> f32 {
      %v1 = arith.addf %g0, %c0 : f32
      ...
      return %v14 : f32
    }
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from bcr_mlir import ir
from bcr_mlir.ir import tensor
from bcr_mlir.errors import BcrError
from bcr_mlir.dialect import (GATE_CELL_OP, create_op, int_array, ops_named, packed_operands, parse_attr, shape_of,
                              string_attr)
from bcr_mlir.passes.functions import add_function, sanitize
from bcr_mlir.passes.matching import body_ops, defining_op, float_constant, users
from bcr_mlir.passes.registry import Pass, PassContext
from bcr_mlir.storage import identity_order

# The scalar ops a cell may hold: each has a vector form of the same name (cpu.gate_cell emits it).
UNARY_OPS = ("arith.negf", "math.exp", "math.tanh", "math.log", "math.sqrt", "math.rsqrt", "math.absf", "math.erf")
BINARY_OPS = ("arith.addf", "arith.subf", "arith.mulf", "arith.divf", "arith.maximumf", "arith.minimumf")
MAX_OUTPUTS = 2   # a GRU's h; an LSTM's c and h


def _is_row_of(shape, width: int) -> bool:
    """A shape holding `width` values along its last dim, every other dim 1."""
    return len(shape) >= 1 and shape[-1] == width and all(d == 1 for d in shape[:-1])


def gate_slices(matmul: ir.Operation) -> tuple[dict, int, list] | None:
    """({slice value: gate index}, the gate width H, the steps before the slices) when the matmul's output
    is cut into G >= 2 equal runs of H by slices, which are its only users (through at most one
    expand_shape), else None. Elementwise generics on the whole output may come before the slices (an
    LSTM adds the input projection to all four gates at once): they run in the cell, once per gate."""
    result, whole, before = matmul.result, [], []
    while True:
        consumers = users(result)
        if len(consumers) == 1 and consumers[0].name == "tensor.expand_shape" and not before:
            result, consumers = consumers[0].result, users(consumers[0].result)
        if len(consumers) == 1 and cell_step(consumers[0], shape_of(result)[-1]) \
                and all(v == result or _defined_before(v, matmul) for v in list(consumers[0].operands)[:-1]):
            before.append(consumers[0])
            result = consumers[0].result
            continue
        break
    shape = shape_of(result)
    if not consumers or any(c.name != "tensor.extract_slice" or len(c.operands) != 1 for c in consumers):
        return None
    widths = {shape_of(c.result)[-1] for c in consumers}
    width = widths.pop() if len(widths) == 1 else 0
    if not width or shape[-1] % width or shape[-1] // width < 2 or not _is_row_of(shape, shape[-1]):
        return None
    slices = {}
    for c in consumers:
        offsets, strides = int_array(c, "static_offsets"), int_array(c, "static_strides")
        if not _is_row_of(shape_of(c.result), width) or any(s != 1 for s in strides) or offsets[-1] % width \
                or any(offsets[:-1]):
            return None
        slices[c.result] = offsets[-1] // width
    return slices, width, before


def _defined_before(value: ir.Value, op: ir.Operation) -> bool:
    """The value exists where op is: a block argument, or a result of an op before op in its block or
    outside it. (MLIR keeps a block's op order cached, so the check is cheap however many fusions ran.)"""
    owner = defining_op(value)
    return owner is None or owner.block != op.block or owner.is_before_in_block(op)


def _after(op: ir.Operation, anchor: ir.Operation) -> bool:
    """op comes after anchor in its block, or lies outside that block."""
    return op.block != anchor.block or anchor.is_before_in_block(op)


def _last_dim_map(attribute, loops: int) -> bool:
    """The indexing map reads the last loop along its last result (the others index unit dims)."""
    mapping = ir.AffineMapAttr(attribute).value
    last = mapping.results[-1] if mapping.results else None
    return mapping.n_dims == loops and last is not None and last == ir.AffineDimExpr.get(loops - 1)


def _finite_constant(value: ir.Value) -> bool:
    constant = float_constant(value)
    return constant is not None and math.isfinite(constant)


def cell_step(op: ir.Operation, width: int) -> bool:
    """An elementwise generic over `width` values whose body a cell can hold: all-parallel, its inputs and
    output rows of `width`, its output's block argument unread, f32 float ops (UNARY_OPS, BINARY_OPS),
    constants captured from outside."""
    if op.name != "linalg.generic" or len(op.results) != 1 or "reduction" in str(op.attributes["iterator_types"]):
        return False
    maps = list(ir.ArrayAttr(op.attributes["indexing_maps"]))
    loops = ir.AffineMapAttr(maps[-1]).value.n_dims
    if not all(_is_row_of(shape_of(v), width) for v in op.operands) or not all(_last_dim_map(m, loops) for m in maps):
        return False
    arguments = list(op.regions[0].blocks[0].arguments)
    if list(arguments[-1].uses) or any(str(a.type) != "f32" for a in arguments):
        return False
    local = set(arguments[:-1])
    for body in body_ops(op):
        if body.name == "linalg.yield":
            return len(body.operands) == 1 and body.operands[0] in local
        arity = 1 if body.name in UNARY_OPS else 2 if body.name in BINARY_OPS else 0
        if len(body.operands) != arity or str(body.result.type) != "f32":
            return False
        if any(v not in local and not _finite_constant(v) for v in body.operands):
            return False
        local.add(body.result)
    return False


@dataclass
class Cell:
    steps: list            # the generics after the slices, in block order
    outputs: list          # those whose results are used after the cell (a GRU's h; an LSTM's c and h)
    inputs: list           # the other tensors the steps read: first those of `before`, in order of first use
    before: list           # the generics on the whole matmul output, before the slices (run once per gate)
    strided: int = 0       # how many of `inputs` (the first) are as wide as the matmul output, read per gate


def gather_cell(matmul: ir.Operation, slices: dict, width: int, before: list) -> Cell | None:
    """The elementwise generics computing one output from the gate slices (see the module docstring)."""
    inside, steps = set(slices), []

    def available(value) -> bool:
        return value in inside or _defined_before(value, matmul)

    frontier = [u for s in slices for u in users(s)]
    while frontier:
        op = frontier.pop()
        if op in steps or op.block != matmul.block or not cell_step(op, width) \
                or not all(available(v) for v in list(op.operands)[:-1]):
            continue
        steps.append(op)
        inside.add(op.result)
        frontier += users(op.result)
    steps.sort(key=functools.cmp_to_key(lambda a, b: -1 if a.is_before_in_block(b) else 1))
    members = set(steps)
    leaving = [op for op in steps if any(u not in members for u in users(op.result)) or not users(op.result)]
    # The fused op takes the last step's place: every other output's outside users must come after it.
    if not leaving or len(leaving) > MAX_OUTPUTS or any(not _after(u, steps[-1]) for op in leaving
                                                         for u in users(op.result) if u not in members):
        return None
    if any(u not in members for s in slices for u in users(s)):
        return None
    # The values that carry the matmul's output to the slices (through an expand_shape and `before`).
    chain = {matmul.result, *(op.result for op in before), *(op.result for op in users(matmul.result)
                                                             if op.name == "tensor.expand_shape")}
    inputs = []
    for op in before:
        for v in list(op.operands)[:-1]:
            if v not in chain and v not in inputs:
                inputs.append(v)
    strided = len(inputs)
    for op in steps:
        for v in list(op.operands)[:-1]:
            if v not in inside and v not in inputs:
                inputs.append(v)
    return Cell(steps, leaving, inputs, before, strided)


def cell_text(cell: Cell, slices: dict, gates: int) -> str:
    """The cell as a scalar func.func @NAME(gates..., inputs...) -> (f32 per output). An input as wide
    as the matmul output (`cell.strided` of them) takes one argument per gate."""
    lines, counter = [], 0

    def emit(op: ir.Operation, names: dict) -> str:
        """op's body on scalars named by `names` (its operands'); returns the name of what it yields."""
        nonlocal counter
        local = dict(zip(op.regions[0].blocks[0].arguments, (names[v] for v in list(op.operands)[:-1])))
        for body in body_ops(op):
            if body.name == "linalg.yield":
                return local[body.operands[0]]
            operands = []
            for v in body.operands:
                if v not in local:
                    counter += 1
                    local[v] = f"%v{counter}"
                    lines.append(f"  %v{counter} = arith.constant {float_constant(v)!r} : f32")
                operands.append(local[v])
            counter += 1
            local[body.result] = f"%v{counter}"
            lines.append(f"  %v{counter} = {body.name} {', '.join(operands)} : f32")
        raise BcrError("internal error: a cell step without linalg.yield")

    # The steps on the whole output, once per gate: gate g reads run g of each wide input, its argument
    # %c<k * gates + g> (the op takes each wide input as `gates` slices: cell_operands).
    gate_names = [f"%g{g}" for g in range(gates)]
    wide = cell.inputs[:cell.strided]
    for op in cell.before:
        gate_names = [emit(op, {v: f"%c{wide.index(v) * gates + g}" if v in wide else gate_names[g]
                                for v in list(op.operands)[:-1]}) for g in range(gates)]
    names = {value: gate_names[gate] for value, gate in slices.items()}
    names.update({value: f"%c{cell.strided * (gates - 1) + k}" for k, value in enumerate(cell.inputs)
                  if k >= cell.strided})
    for op in cell.steps:
        names[op.result] = emit(op, names)
    count = cell.strided * (gates - 1) + len(cell.inputs)
    arguments = [f"%g{g}: f32" for g in range(gates)] + [f"%c{k}: f32" for k in range(count)]
    results = ", ".join(["f32"] * len(cell.outputs))
    return "\n".join([f"func.func private @NAME({', '.join(arguments)}) -> ({results}) {{", *lines,
                      f"  return {', '.join(names[op.result] for op in cell.outputs)} : {results}", "}"])


def _flat(value: ir.Value) -> ir.Value:
    """The value as a 1-D tensor (the op's cell inputs share one type)."""
    shape = shape_of(value)
    if len(shape) == 1:
        return value
    flat_type = ir.RankedTensorType.get([math.prod(shape)], ir.RankedTensorType(value.type).element_type)
    return tensor.CollapseShapeOp(flat_type, value, [list(range(len(shape)))]).result


def cell_operands(cell: Cell, gates: int, width: int) -> list:
    """The op's cell inputs, 1-D: each wide input (as wide as the matmul output) as its `gates` runs of
    `width`, then the others (cell_text's argument order)."""
    operands = []
    for value in cell.inputs[:cell.strided]:
        flat = _flat(value)
        run_type = ir.RankedTensorType.get([width], ir.RankedTensorType(flat.type).element_type)
        operands += [tensor.ExtractSliceOp(run_type, flat, [], [], [], [g * width], [width], [1]).result
                     for g in range(gates)]
    return operands + [_flat(value) for value in cell.inputs[cell.strided:]]


@dataclass(frozen=True)
class FuseGateCells(Pass):
    name = "bcr-fuse-gate-cells"
    summary = "Fuse an RNN cell's gate arithmetic into the generated kernel of its recurrent matmul"

    def run(self, module: ir.Module, context: PassContext) -> None:
        if not context.target.is_cpu:
            return
        cells: dict[str, str] = {}
        matmuls = [op for op in ops_named(module, ("bcr.packed_matmul",)) if self._fusable(op, context)]
        for matmul in matmuls:
            found = gate_slices(matmul)
            if found is None or found[1] % shape_of(packed_operands(matmul).values)[1]:
                continue   # a block of rows must hold one gate's features
            slices, width, before = found
            cell = gather_cell(matmul, slices, width, before)
            if cell is None:
                continue
            gates = shape_of(matmul.result)[-1] // width
            layer = string_attr(matmul, "layer")
            name = add_function(module, cell_text(cell, slices, gates), f"bcr_cell_{sanitize(layer)}", cells)
            attributes = {key: matmul.attributes[key] for key in ("layout", "layer", "schedule")
                          if key in matmul.attributes}
            attributes.update(gates=gates, cell=ir.FlatSymbolRefAttr.get(name))
            last = cell.steps[-1]
            if len({str(op.result.type) for op in cell.outputs}) != 1:
                continue   # the op's outputs share one type
            with ir.InsertionPoint(last), last.location:
                fused = create_op(GATE_CELL_OP, [*packed_operands(matmul)[:6], *cell_operands(cell, gates, width)],
                                  [op.result.type for op in cell.outputs], attributes)
            for op, result in zip(cell.outputs, fused.results):
                op.result.replace_all_uses_with(result)
            expand = next((op for op in users(matmul.result) if op.name == "tensor.expand_shape"), None)
            for op in reversed(cell.steps):
                op.erase()
            for value in slices:
                defining_op(value).erase()
            for op in reversed(cell.before):
                op.erase()
            if expand is not None:
                expand.erase()
            matmul.erase()
            decision = context.report.find(layer)
            if decision is not None:
                decision.explain(f"gate cell fused ({gates} gates of {width})")

    @staticmethod
    def _fusable(op: ir.Operation, context: PassContext) -> bool:
        """Batch 1, no activation or residual, f32, rows in their natural order (a block of rows then
        holds consecutive features of one gate), lanes over rows if tuned (the only batch-1 kernel)."""
        operands = packed_operands(op)
        x_shape = shape_of(operands.input)
        if len(x_shape) != 2 or x_shape[0] != 1 or operands.residual is not None:
            return False
        if string_attr(op, "activation", "none") != "none" or str(ir.RankedTensorType(op.result.type).element_type) != "f32":
            return False
        schedule = parse_attr(op.attributes["schedule"]) if "schedule" in op.attributes else None
        if schedule is not None and schedule.vector_width and schedule.vector_axis != 1:
            return False
        rows = context.weights.array(operands.rows)
        return rows is not None and identity_order(rows, shape_of(op.result)[-1])
