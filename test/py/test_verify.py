"""dialect.verify: a weight shared by many ops (an RNN's W_hh at every time step) is checked once per
layout, and a broken claim is still reported at every op that makes it."""
from __future__ import annotations

import numpy as np

from bcr_mlir import dialect, structure
from bcr_mlir.dialect import parse_text, verify
from bcr_mlir.passes.registry import PassContext

# 8x16 weight in 4x8 blocks; the layout claims block (0, 0) keeps 4 rows x 2 columns.
LAYOUT = ("#bcr.bcr_layout<array<i64: 8, 16>, array<i64: 4, 8>, array<i64: 4, 4, 4, 4>, "
          "array<i64: 2, 8, 8, 8>>")


def module_text(weight: np.ndarray, steps: int) -> str:
    """`steps` sparse matmuls sharing the constant weight %w, as the unrolled steps of an RNN share W_hh."""
    values = ", ".join("[" + ", ".join(f"{v:.1f}" for v in row) + "]" for row in weight)
    calls = "\n".join(
        f'  %h{i} = "bcr.sparse_matmul"(%x, %w, %b) {{activation = "none", layer = "step{i}", '
        f"layout = {LAYOUT}}} : (tensor<1x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<1x8xf32>"
        for i in range(steps))
    return f"""func.func @main(%x: tensor<1x16xf32>) -> tensor<1x8xf32> {{
  %w = arith.constant dense<[{values}]> : tensor<8x16xf32>
  %b = arith.constant dense<0.0> : tensor<8xf32>
{calls}
  return %h{steps - 1} : tensor<1x8xf32>
}}"""


def weight(kept_columns: int) -> np.ndarray:
    w = np.ones((8, 16), np.float32)
    w[:4, kept_columns:8] = 0.0  # block (0, 0) keeps `kept_columns` columns
    return w


def checks_and_problems(w: np.ndarray, steps: int, monkeypatch):
    calls = []
    original = structure.zero_violation

    def counting(layout, array):
        calls.append(layout)
        return original(layout, array)

    monkeypatch.setattr(structure, "zero_violation", counting)
    context, weights, module = parse_text(module_text(w, steps))
    pass_context = PassContext(weights)
    with context:
        problems = verify(module, weights, pass_context.memoized)
        again = verify(module, weights, pass_context.memoized)  # as after the next pass
    return len(calls), problems, again


def test_shared_weight_is_checked_once_per_pipeline(monkeypatch):
    checks, problems, again = checks_and_problems(weight(2), 5, monkeypatch)
    assert problems == [] and again == []
    assert checks == 1


def test_broken_claim_is_reported_at_every_op_that_makes_it(monkeypatch):
    checks, problems, again = checks_and_problems(weight(3), 3, monkeypatch)
    assert checks == 1
    assert [p.layer for p in problems] == ["step0", "step1", "step2"] == [p.layer for p in again]
    assert all("claimed zeros are not zero" in p.message and "3 columns" in p.message for p in problems)


def test_constant_identity_names_the_constant_not_the_use():
    context, weights, module = parse_text(module_text(weight(2), 2))
    with context:
        ops = dialect.ops_named(module, ("bcr.sparse_matmul",))
        keys = {dialect.constant_identity(op.operands[1]) for op in ops}
    assert len(keys) == 1 and "dense<" in next(iter(keys))
