"""PyTorch -> linalg-on-tensors MLIR, with weights named after their parameters.

torch-mlir's FX importer does the work. Our hook turns every parameter into a
`dense_resource<features.0.weight>` constant (instead of `torch_tensor_64_3_3_3_torch.float32`), so
passes, reports and error messages speak the user's layer names, and it records the bytes in the
WeightTable. The pruning library's per-layer metadata rides along as the module attribute
`bcr.sparsity = {"<param>" = "<json>"}`, which bcr-raise-sparse-layers reads.

Before import, batch norms that follow a conv are folded into it (eval mode): zeros stay zeros, and the
conv's ReLU can then be fused into the sparse kernel. Weights that PyTorch computes at run time from
other tensors (torch.nn.utils.prune's weight_orig * weight_mask, parametrizations such as weight_norm)
are computed once, on a copy of the model: exported as they are, they reach MLIR as products of two
constants, which no pass reads as a pruned weight, and every such layer ran dense without a word.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import logging
import math
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bcr_mlir import ir
from bcr_mlir.dialect import new_context
from bcr_mlir.errors import BcrError
from bcr_mlir.prune.layers import computed_weights
from bcr_mlir.weights import WeightTable, resource_name

from bcr_mlir.dialect import SPARSITY_ATTR  # noqa: E402  (re-exported)
MAX_PARAMETERS = 2_000_000_000


@dataclass
class ImportedModel:
    context: ir.Context
    module: ir.Module
    weights: WeightTable
    notes: list[str] = field(default_factory=list)


def normalize_inputs(example_inputs) -> tuple[torch.Tensor, ...]:
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    if isinstance(example_inputs, np.ndarray):
        example_inputs = (torch.from_numpy(example_inputs),)
    if not isinstance(example_inputs, (tuple, list)) or not example_inputs:
        raise BcrError("example_inputs must be a tensor or a non-empty tuple of tensors",
                       "pass e.g. (torch.randn(1, 3, 32, 32),)")
    out = []
    for i, value in enumerate(example_inputs):
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if not isinstance(value, torch.Tensor):
            raise BcrError(f"example input {i} is a {type(value).__name__}, not a tensor",
                           "pass torch tensors (or numpy arrays) as example inputs")
        if value.numel() == 0:
            raise BcrError(f"example input {i} is empty (shape {list(value.shape)})", "give every dimension a size of at least 1")
        out.append(value)
    return tuple(out)


def sparsity_metadata(model: nn.Module) -> dict[str, dict]:
    """Parameter name -> {"scheme", "params", "rate"} from the `_bcr_sparsity` the pruning library leaves."""
    plan = {}
    for module_name, module in model.named_modules():
        for param_name, info in (getattr(module, "_bcr_sparsity", None) or {}).items():
            if hasattr(info, "__dataclass_fields__"):
                info = {k: getattr(info, k) for k in info.__dataclass_fields__}
            full = f"{module_name}.{param_name}" if module_name else param_name
            plan[full] = {"scheme": info.get("scheme"), "params": dict(info.get("params") or {}), "rate": info.get("rate")}
    return plan


def check_model(model, inputs) -> None:
    if not isinstance(model, nn.Module):
        raise BcrError(f"expected a torch.nn.Module, got {type(model).__name__}", "pass the model object itself")
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    if total > MAX_PARAMETERS:
        raise BcrError(f"the model has {total:,} parameters, more than bcr-mlir supports ({MAX_PARAMETERS:,})",
                       "split the model, or compile it layer group by layer group")
    for name, tensor in _named_tensors(model):
        if tensor.dtype == torch.float64:
            raise BcrError(f"parameter '{name}' is float64; bcr-mlir compiles float32 (and float16) models",
                           "convert the model and its inputs with model.float() and x.float()")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise BcrError(f"parameter '{name}' contains NaN or Inf values",
                           "retrain or fix the checkpoint; the compiler cannot give meaningful results for non-finite weights")
    for i, x in enumerate(inputs):
        elements = math.prod(x.shape)
        if elements > 1 << 31:
            raise BcrError(f"example input {i} has shape {list(x.shape)} ({elements:,} elements), too large to compile",
                           "use a smaller input size")


def fold_computed_weights(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """A copy of `model` in which every weight computed at run time from others (see computed_weights)
    is a plain parameter holding its value, so its zeros are seen; the model itself when there is none."""
    if not any(computed_weights(m) for m in model.modules()):
        return model, []
    from torch.nn.utils import parametrize, prune
    # The hooks store their last value as a non-leaf tensor, which deepcopy refuses: copy it detached.
    memo = {id(value): value.detach().clone() for module in model.modules() for _, name in computed_weights(module)
            if isinstance(value := module.__dict__.get(name), torch.Tensor)}
    model = copy.deepcopy(model, memo)
    folded = []
    with torch.no_grad():
        for module_name, module in model.named_modules():
            for kind, name in computed_weights(module):
                # Each removal leaves the weight's current value as a plain parameter of the same name.
                if kind == "prune":
                    prune.remove(module, name)
                elif kind == "parametrization":
                    parametrize.remove_parametrizations(module, name, leave_parametrized=True)
                elif kind == "weight_norm":
                    nn.utils.remove_weight_norm(module, name)
                else:
                    nn.utils.remove_spectral_norm(module, name)
                folded.append(f"{module_name}.{name}" if module_name else name)
    shown = ", ".join(folded[:4]) + (f" and {len(folded) - 4} more" if len(folded) > 4 else "")
    return model, [f"{len(folded)} weight(s) computed at run time (pruning masks, parametrizations) taken as "
                   f"constants: {shown}"]


def fold_batch_norms(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """Conv+BatchNorm pairs folded (eval mode). Returns the model unchanged if it cannot be traced."""
    if not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in model.modules()):
        return model, []
    try:
        from torch.fx.experimental.optimization import fuse
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            folded = fuse(model, inplace=False)
        return _fold_transposed_batch_norms(folded), []
    except Exception as exc:  # tracing can fail on data-dependent control flow
        return model, [f"batch norms not folded into convs (model could not be traced: {str(exc).splitlines()[0][:100]})"]


_TRANSPOSED_CONV_BN = [(nn.ConvTranspose1d, nn.BatchNorm1d), (nn.ConvTranspose2d, nn.BatchNorm2d),
                       (nn.ConvTranspose3d, nn.BatchNorm3d)]


def _fold_transposed_batch_norms(traced: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """A decoder's ConvTranspose+BatchNorm pairs folded as fx's `fuse` folds Conv+BatchNorm (which it leaves
    out): the folded weight scales its output channels, dim 1 of a transposed weight, and keeps its zeros.
    Grouped ones are left alone (their dim 1 holds a group's output channels only)."""
    from torch.fx.experimental.optimization import matches_module_pattern, replace_node_module
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    modules = dict(traced.named_modules())
    for pattern in _TRANSPOSED_CONV_BN:
        for node in list(traced.graph.nodes):
            if not matches_module_pattern(pattern, node, modules) or len(node.args[0].users) > 1:
                continue
            conv, norm = modules[node.args[0].target], modules[node.target]
            if conv.groups != 1 or not norm.track_running_stats:
                continue
            replace_node_module(node.args[0], modules, fuse_conv_bn_eval(conv, norm, transpose=True))
            node.replace_all_uses_with(node.args[0])
            traced.graph.erase_node(node)
    traced.recompile()
    return traced


# Integer buffers named in the IR (a boolean mask arrives as uint8).
_INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int32, torch.int64)


