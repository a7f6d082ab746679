"""The benchmark models and the pruning each one gets (the models themselves come from bcr_mlir.zoo)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

MODEL_NAMES = ["vgg16", "resnet18", "mobilenetv2", "gru", "c3d"]


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str            # as the issue names it
    scheme: str           # bcr_mlir.prune scheme
    rate: float           # total / nonzero weights per pruned layer
    description: str      # one line for the tables
    pointwise_only: bool = False   # prune only the 1x1, ungrouped convs (MobileNet-V2)
    options: dict = field(default_factory=dict)


RECIPES = {
    "vgg16": Recipe("vgg16", "VGG-16 (CIFAR-10, 3x32x32)", "bcr", 8.0, "BCR 8x, block 8x16, every conv and the classifier"),
    "resnet18": Recipe("resnet18", "ResNet-18 (224x224)", "bcr", 5.0, "BCR 5x, block 8x16, every conv and the fc"),
    "mobilenetv2": Recipe("mobilenetv2", "MobileNet-V2 (224x224)", "group", 1 / 0.3,
                          "group sparsity 70% (3.33x) on the pointwise 1x1 convs; depthwise, stem and fc dense",
                          pointwise_only=True),
    "gru": Recipe("gru", "GRU 2x1024 (TIMIT: 153 features, 100 steps)", "bcr", 10.0,
                  "BCR 10x, block 8x16, the GRU gate matrices and the read-out"),
    "c3d": Recipe("c3d", "C3D (3x8x56x56 clips)", "kgs", 3.0, "KGS 3x, groups 4x4, every Conv3d; fc dense"),
}


@dataclass
class BenchModel:
    name: str
    recipe: Recipe
    small: bool
    model: object          # torch.nn.Module, pruned, eval mode
    x: object              # torch.Tensor, the example input (batch 1)
    reference: object      # numpy: PyTorch eager's output on x
    plan: dict             # {param name: LayerSparsity} as bcr_mlir.prune recorded it
    prunable: int          # how many weights the model has that a scheme could prune
    input_note: str = ""


def pointwise_layers(model) -> list[str]:
    from bcr_mlir.prune import find_layers
    return [layer.name for layer in find_layers(model)
            if layer.desc.kind == "conv2d" and layer.desc.kernel == (1, 1) and layer.desc.groups == 1]


def build(name: str, small: bool = False) -> BenchModel:
    """The zoo model `name`, pruned by its recipe, with its input and PyTorch's reference output."""
    import torch

    import bcr_mlir
    from bcr_mlir import zoo
    from bcr_mlir.prune import find_layers, sparsity_plan

    if name not in RECIPES:
        from bcr_mlir.errors import BcrError
        raise BcrError(f"unknown benchmark model '{name}'", f"choose from {', '.join(MODEL_NAMES)}")
    recipe = RECIPES[name]
    model, x = zoo.get(name, small=small)
    note = ""
    with torch.no_grad():
        try:
            model(x)
        except RuntimeError as exc:
            if name != "c3d" or not small:
                raise
            # zoo.get("c3d", small=True) gives a 4-frame clip, which its three 2x2x2 pools cannot take.
            x = torch.randn(1, 3, 8, x.shape[3], x.shape[4], generator=torch.Generator().manual_seed(0))
            note = f"zoo's small c3d input fails ({str(exc).splitlines()[0][:80]}); using 8 frames"
    options = dict(recipe.options)
    if recipe.pointwise_only:
        options["layers"] = pointwise_layers(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "left dense: ..." for the layers a scheme does not apply to
        bcr_mlir.prune(model, recipe.scheme, rate=recipe.rate, **options)
    model.eval()
    with torch.no_grad():
        reference = model(x).detach().numpy()
    return BenchModel(name, recipe, small, model, x, reference, sparsity_plan(model),
                      len(list(find_layers(model))), note)
