"""bcr-bench: a --quick smoke run (outputs exist, every engine that ran matched PyTorch), plus the pieces
that need no compiler: the CSR baseline, the output check, ratios and goals, the CLI's errors.

Needs neither the network nor the peers' venvs (.bench/peers, .bench/litert): --quick uses only the
engines of the project's venv.
"""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from bcr_mlir.bench import csr, report
from bcr_mlir.bench.models import RECIPES, build, pointwise_layers
from bcr_mlir.bench.run import ATOL, RTOL, check_output
from bcr_mlir.tools import bench


@pytest.fixture
def bench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BCR_BENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_quick_run_writes_json_markdown_and_charts_and_every_engine_matches(tmp_path, bench_home, capsys):
    out = tmp_path / "out"
    assert bench.main(["--quick", "--models", "vgg16", "--out", str(out)]) == 0
    for name in ("results.json", "results.md", "vgg16.png", "speedups.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "vgg16.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["mode"] == "quick" and results["meta"]["threads"] == [1, 2]
    model = results["models"]["vgg16"]
    assert model["small"] and model["pruned_weights"] == model["prunable_weights"] == 14
    engines = model["engines"]
    assert list(engines) == ["bcr-sparse", "iree-dense-tuned", "iree-dense-default", "torch", "torch-csr"]
    ran = {name: e for name, e in engines.items() if e["threads"]}
    assert "torch" in ran and "torch-csr" in ran
    for name, entry in engines.items():
        assert entry["status"] in ("ok", "compile failed"), (name, entry["status"], entry["reason"])
    for name, entry in ran.items():
        assert entry["status"] == "ok" and entry["check"]["match"], (name, entry["check"])
        for threads in ("1", "2"):
            stats = entry["threads"][threads]
            assert stats["runs"] >= 6 and 0 < stats["min_ms"] <= stats["median_ms"]
            assert entry["peak_rss_mb"][threads] > 0
    if "bcr-sparse" in ran:
        assert model["compile"]["bcr-sparse"]["bytes"] > 0 and model["compile"]["bcr-sparse"]["seconds"] > 0
        assert "sparse_layers" in model
        # at 2 threads it runs a module compiled with the schedules cached for 2 threads
        assert set(engines["bcr-sparse"]["tuned_layers"]) == {"2"}
        assert "2T: " in (out / "results.md").read_text()
    assert {g["against"] for g in model["goals"]} == {"iree-dense", "dense-peer", "csr"}
    markdown = (out / "results.md").read_text()
    assert "## Summary" in markdown and "## Goals" in markdown and "torch.sparse CSR" in markdown
    assert "Quick mode" in markdown and "![vgg16](vgg16.png)" in markdown
    assert "vgg16" in capsys.readouterr().out


def test_cli_rejects_unknown_model_and_engine_with_one_line(capsys, bench_home):
    assert bench.main(["--quick", "--models", "alexnet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model 'alexnet'") and "vgg16" in err
    assert bench.main(["--engines", "tensorrt"]) == 1
    assert "unknown engine 'tensorrt'" in capsys.readouterr().err
    assert bench.main(["--threads", "0"]) == 1


@pytest.mark.parametrize("layer, shape", [
    (nn.Conv2d(6, 8, 3, stride=2, padding=1), (2, 6, 9, 9)),
    (nn.Conv2d(6, 8, 1, bias=False), (1, 6, 5, 5)),
    (nn.Conv2d(4, 8, (3, 5), stride=(1, 2), padding=(1, 2), dilation=(1, 2)), (1, 4, 8, 11)),
    (nn.Conv3d(3, 5, 3, padding=1), (1, 3, 4, 6, 6)),
    (nn.Conv3d(3, 5, (1, 2, 2), stride=(1, 2, 2)), (2, 3, 2, 6, 6)),
    (nn.Linear(12, 7), (3, 4, 12)),
])
def test_csr_layers_match_dense(layer, shape):
    torch.manual_seed(0)
    with torch.no_grad():
        layer.weight.mul_(torch.rand_like(layer.weight) > 0.8)
    x = torch.randn(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = csr.to_csr(nn.Sequential(layer))
    assert csr.count_csr(converted) == 1
    with torch.no_grad():
        torch.testing.assert_close(converted(x), layer(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch_first", [True, False])
def test_csr_gru_matches_torch(batch_first):
    torch.manual_seed(0)
    gru = nn.GRU(5, 8, 2, batch_first=batch_first).eval()
    x = torch.randn((1, 6, 5) if batch_first else (6, 1, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = csr.to_csr(nn.Sequential(gru))
    with torch.no_grad():
        want, want_h = gru(x)
        got, got_h = converted(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_h, want_h, rtol=1e-5, atol=1e-5)


def test_depthwise_convs_stay_dense_in_csr():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, groups=4), nn.Conv2d(4, 8, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = csr.to_csr(model)
    assert isinstance(converted[0], nn.Conv2d) and isinstance(converted[1], csr.CSRConv2d)


def test_recipes_prune_what_the_issue_asks():
    bm = build("mobilenetv2", small=True)
    assert set(bm.plan) == set(pointwise_layers(bm.model)) and bm.plan
    assert all(s.scheme == "group" for s in bm.plan.values())
    for name, sparsity in bm.plan.items():   # 70% of the weights zero (tiny layers round to whole channels)
        assert 0.69 <= 1 - 1 / sparsity.rate <= 0.76, (name, sparsity.rate)
    gru = build("gru", small=True)
    assert {s.scheme for s in gru.plan.values()} == {"bcr"} and any("weight_hh" in n for n in gru.plan)
    assert RECIPES["vgg16"].rate == 8 and RECIPES["resnet18"].rate == 5 and RECIPES["c3d"].scheme == "kgs"
    c3d = build("c3d", small=True)
    assert c3d.reference.shape[0] == 1 and {s.scheme for s in c3d.plan.values()} == {"kgs"}


def test_output_check_tolerance():
    reference = np.array([[10.0, -2.0, 0.5]], dtype=np.float32)
    assert check_output(reference + 0.009, reference)["match"]           # 9e-3 <= 1e-4 + 1e-3 * 10
    bad = check_output(reference + 0.02, reference)
    assert not bad["match"] and "max |error|" in bad["why"]
    assert check_output(reference.reshape(3), reference)["match"]         # ncnn drops the batch dimension
    assert not check_output(np.zeros(4), reference)["match"]
    assert not check_output(reference * np.nan, reference)["match"]
    assert (RTOL, ATOL) == (1e-3, 1e-4)


def _engine(ms: dict[str, float], status="ok"):
    return {"status": status, "threads": {t: {"median_ms": v, "min_ms": v, "runs": 20} for t, v in ms.items()}}


def test_ratios_use_the_faster_iree_flags_and_skip_mismatched_peers():
    results = {"meta": {"threads": [1, 2], "mode": "full"}, "models": {"vgg16": {"engines": {
        "bcr-sparse": _engine({"1": 1.0, "2": 0.8}),
        "iree-dense-tuned": _engine({"1": 6.0, "2": 3.0}),
        "iree-dense-default": _engine({"1": 5.0, "2": 4.0}),
        "torch": _engine({"1": 20.0, "2": 10.0}),
        "onnxruntime": _engine({"1": 2.0, "2": 1.0}, status="MISMATCH"),
        "mnn": _engine({"1": 2.0, "2": 2.0}),
        "torch-csr": _engine({"1": 30.0, "2": 3.0}),
    }}}}
    report.add_ratios_and_goals(results)
    model = results["models"]["vgg16"]
    one, two = model["ratios"]["1"], model["ratios"]["2"]
    assert one["iree_dense"] == "iree-dense-default" and one["vs_iree-dense"] == pytest.approx(5.0)
    assert two["iree_dense"] == "iree-dense-tuned" and two["vs_iree-dense"] == pytest.approx(3.75)
    assert one["dense_peer"] == "mnn" and one["vs_dense-peer"] == pytest.approx(2.0)
    goals = {g["against"]: g["met"] for g in model["goals"]}
    assert goals == {"iree-dense": "partly", "dense-peer": False, "csr": "partly"}
    markdown = report.to_markdown(dict(results, meta=dict(results["meta"], date="now", repeats=20, rounds=5,
                                                          machine={"cpu": "x", "cores": 2, "load_average": [0]},
                                                          torch="t", iree="i")))
    assert "| vgg16 | 1 | 1.00 | 5.00 (default) | 2.00 (MNN) | 30.00 | 5.00x | 2.00x | 30.00x |" in markdown
    assert "**MISMATCH**" in markdown and "partly met" in markdown
