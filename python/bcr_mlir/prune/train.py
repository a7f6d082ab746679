"""Training recipes: one-shot magnitude, reweighted group regularisation (RT3D), ADMM (PatDNN).

Every recipe ends the same way: hard-prune by the scheme's mask, then masked fine-tuning (the
weights are re-masked after every optimiser step, so pruned weights stay exactly zero).

Training runs under DDP when `torch.distributed` is initialised (e.g. launched by `torchrun`; gloo
works on CPU): the model is wrapped in DistributedDataParallel, the data is sharded with a
DistributedSampler, and rank 0's masks are broadcast so that every rank prunes identically.
Shuffling and initial state are seeded, so a run is deterministic for a given seed.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler, RandomSampler, TensorDataset
from tqdm.auto import tqdm

from .core import Target, commit
from .schemes.base import unit_energy


@dataclasses.dataclass
class TrainConfig:
    """Options of the training recipes (unused fields are ignored by recipes that don't need them)."""

    epochs: int = 10              # regularised phase (ADMM or reweighted)
    finetune_epochs: int = 10     # masked retraining after the hard prune
    lr: float = 1e-3
    finetune_lr: float | None = None   # None: same as lr
    batch_size: int = 64
    weight_decay: float = 0.0
    seed: int = 0
    progress: bool = True
    loss: Callable = F.cross_entropy
    # ADMM: penalty rho/2 ||W - Z + U||^2, rho multiplied by rho_growth after every epoch.
    rho: float = 1e-2
    rho_growth: float = 1.5
    # Reweighted group regularisation: penalty sum_g alpha_g ||W_g||, alpha_g = 1 / (||W_g||^2 + eps).
    penalty: float = 1e-4
    reweight_eps: float = 1e-3


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _rank() -> int:
    return dist.get_rank() if _distributed() else 0


def _as_dataset(data) -> Dataset:
    return TensorDataset(*data) if isinstance(data, (tuple, list)) else data


def _loader(data, batch_size: int, seed: int, epoch: int) -> DataLoader:
    dataset = _as_dataset(data)
    if _distributed():
        sampler = DistributedSampler(dataset, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
    else:
        sampler = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed + epoch))
    # Batches of indices go to the dataset in one call: a TensorDataset slices whole batches at once.
    return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last=False), batch_size=None)


@torch.no_grad()
def accuracy(model: nn.Module, data, batch_size: int = 512) -> float:
    """Top-1 accuracy (in [0, 1]) of a classifier on a Dataset or an (inputs, labels) tuple."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y in DataLoader(_as_dataset(data), batch_size=batch_size):
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    model.train(was_training)
    return correct / max(1, total)


def fit(model: nn.Module, data, config: TrainConfig, *, epochs: int, lr: float | None = None,
        masks: dict[nn.Parameter, torch.Tensor] | None = None, penalty: Callable[[], torch.Tensor] | None = None,
        after_epoch: Callable[[int], None] | None = None, eval_data=None, desc: str = "train") -> list[dict]:
    """Train `model` in place; returns one {epoch, loss, acc, val_acc} dict per epoch.

    `masks` maps parameters to keep-masks re-applied after every step; `penalty()` is added to the
    loss; `after_epoch(epoch)` runs after each epoch (ADMM and reweighting update their state there).
    """
    torch.manual_seed(config.seed)
    net = nn.parallel.DistributedDataParallel(model) if _distributed() else model
    optimizer = torch.optim.Adam(model.parameters(), lr=lr or config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(_loader(data, config.batch_size, config.seed, 0))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, epochs * steps_per_epoch))
    was_training = model.training
    history = []
    bar = tqdm(total=epochs * steps_per_epoch, desc=desc, disable=not config.progress or _rank() != 0,
               mininterval=0.5, leave=False, dynamic_ncols=True)
    for epoch in range(epochs):
        model.train()
        loss_sum = correct = seen = 0.0
        for x, y in _loader(data, config.batch_size, config.seed, epoch):
            out = net(x)
            loss = config.loss(out, y)
            total = loss + penalty() if penalty is not None else loss
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            schedule.step()
            if masks:
                with torch.no_grad():
                    for param, mask in masks.items():
                        param.mul_(mask)
            loss_sum += float(loss.detach()) * len(y)
            correct += int((out.argmax(1) == y).sum())
            seen += len(y)
            bar.update(1)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}", refresh=False)
        if after_epoch is not None:
            after_epoch(epoch)
        record = {"epoch": epoch, "loss": loss_sum / seen, "acc": correct / seen}
        if eval_data is not None:
            record["val_acc"] = accuracy(model, eval_data)
            bar.set_postfix(loss=f"{record['loss']:.4f}", acc=f"{record['acc']:.3f}", val=f"{record['val_acc']:.3f}")
        history.append(record)
    bar.close()
    model.train(was_training)
    return history


def _shared_masks(targets: list[Target]) -> dict[str, torch.Tensor]:
    """The targets' masks from the current weights, identical on every rank (rank 0's win)."""
    masks = {t.layer.name: t.mask() for t in targets}
    if _distributed():
        for name, mask in masks.items():
            as_bytes = mask.to(torch.uint8)
            dist.broadcast(as_bytes, src=0)
            masks[name] = as_bytes.bool()
    return masks


def prune_and_finetune(model: nn.Module, targets: list[Target], data=None, config: TrainConfig | None = None,
                       eval_data=None) -> list[dict]:
    """Hard-prune every target by its mask, then (with data) masked fine-tuning. Records metadata."""
    config = config or TrainConfig()
    masks = _shared_masks(targets)
    commit(targets, masks)
    history = []
    if data is not None and config.finetune_epochs > 0:
        by_param = {t.layer.weight: masks[t.layer.name] for t in targets}
        history = fit(model, data, config, epochs=config.finetune_epochs, lr=config.finetune_lr or config.lr,
                      masks=by_param, eval_data=eval_data, desc="masked fine-tune")
        commit(targets, masks)   # the same masks: re-records the achieved rates
    return history


def admm_phase(model: nn.Module, targets: list[Target], data, config: TrainConfig, eval_data=None) -> list[dict]:
    """PatDNN-style ADMM: minimise loss + rho/2 ||W - Z + U||^2 with Z = project(W + U), U += W - Z.

    Z and U are updated after every epoch and rho grows by `rho_growth`, pulling W onto the
    scheme's constraint set. The weights are not pruned yet.
    """
    weights = [t.layer.weight for t in targets]

    def project(t: Target, w: torch.Tensor) -> torch.Tensor:
        return t.layer.from_conv(t.scheme.project(t.layer.to_conv(w), t.layer.desc))

    with torch.no_grad():
        z = [project(t, w) for t, w in zip(targets, weights)]
        u = [torch.zeros_like(w) for w in weights]
    rho = [config.rho]

    def penalty():
        return sum((w - zi + ui).pow(2).sum() for w, zi, ui in zip(weights, z, u)) * (rho[0] / 2)

    @torch.no_grad()
    def update(epoch):
        for i, (t, w) in enumerate(zip(targets, weights)):
            z[i] = project(t, w + u[i])
            u[i] += w - z[i]
        rho[0] *= config.rho_growth

    return fit(model, data, config, epochs=config.epochs, penalty=penalty, after_epoch=update,
               eval_data=eval_data, desc="ADMM")


def unit_ids(target: Target) -> list[torch.Tensor]:
    """The scheme's partitions (unit id per element, -1 = none) over the flattened weight, in its own layout."""
    layer = target.layer
    return [layer.from_conv(ids.reshape(layer.desc.shape)).reshape(-1) for ids in target.scheme.partitions(layer.desc)]


