"""Fine-tuning under torchrun: 2 processes, gloo on CPU, end with identical masked weights."""
import os
import subprocess
import sys

import torch

import structure_checks as check

HERE = os.path.dirname(__file__)


def test_two_ranks_end_identical(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(HERE, "ddp_worker.py"), str(tmp_path)]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert ranks[0]["plan"] == ranks[1]["plan"] and set(ranks[0]["plan"]) == {"conv2.weight", "conv3.weight"}
    for name, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][name]), f"{name} differs between ranks"
    for name in ("conv2.weight", "conv3.weight"):
        w = ranks[0]["state"][name].numpy()
        check.check_bcr(w, (8, 16), balanced=False)
        assert check.rate(w) == ranks[0]["plan"][name]["rate"]
