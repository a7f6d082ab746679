"""The public API: compile, call, save/load, report and the dense baseline, on the host."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.utils.prune as torch_prune

import bcr_mlir
from bcr_mlir.errors import BcrError
from helpers import assert_matches_torch, pruned, reference


@pytest.fixture(scope="module")
def compiled(demo_model):
    model, x = demo_model
    return bcr_mlir.compile(model, (x,), target="x86-host")


def test_sparse_matches_torch(compiled, demo_model):
    model, x = demo_model
    assert_matches_torch(compiled(x), reference(model, x))
    other = torch.randn_like(x)
    assert_matches_torch(compiled(other.numpy()), reference(model, other))


def test_report_lists_every_layer(compiled):
    names = [layer.name for layer in compiled.report.layers]
    assert names == ["conv1", "conv2", "conv3", "conv4", "fc1", "fc2"]
    for layer in compiled.report.layers:
        assert layer.mode in ("sparse", "dense") and layer.reason
        assert layer.sparsity == pytest.approx(0.875, abs=0.02)
    sparse = {layer.name for layer in compiled.report.sparse_layers}
    assert {"conv2", "conv3", "conv4"} <= sparse
    assert all(layer.kernel.startswith("cpu kernel") for layer in compiled.report.sparse_layers)
    assert "fc2" not in sparse  # 10x32 at batch 1 is below the cost model's size threshold
    assert "conv1" in compiled.report.table()


def test_save_and_load(compiled, demo_model, tmp_path):
    model, x = demo_model
    path = compiled.save(tmp_path / "demo.vmfb")
    assert path.stat().st_size == len(compiled.vmfb)
    loaded = bcr_mlir.load(path)  # target from the metadata file
    assert loaded.target.name == "x86-host"
    assert [layer.name for layer in loaded.report.layers] == [layer.name for layer in compiled.report.layers]
    assert_matches_torch(loaded(x), reference(model, x))
    assert_matches_torch(bcr_mlir.load(path, "x86-host")(x), reference(model, x))


def test_dense_baseline_matches_and_is_dense(demo_model):
    model, x = demo_model
    dense = bcr_mlir.compile(model, (x,), target="x86-host", sparse=False, dense_flags="tuned")
    assert_matches_torch(dense(x), reference(model, x))
    assert dense.report.sparse_layers == []
    assert "--iree-opt-data-tiling" in dense.flags and "--iree-llvmcpu-target-cpu=host" in dense.flags


def test_best_dense_flags_times_both(demo_model):
    model, x = demo_model
    dense = bcr_mlir.compile(model, (x,), target="x86-host", sparse=False)
    note = next(n for n in dense.report.notes if n.startswith("dense flags:"))
    assert "tuned" in note and "default" in note
    assert_matches_torch(dense(x), reference(model, x))


def test_benchmark_returns_seconds(compiled, demo_model):
    _, x = demo_model
    seconds = compiled.benchmark(x, repeats=3)
    assert 0 < seconds < 1


def test_calls_reuse_their_buffers(compiled, demo_model):
    """The CPU runner's caching allocator keeps a call's buffers for the next call: three calls allocate
    what one does (the heap allocator would free and allocate them again each time, page faults included)."""
    from bcr_mlir.backends.iree import InProcessRunner
    _, x = demo_model
    runner = InProcessRunner(compiled.vmfb, "local-task")
    runner(x.numpy())
    allocated = runner.config.device.allocator.statistics["device_bytes_allocated"]
    for _ in range(2):
        runner(x.numpy())
    assert allocated > 0
    assert runner.config.device.allocator.statistics["device_bytes_allocated"] == allocated


def test_linear_batch_and_relu_fusion():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64)).eval()
    bcr_mlir.prune(model, "bcr", rate=8)
    x = torch.randn(16, 256)
    compiled = bcr_mlir.compile(model, (x,))
    assert_matches_torch(compiled(x), reference(model, x))
    assert compiled.report.find("0").mode == "sparse"


class _SequenceModel(torch.nn.Module):
    """A batch-first GRU and a Linear on every step's output: with a batch over 1, torch-mlir emits the
    GRU's input projection and the Linear (both on 3-D tensors) as batch_matmuls of a broadcast weight."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.GRU(64, 128, batch_first=True)
        self.fc = torch.nn.Linear(128, 64)

    def forward(self, x):
        return torch.relu(self.fc(self.rnn(x)[0]))


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64),
                                    pytest.param("vulkan", marks=pytest.mark.vulkan)])
def test_linear_on_3d_input_runs_sparse(target):
    """Every pruned weight of a GRU + Linear on a batch of sequences runs sparse: the batch_matmuls are
    raised as one matmul over batch x steps rows (before, they ran dense and were missing from the report)."""
    torch.manual_seed(0)
    model = _SequenceModel().eval()
    bcr_mlir.prune(model, "bcr", rate=4)
    x = torch.randn(3, 8, 64)  # every matmul above the cost model's size threshold
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    layers = {layer.name: layer for layer in compiled.report.layers}
    assert set(layers) == {"rnn.weight_ih_l0", "rnn.weight_hh_l0", "fc"}
    assert layers["rnn.weight_ih_l0"].mode == layers["fc"].mode == "sparse"


