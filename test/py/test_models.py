"""The compiler issue's five models (at small sizes), and the LSTM, ResNeXt (grouped convs) and TC-ResNet (Conv1d)
zoo models, pruned by the prune library, against PyTorch."""
from __future__ import annotations

import pytest

import bcr_mlir
from helpers import assert_matches_torch, pruned, reference

MODELS = ["vgg16", "resnet18", "mobilenetv2", "gru", "c3d", "lstm", "resnext", "tcresnet"]


@pytest.mark.parametrize("name", MODELS)
def test_model_x86(name):
    model, x = pruned(name)
    compiled = bcr_mlir.compile(model, (x,), target="x86-host")
    assert_matches_torch(compiled(x), reference(model, x))
    assert compiled.report.layers, "every model has prunable layers"
    if name in ("vgg16", "resnet18", "c3d"):
        assert len(compiled.report.sparse_layers) >= len(compiled.report.layers) // 2


FIVE = ["vgg16", "resnet18", "mobilenetv2", "gru", "c3d"]


@pytest.mark.arm64
@pytest.mark.parametrize("name", FIVE)
def test_model_arm64(name):
    model, x = pruned(name)
    compiled = bcr_mlir.compile(model, (x,), target="arm64-android")
    if name != "gru":  # the small GRU's gate matrices are below the cost model's size threshold
        assert compiled.report.sparse_layers
    assert_matches_torch(compiled(x), reference(model, x))


@pytest.mark.vulkan
@pytest.mark.parametrize("name", FIVE)
def test_model_vulkan(name):
    model, x = pruned(name)
    compiled = bcr_mlir.compile(model, (x,), target="vulkan")
    assert_matches_torch(compiled(x), reference(model, x))
