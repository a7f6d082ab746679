"""Ratios, goals, results.json and results.md.

Ratios are speed-ups of bcr-mlir sparse, per model and thread count: baseline median / sparse median.
- IREE dense = the faster of IREE's tuned and default flags (per model and thread count).
- Fastest dense peer = the fastest of PyTorch eager, ONNX Runtime, MNN, TVM, ncnn and LiteRT.
- CSR = torch.sparse CSR.
Only engines whose output matched PyTorch count as baselines.
"""
from __future__ import annotations

import json
from pathlib import Path

from bcr_mlir.bench.run import DENSE_PEERS, LABELS, ATOL, RTOL

# (what against, minimum speed-up) per model; every model also has (csr, 5).
GOALS = {
    "vgg16": [("iree-dense", 5.0), ("dense-peer", 3.0)],
    "resnet18": [("iree-dense", 3.0), ("dense-peer", 1.5)],
    "gru": [("iree-dense", 5.0)],
    "mobilenetv2": [("iree-dense", 1.3)],
}
EVERY_MODEL_GOALS = [("csr", 5.0)]
AGAINST = {"iree-dense": "IREE dense (best of tuned/default)", "dense-peer": "the fastest dense peer engine",
           "csr": "torch.sparse CSR"}


def _median(engine_entry: dict, threads: str, key: str = "median_ms") -> float | None:
    if engine_entry.get("status") != "ok":
        return None
    stats = engine_entry.get("threads", {}).get(threads)
    return stats[key] if stats else None


def _fastest(engines: dict, names: list[str], threads: str, key: str = "median_ms") -> tuple[str | None, float | None]:
    timed = [(m, n) for n in names if n in engines and (m := _median(engines[n], threads, key)) is not None]
    if not timed:
        return None, None
    best = min(timed)
    return best[1], best[0]


def _ratios(engines: dict, threads: str, key: str) -> dict:
    sparse = _median(engines.get("bcr-sparse", {}), threads, key)
    iree_name, iree_ms = _fastest(engines, ["iree-dense-tuned", "iree-dense-default"], threads, key)
    peer_name, peer_ms = _fastest(engines, DENSE_PEERS, threads, key)
    csr = _median(engines.get("torch-csr", {}), threads, key)
    entry = {"sparse_ms": sparse, "iree_dense": iree_name, "iree_dense_ms": iree_ms,
             "dense_peer": peer_name, "dense_peer_ms": peer_ms, "csr_ms": csr}
    for against, baseline in (("iree-dense", iree_ms), ("dense-peer", peer_ms), ("csr", csr)):
        entry[f"vs_{against}"] = baseline / sparse if sparse and baseline else None
    return entry


def add_ratios_and_goals(results: dict) -> None:
    """Adds `ratios` (from medians: what the goals use) and `ratios_min` (from each engine's fastest call)."""
    threads_list = [str(t) for t in results["meta"]["threads"]]
    for name, model in results["models"].items():
        engines = model.get("engines", {})
        ratios = {t: _ratios(engines, t, "median_ms") for t in threads_list}
        model["ratios"] = ratios
        model["ratios_min"] = {t: _ratios(engines, t, "min_ms") for t in threads_list}
        goals = []
        for against, minimum in GOALS.get(name, []) + EVERY_MODEL_GOALS:
            measured = {t: ratios[t][f"vs_{against}"] for t in threads_list}
            known = [v for v in measured.values() if v is not None]
            if not known:
                met = None
            else:
                met = all(v >= minimum for v in known) and len(known) == len(measured)
                if not met and any(v >= minimum for v in known):
                    met = "partly"
            goals.append({"goal": f">= {minimum:g}x over {AGAINST[against]}", "against": against, "minimum": minimum,
                          "measured": measured, "met": met})
        model["goals"] = goals


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _met(met) -> str:
    return {True: "**met**", False: "not met", "partly": "partly met", None: "not measured"}[met]


def _bytes(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:.2f} MB"


def engine_cell(entry: dict, threads: str) -> str:
    stats = entry.get("threads", {}).get(threads)
    if not stats:
        return "–"
    cell = f"{_ms(stats['median_ms'])} ({_ms(stats['min_ms'])})"
    if stats.get("budget_limited"):
        cell += f" ({stats['runs']} runs)"
    return cell