def test_pruned_weight_no_pass_raises_is_reported_dense():
    """A pruned weight scaled by a value computed from the input is no constant operand of its matmul: the
    layer runs dense in IREE, and the report says so and why, instead of leaving the layer out."""
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(64, 32)

        def forward(self, x):
            return torch.nn.functional.linear(x, self.fc.weight * x.abs().mean(), self.fc.bias)

    torch.manual_seed(0)
    model = Scaled().eval()
    bcr_mlir.prune(model, "bcr", rate=4)
    x = torch.randn(8, 64)
    compiled = bcr_mlir.compile(model, (x,))
    assert_matches_torch(compiled(x), reference(model, x))
    layer = compiled.report.find("fc")
    assert layer is not None and layer.mode == "dense" and layer.kernel == "IREE dense"
    assert "pruned, but read by linalg.generic" in layer.reason
    assert layer.sparsity == pytest.approx(0.75, abs=0.01)


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64)])
def test_torch_prune_masks_run_sparse(target):
    """A model pruned with PyTorch's own torch.nn.utils.prune computes each weight as weight_orig *
    weight_mask on every call: exported as it is, the product is no constant, and every layer ran dense
    and was missing from the report. compile() now takes the masked values as the weights, on a copy."""
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(16, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(64 * 16 * 16, 10)).eval()
    for layer, amount in ((model[2], 0.8), (model[5], 0.9)):
        torch_prune.l1_unstructured(layer, "weight", amount=amount)
    x = torch.randn(1, 16, 16, 16)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    for name, zeros in (("2", 0.8), ("5", 0.9)):
        layer = compiled.report.find(name)
        assert layer is not None and layer.mode == "sparse", compiled.report
        assert layer.sparsity == pytest.approx(zeros, abs=0.01)
    assert any("2 weight(s) computed at run time" in note for note in compiled.report.notes)
    assert hasattr(model[2], "weight_orig"), "the user's model keeps its masks"


def test_torch_pruned_gru_runs_sparse():
    """torch.nn.utils.prune on a GRU's gate weights (weight_ih_l0, weight_hh_l0, ...): RNNBase reads its
    weights through _flat_weights, which the pruning hook refreshes on every call. Taken as constants, the
    recurrent matmuls run sparse at every step."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(64, 256, num_layers=2, batch_first=True).eval()
    names = [f"weight_{kind}_l{layer}" for layer in range(2) for kind in ("ih", "hh")]
    for name in names:
        torch_prune.l1_unstructured(gru, name, amount=0.9)
    x = torch.randn(1, 6, 64)
    compiled = bcr_mlir.compile(gru, (x,))
    assert_matches_torch(compiled(x)[0], reference(gru, x)[0])
    for name in names:
        layer = compiled.report.find(f"{name}")
        assert layer is not None and layer.mode == "sparse", compiled.report
        assert layer.sparsity == pytest.approx(0.9, abs=0.01)
    assert any("4 weight(s) computed at run time" in note for note in compiled.report.notes)


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64)])
def test_filter_pruned_layers_run_in_row_blocks(target):
    """Filter pruning (whole output channels zero, torch.nn.utils.prune.ln_structured) was taken for
    unstructured sparsity and ran with 1-row blocks, a Linear slower than dense. The pruned rows are now
    set apart (bcr-reorder-filters) and the kept ones run in blocks of 16 rows."""
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 8 * 8, 128)).eval()
    for layer in (model[0], model[3]):
        torch_prune.ln_structured(layer, "weight", amount=0.75, n=2, dim=0)
    x = torch.randn(2, 32, 8, 8)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    for name in ("0", "3"):
        layer = compiled.report.find(name)
        assert (layer.scheme, layer.mode) == ("filter", "sparse"), compiled.report
        assert "4.0x less work; 16-row register blocks" in layer.reason


def test_weight_norm_and_spectral_norm_weights_are_taken_as_constants():
    """Parametrized and hook-based weight_norm / spectral_norm weights are computed once at compile time,
    so their layers appear in the report under their own names (they were missing before)."""
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.Flatten(),
                          nn.Linear(16 * 8 * 8, 32), nn.Linear(32, 4)).eval()
    nn.utils.parametrizations.weight_norm(model[0])
    nn.utils.weight_norm(model[2])
    nn.utils.spectral_norm(model[4])
    nn.utils.parametrizations.spectral_norm(model[5])
    x = torch.randn(2, 8, 8, 8)
    expected = reference(model, x)
    compiled = bcr_mlir.compile(model, (x,))
    assert_matches_torch(compiled(x), expected)
    assert [layer.name for layer in compiled.report.layers] == ["0", "2", "4", "5"], compiled.report
    assert any("4 weight(s) computed at run time" in note for note in compiled.report.notes)
    assert torch.nn.utils.parametrize.is_parametrized(model[0])


class _MaskedInForward(torch.nn.Module):
    """Pruning by masking in forward(): conv weight * mask * 0.5, linear weight * mask (masks as buffers)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(16, 64, 3, padding=1)
        self.fc = torch.nn.Linear(64 * 8 * 8, 10)
        self.register_buffer("conv_mask", (torch.rand_like(self.conv.weight) > 0.8).float())
        self.register_buffer("fc_mask", (torch.rand_like(self.fc.weight) > 0.9).float())

    def forward(self, x):
        y = torch.relu(torch.nn.functional.conv2d(x, self.conv.weight * self.conv_mask * 0.5, self.conv.bias, padding=1))
        return torch.nn.functional.linear(y.flatten(1), self.fc.weight * self.fc_mask, self.fc.bias)


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64),
                                    pytest.param("vulkan", marks=pytest.mark.vulkan)])