def reweighted_phase(model: nn.Module, targets: list[Target], data, config: TrainConfig, eval_data=None) -> list[dict]:
    """RT3D-style reweighted group regularisation over the scheme's units (no pruning yet).

    The penalty is `penalty * sum_g alpha_g ||W_g||_2` over each scheme partition's units g
    (column segments for BCR, kernel-group positions for KGS, ...). After every epoch
    alpha_g = 1 / (||W_g||^2 + eps): small groups are pushed harder, large ones are left alone.
    """
    groups = []   # (weight, flat element indices, unit ids, number of units)
    for t in targets:
        for flat in unit_ids(t):
            keep = torch.nonzero(flat >= 0).squeeze(1)
            units = flat[keep]
            groups.append((t.layer.weight, keep, units, int(units.max()) + 1))
    alphas = [None] * len(groups)

    @torch.no_grad()
    def reweight(epoch=None):
        for i, (w, keep, units, n) in enumerate(groups):
            energy, _ = unit_energy(w.reshape(-1)[keep], units, n)
            alphas[i] = (1.0 / (energy + config.reweight_eps)).float()

    def penalty():
        total = 0.0
        for (w, keep, units, n), alpha in zip(groups, alphas):
            squares = torch.zeros(n, dtype=w.dtype).index_add(0, units, w.reshape(-1)[keep].pow(2))
            total = total + (alpha * torch.sqrt(squares + 1e-12)).sum()
        return config.penalty * total

    reweight()
    return fit(model, data, config, epochs=config.epochs, penalty=penalty, after_epoch=reweight,
               eval_data=eval_data, desc="reweighted")


def admm(model: nn.Module, targets: list[Target], data, config: TrainConfig | None = None, eval_data=None) -> list[dict]:
    """ADMM (`admm_phase`), then hard prune and masked retraining."""
    config = config or TrainConfig()
    history = admm_phase(model, targets, data, config, eval_data)
    return history + prune_and_finetune(model, targets, data, config, eval_data)


def reweighted(model: nn.Module, targets: list[Target], data, config: TrainConfig | None = None,
               eval_data=None) -> list[dict]:
    """Reweighted group regularisation (`reweighted_phase`), then hard prune and masked retraining."""
    config = config or TrainConfig()
    history = reweighted_phase(model, targets, data, config, eval_data)
    return history + prune_and_finetune(model, targets, data, config, eval_data)


METHODS = {"magnitude": prune_and_finetune, "admm": admm, "reweighted": reweighted}


def run_method(method: str, model, targets, data, config, eval_data) -> list[dict]:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if method != "magnitude" and data is None:
        raise ValueError(f"method {method!r} trains the model: pass data=(inputs, labels) or a Dataset")
    return METHODS[method](model, targets, data, config, eval_data)
