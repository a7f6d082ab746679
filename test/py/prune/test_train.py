"""The training recipes on real data (digits): they do their job, keep zeros, and are deterministic."""
import copy

import pytest
import torch

import bcr_mlir
from bcr_mlir.prune import TrainConfig, accuracy, digits, fit, select_targets, sparsity_plan
from bcr_mlir.prune.schemes import BCR, Group

import structure_checks as check

LAYERS = ["conv2.weight", "conv3.weight"]


@pytest.fixture(scope="module")
def data():
    return digits.load()


@pytest.fixture(scope="module")
def dense(data):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = digits.DigitsCNN(width=16)
    fit(model, data[0], TrainConfig(lr=3e-3, progress=False), epochs=8)
    return model


def quick(**overrides):
    """A few epochs only, so rho and the penalty are large enough to act within them."""
    return TrainConfig(**{"epochs": 4, "finetune_epochs": 2, "lr": 3e-3, "rho": 1.0, "penalty": 3e-4,
                          "progress": False, **overrides})


def test_same_seed_same_weights_other_seed_differs(data):
    runs = []
    for seed in (0, 0, 1):
        torch.manual_seed(0)
        model = digits.DigitsCNN(width=8)
        bcr_mlir.prune(model, "bcr", rate=4, layers=LAYERS, method="admm", data=(data[0][0][:300], data[0][1][:300]),
                       config=quick(seed=seed, epochs=2))
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_masked_finetuning_keeps_zeros_and_trains(data, dense):
    model = copy.deepcopy(dense)
    bcr_mlir.prune(model, "bcr", rate=8, layers=LAYERS)
    one_shot = {n: p.detach().clone() for n, p in model.named_parameters()}
    bcr_mlir.prune(model, "bcr", rate=8, layers=LAYERS, data=data[0], config=quick(finetune_epochs=2))
    for name in LAYERS:
        before, after = one_shot[name], dict(model.named_parameters())[name].detach()
        assert torch.equal(before == 0, after == 0), "fine-tuning neither revives nor adds zeros"
        assert not torch.equal(before, after), "the kept weights were trained"
        check.check_bcr(after.numpy(), (8, 16), balanced=False)


@pytest.mark.parametrize("method,scheme,options", [
    ("admm", "bcr", dict(rate=8)),
    ("reweighted", "group", dict(rate=4, group=(4, 4))),
])
def test_regularised_training_beats_one_shot(data, dense, method, scheme, options):
    """Right after the hard prune (no fine-tuning), the regularised model has lost far less."""
    train, test = data
    one_shot = bcr_mlir.prune(copy.deepcopy(dense), scheme, layers=LAYERS, **options)
    config = quick(finetune_epochs=0)
    trained = bcr_mlir.prune(copy.deepcopy(dense), scheme, layers=LAYERS, method=method, data=train, config=config,
                             **options)
    assert set(sparsity_plan(trained)) == set(LAYERS)
    gain = accuracy(trained, test) - accuracy(one_shot, test)
    assert gain > 0.1, f"{method}: {accuracy(trained, test):.3f} vs one-shot {accuracy(one_shot, test):.3f}"


@pytest.mark.parametrize("phase", ["admm", "reweighted"])
def test_regularisation_moves_energy_out_of_pruned_units(data, dense, phase):
    """Before any hard prune, the regularised weights hold little energy where the mask will cut."""
    from bcr_mlir.prune.train import admm_phase, reweighted_phase

    def pruned_energy(model):
        (target,) = select_targets(model, Group(rate=4, group=(4, 4)), layers=["conv3.weight"])
        w = target.layer.weight.detach()
        return float((w * ~target.mask()).pow(2).sum() / w.pow(2).sum())

    plain, regular = copy.deepcopy(dense), copy.deepcopy(dense)
    fit(plain, data[0], quick(), epochs=4)
    targets = select_targets(regular, Group(rate=4, group=(4, 4)), layers=["conv3.weight"])
    run = {"admm": admm_phase, "reweighted": reweighted_phase}[phase]
    run(regular, targets, data[0], quick(penalty=1e-3))
    assert sparsity_plan(regular) == {}, "the phase alone prunes nothing"
    assert pruned_energy(regular) < 0.5 * pruned_energy(plain)


def test_progress_bar_shows_loss_and_accuracy(data, capsys):
    torch.manual_seed(0)
    model = digits.DigitsCNN(width=4)
    fit(model, data[0], TrainConfig(progress=True), epochs=1, eval_data=data[1])
    err = capsys.readouterr().err
    assert "loss=" in err and "acc=" in err and "val=" in err


def test_bcr_scheme_object_is_accepted(data, dense):
    model = bcr_mlir.prune(copy.deepcopy(dense), BCR(rate=4, block=(4, 16), balanced=True), layers=LAYERS)
    for name in LAYERS:
        check.check_bcr(dict(model.named_parameters())[name].detach().numpy(), (4, 16), balanced=True)