def test_weights_masked_in_forward_run_sparse(target):
    """A weight multiplied by its mask (and scaled) in forward() reaches MLIR as a product of constants, which
    bcr-raise-sparse-layers did not take: both layers ran dense and were missing from the report.
    bcr-fold-constant-weights computes the product at compile time."""
    torch.manual_seed(0)
    model = _MaskedInForward().eval()
    x = torch.randn(4, 16, 8, 8)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    for name in ("conv", "fc"):
        layer = compiled.report.find(name)
        assert layer is not None and layer.mode == "sparse", compiled.report
    assert any("2 weight(s) computed in forward() from constants folded" in note for note in compiled.report.notes)


class _BoolMasked(torch.nn.Module):
    """A Linear under a boolean mask buffer, applied in forward() as `form` says."""

    def __init__(self, form: str):
        super().__init__()
        self.form = form
        self.fc = torch.nn.Linear(256, 128)
        self.register_buffer("mask", torch.rand(128, 256) > 0.9)

    def forward(self, x):
        if self.form == "where":
            weight = torch.where(self.mask, self.fc.weight, 0.0)
        elif self.form == "multiply":
            weight = self.fc.weight * self.mask
        elif self.form == "normalized":  # a reduction (the norm), then a division by it
            weight = self.fc.weight * self.mask / self.fc.weight.norm()
        else:  # "erf-gated": math.erf, which bcr-fold-constant-weights does not evaluate
            weight = self.fc.weight * self.mask * torch.erf(self.fc.weight)
        return torch.nn.functional.linear(x, weight, self.fc.bias)


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64),
                                    pytest.param("vulkan", marks=pytest.mark.vulkan)])
@pytest.mark.parametrize("form", ["where", "multiply", "normalized"])
def test_weight_under_a_boolean_mask_runs_sparse(form, target):
    """torch.where(mask, weight, 0) or weight * mask with a boolean mask buffer (then divided by its norm).
    torch-mlir hands the mask over as uint8 under a made-up name, then compares it with 0: the integer
    constant was not in the weight table, and bcr-fold-constant-weights evaluated float generics only, so the
    layer ran dense. The importer now registers (and names) integer buffers, and the fold evaluates the
    comparison, and the norm's reduction."""
    torch.manual_seed(0)
    model = _BoolMasked(form).eval()
    x = torch.randn(16, 256)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    layer = compiled.report.find("fc")
    assert layer is not None and (layer.op, layer.mode) == ("matmul", "sparse"), compiled.report
    assert abs(layer.sparsity - float((~model.mask).float().mean())) < 1e-6, compiled.report


def test_weight_computed_by_an_op_the_fold_does_not_take_is_reported_dense():
    """weight * mask * erf(weight): bcr-fold-constant-weights does not evaluate math.erf, so IREE computes the
    weight. The layer runs dense, and the report lists it under its own name with the parameters it is
    computed from (the mask by its buffer name); before, it was missing from the report."""
    torch.manual_seed(0)
    model = _BoolMasked("erf-gated").eval()
    x = torch.randn(16, 256)
    compiled = bcr_mlir.compile(model, (x,))
    assert_matches_torch(compiled(x), reference(model, x))
    layer = compiled.report.find("fc")
    assert layer is not None and (layer.op, layer.mode) == ("matmul", "dense"), compiled.report
    assert "its weight is computed at run time from fc.weight, mask" in layer.reason, layer.reason


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64),
                                    pytest.param("vulkan", marks=pytest.mark.vulkan)])