def status_cell(entry: dict) -> str:
    status = entry.get("status", "?")
    if status == "ok":
        check = entry.get("check") or {}
        err = check.get("max_abs_err")
        return "ok" if err is None else f"ok ({err:.1e})"
    if status == "MISMATCH":
        return f"**MISMATCH**: {entry.get('reason', '')}"
    return f"{status}: {entry.get('reason', '')}".replace("|", "/")


def to_markdown(results: dict, charts: dict[str, str] | None = None) -> str:
    meta = results["meta"]
    threads_list = [str(t) for t in meta["threads"]]
    lines = [f"# bcr-bench results ({meta['mode']})", "",
             f"{meta['date']}; {meta['machine']['cpu']}, {meta['machine']['cores']} cores; torch {meta['torch']}, "
             f"IREE {meta['iree']}; {('bcr-mlir ' + meta['bcr_mlir'] + '; ') if meta.get('bcr_mlir') else ''}load average {', '.join(map(str, meta['machine']['load_average']))} before, "
             f"{', '.join(map(str, meta.get('load_average_after', [])))} after; {meta.get('seconds', 0):.0f} s in all.",
             "",
             f"Batch 1, fp32. Each figure is the median (ms) of >= {meta['repeats']} calls per engine after warm-up, "
             f"taken in {meta['rounds']} interleaved rounds (engines round-robin, so all see the same machine noise). "
             f"Outputs are checked against PyTorch eager: max|y - y_torch| <= {ATOL:g} + {RTOL:g} x max|y_torch|. "
             "Ratios are speed-ups of bcr-mlir sparse (baseline ms / sparse ms); only engines whose output matched count "
             "as baselines. IREE dense = the faster of its tuned and default flags, per model and thread count.", ""]
    if meta.get("note"):  # e.g. a results.json merged from runs of different models
        lines += [meta["note"], ""]
    cores = meta["machine"].get("cores") or 1
    busiest = max(list(meta["machine"].get("load_average", [0])) + list(meta.get("load_average_after", [])))
    if busiest > cores:
        lines += [f"**Warning: the machine was busy** (load average up to {busiest:g} on {cores} cores"
                  + (f", this run at nice {meta['machine']['nice']}" if meta["machine"].get("nice") else "")
                  + "). Engines running more threads than there are free cores stall whenever a thread is "
                  "preempted, by amounts that differ per engine: treat the multi-thread figures as noisy and prefer "
                  "the 1-thread figures and the min-based ratios.", ""]
    if meta["mode"] == "quick":
        lines += ["**Quick mode: tiny models (zoo small=True) and few runs. The goals apply to the full-size models "
                  "only; the ratios below are a smoke test, not a result.**", ""]
    # Summary across models.
    header = "| model | threads | bcr-mlir sparse ms | IREE dense ms (flags) | fastest dense peer ms | torch.sparse CSR ms | vs IREE dense | vs fastest peer | vs CSR |"
    lines += ["## Summary", "", header, "|---|---|---|---|---|---|---|---|---|"]
    for name, model in results["models"].items():
        for threads in threads_list:
            r = model.get("ratios", {}).get(threads)
            if not r:
                lines.append(f"| {name} | {threads} | {model.get('error', '–')} | | | | | | |")
                continue
            flags = {"iree-dense-tuned": "tuned", "iree-dense-default": "default"}.get(r["iree_dense"], "")
            peer = LABELS.get(r["dense_peer"], "") if r["dense_peer"] else ""
            lines.append(f"| {name} | {threads} | {_ms(r['sparse_ms'])} | {_ms(r['iree_dense_ms'])}"
                         f"{f' ({flags})' if flags else ''} | {_ms(r['dense_peer_ms'])}{f' ({peer})' if peer else ''} | "
                         f"{_ms(r['csr_ms'])} | {_x(r['vs_iree-dense'])} | {_x(r['vs_dense-peer'])} | {_x(r['vs_csr'])} |")
    lines += ["", "The same ratios from each engine's fastest call (min), the figure least disturbed by other jobs on "
              "the machine (the goals use the medians above):", "",
              "| model | threads | vs IREE dense | vs fastest dense peer | vs CSR |", "|---|---|---|---|---|"]
    for name, model in results["models"].items():
        for threads in threads_list:
            r = model.get("ratios_min", {}).get(threads)
            if r:
                lines.append(f"| {name} | {threads} | {_x(r['vs_iree-dense'])} | {_x(r['vs_dense-peer'])} | "
                             f"{_x(r['vs_csr'])} |")
    lines += ["", "## Goals", "", "| model | goal | " + " | ".join(f"{t} thread{'s' if t != '1' else ''}" for t in threads_list)
              + " | verdict |", "|---|---|" + "---|" * len(threads_list) + "---|"]
    for name, model in results["models"].items():
        for goal in model.get("goals", []):
            lines.append(f"| {name} | {goal['goal']} | " + " | ".join(_x(goal["measured"].get(t)) for t in threads_list)
                         + f" | {_met(goal['met'])} |")
    lines += ["", "A goal is met when the speed-up reaches it at every thread count.", ""]
    # Compile time, size, sparse layers.
    lines += ["## Compile time, module size and sparse layers", "",
              "| model | sparse layers (compiler) | pruned weights | sparse compile s | sparse vmfb | dense vmfb (tuned) | size vs dense | dense compile s (tuned / default) |",
              "|---|---|---|---|---|---|---|---|"]
    for name, model in results["models"].items():
        c = model.get("compile", {})
        sparse, tuned, default = c.get("bcr-sparse", {}), c.get("iree-dense-tuned", {}), c.get("iree-dense-default", {})
        ratio = f"{sparse['bytes'] / tuned['bytes']:.2f}x" if sparse.get("bytes") and tuned.get("bytes") else "–"
        layers = f"{sparse['sparse_layers']} of {sparse['layers']}" if sparse else "–"
        lines.append(f"| {name} | {layers} | {model.get('pruned_weights', '–')} of {model.get('prunable_weights', '–')} | "
                     f"{sparse.get('seconds', '–')} | {_bytes(sparse.get('bytes'))} | {_bytes(tuned.get('bytes'))} | "
                     f"{ratio} | {tuned.get('seconds', '–')} / {default.get('seconds', '–')} |")
    lines.append("")
    # Per model.
    for name, model in results["models"].items():
        lines += [f"## {name}: {model.get('title', '')}", ""]
        if model.get("error"):
            lines += [f"Failed: {model['error']}", ""]
            continue
        lines += [f"Input {model.get('input_shape', '?')}; pruning: {model.get('pruning', '?')}."
                  + (f" Note: {model['input_note']}." if model.get("input_note") else ""), ""]
        chart = (charts or {}).get(name)
        if chart:
            lines += [f"![{name}]({chart})", ""]
        lines += ["| engine | " + " | ".join(f"{t}T ms: median (min)" for t in threads_list) + " | peak RSS MB ("
                  + "/".join(f"{t}T" for t in threads_list) + ") | output vs PyTorch (max abs err) | version | notes |",
                  "|---|" + "---|" * len(threads_list) + "---|---|---|---|"]
        for engine, entry in model["engines"].items():
            peaks = "/".join(str(entry.get("peak_rss_mb", {}).get(t, "–")) for t in threads_list)
            note = entry.get("note", "") or ""
            for threads, count in (entry.get("tuned_layers") or {}).items():
                note = f"{threads}T: {count} layers tuned at {threads} threads" + (f"; {note}" if note else "")
            if entry.get("untuned"):
                note = ("**untuned**; " + note) if note else "**untuned**"
            lines.append(f"| {entry.get('label', LABELS.get(engine, engine))} | " + " | ".join(engine_cell(entry, t) for t in threads_list)
                         + f" | {peaks} | {status_cell(entry)} | {entry.get('version', '')} | {note.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def write(results: dict, out: Path, charts: dict[str, str] | None = None) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "results.json", out / "results.md"
    slim = json.loads(json.dumps(results, default=str))
    json_path.write_text(json.dumps(slim, indent=1) + "\n")
    md_path.write_text(to_markdown(results, charts) + "\n")
    return json_path, md_path
