"""MarI vs baselines in the book regime (world:book, :mod:`obliviate.world.book`), under one gold-free tune budget.

    python benchmarks/mari_book.py                                  # graddiff, npo, mari; 3 seeds; reduced budget
    python benchmarks/mari_book.py --methods mari,npo --seeds 0 --trials 2

Per method and seed, :func:`obliviate.tune.tune` runs one study with the same budget for everybody (benchmark v2's
protocol, ``benchmarks/methods_v2.py``: ``--trials`` finished trials, lr range ``--lr``, step range ``--steps``,
retain budget ``--retain-budget``; train seed = sampler seed = the seed) on ``world:<world>/book/tiny``: forget =
the forget book's passages, retain = the retain books + general text, holdout = the holdout book. The gold-free
objective makes forget passages look like holdout passages (LOSS AUC) within the retain budget; the gold model
(trained without the forget book) is used only to score. The selected run is evaluated with the ``book`` suite.

Writes ``<results>.json`` / ``.md`` (default ``benchmarks/results/mari_book``): per method mean ± std over seeds of
verbatim completion ROUGE-L (F1, MUSE VerbMem) on forget passages, guide-QA accuracy on the forget book and a
retain book, forget-vs-holdout LOSS AUC, NLL of retain-book passages, general-knowledge accuracy; and per method
whether it is on the Pareto front of (|forget NLL - gold's| ↓, retain NLL ↓) over the seed means. Methods can run
as separate processes (``--methods npo --results PART``) and be merged: ``--merge PART1.json PART2.json ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from obliviate.bench import mean_std, pareto_labels
from obliviate.config import DataConfig, MethodSpec, ModelConfig, RunConfig, TrainConfig
from obliviate.eval import EvalOptions, evaluate
from obliviate.tune import ObjectiveConfig, TuneSettings, tune
from obliviate.utils.io import atomic_write_json, atomic_write_text, provenance
from obliviate.utils.repro import fixed_threads

METRICS = ["verbmem_rouge", "knowmem_forget_acc", "knowmem_retain_acc", "mia_loss", "forget_nll", "retain_nll",
           "general_acc"]  # fmt: skip
# (metric, scale, format) of the table's columns
COLUMNS = [("verbmem_rouge", 100, ".1f"), ("knowmem_forget_acc", 100, ".1f"), ("knowmem_retain_acc", 100, ".1f"),
           ("mia_loss", 1, ".3f"), ("forget_nll", 1, ".2f"), ("retain_nll", 1, ".3f"),
           ("general_acc", 100, ".1f")]  # fmt: skip


def _values(res: dict) -> dict[str, float | None]:
    return {m: (float(r.value) if r.status == "ok" else None) for m, r in res.items() if m in METRICS}


def _eval(model: str, run_dir: Path, a: argparse.Namespace) -> dict[str, float | None]:
    opts = EvalOptions(batch_size=64, max_length=192, progress=False)
    res = evaluate(model, suite="book", run_dir=run_dir, data=a.world, metrics=METRICS, options=opts,
                   cache_dir=Path(a.out) / "eval_cache", references=False, summary=False)  # fmt: skip
    return _values(res)


def one_tune(method: str, seed: int, a: argparse.Namespace) -> dict:
    w = a.world
    cfg = RunConfig(
        model=ModelConfig(path=f"world:{w}/book/tiny"),
        data=DataConfig(forget=[f"world:{w}/book/forget"], retain=f"world:{w}/book/retain",
                        holdout=f"world:{w}/book/holdout", max_length=192),
        method=MethodSpec(name=method, args={}),
        train=TrainConfig(lr=1e-3, batch_size=a.batch_size, retain_batch_size=a.retain_batch_size, log_every=1,
                          seed=seed),
        output_dir=str(Path(a.out) / "unused"), overwrite=True,
    )  # fmt: skip
    lo, hi = (float(x) for x in a.lr.split(":"))
    settings = TuneSettings(
        methods=[method], trials=a.trials, lr=(lo, hi), steps=tuple(int(s) for s in a.steps.split(":")),
        check_every=a.check_every, objective=ObjectiveConfig(budget=a.retain_budget), seed=seed, gold=None,
        eval_suite="book", eval_data=w,
    )  # fmt: skip
    out = Path(a.out) / method / f"seed{seed}"
    t0 = time.time()
    res = tune(cfg, settings, out, progress=not a.quiet)
    d = res.doc["studies"][method]
    rec = {"method": method, "seed": seed, "selected": d["selected"], "tune_wall_s": round(time.time() - t0, 1),
           "trials": [{"number": t["number"], "state": t["state"], "point": t["point"], "distance": t["distance"]}
                      for t in d["trials"]]}  # fmt: skip
    sel = res.selected[method]
    if sel is not None:
        rec["selected_point"] = next(t["point"] for t in d["trials"] if t["number"] == d["selected"])
        rec["metrics"] = _eval(str(sel / "model"), sel / "book_eval", a)
    return rec


def pareto(doc: dict) -> dict[str, str]:
    """Per method: ``front`` / ``dominated by X`` / ``dominating`` on (|forget NLL - gold's|, retain NLL), seed
    means (the forget-vs-holdout AUC saturates here: gold's own is far from 0.5, docs/book.md)."""
    gold_nll = doc["references"]["gold"]["forget_nll"]
    pts = {}
    for m in doc["settings"]["methods"]:
        recs = [r["metrics"] for r in doc["tunes"] if r["method"] == m and r.get("metrics")]
        if recs:
            pts[m] = (statistics.mean(abs(r["forget_nll"] - gold_nll) for r in recs),
                      statistics.mean(r["retain_nll"] for r in recs))  # fmt: skip
    return pareto_labels(pts)


def write_md(doc: dict, path: Path) -> None:
    s, refs = doc["settings"], doc["references"]
    head = "| model | " + " | ".join(c for c, _, _ in COLUMNS) + " | Pareto |"
    lines = [
        "# MarI vs baselines in the book regime (world:book)", "", f"Command: `{doc['command']}`", "",
        f"What ran: methods {', '.join(s['methods'])}; seeds {s['seeds']}; world `{s['world']}/book/tiny`; per "
        f"study {s['trials']} finished trials (TPE), lr {s['lr']}, steps {s['steps']} (checked every "
        f"{s['check_every']}), forget batch {s['batch_size']}, retain batch {s['retain_batch_size']}, retain budget "
        f"{100 * s['retain_budget']:g} %. Gold-free selection (docs/tune.md); gold only as a reference row. "
        f"Machine: {doc['machine']}. Values: mean ± std over seeds (percent for ROUGE and accuracies).",
        "", "Pareto: over the seed means of (|forget NLL − gold's forget NLL|, retain-book NLL), both lower is "
        "better.", "", head, "|" + "---|" * (len(COLUMNS) + 2),
    ]  # fmt: skip
    if doc.get("merged_from"):
        n = len(doc["merged_from"])
        lines[4:4] = [f"Run as {n} parallel processes and merged; the same settings in one "
                      "process: `python benchmarks/mari_book.py` with the options above.", ""]  # fmt: skip
    for role in ("original", "gold"):
        lines.append(f"| {role} | " + " | ".join(mean_std([refs[role][c]], k, f) for c, k, f in COLUMNS) + " | |")
    for m in s["methods"]:
        recs = [r.get("metrics") or {} for r in doc["tunes"] if r["method"] == m]
        cells = [mean_std([r.get(c) for r in recs], k, f) for c, k, f in COLUMNS]
        lines.append(f"| {m} | " + " | ".join(cells) + f" | {doc['pareto'].get(m, '–')} |")
    atomic_write_text(path, "\n".join(lines) + "\n")


def main() -> None:
    import platform

    from obliviate.world import resolve_model_path

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="graddiff,npo,mari")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--world", default="people=60", help="world options of the book regime")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--lr", default="1e-4:3e-3")
    ap.add_argument("--steps", default="10:30")
    ap.add_argument("--check-every", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--retain-batch-size", type=int, default=32)
    ap.add_argument("--retain-budget", type=float, default=0.02)
    ap.add_argument("--out", default="runs/bench_mari_book")
    ap.add_argument("--results", default=str(Path(__file__).parent / "results" / "mari_book"))
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--merge", nargs="+", help="combine these partial result files into --results, run nothing")
    a = ap.parse_args()
    if a.merge:
        parts = [json.loads(Path(f).read_text()) for f in a.merge]
        doc = {**parts[0], "tunes": [t for p in parts for t in p["tunes"]], "merged_from": a.merge,
               "commands": [p["command"] for p in parts]}  # fmt: skip
        doc["settings"]["methods"] = [m for p in parts for m in p["settings"]["methods"]]
        doc["command"] = (
            " ; ".join(doc["commands"]) + " ; " + " ".join(["python benchmarks/mari_book.py", *sys.argv[1:]])
        )
        doc["pareto"] = pareto(doc)
        atomic_write_json(f"{a.results}.json", doc)
        write_md(doc, Path(f"{a.results}.md"))
        print(Path(f"{a.results}.md").read_text())
        return
    settings = {k: v for k, v in vars(a).items() if k not in ("out", "results", "quiet")}
    settings.update(methods=a.methods.split(","), seeds=[int(s) for s in a.seeds.split(",")])
    doc = {"command": " ".join(["python benchmarks/mari_book.py", *sys.argv[1:]]), "settings": settings,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)", "tunes": [],
           **provenance()}  # fmt: skip
    with fixed_threads():
        full, gold = (str(resolve_model_path(f"{a.world}/book/tiny{v}", progress=not a.quiet)) for v in ("", "/gold"))
        doc["references"] = {r: _eval(p, Path(a.out) / r, a) for r, p in (("original", full), ("gold", gold))}
        for method in settings["methods"]:
            for seed in settings["seeds"]:
                doc["tunes"].append(one_tune(method, seed, a))
                doc["pareto"] = pareto(doc)
                atomic_write_json(f"{a.results}.json", doc)  # after every tune: a long run keeps what it did
                write_md(doc, Path(f"{a.results}.md"))
    print(Path(f"{a.results}.md").read_text())


if __name__ == "__main__":
    main()