def test_filters_normalized_in_forward_run_sparse(target):
    """A pruned conv whose filters are scaled to unit norm in forward() (weight normalization written by
    hand): a reduction over each filter, a square root and a division. bcr-fold-constant-weights evaluates
    the reduction (before, only elementwise generics), so the zeros are seen and the layer runs sparse."""
    class Normalized(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(32, 64, 3, padding=1)

        def forward(self, x):
            weight = self.conv.weight
            weight = weight / weight.pow(2).sum(dim=(1, 2, 3), keepdim=True).sqrt()
            return torch.relu(torch.nn.functional.conv2d(x, weight, self.conv.bias, padding=1))

    torch.manual_seed(0)
    model = Normalized().eval()
    bcr_mlir.prune(model, "bcr", rate=4, block=(8, 8), layers=["conv.weight"])
    x = torch.randn(1, 32, 16, 16)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    layer = compiled.report.find("conv")
    assert layer is not None and (layer.mode, layer.scheme) == ("sparse", "bcr 8x8"), compiled.report
    assert any("1 weight(s) computed in forward() from constants folded" in note for note in compiled.report.notes)


def test_small_layers_keep_their_names_in_the_report():
    """Weights of 64 elements or fewer used to be inlined without their parameter names, so the report
    called every such layer "constant" and counted them as one layer used several times. The conv to one
    channel was missing: torch-mlir folds its small bias broadcast into a splat constant, which the
    matcher did not take for a bias."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 1),
                                torch.nn.Flatten(), torch.nn.Linear(36, 1)).eval()
    x = torch.randn(1, 2, 6, 6)
    compiled = bcr_mlir.compile(model, (x,))
    assert_matches_torch(compiled(x), reference(model, x))
    assert [(layer.name, layer.uses) for layer in compiled.report.layers] == [("0", 1), ("2", 1), ("4", 1)]


def test_relu6_is_fused_into_the_kernels():
    """torch-mlir spells ReLU6 as two elementwise generics (max with 0, then min with 6). Both fold into
    the generated kernels, so no IREE elementwise dispatch is left between them (inputs reach +-12, so
    both bounds are hit)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 32, 1), torch.nn.ReLU6(),
                                torch.nn.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.ReLU6(),
                                torch.nn.Conv2d(32, 16, 1), torch.nn.ReLU6()).eval()
    bcr_mlir.prune(model, "bcr", rate=4, block=(8, 8), layers=["0.weight", "4.weight"])
    x = torch.randn(1, 8, 20, 20) * 4
    compiled = bcr_mlir.compile(model, (x,))
    assert_matches_torch(compiled(x), reference(model, x))
    # The 1x1 conv and the depthwise conv it feeds run as one kernel (bcr-fuse-expand-depthwise).
    functions = [d.function for d in compiled.profile(x, calls=2)]
    assert sorted(functions) == ["bcr_kernel_0", "bcr_kernel_4"]


class _InvertedResidual(torch.nn.Module):
    """MobileNet-V2's block: expand 1x1 + ReLU6, depthwise 3x3 + ReLU6, project 1x1, plus the input."""

    def __init__(self, channels: int = 16, expand: int = 4):
        super().__init__()
        hidden = channels * expand
        self.conv = torch.nn.Sequential(torch.nn.Conv2d(channels, hidden, 1), torch.nn.ReLU6(),
                                        torch.nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden), torch.nn.ReLU6(),
                                        torch.nn.Conv2d(hidden, channels, 1))

    def forward(self, x):
        return x + self.conv(x)


class _BasicBlock(torch.nn.Module):
    """ResNet's block with a stride-2 downsample: relu(conv2(relu(conv1(x))) + downsample(x))."""

    def __init__(self, cin: int = 16, cout: int = 32):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride=2, padding=1)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, padding=1)
        self.downsample = torch.nn.Conv2d(cin, cout, 1, stride=2)

    def forward(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x))) + self.downsample(x))


def _two_inverted_residuals():
    return torch.nn.Sequential(_InvertedResidual(), _InvertedResidual())


# block: (model, input shape, the weights to prune, the layers taking the adds: one of each tuple)
RESIDUAL_BLOCKS = {
    "inverted residual": (_InvertedResidual, (1, 16, 20, 20), ["conv.0.weight", "conv.4.weight"], [("conv.4",)]),
    # the second block's skip is the first one's fused output
    "two inverted residuals": (_two_inverted_residuals, (1, 16, 12, 12),
                               [f"{b}.conv.{i}.weight" for b in (0, 1) for i in (0, 4)], [("0.conv.4",), ("1.conv.4",)]),
    "basic block": (_BasicBlock, (2, 16, 24, 24), None, [("conv2", "downsample")]),
}


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64)])
@pytest.mark.parametrize("block", sorted(RESIDUAL_BLOCKS))
def test_residual_adds_are_fused_into_the_kernels(block, target):
    """A skip connection's add (and the ReLU after it) runs inside the kernel of the layer feeding it: one
    of the layers named lists the fused residual, and the output matches."""
    torch.manual_seed(0)
    build, shape, weights, candidates = RESIDUAL_BLOCKS[block]
    model = build().eval()
    bcr_mlir.prune(model, "bcr", rate=4, block=(8, 8), layers=weights)
    x = torch.randn(*shape)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    fused = [layer.name for layer in compiled.report.layers if "residual add fused" in layer.kernel]
    assert len(fused) == len(candidates) and all(name in names for name, names in zip(fused, candidates))
    if block == "inverted residual" and target == "x86-host":
        functions = sorted(d.function for d in compiled.profile(x, calls=2))
        assert functions == ["bcr_kernel_conv_0", "bcr_kernel_conv_4"]  # expand and depthwise as one kernel


