"""Which weights can be pruned, and the one 2-D matrix view every scheme works on.

The matrix view is the contract with the compiler: Conv2d `[Cout, Cin, KH, KW]` becomes
`W[Cout, Cin*KH*KW]`, Conv1d and Conv3d likewise, Linear stays `[out, in]`, and the GRU/LSTM gate matrices
(`weight_ih_l{k}`, `weight_hh_l{k}`, with or without `_reverse`) stay `[gates*hidden, in]`.
It is a plain `reshape` in PyTorch order, so a mask on the view reshapes back exactly.

A transposed conv (ConvTranspose1d/2d/3d, weight `[Cin, Cout/G, *K]`) is the conv of its zero-stuffed input
by the transposed, spatially flipped weight `[Cout, Cin/G, *K]`; that is the weight the compiler runs, so
schemes see it in that conv form (`Layer.to_conv`), and masks go back with `Layer.from_conv`.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

# Local parameter names of the RNN gate matrices; `weight_hr_l{k}` (LSTM projections) is not a gate.
_GATE_WEIGHT = re.compile(r"^weight_(ih|hh)_l\d+(_reverse)?$")


@dataclass(frozen=True)
class LayerDescription:
    """What a scheme, the scheme mapper and the latency models need to know about one weight."""

    name: str                      # full parameter name, as in model.named_parameters()
    kind: str                      # "conv1d" | "conv2d" | "conv3d" | "linear" | "gru" | "lstm"
    shape: tuple[int, ...]         # the weight's own shape
    groups: int = 1                # conv groups; depthwise ones (one input channel per filter) stay dense
    # Filled in by `describe(model, example_input)`; used only for latency estimates.
    config: dict = field(default_factory=dict, compare=False)
    input_shape: tuple[int, ...] = ()   # one sample's input to the layer (no batch dim)
    positions: int = 1                  # how many input vectors the matrix multiplies per sample
    transposed: bool = False            # a ConvTranspose: `shape` is its conv form (see the module docstring)

    @property
    def matrix_shape(self) -> tuple[int, int]:
        return self.shape[0], math.prod(self.shape[1:])

    @property
    def kernel(self) -> tuple[int, ...]:
        """Spatial kernel size; () for Linear and RNN gate matrices."""
        return self.shape[2:] if self.kind.startswith("conv") else ()

    @property
    def kernel_volume(self) -> int:
        return math.prod(self.kernel)

    @property
    def in_channels(self) -> int:
        return self.shape[1]

    @property
    def filters_per_group(self) -> int:
        """Output channels per conv group (all rows of an ungrouped weight)."""
        return self.shape[0] // self.groups


@dataclass(frozen=True)
class Layer:
    """A prunable weight: the module that owns it, its local name and its description."""

    module: nn.Module
    param_name: str
    desc: LayerDescription

    @property
    def name(self) -> str:
        return self.desc.name

    @property
    def weight(self) -> nn.Parameter:
        return getattr(self.module, self.param_name)

    @property
    def conv_weight(self) -> torch.Tensor:
        """The weight as schemes see it: `to_conv(weight)`."""
        return self.to_conv(self.weight)

    def to_conv(self, tensor: torch.Tensor) -> torch.Tensor:
        """A tensor in the weight's layout in the schemes' layout: a transposed conv's [Cin, Cout/G, *K] as
        the flipped [Cout, Cin/G, *K] of the conv it computes; any other weight as it is."""
        if not self.desc.transposed:
            return tensor
        groups, (cin, cout_per_group, *kernel) = self.desc.groups, tensor.shape
        conv = tensor.reshape(groups, cin // groups, cout_per_group, *kernel).transpose(1, 2)
        return conv.reshape(groups * cout_per_group, cin // groups, *kernel).flip(list(range(2, 2 + len(kernel))))

    def from_conv(self, tensor: torch.Tensor) -> torch.Tensor:
        """The inverse of `to_conv` (a mask or unit ids computed on the conv form, in the weight's layout)."""
        if not self.desc.transposed:
            return tensor
        groups, (cout, cin_per_group, *kernel) = self.desc.groups, tensor.shape
        weight = tensor.flip(list(range(2, 2 + len(kernel)))).reshape(groups, cout // groups, cin_per_group, *kernel)
        return weight.transpose(1, 2).reshape(groups * cin_per_group, cout // groups, *kernel)


def matrix_view(weight: torch.Tensor) -> torch.Tensor:
    """The 2-D view `[rows, cols]` of a weight (see the module docstring)."""
    return weight.reshape(weight.shape[0], -1)


def _kind(module: nn.Module) -> str | None:
    """The layer kind; a ConvTranspose has the kind of the conv it computes."""
    if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
        return "conv1d"
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return "conv2d"
    if isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)):
        return "conv3d"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.GRU):
        return "gru"
    if isinstance(module, nn.LSTM):
        return "lstm"
    return None


