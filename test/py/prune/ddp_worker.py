"""One rank of the DDP fine-tuning test (launched by torch.distributed.run, gloo on CPU).

Prunes a tiny digits CNN with ADMM + masked fine-tuning and saves this rank's final weights and
plan to <out>/rank<r>.pt.
"""
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "python"))

import bcr_mlir  # noqa: E402
from bcr_mlir.prune import TrainConfig, digits, sparsity_plan  # noqa: E402


def main(out_dir: str) -> None:
    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    rank = dist.get_rank()
    (x, y), _ = digits.load()
    # Different initial weights per rank on purpose: DDP must broadcast rank 0's.
    torch.manual_seed(100 + rank)
    model = digits.DigitsCNN(width=8)
    config = TrainConfig(epochs=2, finetune_epochs=2, lr=3e-3, batch_size=32, progress=False, seed=0)
    bcr_mlir.prune(model, "bcr", rate=4, layers=["conv2.weight", "conv3.weight"], method="admm",
                   data=(x[:256], y[:256]), config=config)
    plan = {k: v.to_dict() for k, v in sparsity_plan(model).items()}
    torch.save({"state": model.state_dict(), "plan": plan, "world": dist.get_world_size()},
               os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