# (input channels, expansion, stride, size, batch): how the fused kernel lays out its work
# (kernels/cpu.py, fused_plan): a ring of 3 expanded rows (a 40-row tile of 64 channels does not fit
# the stack), the whole tile's rows on the stack in 4 row tiles (3 channel blocks share out badly) for
# 2 images, and 36 channels in blocks of 8 (the last block half empty) over a width no vector divides (19:
# at least one vector wide, 16 with AVX-512, as the fusion rule asks).
FUSED_PAIRS = {"ring, stride 2": (16, 4, 2, 40, 1), "row tiles, stride 1, batch 2": (8, 3, 1, 20, 2),
               "ragged channels, stride 1": (12, 3, 1, 19, 1)}


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64)])
@pytest.mark.parametrize("case", sorted(FUSED_PAIRS))
def test_expand_and_depthwise_run_as_one_kernel(case, target):
    """A pruned 1x1 conv + ReLU6 feeding a 3x3 depthwise conv + ReLU6 (MobileNet-V2's expand) is one
    generated kernel that keeps the expanded rows on the stack; its output matches PyTorch's."""
    torch.manual_seed(0)
    channels, expand, stride, size, batch = FUSED_PAIRS[case]
    hidden = channels * expand
    model = torch.nn.Sequential(torch.nn.Conv2d(channels, hidden, 1), torch.nn.ReLU6(),
                                torch.nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden), torch.nn.ReLU6()).eval()
    bcr_mlir.prune(model, "bcr", rate=4, block=(8, 8), layers=["0.weight"])
    x = torch.randn(batch, channels, size, size) * 4
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    assert "cpu kernel: one with '2'" in compiled.report.find("0").kernel
    assert "1 expand conv(s) fused into the depthwise conv(s) they feed" in compiled.report.notes
    if target == "x86-host":  # bcr-tune leaves the pair alone: the fused kernel does not use their schedules
        assert "not tuned: runs as one kernel with '0'" in compiled.report.find("2").reason


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64)])
def test_reordered_expand_runs_as_one_kernel(target, tmp_path):
    """An expand conv whose blocks of rows sharing their input channels are scattered over its output
    channels: bcr-reorder-filters gathers them (a row_order), and the fused kernel then writes each
    packed row to its own channel, rows[packed], reading that channel's depthwise taps and biases."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 48, 1), torch.nn.ReLU6(),
                                torch.nn.Conv2d(48, 48, 3, 1, 1, groups=48), torch.nn.ReLU6()).eval()
    # Six 8x16 blocks that each keep 4 of the 16 input channels, their rows dealt out over the channels
    # (a hand-made mask, no pruning metadata: the compiler finds the structure from the zeros).
    generator = torch.Generator().manual_seed(1)
    mask = torch.zeros(48, 16)
    for block in range(6):
        mask[block * 8:(block + 1) * 8, torch.randperm(16, generator=generator)[:4]] = 1
    with torch.no_grad():
        model[0].weight.mul_(mask[torch.randperm(48, generator=generator)].reshape(48, 16, 1, 1))
    x = torch.randn(2, 16, 16, 16) * 4  # output rows one vector wide, on AVX-512 too (the fusion rule)
    compiled = bcr_mlir.compile(model, (x,), target=target, save_temps=str(tmp_path))
    assert_matches_torch(compiled(x), reference(model, x))
    assert "1 expand conv(s) fused into the depthwise conv(s) they feed" in compiled.report.notes
    assert "8 channels" in compiled.report.find("0").kernel
    assert any("row_order = array<i64:" in path.read_text() for path in tmp_path.glob("*.mlir"))


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64),
                                    pytest.param("vulkan", marks=pytest.mark.vulkan)])
def test_grouped_convs_run_as_block_diagonal_convs(target):
    """Grouped convs (ResNeXt, RegNet, ShuffleNet) run as one conv of their block-diagonal weight, whose zero
    blocks the generated kernel skips: without a bias, with taps, a stride, a dilation, a fused BatchNorm and
    ReLU6, and 1x1 (IREE 3.13's own grouped conv was measured 12-27x slower than the kernel on x86). The report
    gives the user's weight's sparsity and the groups; the depthwise conv (groups = channels) keeps its own path."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 3, padding=1, groups=2, bias=False), torch.nn.ReLU(),
                                torch.nn.Conv2d(32, 48, 3, stride=2, padding=2, dilation=2, groups=4),
                                torch.nn.BatchNorm2d(48), torch.nn.ReLU6(), torch.nn.Conv2d(48, 48, 1, groups=3)).eval()
    with torch.no_grad():
        model[3].running_mean.uniform_(-0.5, 0.5)
        model[3].running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 16, 20, 20)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    for name, groups in (("2", 4), ("5", 3)):
        layer = compiled.report.find(name)
        assert layer.op == "grouped conv2d" and layer.mode == "sparse" and layer.sparsity == 0.0
        assert layer.reason.startswith(f"{groups} groups as one block-diagonal weight"), layer.reason
    # Two groups halve the work; on x86 IREE's grouped conv with taps was measured slow enough to beat
    # (GROUPED_CONV2D_SLOWDOWN). Elsewhere the cost model compares with a dense conv and keeps IREE's.
    assert compiled.report.find("0").mode == ("sparse" if target == "x86-host" else "dense")


