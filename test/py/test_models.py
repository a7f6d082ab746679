"""The compiler issue's five models (at small sizes), and the LSTM, ResNeXt (grouped convs), TC-ResNet (Conv1d),
U-Net and DCGAN (transposed convs) zoo models, pruned by the prune library, against PyTorch."""
from __future__ import annotations

import pytest
import torch

import bcr_mlir
from bcr_mlir.importer import fold_batch_norms
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


def test_unet_x86():
    """U-Net's up-convs (ConvTranspose2d(2, stride 2)) run as one conv of their 4 phases' stacked filters each,
    as generated kernels; its skip concatenations stay with IREE. The 1x1 head is left dense: pruned 8x at this small width, it keeps
    a single input channel, which can be a dead one, and then every pixel gets the same scores (a test that
    could not fail)."""
    model, x = pruned("unet", exclude=["head.weight"])
    expected = reference(model, x)
    assert len(expected.unique()) > 1000, "the small pruned U-Net still tells pixels apart"
    compiled = bcr_mlir.compile(model, (x,), target="x86-host")
    assert_matches_torch(compiled(x), expected)
    transposed = [(layer.name, layer.mode) for layer in compiled.report.layers if layer.op == "transposed conv2d"]
    assert transposed == [("up.2", "sparse"), ("up.1", "sparse"), ("up.0", "sparse")], transposed


def test_dcgan_x86():
    """DCGAN's generator: its batch norms fold into the ConvTranspose2d layers before them, its four
    stride-2 ones (kernel 4, padding 1) run as one conv of their phases' filters stacked on a 3x3 window, and
    the first (stride 1, of the 1x1 code) as one 1x1 conv of its 16 output positions' filters: each a generated
    kernel that skips the pruned weights, the window's zero taps and the padding."""
    model, x = pruned("dcgan")
    expected = reference(model, x)
    assert expected.std() > 0.01, "the pruned generator's image is not flat"
    compiled = bcr_mlir.compile(model, (x,), target="x86-host")
    assert_matches_torch(compiled(x), expected)
    layers = [(layer.name, layer.op, layer.mode) for layer in compiled.report.layers]
    assert layers == [(name, "transposed conv2d", "sparse") for name in ("0", "3", "6", "9", "12")], layers
    folded, notes = fold_batch_norms(model)   # what the importer compiles
    norms = [node.target for node in folded.graph.nodes
             if node.op == "call_module" and isinstance(folded.get_submodule(node.target), torch.nn.BatchNorm2d)]
    assert not notes and not norms, (notes, norms)
    assert all(abs(layer.sparsity - 0.875) < 0.01 for layer in compiled.report.layers), compiled.report


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
