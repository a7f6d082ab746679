"""Scheme mapping: rule-based and search-based plans, and the latency models behind them."""
import copy
import json
import subprocess
import sys

import pytest
import torch
from torch import nn

import bcr_mlir
from bcr_mlir.prune import (FlopLatency, LayerSparsity, MeasuredLatency, accuracy, apply_plan, describe, digits,
                            fit, TrainConfig, rule_based_plan, search_plan, sparsity_plan, to_json)
from bcr_mlir.prune.mapping import default_candidates, single_layer_module


class Zoo(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)                 # small: stays dense
        self.conv3x3 = nn.Conv2d(8, 32, 3, padding=1)
        self.conv1x1 = nn.Conv2d(32, 64, 1)
        self.conv5x5 = nn.Conv2d(64, 32, 5, padding=2)
        self.grouped = nn.Conv2d(32, 32, 3, padding=1, groups=8)  # 4 filters per group
        self.depthwise = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.conv3d = nn.Conv3d(4, 16, 3, padding=1)
        self.gru = nn.GRU(32, 64, batch_first=True)
        self.fc = nn.Linear(64, 40)

    def forward(self, x, clip):
        y = self.depthwise(self.grouped(self.conv5x5(self.conv1x1(self.conv3x3(self.stem(x))))))
        z = self.conv3d(clip).mean((2, 3, 4))
        seq = y.flatten(2).transpose(1, 2)
        out, _ = self.gru(seq)
        return self.fc(out[:, -1]) + z.sum()


def zoo():
    torch.manual_seed(0)
    return Zoo().eval(), (torch.randn(1, 3, 8, 8), torch.randn(1, 4, 4, 6, 6))


def test_rule_based_plan_by_type_and_shape():
    model, _ = zoo()
    plan = rule_based_plan(model, rate=8)
    schemes = {name: info.scheme for name, info in plan.items()}
    assert schemes == {"conv3x3.weight": "pattern", "conv1x1.weight": "bcr", "conv5x5.weight": "bcr",
                       "grouped.weight": "bcr", "conv3d.weight": "kgs", "gru.weight_ih_l0": "bcr",
                       "gru.weight_hh_l0": "bcr", "fc.weight": "bcr"}
    assert plan["conv3x3.weight"].params["connectivity_rate"] == pytest.approx(8 / 2.25)
    assert plan["grouped.weight"].params["block"] == [4, 16]   # blocks inside a group of 4 filters
    assert plan["conv1x1.weight"].params["block"] == [8, 16]
    assert len(plan["conv3x3.weight"].params["patterns"]) == 8
    # The JSON plan is what the compiler reads and what apply_plan takes.
    apply_plan(model, json.loads(to_json(plan)))
    got = sparsity_plan(model)
    assert set(got) == set(plan)
    for name, info in got.items():
        assert info.scheme == plan[name].scheme and info.params == plan[name].params
        assert info.rate == pytest.approx(8, rel=0.1)


def test_describe_counts_positions():
    model, inputs = zoo()
    layers = {l.name: l.desc for l in describe(model, inputs)}
    assert layers["conv3x3.weight"].positions == 64 and layers["conv3x3.weight"].input_shape == (8, 8, 8)
    assert layers["conv3d.weight"].positions == 4 * 6 * 6
    assert layers["gru.weight_hh_l0"].positions == 64      # one step per pixel
    assert layers["fc.weight"].positions == 1


def test_flop_model_orders_schemes_sensibly():
    model, inputs = zoo()
    conv = next(l.desc for l in describe(model, inputs) if l.name == "conv1x1.weight")
    flop = FlopLatency()
    dense = flop.latency(conv, None, {}, 1.0)
    bcr = {r: flop.latency(conv, "bcr", {"block": [8, 16], "balanced": True}, r) for r in (2, 4, 8, 16)}
    assert dense > bcr[2] > bcr[4] > bcr[8] > bcr[16]
    assert flop.latency(conv, "unstructured", {}, 8) > bcr[8]
    assert flop.latency(conv, "bcr", {"block": [16, 16], "balanced": True}, 8) < flop.latency(
        conv, "bcr", {"block": [4, 16], "balanced": True}, 8)