def _conv_config(module: nn.Module) -> dict:
    if not isinstance(module, nn.modules.conv._ConvNd):
        return {}
    config = {"in_channels": module.in_channels, "out_channels": module.out_channels,
              "kernel_size": list(module.kernel_size), "stride": list(module.stride),
              "padding": list(module.padding) if not isinstance(module.padding, str) else module.padding,
              "dilation": list(module.dilation), "groups": module.groups, "bias": module.bias is not None}
    if module.transposed:
        config.update(transposed=True, output_padding=list(module.output_padding))
    return config


# Weights computed at run time: what computes them, and how one is made a plain parameter again
# (bcr_mlir.compile does it on a copy of the model).
COMPUTED_WEIGHT_KINDS = {"prune": "by torch.nn.utils.prune, from weight_orig and weight_mask",
                         "parametrization": "by a parametrization", "weight_norm": "by weight_norm",
                         "spectral_norm": "by spectral_norm"}
COMPUTED_WEIGHT_FIXES = {
    "prune": "torch.nn.utils.prune.remove({module}, '{name}')",
    "parametrization": "torch.nn.utils.parametrize.remove_parametrizations({module}, '{name}')",
    "weight_norm": "torch.nn.utils.remove_weight_norm({module}, '{name}')",
    "spectral_norm": "torch.nn.utils.remove_spectral_norm({module}, '{name}')",
}


def computed_weights(module: nn.Module) -> list[tuple[str, str]]:
    """(kind, tensor name) of the weights `module` computes at run time from other tensors: a key of
    COMPUTED_WEIGHT_FIXES. torch.nn.utils.prune's weight_orig * weight_mask, parametrizations, and the
    hook-based weight_norm / spectral_norm."""
    from torch.nn.utils import parametrize
    from torch.nn.utils.prune import BasePruningMethod
    from torch.nn.utils.spectral_norm import SpectralNorm
    from torch.nn.utils.weight_norm import WeightNorm
    found = []
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, BasePruningMethod):
            found.append(("prune", hook._tensor_name))
        elif isinstance(hook, WeightNorm):
            found.append(("weight_norm", hook.name))
        elif isinstance(hook, SpectralNorm):
            found.append(("spectral_norm", hook.name))
    if parametrize.is_parametrized(module):
        found += [("parametrization", name) for name in module.parametrizations]
    return found


def find_layers(model: nn.Module) -> Iterator[Layer]:
    """Every weight a scheme could prune, in `named_modules` order."""
    for prefix, module in model.named_modules():
        kind = _kind(module)
        if kind is None:
            continue
        if kind in ("gru", "lstm"):
            names = [n for n, _ in module.named_parameters(recurse=False) if _GATE_WEIGHT.match(n)]
        else:
            names = ["weight"]
        transposed = getattr(module, "transposed", False)
        for local in names:
            shape = tuple(getattr(module, local).shape)
            if transposed:   # [Cin, Cout/G, *K] -> the conv form [Cout, Cin/G, *K]
                shape = (shape[1] * module.groups, shape[0] // module.groups, *shape[2:])
            fqn = f"{prefix}.{local}" if prefix else local
            desc = LayerDescription(name=fqn, kind=kind, shape=shape, groups=getattr(module, "groups", 1),
                                    config=_conv_config(module), transposed=transposed)
            yield Layer(module, local, desc)


def describe(model: nn.Module, example_input) -> list[Layer]:
    """`find_layers`, with each layer's input shape and position count measured by one forward pass.

    `positions` is the number of input vectors each weight matrix multiplies for one sample:
    output pixels for a conv, 1 for a Linear on a vector, the sequence length for RNN matrices.
    """
    layers = list(find_layers(model))
    seen: dict[int, tuple] = {}
    hooks = []
    for layer in {id(l.module): l for l in layers}.values():
        def record(mod, args, out, key=id(layer.module)):
            x = args[0]
            y = out[0] if isinstance(out, tuple) else out
            seen[key] = (tuple(x.shape), tuple(y.shape), getattr(mod, "batch_first", False))
        hooks.append(layer.module.register_forward_hook(record))
    try:
        with torch.no_grad():
            inputs = example_input if isinstance(example_input, tuple) else (example_input,)
            model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    described = []
    for layer in layers:
        desc = layer.desc
        if id(layer.module) in seen:
            x_shape, y_shape, batch_first = seen[id(layer.module)]
            if desc.kind.startswith("conv"):
                positions = math.prod(y_shape[2:])
                input_shape = x_shape[1:]
            elif desc.kind == "linear":
                positions = math.prod(x_shape[1:-1]) if len(x_shape) > 1 else 1
                input_shape = x_shape[1:]
            else:  # RNN: each gate matrix multiplies one vector per time step
                steps = x_shape[1] if batch_first else x_shape[0]
                positions = steps if len(x_shape) == 3 else x_shape[0]
                input_shape = (steps, x_shape[-1])
            desc = dataclasses.replace(desc, input_shape=tuple(input_shape), positions=int(positions))
        described.append(Layer(layer.module, layer.param_name, desc))
    return described