@pytest.mark.parametrize("scheme,options", [("bcr", dict(rate=4)), ("pattern", dict(connectivity_rate=2)),
                                            ("kgs", dict(rate=4, group=(4, 4)))])
def test_pruned_grouped_convs_run_sparse(scheme, options):
    """A grouped conv (8 input channels per group) is pruned like a plain conv, on its own [F, C/G * K * K]
    matrix; the compiler's block-diagonal weight then holds the pruned zeros as well as the group zeros,
    so the kernel skips both. A depthwise conv (1 input channel per filter) is left alone, with a warning."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 3, padding=1, groups=2), torch.nn.ReLU(),
                                torch.nn.Conv2d(32, 32, 3, padding=1, groups=32)).eval()
    with pytest.warns(UserWarning, match="2.weight is a depthwise conv"):
        bcr_mlir.prune(model, scheme, **options)
    assert set(bcr_mlir.prune.sparsity_plan(model)) == {"0.weight"}
    x = torch.randn(1, 16, 24, 24)
    compiled = bcr_mlir.compile(model, (x,))
    assert_matches_torch(compiled(x), reference(model, x))
    layer = compiled.report.find("0")
    assert layer.op == "grouped conv2d" and layer.mode == "sparse" and layer.sparsity > 0.5
    work = float(layer.reason.split("x less work")[0].rsplit(" ", 1)[1])
    assert work >= 2 * 3.5, layer.reason   # the 2 groups' zeros and (about) 4x of pruning


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64)])
def test_transposed_convs_are_convs_of_their_folded_weights(target):
    """torch-mlir lowers ConvTranspose2d to a conv over the zero-stuffed input whose weight is a gather of
    the parameter (flipped, in/out channels swapped). bcr-fold-constant-weights evaluates the gather, so
    the layer is in the report under its name, and one whose zeros are block-structured in the conv's
    orientation (each block of 8 output channels reads 4 of the 32 input channels) runs sparse. A grouped
    transposed conv is a grouped conv of its gathered weight."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), torch.nn.ReLU(),
                                torch.nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1),
                                torch.nn.ConvTranspose2d(8, 8, 3, padding=1, groups=2)).eval()
    with torch.no_grad():
        mask = torch.zeros(32, 16, 1, 1)
        for block in range(2):
            mask[torch.randperm(32)[:4], block * 8:(block + 1) * 8] = 1
        model[0].weight.mul_(mask)
    x = torch.randn(1, 32, 10, 10)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    # Strided ones run as one conv of their output phases' filters (bcr-split-transposed-convs), reported as the
    # layer with its own weight's sparsity: the pruned one skips its zeros, the dense one the window's zero taps.
    pruned, dense = compiled.report.find("0"), compiled.report.find("2")
    assert pruned.op == dense.op == "transposed conv2d", (pruned.op, dense.op)
    assert pruned.mode == "sparse" and "8.0x less work" in pruned.reason and pruned.sparsity == 0.875, pruned.reason
    assert dense.mode == "sparse" and dense.scheme == "dense" and dense.sparsity == 0.0, dense.reason
    assert not [layer.name for layer in compiled.report.layers if ".phase" in layer.name]
    assert compiled.report.find("3").op == "grouped conv2d"   # its gather reads the weight through an expand_shape


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64),
                                    pytest.param("vulkan", marks=pytest.mark.vulkan)])
