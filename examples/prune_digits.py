"""Prune small models on scikit-learn's digits and print dense vs pruned accuracy.

    .venv/bin/python examples/prune_digits.py                       # all three experiments (~2 min)
    .venv/bin/python examples/prune_digits.py --only cnn-bcr --out out/
    .venv/bin/python -m torch.distributed.run --nproc_per_node=2 examples/prune_digits.py --only cnn-bcr

Experiments (see bcr_mlir.prune.digits.EXPERIMENTS): a 3-conv CNN pruned with BCR at 8x or with
PatDNN patterns plus 3.6x connectivity, and a GRU (8 steps of 8 pixels) pruned with BCR at 8x, each
retrained with ADMM. Writes each pruned model's plan (JSON) and mask plots under --out.
"""
import argparse
import copy
import os
import sys
import time

import torch
import torch.distributed as dist

try:
    import bcr_mlir
except ImportError:   # running from a source checkout without `pip install -e .`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import bcr_mlir

from bcr_mlir.prune import accuracy, digits, sparsity_plan, to_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(digits.EXPERIMENTS), action="append",
                        help="run just this experiment (repeatable)")
    parser.add_argument("--out", default="build/prune_digits", help="directory for plans and plots")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()

    if "RANK" in os.environ:   # launched by torchrun: train with DDP over gloo
        dist.init_process_group("gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    torch.set_num_threads(1)
    rows, dense_models = [], {}
    for name in args.only or list(digits.EXPERIMENTS):
        layout, build, dense_config = digits.EXPERIMENTS[name][:3]
        key = (layout, build, str(dense_config))   # the two CNN experiments share one dense model
        start = time.perf_counter()
        if key not in dense_models:
            dense_models[key] = digits.train_dense(name, args.seed, progress=not args.no_progress)
        model, train, test = copy.deepcopy(dense_models[key])
        dense_seconds, dense_acc = time.perf_counter() - start, accuracy(model, test)
        start = time.perf_counter()
        digits.prune_experiment(name, model, train, test, args.seed, progress=not args.no_progress)
        prune_seconds, pruned_acc = time.perf_counter() - start, accuracy(model, test)
        plan = sparsity_plan(model)
        total = sum(p.numel() for n, p in model.named_parameters() if n in plan)
        nonzero = sum(int(torch.count_nonzero(p)) for n, p in model.named_parameters() if n in plan)
        rows.append((name, dense_acc, pruned_acc, total / nonzero, dense_seconds, prune_seconds))
        if rank == 0:
            os.makedirs(args.out, exist_ok=True)
            to_json(plan, os.path.join(args.out, f"{name}.plan.json"))
            bcr_mlir.prune.plot(model, os.path.join(args.out, name))
    if rank == 0:
        print(f"{'experiment':12} {'dense':>7} {'pruned':>7} {'drop':>6} {'rate':>6} {'dense s':>8} {'prune s':>8}")
        for name, dense_acc, pruned_acc, rate, dense_s, prune_s in rows:
            print(f"{name:12} {100 * dense_acc:6.2f}% {100 * pruned_acc:6.2f}% {100 * (dense_acc - pruned_acc):5.2f} "
                  f"{rate:5.2f}x {dense_s:8.1f} {prune_s:8.1f}")
        print(f"plans and mask plots in {args.out}/")
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
