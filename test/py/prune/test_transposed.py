"""Transposed convs (decoders, upsampling): pruned in the form of the conv they compute.

A ConvTranspose's weight [Cin, Cout/G, *K] is, to the compiler, the conv weight [Cout, Cin/G, *K] with the
kernel flipped, applied to the zero-stuffed input. The schemes must see that conv form, or their blocks and
patterns would not be the structure the generated kernels skip.
"""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bcr_mlir
from bcr_mlir.prune import (TrainConfig, accuracy, digits, find_layers, fit, rule_based_plan, select_targets,
                            sparsity_plan)
from bcr_mlir.prune.schemes import BCR, KGS, Group

import structure_checks as check

TRANSPOSED = [nn.ConvTranspose1d(16, 32, 3, padding=1), nn.ConvTranspose2d(16, 64, 3, padding=1, groups=4),
              nn.ConvTranspose3d(8, 16, 3, padding=1)]
CONVS = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@pytest.mark.parametrize("module", TRANSPOSED, ids=lambda m: type(m).__name__ + f"_g{m.groups}")
def test_conv_form_is_the_conv_the_layer_computes(module):
    """At stride 1, conv_transpose(x, W, padding=p) == conv(x, to_conv(W), padding=K-1-p): checked numerically,
    and from_conv undoes to_conv."""
    torch.manual_seed(0)
    (layer,) = find_layers(module)
    dims = module.weight.dim() - 2
    conv_weight = layer.conv_weight.detach()
    assert tuple(conv_weight.shape) == layer.desc.shape == (module.out_channels, module.in_channels // module.groups,
                                                            *module.kernel_size)
    x = torch.randn(1, module.in_channels, *[6] * dims)
    expected = module(x)
    got = CONVS[dims](x, conv_weight, module.bias, padding=module.kernel_size[0] - 1 - module.padding[0],
                      groups=module.groups)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(layer.from_conv(conv_weight), module.weight.detach())


@pytest.mark.parametrize("module", TRANSPOSED, ids=lambda m: type(m).__name__ + f"_g{m.groups}")
def test_bcr_blocks_are_in_the_conv_form(module):
    module = copy.deepcopy(module)
    bcr_mlir.prune(module, "bcr", rate=8)
    (layer,) = find_layers(module)
    rows_per_group = module.out_channels // module.groups
    block = (min(8, rows_per_group), 16)
    check.check_bcr(layer.conv_weight.detach().numpy(), block, balanced=False)
    assert sparsity_plan(module)["weight"].params["block"] == list(block)
    assert check.rate(module.weight.detach()) == pytest.approx(8, rel=0.1)


def test_patterns_are_in_the_conv_form():
    module = nn.ConvTranspose2d(16, 32, 3, stride=2, padding=1, output_padding=1)
    bcr_mlir.prune(module, "pattern", connectivity_rate=2)
    (layer,) = find_layers(module)
    check.check_pattern(layer.conv_weight.detach().numpy(), sparsity_plan(module)["weight"].params["patterns"])


class DigitsDecoder(nn.Module):
    """8x8 digits down to 4x4 by a strided conv, up to 8x8 by a transposed conv, then a classifier."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(1, 32, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(32, 32, 3, stride=2, padding=1, output_padding=1)
        self.fc = nn.Linear(32 * 64, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.up(torch.relu(self.down(x)))).flatten(1))


@pytest.fixture(scope="module")
def trained_decoder():
    torch.manual_seed(0)
    train, test = digits.load()
    model = DigitsDecoder()
    fit(model, train, TrainConfig(lr=3e-3, progress=False), epochs=6)
    return model, train, test


def test_admm_works_on_the_conv_form(trained_decoder):
    """ADMM projects the conv form: before the hard prune, the weights hold far less energy where the mask will
    cut than after plain training; after it, the accuracy holds."""
    from bcr_mlir.prune.train import admm_phase
    dense, train, test = trained_decoder
    scheme = Group(rate=4, group=(8, 4))

    def pruned_energy(model):
        (target,) = select_targets(model, scheme, layers=["up.weight"])
        w = target.layer.weight.detach()
        return float((w * ~target.mask()).pow(2).sum() / w.pow(2).sum())

    config = TrainConfig(epochs=3, lr=3e-3, rho=1.0, progress=False)
    plain, regular = copy.deepcopy(dense), copy.deepcopy(dense)
    fit(plain, train, config, epochs=3)
    admm_phase(regular, select_targets(regular, scheme, layers=["up.weight"]), train, config)
    assert pruned_energy(regular) < 0.25 * pruned_energy(plain), (pruned_energy(regular), pruned_energy(plain))
    bcr_mlir.prune(regular, scheme, layers=["up.weight"])
    assert accuracy(regular, test) > accuracy(dense, test) - 0.05


@pytest.mark.parametrize("scheme", [Group(rate=4, group=(8, 4)), KGS(rate=4, group=(4, 4)), BCR(rate=4)],
                         ids=lambda s: s.name)
def test_regularised_units_are_the_masks_units(trained_decoder, scheme):
    """The units reweighted training penalises, in the weight's own layout, are whole units of the mask: each is
    kept or pruned entirely (BCR's column segments too, as it prunes no rows at this rate)."""
    from bcr_mlir.prune.train import unit_ids
    (target,) = select_targets(copy.deepcopy(trained_decoder[0]), scheme, layers=["up.weight"])
    mask = target.mask().reshape(-1)
    ids = unit_ids(target)[0]
    for unit in torch.unique(ids[ids >= 0]):
        kept = mask[ids == unit]
        assert kept.all() or not kept.any(), f"unit {int(unit)} is split by the mask"
    assert len(torch.unique(ids[ids >= 0])) < ids.numel()


def test_rule_plan_takes_transposed_convs():
    plan = rule_based_plan(nn.Sequential(nn.ConvTranspose2d(32, 32, 3), nn.ConvTranspose1d(32, 64, 4, groups=2)), 8)
    assert {name: info.scheme for name, info in plan.items()} == {"0.weight": "pattern", "1.weight": "bcr"}
