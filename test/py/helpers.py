"""Shared helpers for the compiler tests: small pruned models and the numerics check every target uses."""
from __future__ import annotations

import warnings

import numpy as np
import torch

import bcr_mlir
from bcr_mlir import zoo

# Every compiled output is compared with PyTorch's on the same inputs at this tolerance (float32).
RTOL = 1e-4
ATOL = 1e-4


def assert_matches_torch(output, reference, rtol: float = RTOL, atol: float = ATOL):
    outputs = output if isinstance(output, tuple) else (output,)
    references = reference if isinstance(reference, tuple) else (reference,)
    assert len(outputs) == len(references)
    for got, want in zip(outputs, references):
        want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def pruned(name: str, rate: float = 8.0, small: bool = True, **options):
    """A zoo model pruned one-shot with BCR, and an example input."""
    model, x = zoo.get(name, small=small)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bcr_mlir.prune(model, "bcr", rate=rate, **options)
    return model.eval(), x


def reference(model, *inputs):
    with torch.no_grad():
        return model(*inputs)

