"""The pruned model carries its metadata as plain attributes; plans round-trip through JSON."""
import copy
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import bcr_mlir
from bcr_mlir.prune import LayerSparsity, apply_plan, from_json, sparsity_plan, to_json


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1))
        self.gru = nn.GRU(32, 32, num_layers=2, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        y = self.features(x)                    # [B, 32, H, W]
        seq = y.flatten(2).transpose(1, 2)      # one step per pixel
        out, _ = self.gru(seq)
        return self.head(out[:, -1])


def mixed():
    torch.manual_seed(0)
    return Mixed().eval()


def prune_mixed(model):
    bcr_mlir.prune(model, "pattern", connectivity_rate=2, layers=["features.2.weight"])
    bcr_mlir.prune(model, "bcr", rate=8, block=(8, 16), layers=["gru.*", "head.weight"], exclude=["head.weight"])
    bcr_mlir.prune(model, "nm", layers=["head.weight"])
    return model


def test_metadata_attributes_and_plan_names():
    model = prune_mixed(mixed())
    assert set(model.gru._bcr_sparsity) == {"weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"}
    assert set(model.features[2]._bcr_sparsity) == {"weight"}
    assert not hasattr(model.features[0], "_bcr_sparsity")
    plan = sparsity_plan(model)
    names = dict(model.named_parameters())
    assert set(plan) == {"features.2.weight", "gru.weight_ih_l0", "gru.weight_hh_l0", "gru.weight_ih_l1",
                         "gru.weight_hh_l1", "head.weight"}
    for name, info in plan.items():
        assert isinstance(info, LayerSparsity)
        w = names[name]
        assert info.rate == pytest.approx(w.numel() / int(torch.count_nonzero(w)))
    assert plan["gru.weight_hh_l0"].params == {"block": [8, 16], "balanced": False}
    assert plan["head.weight"].params == {"n": 2, "m": 4}
    assert set(plan["features.2.weight"].params) == {"patterns", "connectivity_rate"}
    json.dumps({k: v.to_dict() for k, v in plan.items()})   # JSON-serialisable


def test_plain_module_exports():
    model = prune_mixed(mixed())
    for module in model.modules():
        assert not torch.nn.utils.parametrize.is_parametrized(module)
        assert not module._forward_hooks and not module._forward_pre_hooks and not module._backward_hooks
    x = torch.randn(2, 4, 3, 3)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), model(x))


def test_json_round_trip_and_apply_plan_reproduces_masks(tmp_path):
    dense = mixed()
    pruned = prune_mixed(copy.deepcopy(dense))
    plan = sparsity_plan(pruned)
    path = tmp_path / "plan.json"
    text = to_json(plan, path)
    assert json.loads(path.read_text()) == json.loads(text)
    assert set(json.loads(text)) == {"layers"}
    assert from_json(text) == plan and from_json(str(path)) == plan and from_json(json.loads(text)) == plan
    again = apply_plan(copy.deepcopy(dense), text)
    for (name, a), (_, b) in zip(pruned.named_parameters(), again.named_parameters()):
        assert torch.equal(a, b), name
    assert sparsity_plan(again) == plan


def test_apply_plan_with_every_scheme():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 16, 3), nn.Conv3d(8, 16, 3), nn.Linear(64, 32))
    plan = {
        "0.weight": LayerSparsity("pattern", {"patterns": [23, 30, 51, 57], "connectivity_rate": 2.0}, 4.5),
        "1.weight": LayerSparsity("kgs", {"group": [4, 4]}, 3.0),
        "2.weight": LayerSparsity("group", {"group": [8, 1]}, 4.0),
    }
    apply_plan(model, plan)
    got = sparsity_plan(model)
    assert got["0.weight"].params == plan["0.weight"].params
    assert got["0.weight"].rate == pytest.approx(4.5)
    assert got["1.weight"].rate == pytest.approx(3.0, rel=0.01)
    assert got["2.weight"].rate == pytest.approx(4.0)
    for scheme, plan2 in [("kgs_vanilla", {"group": [4, 4]}), ("unstructured", {}), ("bcr", {"block": [4, 4], "balanced": True})]:
        m = copy.deepcopy(model)
        apply_plan(m, {"1.weight": LayerSparsity(scheme, plan2, 2.0)})
        assert sparsity_plan(m)["1.weight"].scheme == scheme


def test_the_package_is_callable_and_lazy():
    assert callable(bcr_mlir.prune)
    model = nn.Sequential(nn.Linear(32, 16))
    assert bcr_mlir.prune(model, "bcr", rate=4) is model
    assert callable(bcr_mlir.prune.plot) and bcr_mlir.prune.prune is not bcr_mlir.prune
    code = ("import sys, bcr_mlir; bcr_mlir.prune; import bcr_mlir.prune.mapping; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch_mlir', 'iree', 'mlir', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": bcr_mlir.__path__[0].rsplit("/", 1)[0], "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "[]", "importing the pruning library must not load MLIR, IREE or matplotlib"


def test_the_compiler_reads_the_metadata():
    importer = pytest.importorskip("bcr_mlir.importer")
    model = prune_mixed(mixed())
    assert importer.sparsity_metadata(model) == {k: v.to_dict() for k, v in sparsity_plan(model).items()}