def test_pruned_transposed_convs_run_sparse(target):
    """The prune library prunes a ConvTranspose in the form of the conv it computes (flipped, in/out channels
    swapped), which is the weight bcr-fold-constant-weights gathers: the compiler accepts the pruning metadata
    as is (grouped, without a bias, stride 1). A stride-2 one runs as one conv of its 4 output phases' filters
    (2x2 taps each) stacked on a common 3x3 window (bcr-split-transposed-convs), whose zeros keep the BCR
    blocks' shared columns."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), torch.nn.ReLU(),
                                torch.nn.ConvTranspose2d(32, 32, 3, padding=1, groups=2, bias=False)).eval()
    bcr_mlir.prune(model, "bcr", rate=8)
    x = torch.randn(1, 32, 12, 12)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    layer = compiled.report.find("2")
    assert layer.op == "grouped conv2d" and layer.mode == "sparse" and layer.scheme == "bcr 8x16", (layer.op, layer.scheme)
    assert "pruning metadata: 16.0x less work" in layer.reason, layer.reason
    stacked = compiled.report.find("0")
    assert stacked.op == "transposed conv2d" and stacked.mode == "sparse", (stacked.op, stacked.mode)
    assert abs(stacked.sparsity - 0.875) < 0.01, stacked.sparsity   # the layer's own weight, pruned 8x
    assert "detected from zeros" in stacked.reason and float(stacked.reason.split("x less work")[0].rsplit(" ", 1)[1]) >= 7.0, \
        stacked.reason
    assert any(note.startswith("0: a stride-2x2 transposed conv runs as one conv of its 4 phases' filters stacked on a "
                               "common 3x3 window") for note in compiled.report.notes), compiled.report.notes


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64),
                                    pytest.param("vulkan", marks=pytest.mark.vulkan)])
def test_transposed_conv1d_runs_as_stacked_phases(target):
    """A decoder's ConvTranspose1d layers (stride 2 and 3, pruned and not) run as one conv of their output
    phases' filters each, a generated kernel: the stride-3 one's phases have one output fewer than phase 0
    (100 outputs of 34 positions), which the depth-to-space's output is sliced to."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.ConvTranspose1d(32, 32, 4, stride=2, padding=1), torch.nn.ReLU(),
                                torch.nn.ConvTranspose1d(32, 16, 5, stride=3, padding=2)).eval()
    bcr_mlir.prune(model, "bcr", rate=4, layers=["0.weight"])
    x = torch.randn(1, 32, 17)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    assert compiled(x).shape == (1, 16, 100)
    pruned, dense = compiled.report.find("0"), compiled.report.find("2")
    assert (pruned.op, pruned.mode, dense.op, dense.mode) == ("transposed conv1d", "sparse", "transposed conv1d", "sparse")
    assert abs(pruned.sparsity - 0.75) < 0.01 and dense.sparsity == 0.0, (pruned.sparsity, dense.sparsity)


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64),
                                    pytest.param("vulkan", marks=pytest.mark.vulkan)])
def test_conv1d_layers_run_as_convs_of_one_row(target):
    """Conv1d (keyword spotting, TCNs) is pruned like Conv2d and runs as a conv2d of one row: pruned with a
    stride and a dilation; unpruned with taps (on x86, where IREE's conv1d was measured 13-34x slower than
    the generated kernel); grouped (without a bias) and depthwise (torch-mlir's 2-D forms over [N, C, L, 1])."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv1d(24, 64, 5, stride=2, padding=4, dilation=2), torch.nn.ReLU(),
                                torch.nn.Conv1d(64, 64, 3, padding=1), torch.nn.ReLU6(),
                                torch.nn.Conv1d(64, 64, 3, padding=1, groups=4, bias=False),
                                torch.nn.Conv1d(64, 64, 9, padding=4, groups=64)).eval()
    bcr_mlir.prune(model, "bcr", rate=4, layers=["0.weight"])
    x = torch.randn(1, 24, 300)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    pruned_layer, dense_layer, grouped = (compiled.report.find(name) for name in ("0", "2", "4"))
    assert pruned_layer.op == "conv1d" and pruned_layer.mode == "sparse" and "pruning metadata" in pruned_layer.reason
    assert dense_layer.op == "conv1d" and dense_layer.mode == ("sparse" if target == "x86-host" else "dense")
    assert grouped.op == "grouped conv1d" and grouped.mode == "sparse"


def test_large_dense_conv2d_runs_as_a_generated_kernel():
    """An unpruned 3x3 conv with a 64x64 output (an image model's stem) runs as a generated kernel on
    x86, where IREE's conv2d was measured ~1.9x slower on such outputs; at 32x32, or on arm64 (not
    measured there), it stays with IREE."""
    from bcr_mlir.structure import decide
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, stride=2, padding=1), torch.nn.ReLU6()).eval()
    x = torch.randn(1, 3, 128, 128)
    compiled = bcr_mlir.compile(model, (x,))
    (layer,) = compiled.report.layers
    assert layer.mode == "sparse" and layer.scheme == "dense" and "IREE's conv2d lowering is ~1.9x slower" in layer.reason
    assert_matches_torch(compiled(x), reference(model, x))
    small = bcr_mlir.compile(model, (x[:, :, :64, :64],))
    assert small.report.layers[0].mode == "dense" and small.report.layers[0].reason == "no zero weights"
    weight = model[0].weight.detach().numpy()
    macs = 64 * 64 * weight.size
    assert decide(weight, macs, None, "conv2d").sparse
    assert not decide(weight, macs, None, "conv2d", target="arm64-android").sparse
    assert not decide(np.ones((32, 3, 1, 1), np.float32), 64 * 64 * 96, None, "conv2d").sparse  # 1x1: no gain


def test_max_pool_pad_of_a_relu_output_folds_into_the_kernel(tmp_path):
    """A ReLU'd conv feeding a padded max-pool (ResNet's stem): the pool's -inf pad becomes a zero pad
    (exact, as its input is >= 0) and the pool a generated kernel; only the input's pad is left."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 32, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(3, 2, 1)).eval()
    bcr_mlir.prune(model, "bcr", rate=4, block=(8, 8))
    x = torch.randn(1, 8, 40, 40)
    compiled = bcr_mlir.compile(model, (x,), tune="off", save_temps=str(tmp_path))
    assert_matches_torch(compiled(x), reference(model, x))
    assert (tmp_path / "iree_input.mlir").read_text().count("tensor.pad") == 1
    assert any("max-pool pad" in note for note in compiled.report.notes)
    assert [layer.op for layer in compiled.report.layers if layer.mode == "kernel"] == ["max-pool2d"]