def _content_key(tensor: torch.Tensor) -> tuple:
    if tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8)  # as torch-mlir hands it to the hook
    return tuple(tensor.shape), tensor.dtype, tensor.detach().contiguous().numpy().tobytes()


def _named_tensors(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    return list(model.named_parameters()) + list(model.named_buffers())


class _NamedWeights:
    """FxImporter hook: parameters become dense_resource constants named after the parameter."""

    def __init__(self, model: nn.Module, weights: WeightTable):
        self.model = model
        self.names = {}
        for name, tensor in _named_tensors(model):
            self.names.setdefault(tensor.data_ptr(), name)
        self.weights = weights
        self.attrs: dict[tuple, ir.Attribute] = {}
        self.error: Exception | None = None

    @functools.cached_property
    def integer_names(self) -> dict[tuple, str]:
        """Integer and boolean buffers by their contents: torch-mlir hands a boolean buffer over as a uint8
        copy, at another address. Built on the first integer literal only (most models have none)."""
        names: dict[tuple, str] = {}
        for name, tensor in _named_tensors(self.model):
            if (tensor.dtype == torch.bool or tensor.dtype in _INTEGER_DTYPES) and tensor.numel() > 1:
                names.setdefault(_content_key(tensor), name)
        return names

    def hooks(self):
        from torch_mlir.extras.fx_importer import FxImporterHooks

        outer = self

        class Hooks(FxImporterHooks):
            def resolve_literal(self, gni, literal, info):
                return outer.resolve(gni, literal)

        return Hooks()

    def resolve(self, gni, literal):
        try:
            return self._resolve(gni, literal)
        except Exception as exc:  # surfaced by import_model, not swallowed by torch-mlir
            self.error = exc
            raise

    def _resolve(self, gni, literal):
        # Scalars stay torch-mlir's literals, which fold (IREE's Vulkan backend cannot take an f16 1x1
        # dense_resource a matmul reads: "failed to legalize operation 'tensor.extract'").
        if not isinstance(literal, torch.Tensor) or literal.numel() <= 1:
            return None
        floating = literal.dtype in (torch.float32, torch.float16)
        if not floating and literal.dtype not in _INTEGER_DTYPES:
            return None
        name = self.names.get(literal.data_ptr())
        if not floating and name is None:
            name = self.integer_names.get(_content_key(literal), f"constant_{literal.dtype}".replace("torch.", ""))
        key = (literal.data_ptr(), tuple(literal.shape), tuple(literal.stride()), literal.dtype)
        attr = self.attrs.get(key)
        if attr is None:
            array = literal.detach().contiguous().numpy().copy()
            if floating:
                attr = self.weights.constant_attr(array, name or "constant", keep_name=name is not None)
            else:  # a mask or index buffer, typed as torch-mlir types it, registered for bcr-fold-constant-weights
                from torch_mlir.extras.fx_importer import create_mlir_tensor_type
                attr = ir.DenseResourceElementsAttr.get_from_buffer(array, name, create_mlir_tensor_type(literal))
                self.weights.add(resource_name(attr), array)
            self.attrs[key] = attr
        vtype = gni._cc.get_vtensor_type(literal.size(), literal.dtype)
        return ir.Operation.create("torch.vtensor.literal", results=[vtype], attributes={"value": attr}).result


def _export_error(exc: Exception, diagnostics: list[str]) -> BcrError:
    """The one-line error for a model torch.export or torch-mlir could not take."""
    if any("!torch.none" in d for d in diagnostics):
        return BcrError("the model's forward() returns None, so there is nothing to compile",
                        "return the output tensor(s) from forward()")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    if diagnostics:  # torch-mlir: "Lowering ... failed with the following diagnostics:" + the diagnostics
        first = f"{first.rstrip(':')}: {diagnostics[0].splitlines()[0]}"
    return BcrError(f"PyTorch export/import of the model failed: {first[:300]}",
                    "check that the example inputs fit the model and that torch.export.export(model, inputs) works "
                    "(static shapes, no data-dependent control flow, ops torch-mlir lowers to linalg)")


def import_model(model: nn.Module, example_inputs) -> ImportedModel:
    """Exports `model` with torch.export and lowers it to linalg-on-tensors in a bcr-ready context."""
    from torch_mlir import fx
    from torch_mlir.dialects import torch as torch_dialect
    from torch_mlir.extras.fx_importer import FxImporter

    inputs = normalize_inputs(example_inputs)
    check_model(model, inputs)
    model = model.eval()
    metadata = sparsity_metadata(model)
    model, computed = fold_computed_weights(model)
    model, notes = fold_batch_norms(model)
    notes = computed + notes
    context = new_context()
    torch_dialect.register_dialect(context)
    weights = WeightTable()
    named = _NamedWeights(model, weights)
    # torch-mlir's lowering reports its errors as MLIR diagnostics on stderr; keep them for the one-line error.
    diagnostics: list[str] = []

    def collect(diagnostic) -> bool:
        if diagnostic.severity == ir.DiagnosticSeverity.ERROR:
            diagnostics.append(str(diagnostic.message))
        return True

    handler = context.attach_diagnostic_handler(collect)
    # On failure torch-mlir dumps the module to $TMPDIR/<name>.mlir, unasked; give it a folder we delete.
    scratch, previous_tempdir = tempfile.mkdtemp(prefix="bcr-import-"), tempfile.tempdir
    with context, ir.Location.unknown():
        importer = FxImporter(context=context, hooks=named.hooks())
        # A failed torch.export prints its partial graph to sys.stderr and logs warnings; the one-line
        # error says what failed, so that output is dropped (and passed on when the export succeeds).
        printed, torch_log = io.StringIO(), logging.getLogger("torch")
        log_level = torch_log.level
        try:
            tempfile.tempdir = scratch
            torch_log.setLevel(logging.CRITICAL)
            with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stderr(printed):
                warnings.simplefilter("ignore")
                module = fx.export_and_import(model, *inputs, output_type="linalg-on-tensors",
                                              fx_importer=importer, func_name="main")
        except BcrError:
            raise
        except Exception as exc:
            if named.error is not None:
                raise named.error
            raise _export_error(exc, diagnostics) from None
        finally:
            torch_log.setLevel(log_level)
            tempfile.tempdir = previous_tempdir
            shutil.rmtree(scratch, ignore_errors=True)
            handler.detach()
        if printed.getvalue():
            sys.stderr.write(printed.getvalue())
        if metadata:
            entries = {name: ir.StringAttr.get(json.dumps(info, sort_keys=True)) for name, info in metadata.items()}
            module.operation.attributes[SPARSITY_ATTR] = ir.DictAttr.get(entries)
    return ImportedModel(context, module, weights, notes)