def test_search_picks_the_fastest_candidate_within_budget():
    model, inputs = zoo()
    flop = FlopLatency()
    everything = search_plan(model, inputs, rate=8, latency=flop, budget=1.0)
    nothing = search_plan(model, inputs, rate=8, latency=flop, budget=-1.0)
    assert nothing == {}, "no candidate within budget: every layer stays dense"
    layers = {l.name: l for l in describe(model, inputs)}
    assert "depthwise.weight" not in everything
    grouped = [s for s in default_candidates(layers["grouped.weight"].desc, 8) if hasattr(s, "block") or hasattr(s, "group")]
    assert grouped and all(4 % (getattr(s, "block", None) or s.group)[0] == 0 for s in grouped)
    assert "grouped.weight" in everything
    for name, info in everything.items():
        layer = layers[name]
        times = [flop.latency(layer.desc, s.name, s.resolve(layer.weight, layer.desc).params(), 8)
                 for s in default_candidates(layer.desc, 8)]
        assert flop.latency(layer.desc, info.scheme, info.params, 8) == pytest.approx(min(times))
        assert min(times) < flop.latency(layer.desc, None, {}, 1.0)


def test_search_with_an_accuracy_budget_on_digits():
    (x, y), test = digits.load()
    torch.manual_seed(0)
    model = digits.DigitsCNN(width=16)
    fit(model, (x, y), TrainConfig(lr=3e-3, progress=False), epochs=6)
    budget = 0.03
    plan = search_plan(model, torch.zeros(1, 1, 8, 8), rate=2.5, budget=budget,
                       accuracy_fn=lambda m: accuracy(m, test))
    assert plan, "some layer can be pruned 2.5x within 3 points"
    base = accuracy(model, test)
    for name, info in plan.items():   # each chosen layer, pruned alone, is within the budget
        single = apply_plan(copy.deepcopy(model), {name: info})
        assert base - accuracy(single, test) <= budget + 1e-9
    json.loads(to_json(plan))


def test_single_layer_module_is_pruned_as_asked():
    model, inputs = zoo()
    conv = next(l.desc for l in describe(model, inputs) if l.name == "conv1x1.weight")
    module, x = single_layer_module(conv, "bcr", {"block": [8, 16], "balanced": True}, 4.0)
    assert x.shape == (1, 32, 8, 8) and module(x).shape == (1, 64, 8, 8)
    assert sparsity_plan(module)["weight"].rate == pytest.approx(4.0)


def test_measured_latency_falls_back_when_compile_fails(capsys):
    model, inputs = zoo()
    fc = next(l.desc for l in describe(model, inputs) if l.name == "fc.weight")
    measured = MeasuredLatency(target="no-such-target")
    seconds = measured.latency(fc, "bcr", {"block": [8, 16], "balanced": False}, 8.0)
    assert seconds == FlopLatency().latency(fc, "bcr", {"block": [8, 16], "balanced": False}, 8.0)
    assert "using the FLOP model" in capsys.readouterr().err


def test_measured_latency_without_the_compiler():
    code = """
import sys, torch
sys.modules['bcr_mlir.api'] = None          # as if the compiler were not installed
from bcr_mlir.prune import MeasuredLatency, FlopLatency, LayerDescription
d = LayerDescription('fc.weight', 'linear', (64, 32))
m = MeasuredLatency()
assert m.latency(d, 'bcr', {'block': [8, 16], 'balanced': False}, 8.0) == FlopLatency().latency(d, 'bcr', {'block': [8, 16], 'balanced': False}, 8.0)
assert m.compiler_missing
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": bcr_mlir.__path__[0].rsplit("/", 1)[0], "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert "bcr_mlir.compile is not available" in run.stderr


def test_measured_latency_with_the_compiler(tmp_path):
    pytest.importorskip("bcr_mlir.api")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1))
    conv = describe(model, torch.randn(1, 32, 16, 16))[0].desc
    cache = tmp_path / "latency.json"
    measured = MeasuredLatency(cache_path=cache, repeats=10)
    dense = measured.latency(conv, None, {}, 1.0)
    sparse = measured.latency(conv, "bcr", {"block": [8, 16], "balanced": False}, 8.0)
    assert not measured.compiler_missing
    assert 0 < sparse < dense, f"8x BCR {sparse * 1e6:.0f} us vs dense {dense * 1e6:.0f} us"
    assert len(json.loads(cache.read_text())) == 2
    reloaded = MeasuredLatency(cache_path=cache)
    assert reloaded.latency(conv, None, {}, 1.0) == dense   # served from the cache, no compile
