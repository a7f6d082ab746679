"""Random pruned models for the differential tests: a `Case` says everything about one model (layer
shapes, scheme, options, seeds), `cases(...)` is its hypothesis strategy, and `check_case` compiles the
model for a target and compares the output with PyTorch's.

A Case prints as the Python expression that rebuilds it, so a failing example pasted from the
hypothesis report into test_regressions.py becomes a regression test as it is.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import random
import warnings
from dataclasses import dataclass, field, fields

import numpy as np
import torch
import torch.nn.utils.prune  # noqa: F401  (torch.nn.utils.prune.custom_from_mask)
from hypothesis import HealthCheck, Phase, assume, note, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from torch import nn

import bcr_mlir

# Every compiled output is compared with PyTorch's at this tolerance (the suite's, see helpers.py).
RTOL = 1e-4
ATOL = 1e-4

KERNELS = (1, 3, 5)
ACTIVATIONS = ("none", "relu", "relu6")
NM_RATIOS = ((1, 2), (2, 4), (1, 4), (2, 8))
RATES = (2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)


@dataclass(frozen=True)
class Layer:
    """One conv (kernel, stride, padding, dilation per spatial axis are equal) or linear layer."""

    out: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    bias: bool = True
    act: str = "none"
    groups: int = 1
    transposed: bool = False     # a ConvTranspose (then `output_padding` extra outputs at the end)
    output_padding: int = 0

    def __repr__(self) -> str:
        return _short_repr(self, "out")


@dataclass(frozen=True)
class Block:
    """A MobileNet-V2 inverted residual block: a 1x1 expand conv to `hidden` channels (none when 0) and
    `act`, a `kernel` x `kernel` depthwise conv of `stride` ("same" padding) and `act`, a 1x1 project conv
    to `out`; when `skip`, the block's input is added back (through a 1x1 conv of `stride`, ResNet's
    projection shortcut, where the shapes differ), then `after` (ResNet's ReLU after the add). With
    `depthwise` False the middle conv is a full one (a ResNet bottleneck), and `project_kernel` 3 makes
    the project conv 3x3 (with hidden 0 and a full middle conv: a ResNet basic block); `pool` ends the
    block with ResNet's 3x3 max-pool of stride 2 and padding 1. These exercise the passes that rewrite
    across layers: bcr-fuse-expand-depthwise, bcr-fuse-residual-adds, bcr-zero-pool-padding and
    bcr-raise-max-pools."""

    hidden: int
    out: int
    stride: int = 1
    kernel: int = 3
    act: str = "relu6"
    skip: bool = True
    after: str = "none"
    bias: bool = True
    depthwise: bool = True
    project_kernel: int = 1
    pool: bool = False

    def __repr__(self) -> str:
        return _short_repr(self, "hidden", "out")

    def convs(self, channels: int) -> list[Layer]:
        """The block's convs as Layers, for shape arithmetic (the middle one keeps `hidden` channels)."""
        hidden = self.hidden or channels
        expand = [Layer(hidden, bias=self.bias, act=self.act)] if self.hidden else []
        return expand + [Layer(hidden, self.kernel, self.stride, self.kernel // 2, bias=self.bias, act=self.act),
                         Layer(self.out, self.project_kernel, 1, self.project_kernel // 2, bias=self.bias)]

    def shortcut(self, channels: int) -> bool:
        """Whether the skip connection needs a 1x1 conv (the block changes the shape)."""
        return self.skip and (self.stride != 1 or channels != self.out)

    def weights(self, channels: int) -> list[tuple[str, int, int, int]]:
        """(InvertedResidual attribute, rows, input channels, kernel volume) of the convs a scheme may
        prune: all but a depthwise one."""
        convs = self.convs(channels)
        names = (["expand"] if self.hidden else []) + ["middle", "project"]
        found = [(name, layer.out, cin, layer.kernel ** 2)
                 for name, layer, cin in zip(names, convs, _inputs(channels, convs))
                 if name != "middle" or not self.depthwise]
        return found + ([("shortcut", self.out, channels, 1)] if self.shortcut(channels) else [])


@dataclass(frozen=True)
class Recurrent:
    """An nn.GRU or nn.LSTM (`cell`) of `hidden` units and `layers` layers on a [batch, steps, features]
    input (`batch_first`, else [steps, batch, features]); an LSTM may project its output to `proj`
    features. The model's output is every step's (or, with `last`, the last step's) output, through the
    Case's linear head when it has one: on every step that is a Linear on a 3-D input."""

    cell: str
    hidden: int
    layers: int = 1
    bias: bool = True
    bidirectional: bool = False
    batch_first: bool = True
    proj: int = 0
    last: bool = False

    def __repr__(self) -> str:
        return _short_repr(self, "cell", "hidden")

    @property
    def out_features(self) -> int:
        return (self.proj or self.hidden) * (2 if self.bidirectional else 1)

    def gate_shapes(self, features: int) -> list[tuple[int, int]]:
        """(rows, cols) of every gate matrix, weight_ih_l0 first, as nn.GRU / nn.LSTM order them."""
        gates = {"gru": 3, "lstm": 4}[self.cell]
        shapes = []
        for layer in range(self.layers):
            cin = features if layer == 0 else self.out_features
            for _ in range(2 if self.bidirectional else 1):
                shapes += [(gates * self.hidden, cin), (gates * self.hidden, self.proj or self.hidden)]
        return shapes


class RecurrentNet(nn.Module):
    """A Recurrent as a torch module, with an optional linear head."""

    def __init__(self, features: int, rnn: Recurrent, head: int):
        super().__init__()
        options = {"proj_size": rnn.proj} if rnn.proj else {}
        module = {"gru": nn.GRU, "lstm": nn.LSTM}[rnn.cell]
        self.rnn = module(features, rnn.hidden, rnn.layers, bias=rnn.bias, batch_first=rnn.batch_first,
                          bidirectional=rnn.bidirectional, **options)
        self.spec = rnn
        self.head = nn.Linear(rnn.out_features, head) if head else nn.Identity()

    def forward(self, x):
        y, _ = self.rnn(x)
        if self.spec.last:
            y = y[:, -1] if self.spec.batch_first else y[-1]
        return self.head(y)


def _short_repr(value, *required: str) -> str:
    """`Type(required..., field=value)` with only the fields that differ from their defaults."""
    defaults = type(value)(*(getattr(value, name) for name in required))
    parts = [repr(getattr(value, name)) for name in required] + [
        f"{f.name}={getattr(value, f.name)!r}" for f in fields(value)
        if f.name not in required and getattr(value, f.name) != getattr(defaults, f.name)]
    return f"{type(value).__name__}({', '.join(parts)})"


def activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU, "relu6": nn.ReLU6}.get(name, nn.Identity)()


class InvertedResidual(nn.Module):
    """A Block as a torch module; `prunable`: (attribute, kernel volume) of the convs a Case may prune."""

    def __init__(self, channels: int, block: Block):
        super().__init__()
        hidden = block.hidden or channels
        self.expand = nn.Conv2d(channels, hidden, 1, bias=block.bias) if block.hidden else None
        self.middle = nn.Conv2d(hidden, hidden, block.kernel, block.stride, block.kernel // 2,
                                groups=hidden if block.depthwise else 1, bias=block.bias)
        self.project = nn.Conv2d(hidden, block.out, block.project_kernel, padding=block.project_kernel // 2,
                                 bias=block.bias)
        self.act, self.after = activation(block.act), activation(block.after)
        self.skip = block.skip
        self.shortcut = (nn.Conv2d(channels, block.out, 1, block.stride, bias=block.bias)
                         if block.shortcut(channels) else nn.Identity())
        self.prunable = [(name, volume) for name, _, _, volume in block.weights(channels)]
        self.pool = nn.MaxPool2d(3, 2, 1) if block.pool else nn.Identity()

    def forward(self, x):
        y = x if self.expand is None else self.act(self.expand(x))
        y = self.project(self.act(self.middle(y)))
        return self.pool(self.after(y + self.shortcut(x) if self.skip else y))


@dataclass(frozen=True)
class Case:
    """A model: `kind` layers on an input of `batch` x `channels` x `spatial`, then an optional
    linear head, pruned with `scheme`; `seed` fixes the weights and the input."""

    kind: str                       # "conv1d", "conv2d", "conv3d", "linear", "blocks" (2-D, layers are Blocks)
                                    # or "rnn" (spatial = (steps,), layers = (Recurrent,))
    batch: int
    channels: int                   # input channels (features for "linear")
    spatial: tuple[int, ...]        # (H, W), (D, H, W) or ()
    layers: tuple  # of Layer, or of Block for "blocks"
    scheme: str
    options: tuple[tuple[str, object], ...] = ()   # prune() options, e.g. (("block", (4, 8)),)
    head: int = 0                   # >0: flatten + Linear(., head) after the conv layers
    seed: int = 0
    force_sparse: bool = False      # cost model off: every pruned layer runs in a generated kernel
    mask_form: str = "metadata"     # how the masks reach the model: one of MASK_FORMS

    def __repr__(self) -> str:
        return (f"Case({self.kind!r}, batch={self.batch}, channels={self.channels}, spatial={self.spatial!r}, "
                f"layers=({''.join(repr(layer) + ', ' for layer in self.layers)}), scheme={self.scheme!r}, "
                f"options={self.options!r}, head={self.head}, seed={self.seed}"
                f"{', force_sparse=True' if self.force_sparse else ''}"
                f"{f', mask_form={self.mask_form!r}' if self.mask_form != 'metadata' else ''})")

    # ---- the model ----------------------------------------------------------------------------
    def input_shape(self) -> tuple[int, ...]:
        if self.kind == "rnn":
            steps, = self.spatial
            return (self.batch, steps, self.channels) if self.layers[0].batch_first else (steps, self.batch, self.channels)
        return (self.batch, self.channels, *self.spatial)

    def build(self) -> tuple[nn.Module, torch.Tensor]:
        """The unpruned model (weights from `seed`) and an example input."""
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed + 1)
        if self.kind == "rnn":
            model = RecurrentNet(self.channels, self.layers[0], self.head).eval()
            return model, torch.randn(self.input_shape(), generator=generator)
        modules: list[nn.Module] = []
        channels = self.channels
        conv = {"conv1d": nn.Conv1d, "conv2d": nn.Conv2d, "conv3d": nn.Conv3d}.get(self.kind)
        transposed = {"conv1d": nn.ConvTranspose1d, "conv2d": nn.ConvTranspose2d, "conv3d": nn.ConvTranspose3d}.get(self.kind)
        for layer in self.layers:
            if self.kind == "blocks":
                modules.append(InvertedResidual(channels, layer))
                channels = layer.out
                continue
            if conv is None:
                modules.append(nn.Linear(channels, layer.out, bias=layer.bias))
            elif layer.transposed:
                modules.append(transposed(channels, layer.out, layer.kernel, stride=layer.stride, padding=layer.padding,
                                          output_padding=layer.output_padding, groups=layer.groups, bias=layer.bias,
                                          dilation=layer.dilation))
            else:
                modules.append(conv(channels, layer.out, layer.kernel, stride=layer.stride, padding=layer.padding,
                                    dilation=layer.dilation, bias=layer.bias, groups=layer.groups))
            if layer.act != "none":
                modules.append(activation(layer.act))
            channels = layer.out
        if self.head:
            features = channels * math.prod(self.output_spatial())
            modules += [nn.Flatten(), nn.Linear(features, self.head)]
        model = nn.Sequential(*modules).eval()
        return model, torch.randn(self.input_shape(), generator=generator)

    def output_spatial(self) -> tuple[int, ...]:
        sizes = self.spatial
        for layer in conv_layers(self.kind, self.channels, self.layers):
            sizes = tuple(conv_out(s, layer) for s in sizes)
        return sizes

    def pruned(self) -> tuple[nn.Module, torch.Tensor]:
        model, x = self.build()
        options = dict(self.options)
        if self.kind == "blocks":  # depthwise convs stay dense, as in MobileNet-V2's recipe
            options["layers"] = [f"{prefix}.{name}.weight" for prefix, module in model.named_modules()
                                 if isinstance(module, InvertedResidual) for name, volume in module.prunable
                                 if _scheme_prunes(self.scheme, volume)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "left dense: ..." for layers the scheme does not apply to
            bcr_mlir.prune(model, self.scheme, **options)
        if self.mask_form != "metadata":
            mask_at_run_time(model, self.build()[0], self.mask_form)
        return model, x


# How a case's masks reach the model: the pruning library's zeros and metadata; torch.nn.utils.prune's
# weight_orig * weight_mask (the same masks over the unpruned weights: bcr_mlir.compile takes the products
# on a copy); or a mask buffer that a forward pre-hook multiplies in (a product of constants in the IR,
# which bcr-fold-constant-weights computes).
MASK_FORMS = ("metadata", "torch_prune", "forward_hook", "bool_buffer")


def mask_at_run_time(model: nn.Module, unpruned: nn.Module, form: str) -> None:
    """Turns every weight the pruning library zeroed in `model` back into its `unpruned` value, masked at
    run time in `form`, so the model computes the same: torch.nn.utils.prune, or a forward pre-hook that
    multiplies in a float mask buffer (forward_hook) or selects by a boolean one (bool_buffer)."""
    originals = dict(unpruned.named_parameters())
    for name in bcr_mlir.prune.sparsity_plan(model):
        module_name, _, param = name.rpartition(".")
        module = model.get_submodule(module_name)
        weight = getattr(module, param)
        mask = weight != 0 if form == "bool_buffer" else (weight != 0).to(weight.dtype)
        with torch.no_grad():
            weight.copy_(originals[name])
        if form == "torch_prune":
            torch.nn.utils.prune.custom_from_mask(module, param, mask)
            continue
        del module._parameters[param]
        module.register_parameter(f"{param}_unmasked", weight)
        module.register_buffer(f"{param}_mask", mask)
        _apply_mask(module, (), param)
        module.register_forward_pre_hook(functools.partial(_apply_mask, param=param))


def _apply_mask(module: nn.Module, args, param: str) -> None:
    weight, mask = getattr(module, f"{param}_unmasked"), getattr(module, f"{param}_mask")
    setattr(module, param, torch.where(mask, weight, 0.0) if mask.dtype == torch.bool else weight * mask)


def conv_out(size: int, layer: Layer) -> int:
    if layer.transposed:
        return (size - 1) * layer.stride - 2 * layer.padding + layer.dilation * (layer.kernel - 1) + layer.output_padding + 1
    return (size + 2 * layer.padding - layer.dilation * (layer.kernel - 1) - 1) // layer.stride + 1


def conv_layers(kind: str, channels: int, layers) -> list[Layer]:
    """A case's layers as plain Layers (a Block's convs in order, its max-pool as a 3x3 conv of stride
    2), for shape arithmetic."""
    if kind != "blocks":
        return list(layers)
    out = []
    for block in layers:
        out += block.convs(channels) + ([Layer(block.out, 3, 2, 1)] if block.pool else [])
        channels = block.out
    return out


# ---- hypothesis settings -----------------------------------------------------------------------


FULL = os.environ.get("BCR_FULL_FUZZ", "") not in ("", "0")
# Examples per target: (CI, full run). Hypothesis repeats about one case in ten (each is counted once),
# so the full x86 run asks for 360 to give >= 300 distinct. "_blocks": the inverted residual cases;
# "_rnn": the GRUs and LSTMs (at least 2 per scheme in CI: hypothesis's first derandomized example is
# the smallest, a 1-unit GRU the cost model keeps dense).
EXAMPLES = {"x86": (50, 360), "arm64": (30, 30), "vulkan": (30, 30),
            "x86_blocks": (12, 120), "arm64_blocks": (6, 24), "vulkan_blocks": (6, 24),
            "x86_rnn": (16, 80), "arm64_rnn": (8, 16), "vulkan_rnn": (8, 16),
            "x86_convs": (12, 120), "arm64_convs": (6, 24), "vulkan_convs": (6, 24),
            "x86_f16": (9, 90), "arm64_f16": (6, 18), "vulkan_f16": (6, 18),
            "x86_masks": (9, 60), "arm64_masks": (6, 12), "vulkan_masks": (6, 12)}
SEED = int(os.environ.get("BCR_FUZZ_SEED") or random.SystemRandom().randrange(2**32)) if FULL else 0


def examples(target: str) -> int:
    """Cases per target in this run (BCR_FUZZ_EXAMPLES_X86=n etc. override)."""
    ci, full = EXAMPLES[target]
    return int(os.environ.get(f"BCR_FUZZ_EXAMPLES_{target.upper()}") or (full if FULL else ci))


def fuzz_settings(target: str, share: tuple[int, int] = (0, 1)) -> settings:
    """Hypothesis settings for the differential tests of one target (set per test, never globally:
    the pruning tests have their own). `share` = (i, n): this test runs the i-th of n parts of the
    target's cases (one test per scheme)."""
    index, parts = share
    total = examples(target)
    count = total // parts + (1 if index < total % parts else 0)
    common = dict(max_examples=count, deadline=None, print_blob=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much, HealthCheck.differing_executors],
                  phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink])
    if FULL:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        return settings(database=DirectoryBasedExampleDatabase(os.path.join(root, ".hypothesis", "bcr-fuzz")),
                        derandomize=False, **common)
    # CI: the same examples on every machine and every run, no example database.
    return settings(database=None, derandomize=True, **common)


# ---- strategies ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    """How big cases get, per target (arm64 runs under qemu, ~250x slower)."""

    kinds: tuple[str, ...] = ("conv2d", "conv2d", "conv2d", "linear", "conv3d")
    batch: int = 3
    channels: int = 32
    spatial: int = 16
    spatial3d: int = 6
    features: int = 160
    layers: int = 2
    dilation: bool = True
    head: int = 24
    # "blocks" cases (block_cases): inverted residual blocks, wide enough for the fused kernel's row
    # tiles and its ring of rows (x86 vectors are 8 lanes, arm64's 4).
    blocks: int = 2
    block_channels: int = 24
    block_hidden: int = 64
    block_spatial: int = 40
    # "rnn" cases (rnn_cases): one GRU or LSTM and an optional linear head.
    rnn_features: int = 48
    rnn_hidden: int = 64
    rnn_steps: int = 6
    rnn_layers: int = 2


X86 = Limits()
ARM64 = Limits(kinds=("conv2d", "conv2d", "conv2d", "linear"), batch=2, channels=16, spatial=12, features=64,
               dilation=False, head=10, block_channels=8, block_hidden=16, block_spatial=12, rnn_features=16,
               rnn_hidden=16, rnn_steps=3)
VULKAN = Limits(kinds=("conv2d", "conv2d", "conv2d", "linear"), batch=2, channels=24, spatial=12, features=96,
                dilation=True, head=16, block_channels=16, block_hidden=32, block_spatial=16, rnn_features=24,
                rnn_hidden=32, rnn_steps=4)


def matrix_shapes(case_layers, kind: str, channels: int) -> list[tuple[int, int, int]]:
    """(rows, cols, kernel volume) of every prunable weight, in order (an RNN's head comes last)."""
    if kind == "rnn":
        rnn, = case_layers
        return [(rows, cols, 1) for rows, cols in rnn.gate_shapes(channels)]
    if kind == "blocks":
        out = []
        for block in case_layers:
            out += [(rows, cin * volume, volume) for _, rows, cin, volume in block.weights(channels)]
            channels = block.out
        return out
    out, cin = [], channels
    for layer in case_layers:
        volume = 1 if kind == "linear" else layer.kernel ** {"conv1d": 1, "conv2d": 2, "conv3d": 3}[kind]
        out.append((layer.out, cin // layer.groups * volume, volume))
        cin = layer.out
    return out


@st.composite
def _transposed_layer(draw, out: int, groups: int, sizes: tuple[int, ...], limits: Limits, longest: int) -> Layer | None:
    """A ConvTranspose layer (stride 1-3, output padding below the stride), or None when its output would
    be empty or longer than `longest`."""
    kernel = draw(st.sampled_from((1, 2, 3, 4, 5)))
    stride = draw(st.sampled_from((1, 2, 2, 3)))
    dilation = draw(st.sampled_from((1, 1, 2))) if limits.dilation else 1
    padding = draw(st.integers(0, dilation * (kernel - 1) // 2))
    output_padding = draw(st.integers(0, max(stride, dilation) - 1))
    layer = Layer(out, kernel, stride, padding, dilation, draw(st.booleans()), draw(st.sampled_from(ACTIVATIONS)),
                  groups, True, output_padding)
    out_sizes = [conv_out(s, layer) for s in sizes]
    return layer if 1 <= min(out_sizes) and max(out_sizes) <= longest else None


@st.composite
def _layers(draw, kind: str, channels: int, spatial: tuple[int, ...], limits: Limits, grouped: bool = False,
            transposed: bool = False):
    layers, sizes, cin = [], spatial, channels
    for index in range(draw(st.integers(1, limits.layers))):
        top = limits.features if kind == "linear" else limits.channels
        # A grouped conv: 2 or more input channels per filter (a depthwise conv is not pruned).
        groups = draw(st.sampled_from([g for g in range(1, cin // 2 + 1) if cin % g == 0 and g <= top] or [1])) \
            if grouped else 1
        out = draw(st.integers(1, top // groups)) * groups
        if kind == "linear":
            layers.append(Layer(out, bias=draw(st.booleans()), act=draw(st.sampled_from(ACTIVATIONS))))
            continue
        if transposed and draw(st.booleans()):
            layer = draw(_transposed_layer(out, groups, sizes, limits, 2 * max(spatial)))
            if layer is not None:
                sizes = tuple(conv_out(s, layer) for s in sizes)
                layers.append(layer)
                cin = out
                continue
        smallest = min(sizes)
        dilation = draw(st.sampled_from((1, 1, 2))) if limits.dilation else 1
        kernel = draw(st.sampled_from([k for k in KERNELS if (k - 1) * dilation + 1 <= smallest + 2 * (k // 2)]))
        reach = (kernel - 1) * dilation + 1
        lowest_padding = max(0, math.ceil((reach - smallest) / 2))
        padding = draw(st.integers(lowest_padding, max(lowest_padding, kernel // 2 * dilation)))
        stride = draw(st.sampled_from((1, 1, 2)) if kind in ("conv1d", "conv2d") else st.just(1))
        layer = Layer(out, kernel, stride, padding, dilation, draw(st.booleans()),
                      draw(st.sampled_from(ACTIVATIONS)), groups)
        sizes = tuple(conv_out(s, layer) for s in sizes)
        layers.append(layer)
        cin = out
        if min(sizes) < 1:
            raise AssertionError(f"strategy bug: {layers} on {spatial}")
    return tuple(layers)


SCHEMES = ("bcr", "pattern", "kgs", "group", "unstructured", "nm")


def known_bug(kind: str, spatial: tuple[int, ...], layers) -> str | None:
    """Why a case would hit an open bug (a strict xfail in test_regressions.py), or None.

    The strategies skip these cases so that a full run goes on finding new bugs; delete the rule
    when its regression test starts passing.
    """
    if kind == "blocks":  # channel counts do not matter here
        kind, layers = "conv2d", conv_layers(kind, 1, layers)
    sizes = spatial
    for layer in layers:
        out = tuple(conv_out(s, layer) for s in sizes)
        if kind == "conv2d" and layer.stride > 1 and any(
                o == 1 and s + 2 * layer.padding > layer.dilation * (layer.kernel - 1) + 1 for o, s in zip(out, sizes)):
            return "iree-compile rejects a strided conv with a 1-wide output whose padded input is wider than the kernel"
        sizes = out
    return None


def _scheme_prunes(scheme: str, volume: int) -> bool:
    """Whether `scheme` prunes a 2-D conv of this kernel volume (pattern: 3x3 only; KGS: not 1x1)."""
    return {"pattern": volume == 9, "kgs": volume > 1}.get(scheme, True)


def applies(scheme: str, kind: str, layers, channels: int = 0) -> bool:
    """Whether `scheme` prunes at least one of the layers (prune() fails with 'nothing to prune' otherwise)."""
    if kind == "blocks":
        return any(_scheme_prunes(scheme, volume) for _, _, volume in matrix_shapes(layers, kind, channels))
    if kind == "rnn":
        return scheme in RNN_SCHEMES
    if scheme == "pattern":
        return kind == "conv2d" and any(layer.kernel == 3 for layer in layers)
    if scheme == "kgs":
        return kind in ("conv2d", "conv3d") and any(layer.kernel > 1 for layer in layers)
    return True


@st.composite
def _scheme(draw, scheme: str, kind: str, channels: int, layers, shapes):
    def rate() -> float:  # drawn only where used: an unused draw makes hypothesis repeat cases
        return draw(st.one_of(st.sampled_from(RATES), st.floats(1.25, 20.0).map(lambda r: round(r, 2))))

    options: dict[str, object] = {}
    if scheme == "bcr":
        rows = min(r for r, _, _ in shapes)
        cols = min(c for _, c, _ in shapes)
        if draw(st.booleans()):
            options["block"] = (draw(st.integers(1, min(rows, 16))),
                                draw(st.integers(1, min(cols, 32))))
        if draw(st.booleans()):
            options["balanced"] = True
        options["rate"] = rate()
    elif scheme == "pattern":
        if draw(st.booleans()):
            options["connectivity_rate"] = draw(st.sampled_from((1.0, 1.5, 2.0, 3.0, 4.0)))
        else:
            options["rate"] = max(rate(), 2.25)
    elif scheme in ("group", "kgs"):
        if scheme == "kgs" and kind != "blocks":  # kgs skips 1x1 layers; the group must fit the layers it prunes
            fitting = [(layer.out, cin // layer.groups) for layer, cin in zip(layers, _inputs(channels, layers))
                       if layer.kernel > 1]
        elif kind in ("blocks", "rnn"):  # the weights the scheme prunes: (rows, input channels)
            fitting = [(rows, cols // volume) for rows, cols, volume in shapes if _scheme_prunes(scheme, volume)]
        else:
            fitting = [(layer.out, cin // layer.groups) for layer, cin in zip(layers, _inputs(channels, layers))]
        gm = draw(st.integers(1, min(8, min(o for o, _ in fitting))))
        gn = draw(st.integers(1, min(8, min(i for _, i in fitting))))
        options["group"] = (gm, gn)
        options["rate"] = rate()
    elif scheme == "nm":
        n, m = draw(st.sampled_from(NM_RATIOS))
        options.update(n=n, m=m)
    else:
        options["rate"] = rate()
    return scheme, tuple(sorted(options.items()))


def _inputs(channels: int, layers) -> list[int]:
    out = [channels]
    for layer in layers[:-1]:
        out.append(layer.out)
    return out


@st.composite
def cases(draw, limits: Limits = X86, scheme: str | None = None) -> Case:
    """A random Case within `limits`, pruned with `scheme` (any of SCHEMES when None)."""
    if scheme is None:
        scheme = draw(st.sampled_from(SCHEMES))
    kinds = [k for k in limits.kinds if scheme != "pattern" or k == "conv2d"]
    kinds = [k for k in kinds if scheme != "kgs" or k != "linear"]
    kind = draw(st.sampled_from(kinds))
    batch = draw(st.integers(1, limits.batch))
    if kind == "linear":
        channels = draw(st.integers(1, limits.features))
        spatial: tuple[int, ...] = ()
    else:
        channels = draw(st.integers(1, limits.channels))
        top = limits.spatial if kind == "conv2d" else limits.spatial3d
        spatial = tuple(draw(st.integers(1, top)) for _ in range(2 if kind == "conv2d" else 3))
    layers = draw(_layers(kind, channels, spatial, limits))
    shapes = matrix_shapes(layers, kind, channels)
    assume(applies(scheme, kind, layers))
    assume(known_bug(kind, spatial, layers) is None)
    scheme, options = draw(_scheme(scheme, kind, channels, layers, shapes))
    head = 0
    if kind == "conv2d" and draw(st.integers(0, 3)) == 0:
        head = draw(st.integers(1, limits.head))
    seed = draw(st.integers(0, 2**16))
    force_sparse = draw(st.booleans())
    return Case(kind, batch, channels, spatial, layers, scheme, options, head, seed, force_sparse)


@st.composite
def conv_cases(draw, limits: Limits = X86, scheme: str = "bcr") -> Case:
    """A random stack of Conv1d layers, or of grouped Conv2d / Conv1d layers (every one with 2 or more
    input channels per filter), some of them transposed convs (decoders), pruned with `scheme` (any of
    SCHEMES but KGS and patterns on Conv1d)."""
    kind = draw(st.sampled_from(("conv2d", "conv1d") if scheme not in ("pattern",) else ("conv2d",)))
    if scheme == "kgs":
        kind = "conv2d"
    grouped = kind == "conv2d" or draw(st.booleans())
    batch = draw(st.integers(1, limits.batch))
    channels = draw(st.integers(2 if grouped else 1, limits.channels))
    spatial = tuple(draw(st.integers(1, limits.spatial)) for _ in range(2)) if kind == "conv2d" else \
        (draw(st.integers(1, 4 * limits.spatial)),)
    layers = draw(_layers(kind, channels, spatial, limits, grouped=grouped, transposed=True))
    assume(applies(scheme, kind, layers))
    assume(known_bug(kind, spatial, layers) is None)
    scheme, options = draw(_scheme(scheme, kind, channels, layers, matrix_shapes(layers, kind, channels)))
    head = draw(st.integers(1, limits.head)) if draw(st.integers(0, 3)) == 0 else 0
    return Case(kind, batch, channels, spatial, layers, scheme, options, head, draw(st.integers(0, 2**16)),
                draw(st.booleans()))


BLOCK_SCHEMES = SCHEMES


@st.composite
def _blocks(draw, channels: int, limits: Limits):
    blocks = []
    for index in range(draw(st.integers(1, limits.blocks))):
        # Half the blocks keep their width, so that stride-1 ones get a skip connection.
        out = channels if draw(st.booleans()) else draw(st.integers(1, limits.block_channels))
        hidden = draw(st.sampled_from((0, 1, 1, 1))) and draw(st.integers(1, limits.block_hidden))
        kernel = draw(st.sampled_from((3, 3, 3, 5)))
        stride = draw(st.sampled_from((1, 1, 2)))
        block = Block(hidden, out, stride, kernel, draw(st.sampled_from(ACTIVATIONS)), draw(st.booleans()),
                      draw(st.sampled_from(("none", "relu"))), draw(st.booleans()),
                      draw(st.sampled_from((True, True, False))), draw(st.sampled_from((1, 1, 3))),
                      draw(st.sampled_from((False, False, True))))
        blocks.append(block)
        channels = out
    return tuple(blocks)


@st.composite
def block_cases(draw, limits: Limits = X86, scheme: str = "bcr") -> Case:
    """A random "blocks" Case: inverted residual (or ResNet) blocks on a 2-D input, their convs but the
    depthwise ones pruned with `scheme` (one of BLOCK_SCHEMES)."""
    batch = draw(st.integers(1, limits.batch))
    channels = draw(st.integers(1, limits.block_channels))
    spatial = (draw(st.integers(1, limits.block_spatial)), draw(st.integers(1, limits.block_spatial)))
    layers = draw(_blocks(channels, limits))
    assume(applies(scheme, "blocks", layers, channels))
    assume(known_bug("blocks", spatial, layers) is None)
    scheme, options = draw(_scheme(scheme, "blocks", channels, layers, matrix_shapes(layers, "blocks", channels)))
    head = draw(st.integers(1, limits.head)) if draw(st.integers(0, 3)) == 0 else 0
    return Case("blocks", batch, channels, spatial, layers, scheme, options, head, draw(st.integers(0, 2**16)),
                draw(st.booleans()))


# The schemes that prune RNN gate matrices (pattern and KGS are for convs).
RNN_SCHEMES = ("bcr", "group", "unstructured", "nm")


@st.composite
def rnn_cases(draw, limits: Limits = X86, scheme: str = "bcr") -> Case:
    """A random "rnn" Case: a GRU or LSTM (layers, bidirectional, bias, batch_first, LSTM projection, every
    step's output or the last's), an optional linear head, the gate matrices pruned with `scheme` (one of
    RNN_SCHEMES); the head is pruned too. The head on every step is a Linear on a 3-D input, which
    torch-mlir emits as a batch_matmul of the broadcast weight when the batch is over 1."""
    cell = draw(st.sampled_from(("gru", "lstm")))
    hidden = draw(st.integers(1, limits.rnn_hidden))
    proj = draw(st.integers(1, hidden - 1)) if cell == "lstm" and hidden > 1 and draw(st.integers(0, 3)) == 0 else 0
    rnn = Recurrent(cell, hidden, draw(st.integers(1, limits.rnn_layers)), draw(st.booleans()),
                    draw(st.sampled_from((False, False, True))), draw(st.booleans()), proj, draw(st.booleans()))
    batch = draw(st.integers(1, limits.batch))
    features = draw(st.integers(1, limits.rnn_features))
    steps = draw(st.integers(1, limits.rnn_steps))
    head = draw(st.integers(1, limits.head)) if draw(st.booleans()) else 0
    shapes = matrix_shapes((rnn,), "rnn", features) + ([(head, rnn.out_features, 1)] if head else [])
    scheme, options = draw(_scheme(scheme, "rnn", features, (rnn,), shapes))
    return Case("rnn", batch, features, (steps,), (rnn,), scheme, options, head, draw(st.integers(0, 2**16)),
                draw(st.booleans()))


@contextlib.contextmanager
def cost_model_off(enabled: bool = True):
    """Compiles with `bcr-raise-sparse-layers{min-macs=0 min-speedup=0}` (the pass's public options), so
    layers the cost model would keep dense (tiny, or few zeros) run in generated kernels too: kernels
    must be right on every shape, not only on those that pay."""
    from bcr_mlir import api

    if not enabled:
        yield
        return
    original = api.sparsify_pipeline

    def forced(target: str = "x86-host", tune: str = "cache", threads: int = 1) -> str:
        pipeline = original(target, tune, threads)
        assert pipeline.startswith("bcr-fold-constant-weights,bcr-split-transposed-convs,bcr-raise-sparse-layers,"), pipeline
        return pipeline.replace("bcr-raise-sparse-layers", FORCED_RAISE, 1)

    api.sparsify_pipeline = forced
    try:
        yield
    finally:
        api.sparsify_pipeline = original


FORCED_RAISE = "bcr-raise-sparse-layers{min-macs=0 min-speedup=0}"


# ---- the check ------------------------------------------------------------------------------------

@dataclass
class Stats:
    """What the differential tests covered, per target (printed at the end of the pytest run)."""

    cases: int = 0
    layers: int = 0
    sparse_layers: int = 0
    schemes: dict = field(default_factory=dict)
    seconds: float = 0.0
    seen: set = field(default_factory=set)
    fusions: dict = field(default_factory=dict)  # cases per rewrite: expand conv or residual add fused, max-pool kernel


STATS: dict[str, Stats] = {}


def _note(text: str) -> None:
    """hypothesis.note inside a property, print otherwise (regression tests call check_case directly)."""
    from hypothesis.control import currently_in_test_context

    if currently_in_test_context():
        note(text)
    else:
        print(text)


# dtype="f16" (f16 weights and activations, f32 accumulation) against the f32 PyTorch model: f16 keeps
# 11 significant bits, rounded once per layer, so 1e-2 of the output's largest magnitude holds a few
# layers of rounding with room to spare, while a wrong weight, index or bias is off by far more.
F16_RTOL = 1e-2
F16_ATOL_OF_LARGEST = 1e-2


def compile_case(case: Case, target: str, dtype: str = "f32"):
    """(pruned model, example input, the model compiled for `target`)."""
    model, x = case.pruned()
    with cost_model_off(case.force_sparse):
        return model, x, bcr_mlir.compile(model, (x,), target=target, dtype=dtype)


def check_case(case: Case, target: str, inputs: int = 2, rtol: float = RTOL, atol: float = ATOL, dtype: str = "f32"):
    """Prunes and compiles `case` for `target` (as `dtype`), runs it on `inputs` inputs, and compares with
    PyTorch."""
    import time

    started = time.perf_counter()
    _note(f"case: {case!r}" + (f", dtype {dtype}" if dtype != "f32" else ""))
    model, x, compiled = compile_case(case, target, dtype)
    _note(f"report:\n{compiled.report.table()}")
    generator = torch.Generator().manual_seed(case.seed + 2)
    for index in range(inputs):
        value = x if index == 0 else torch.randn(x.shape, generator=generator)
        with torch.no_grad():
            want = model(value).numpy()
        got = compiled(value.numpy().astype(np.float16 if dtype == "f16" else np.float32)).astype(np.float32)
        assert got.shape == want.shape, f"output shape {got.shape}, PyTorch gives {want.shape}"
        if dtype == "f16":
            rtol, atol = F16_RTOL, ATOL + F16_ATOL_OF_LARGEST * float(np.abs(want).max(initial=0.0))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol,
                                   err_msg=f"{target}, input {index}, case {case!r}")
    kind = {"blocks": " blocks", "rnn": " rnn"}.get(case.kind, "") + (f" {dtype}" if dtype != "f32" else "") \
        + (f" {case.mask_form}" if case.mask_form != "metadata" else "")
    stats = STATS.setdefault(target.split(":")[0] + kind, Stats())
    if repr(case) in stats.seen:  # hypothesis replays examples while shrinking: count each case once
        return compiled
    stats.seen.add(repr(case))
    stats.cases += 1
    stats.layers += len(compiled.report.layers)
    stats.sparse_layers += len(compiled.report.sparse_layers)
    stats.schemes[case.scheme] = stats.schemes.get(case.scheme, 0) + 1
    done = [fused for fused in ("expand conv", "residual add")
            if any(f" {fused}(s) fused" in note for note in compiled.report.notes)]
    if any(layer.op.startswith("max-pool") and layer.mode == "kernel" for layer in compiled.report.layers):
        done.append("max-pool")
    for fused in done:
        stats.fusions[fused] = stats.fusions.get(fused, 0) + 1
    stats.seconds += time.perf_counter() - started
    return compiled
