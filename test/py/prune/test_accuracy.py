"""Accuracy on real data (scikit-learn digits): dense, then pruned with ADMM, within the issue's budgets.

The recipes live in bcr_mlir.prune.digits.EXPERIMENTS, shared with examples/prune_digits.py and the
table in docs/pruning.md. Each test must train in under 2 minutes (one thread here, so this holds
on 2 cores with room to spare).
"""
import copy
import time

import pytest
import torch

from bcr_mlir.prune import accuracy, digits, sparsity_plan

import structure_checks as check

TIME_LIMIT = 120.0


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


@pytest.fixture(scope="module")
def dense_cnn():
    torch.set_num_threads(1)
    (model, train, test), seconds = timed(digits.train_dense, "cnn-bcr")
    return model, train, test, seconds


def test_dense_cnn_reaches_97_percent(dense_cnn):
    model, _, test, seconds = dense_cnn
    assert accuracy(model, test) >= 0.97
    assert seconds < TIME_LIMIT


@pytest.mark.parametrize("name,max_drop", [("cnn-bcr", 1.0), ("cnn-pattern", 1.0)])
def test_pruned_cnn(dense_cnn, name, max_drop):
    dense, train, test, dense_seconds = dense_cnn
    assert digits.EXPERIMENTS[name][:3] == digits.EXPERIMENTS["cnn-bcr"][:3], "both CNN cases share the dense model"
    model = copy.deepcopy(dense)
    _, seconds = timed(digits.prune_experiment, name, model, train, test)
    drop = 100 * (accuracy(dense, test) - accuracy(model, test))
    assert drop <= max_drop, f"{name}: lost {drop:.2f} points"
    assert dense_seconds + seconds < TIME_LIMIT
    plan = sparsity_plan(model)
    weights = dict(model.named_parameters())
    for layer, info in plan.items():
        w = weights[layer].detach().numpy()
        if name == "cnn-bcr":
            check.check_bcr(w, info.params["block"], balanced=False)
            assert info.rate == pytest.approx(8.0, rel=0.02)
        else:
            check.check_pattern(w, info.params["patterns"])
            assert info.rate == pytest.approx(2.25 * 3.6, rel=0.02)


def test_pruned_gru():
    torch.set_num_threads(1)
    (dense_model, train, test), dense_seconds = timed(digits.train_dense, "gru-bcr")
    assert dense_model.gru.hidden_size >= 64 and dense_model.gru.input_size == 8
    dense = accuracy(dense_model, test)
    model = copy.deepcopy(dense_model)
    _, seconds = timed(digits.prune_experiment, "gru-bcr", model, train, test)
    drop = 100 * (dense - accuracy(model, test))
    assert drop <= 1.5, f"GRU lost {drop:.2f} points"
    assert dense_seconds + seconds < TIME_LIMIT
    plan = sparsity_plan(model)
    assert set(plan) == {"gru.weight_ih_l0", "gru.weight_hh_l0"}
    for layer, info in plan.items():
        check.check_bcr(dict(model.named_parameters())[layer].detach().numpy(), (4, 8), balanced=False)
        assert info.rate == pytest.approx(8.0, rel=0.02)