POOLED = {  # conv + ReLU + max-pool, 2-D (ResNet's stem) and 3-D (C3D's pools); each pool over 50k MACs
    "2d": (lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 32, 7, 2, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(3, 2, 1)),
           (1, 3, 64, 64)),
    "3d": (lambda: torch.nn.Sequential(torch.nn.Conv3d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool3d((1, 2, 2)),
                                       torch.nn.Conv3d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool3d(2)),
           (1, 3, 4, 32, 32)),
}


@pytest.mark.parametrize("target", ["x86-host", pytest.param("arm64-android", marks=pytest.mark.arm64)])
@pytest.mark.parametrize("kind", sorted(POOLED))
def test_max_pools_of_relu_outputs_are_generated_kernels(kind, target):
    torch.manual_seed(0)
    build, shape = POOLED[kind]
    model = build().eval()
    x = torch.randn(*shape)
    compiled = bcr_mlir.compile(model, (x,), target=target)
    assert_matches_torch(compiled(x), reference(model, x))
    pools = [layer for layer in compiled.report.layers if layer.mode == "kernel"]
    assert pools and all(layer.op == f"max-pool{kind}" and "cpu kernel" in layer.kernel for layer in pools)


def test_max_pool_of_a_signed_input_stays_with_iree():
    """Without a ReLU before it the pool's input may be negative, and the kernel (which starts from 0)
    would be wrong: IREE keeps it."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.MaxPool2d(2)).eval()
    x = torch.randn(1, 3, 64, 64)
    compiled = bcr_mlir.compile(model, (x,))
    assert_matches_torch(compiled(x), reference(model, x))
    assert not [layer for layer in compiled.report.layers if layer.mode == "kernel"]


def test_ragged_channels_and_strided_padding():
    """Channel counts that no block divides, stride 2, asymmetric sizes, no bias."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(5, 20, 3, stride=2, padding=1, bias=False), torch.nn.ReLU6(),
                                torch.nn.Conv2d(20, 12, 3, stride=1, padding=2, dilation=2)).eval()
    bcr_mlir.prune(model, "bcr", rate=4, block=(8, 9))
    x = torch.randn(2, 5, 23, 17)
    compiled = bcr_mlir.compile(model, (x,))
    assert_matches_torch(compiled(x), reference(model, x))
    assert len(compiled.report.sparse_layers) == 2


@pytest.mark.parametrize("bad_target", ["x86", "sparc", "arm64-android:cpu=pentium", "arm64-android:features=+sse"])
def test_target_errors(demo_model, bad_target):
    model, x = demo_model
    if bad_target == "x86":  # an alias, accepted
        assert bcr_mlir.compile(model, (x,), target=bad_target).target.name == "x86-host"
        return
    with pytest.raises(BcrError, match="unknown"):
        bcr_mlir.compile(model, (x,), target=bad_target)


def test_wrong_input_shape_is_a_clear_error(compiled):
    with pytest.raises(BcrError, match=r"input 0 has shape \[1, 3, 8, 8\], but the module was compiled for \[1, 3, 16, 16\]"):
        compiled(np.zeros((1, 3, 8, 8), np.float32))


def test_nan_weights_are_rejected():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    model[0].weight.data[0, 0] = float("nan")
    with pytest.raises(BcrError, match="'0.weight' contains NaN or Inf"):
        bcr_mlir.compile(model, (torch.randn(1, 8),))


def test_not_a_module_is_rejected():
    with pytest.raises(BcrError, match="expected a torch.nn.Module"):
        bcr_mlir.compile(lambda x: x, (torch.randn(1, 8),))


def test_model_without_prunable_layers_compiles_dense():
    model = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Flatten()).eval()
    x = torch.randn(1, 3, 4, 4)
    compiled = bcr_mlir.compile(model, (x,))
    assert compiled.report.layers == []
    assert_matches_torch(compiled(x), reference(model, x))
