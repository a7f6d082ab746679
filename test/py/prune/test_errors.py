"""Bad input raises ValueError with a one-line message that names the problem and the fix."""
import math

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

import bcr_mlir
from bcr_mlir.prune import BCR, NM, Pattern, apply_plan


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3), nn.Conv2d(16, 16, 5), nn.Conv2d(16, 16, 1),
                         nn.Conv2d(16, 16, 3, groups=16), nn.Flatten(), nn.Linear(16, 8))


CASES = [
    (dict(scheme="bcrr", rate=8), "unknown scheme 'bcrr'"),
    (dict(scheme="bcr", rate=8, blok=(8, 8)), "has no option 'blok'"),
    (dict(scheme="bcr", rate=8, block=(32, 16), layers=["5.weight"]), "larger than the 8x16 matrix"),
    (dict(scheme="bcr", rate=1), "rate must be a number > 1"),
    (dict(scheme="bcr", rate=0.5), "rate must be a number > 1"),
    (dict(scheme="bcr", rate=math.nan), "rate must be a number > 1"),
    (dict(scheme="bcr"), "needs a rate"),
    (dict(scheme="bcr", rate=8, block=(0, 4)), "two positive ints"),
    (dict(scheme="bcr", rate=8, row_share=2), "row_share must be in [0, 1]"),
    (dict(scheme="pattern", connectivity_rate=2, layers=["1.weight"]), "needs 3x3 kernels but 1.weight has 5x5"),
    (dict(scheme="pattern", connectivity_rate=2, layers=["5.weight"]), "does not apply to linear"),
    (dict(scheme="pattern", rate=2), "rate must be >= 2.25"),
    (dict(scheme="pattern", rate=9, connectivity_rate=2), "pass only one of them"),
    (dict(scheme="pattern", patterns=[7]), "not a valid 3x3 pattern"),
    (dict(scheme="pattern", num_patterns=57), "num_patterns must be"),
    (dict(scheme="kgs", rate=4, layers=["2.weight"]), "use scheme 'group'"),
    (dict(scheme="kgs", rate=4, layers=["5.weight"]), "does not apply to linear"),
    (dict(scheme="kgs", rate=4, group=(32, 4), layers=["1.weight"]), "use a group of at most (16, 16)"),
    (dict(scheme="group", rate=4, layers=["3.weight"]), "is a depthwise conv"),
    (dict(scheme="nm", rate=3), "fixes the rate at 2"),
    (dict(scheme="nm", n=4, m=4), "0 < n < m"),
    (dict(scheme="bcr", rate=8, layers=["nope.*"]), "matches no prunable weight"),
    (dict(scheme="bcr", rate=8, exclude=["nope"]), "matches no prunable weight"),
    (dict(scheme="bcr", rate=8, method="admm"), "pass data="),
    (dict(scheme="bcr", rate=8, method="sgd"), "unknown method 'sgd'"),
    (dict(scheme="bcr", rate=8, plan={"layers": {}}), "not both"),
]


@pytest.mark.parametrize("kwargs,message", CASES, ids=[m for _, m in CASES])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError) as error:
        bcr_mlir.prune(small_model(), **kwargs)
    text = str(error.value)
    assert message in text
    assert "\n" not in text and len(text) < 300


@pytest.mark.parametrize("plan,message", [
    ({"layers": {"5.weight": {"scheme": "blocky", "params": {}, "rate": 8}}}, "unknown scheme 'blocky'"),
    ({"layers": {"9.weight": {"scheme": "bcr", "params": {"block": [4, 4], "balanced": False}, "rate": 8}}},
     "no prunable weight named '9.weight'"),
    ({"layers": {"5.weight": {"scheme": "bcr", "params": {"blocks": [4, 4]}, "rate": 8}}}, "unknown params"),
    ({"weights": {}}, 'a plan must be a JSON object {"layers"'),
])
def test_bad_plan(plan, message):
    with pytest.raises(ValueError, match=None) as error:
        apply_plan(small_model(), plan)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_tensor_rank():
    with pytest.raises(ValueError, match="cannot prune a 6-D tensor"):
        BCR(rate=4).mask(torch.randn(2, 3, 4, 2, 2, 2))


def test_whole_model_skips_what_does_not_fit_with_a_warning():
    model = small_model()
    with pytest.warns(UserWarning, match="left dense"):
        bcr_mlir.prune(model, "pattern", connectivity_rate=2)
    pruned = set(bcr_mlir.prune.sparsity_plan(model))
    assert pruned == {"0.weight"}   # the only 3x3 conv that is not depthwise


def test_nothing_to_prune_is_an_error():
    with pytest.raises(ValueError, match="nothing to prune"):
        bcr_mlir.prune(nn.Sequential(nn.Linear(4, 4)), Pattern(connectivity_rate=2))


def test_scheme_objects_validate_too():
    with pytest.raises(ValueError, match="rate must be"):
        BCR(rate=-3)
    with pytest.raises(ValueError, match="n < m"):
        NM(n=3, m=2)


@pytest.mark.parametrize("wrap,fix", [
    (lambda m: torch_prune.l1_unstructured(m, "weight", amount=0.5),
     "torch.nn.utils.prune.remove(model.get_submodule('1'), 'weight')"),
    (lambda m: torch.nn.utils.parametrizations.weight_norm(m),
     "torch.nn.utils.parametrize.remove_parametrizations(model.get_submodule('1'), 'weight')"),
    (lambda m: torch.nn.utils.weight_norm(m), "torch.nn.utils.remove_weight_norm(model.get_submodule('1'), 'weight')"),
], ids=["torch-prune", "parametrization", "weight-norm-hook"])
def test_a_weight_computed_at_run_time_is_refused(wrap, fix):
    """Zeros written into a weight PyTorch recomputes on every forward pass (weight_orig * weight_mask, a
    parametrization) were silently undone by the next call; now the error names the call that fixes it."""
    model = small_model()
    wrap(model[1])
    with pytest.raises(ValueError, match="1.weight is computed at run time") as error:
        bcr_mlir.prune(model, "bcr", rate=4, layers=["1.weight"])
    assert fix in str(error.value)
