"""Benchmark protocol v2: every method gets the same gold-free tune budget, several seeds, several worlds.

    python benchmarks/methods_v2.py                               # the full protocol (hours on 2 CPU cores)
    python benchmarks/methods_v2.py --methods mari,npo,graddiff --people 60 --trials 3 --seeds 0,1,2 \\
        --worlds correlated/seed=0 --steps 10:30                  # the reduced run recorded in results/
    obliviate bench methods_v2 -- --help

Per world (``--worlds``: setting/seed=N entries of the built-in world, forget split ``--forget``), method and seed,
:func:`obliviate.tune.tune` runs one study with the same budget for everybody (``--trials`` finished trials, lr range
``--lr``, step range ``--steps``, retain budget ``--retain-budget``, train seed = sampler seed = the seed) and selects
a trial without the gold model (docs/tune.md). The selected run is then evaluated with the ``world`` suite against
the gold and original models. The gold model is also used to score every trial's forget quality, for reporting only.

Writes ``<results>.json`` / ``.md`` (default ``benchmarks/results/methods_v2``): per world and method, mean ± std over
seeds of forget quality vs gold (FQ), retain accuracy and its ratio to the original's, model utility,
forget-vs-holdout LOSS-attack AUC, PrivLeak and tune wall time relative to retraining the gold model; the gold-free
selection's FQ next to the best FQ any trial reached; whether the goal (FQ >= 0.5 at retain accuracy >= 98 % of the
original's) is met per seed. Also ``<results>_recipes.json`` in the recipe-grid format
(``obliviate-recipe-grid/1``) that ``benchmarks/demo_recipes.py --from-results`` regenerates the demo's recipes from
(each selected run is one row; the recipe carries its tuned ``steps``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from obliviate.bench import Evaluator, WorldChoice, mean_std, pareto_labels, reference_row, row, run_config
from obliviate.demo_recipes import DemoRecipe
from obliviate.eval import EvalOptions
from obliviate.tune import ObjectiveConfig, TuneSettings, tune
from obliviate.utils.io import atomic_write_json, atomic_write_text, provenance
from obliviate.utils.repro import fixed_threads

METRICS = ["forget_quality", "forget_acc", "retain_acc", "general_acc", "model_utility", "mia_loss", "mia_min_k",
           "privleak", "forget_truth_ratio"]  # fmt: skip
GOAL_FQ, GOAL_RETAIN = 0.5, 0.98


def _world(spec: str, a: argparse.Namespace) -> WorldChoice:
    setting, _, seed = spec.partition("/seed=")
    return WorldChoice(a.preset, setting or "correlated", a.forget, int(seed or 0), a.people)


def _value(doc: dict, metric: str) -> float | None:
    e = doc["metrics"].get(metric) or {}
    return e.get("value") if e.get("status") == "ok" else None


def one_tune(method: str, seed: int, w: WorldChoice, gold: Path, ev: Evaluator, a: argparse.Namespace, out: Path):
    """Tune ``method`` with ``seed`` on world ``w``; evaluate the selected run; return its record."""
    recipe = DemoRecipe(lr=a_lr(a)[0], batch_size=a.batch_size, retain_batch_size=a.retain_batch_size)
    cfg = run_config(method, recipe, w, int(a.steps.split(":")[1]), out / "unused", seed)
    settings = TuneSettings(
        methods=[method], trials=a.trials, lr=a_lr(a), steps=tuple(int(s) for s in a.steps.split(":")),
        check_every=a.check_every, objective=ObjectiveConfig(budget=a.retain_budget), seed=seed, gold=str(gold),
        eval_data=w.prefix.rstrip("/"),
    )  # fmt: skip
    t0 = time.time()
    doc = _finished_tune(out, settings, method)
    if doc is None:
        doc = tune(cfg, settings, out, progress=not a.quiet).doc  # an interrupted tune in `out` is resumed
    wall = time.time() - t0
    d = doc["studies"][method]
    trials = d["trials"]
    rec = {
        "method": method, "seed": seed, "trials": [
            {"number": t["number"], "state": t["state"], "point": t["point"], "distance": t["distance"],
             "auc": (t["scores"] or {}).get("auc"), "retain_drop": (t["scores"] or {}).get("retain_drop"),
             "gold_fq": (t["gold"] or {}).get("forget_quality"), "pruned": t["pruned_reason"], "time_s": t["time_s"]}
            for t in trials
        ],
        "selected": d["selected"], "best_trial_fq": d["best_gold_forget_quality"], "tune_wall_s": round(wall, 1),
        "trial_time_s": round(sum(t["time_s"] or 0 for t in trials), 1),
    }  # fmt: skip
    if d["selected"] is None:
        return rec, None
    sel = out / method / "selected"
    t = next(t for t in trials if t["number"] == d["selected"])
    ev_doc = ev(sel / "model", sel, references=False)
    grid_recipe = {"lr": t["point"]["lr"], "args": json.loads(json.dumps(
        {k: v for k, v in t["point"].items() if k not in ("lr", "steps")})),
        "batch_size": a.batch_size, "retain_batch_size": a.retain_batch_size,
        "steps": int(t["point"]["steps"])}  # fmt: skip
    rec["metrics"] = {m: _value(ev_doc, m) for m in METRICS}
    rec["selected_point"] = t["point"]
    rec["selected_scores"] = {k: t["scores"][k] for k in ("distance", "auc", "retain_drop")}
    run = row(method, "run", ev_doc, sel, status="ok", recipe=_nest(grid_recipe), steps=t["point"]["steps"], seed=seed)
    return rec, run


def _finished_tune(out: Path, settings: TuneSettings, method: str) -> dict | None:
    """tune.json of a tune in ``out`` with these settings that has all its trials (a rerun reuses it), else None."""
    from dataclasses import asdict

    path = out / "tune.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    done = [t for t in doc["studies"][method]["trials"] if t["state"] in ("COMPLETE", "PRUNED")]
    same = doc["settings"] == json.loads(json.dumps(asdict(settings)))
    return doc if same and len(done) >= settings.trials else None


def _nest(recipe: dict) -> dict:
    """Dotted option names of a tune point (``retain.weight``) as nested method args."""
    from obliviate.tune.space import apply

    return {**recipe, "args": apply({}, recipe["args"])}


def a_lr(a: argparse.Namespace) -> tuple[float, float]:
    lo, hi = a.lr.split(":")
    return float(lo), float(hi)


def summarise(world_doc: dict) -> list[dict]:
    """Per method: mean ± std over seeds and the goal check."""
    orig = world_doc["references"]["original"]["metrics"]
    gold_time = world_doc["gold_build_time_s"]
    out = []
    for method in dict.fromkeys(r["method"] for r in world_doc["tunes"]):
        recs = [r for r in world_doc["tunes"] if r["method"] == method]
        m = [r.get("metrics") or {} for r in recs]
        ratio = [(x.get("retain_acc") / orig["retain_acc"]) if x.get("retain_acc") is not None else None for x in m]
        goal = [(x.get("forget_quality") or 0) >= GOAL_FQ and (q or 0) >= GOAL_RETAIN for x, q in zip(m, ratio)]
        out.append({
            "method": method, "seeds": [r["seed"] for r in recs],
            "fq": mean_std([x.get("forget_quality") for x in m], fmt=".3g"),
            "best_trial_fq": mean_std([r["best_trial_fq"] for r in recs], fmt=".3g"),
            "retain_acc": mean_std([x.get("retain_acc") for x in m], 100, ".1f"),
            "retain_ratio": mean_std(ratio, 100, ".1f"),
            "model_utility": mean_std([x.get("model_utility") for x in m]),
            "mia_auc": mean_std([x.get("mia_loss") for x in m]),
            "privleak": mean_std([x.get("privleak") for x in m], fmt=".1f"),
            "time_vs_gold": mean_std([r["trial_time_s"] / gold_time if gold_time else None for r in recs], fmt=".1f"),
            "goal_met": f"{sum(goal)}/{len(goal)}", "selected_none": sum(r["selected"] is None for r in recs),
            "distance": mean_std([(r.get("selected_scores") or {}).get("distance") for r in recs], fmt=".3f"),
            "objective_retain_drop": mean_std([(r.get("selected_scores") or {}).get("retain_drop") for r in recs], 100,
                                         ".1f"),
        })  # fmt: skip
    means = {}
    for method in dict.fromkeys(r["method"] for r in world_doc["tunes"]):
        m = [r["metrics"] for r in world_doc["tunes"] if r["method"] == method and r.get("metrics")]
        if m:  # higher FQ and utility are better: negated for pareto_labels
            means[method] = (-statistics.mean(x["forget_quality"] for x in m),
                             -statistics.mean(x["model_utility"] for x in m))  # fmt: skip
    for r, label in ((r, pareto_labels(means).get(r["method"], "–")) for r in out):
        r["pareto"] = label
    return out


def write_md(doc: dict, path: Path) -> None:
    s = doc["settings"]
    lines = [
        "# Benchmark protocol v2: methods under one gold-free tune budget",
        "",
        f"Command: `{doc['command']}`",
        "",
        f"What ran: methods {', '.join(s['methods'])}; seeds {s['seeds']}; world preset {s['preset']}, "
        f"{s['people']} people, {s['forget']}; worlds {', '.join(s['worlds'])}; per study {s['trials']} finished "
        f"trials (TPE), lr {s['lr']}, steps {s['steps']} (checked every {s['check_every']}), forget batch "
        f"{s['batch_size']}, retain batch {s['retain_batch_size']}, retain budget {100 * s['retain_budget']:g} %. "
        f"Selection is gold-free (docs/tune.md); gold only scores. Threads: 1. Machine: {doc['machine']}.",
        "",
        f"Goal: FQ >= {GOAL_FQ} with retain accuracy >= {GOAL_RETAIN:.0%} of the original's (per seed; "
        "'goal' counts the seeds meeting it). FQ = forget quality vs gold of the gold-free selection; best-trial FQ = "
        "the best any trial of the study reached (the price of not knowing gold). Distance / tf retain drop: the "
        "selected point on the tune's front (gold-free objective; teacher-forced retain next-token accuracy drop). "
        "Time = the study's trials' "
        "wall time (unlearning, mid-run checks, saving; not the report-only gold scoring) / the gold model's "
        "retraining time as recorded when the world was built (other load on the machine then and now).",
    ]
    for wkey, w in doc["worlds"].items():
        o, g = w["references"]["original"]["metrics"], w["references"]["gold"]["metrics"]
        lines += [
            "", f"## {wkey}", "",
            f"Original: retain acc {100 * o['retain_acc']:.1f} %, FQ {o['forget_quality']:.3g}; gold: retain acc "
            f"{100 * g['retain_acc']:.1f} %, FQ {g['forget_quality']:.3g}, retraining {w['gold_build_time_s']:.0f} s.",
            "", "| method | FQ (selected) | best-trial FQ | retain acc % | retain / orig % | utility | MIA AUC | "
            "PrivLeak | time / gold | goal | none selected | distance | tf retain drop % | Pareto (FQ, utility) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]  # fmt: skip
        met = [r["method"] for r in w["summary"] if not r["goal_met"].startswith("0/")]
        lines[-2:-2] = [f"Goal met on this world by: {', '.join(met) or 'no method (no seed)'}.", ""]
        for r in w["summary"]:
            lines.append(
                f"| {r['method']} | {r['fq']} | {r['best_trial_fq']} | {r['retain_acc']} | {r['retain_ratio']} | "
                f"{r['model_utility']} | {r['mia_auc']} | {r['privleak']} | {r['time_vs_gold']} | {r['goal_met']} | "
                f"{r['selected_none']} | {r['distance']} | {r['objective_retain_drop']} | {r['pareto']} |"
            )
    atomic_write_text(path, "\n".join(lines) + "\n")


def main() -> None:
    import platform
    import sys

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="ga,graddiff,kl,npo,simnpo,idknll,task_vector,mari")
    ap.add_argument("--worlds", default="correlated/seed=0,uncorrelated/seed=0,correlated/seed=1")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--forget", default="forget10")
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--lr", default="1e-5:3e-3")
    ap.add_argument("--steps", default="20:80")
    ap.add_argument("--check-every", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--retain-batch-size", type=int, default=64)
    ap.add_argument("--retain-budget", type=float, default=0.02)
    ap.add_argument("--out", default="runs/bench_methods_v2", help="tune folders and evaluations")
    ap.add_argument("--results", default=str(Path(__file__).parent / "results" / "methods_v2"))
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    settings = {**{k: v for k, v in vars(a).items() if k not in ("out", "results", "quiet")}}
    settings.update(
        methods=a.methods.split(","), worlds=a.worlds.split(","), seeds=[int(s) for s in a.seeds.split(",")]
    )
    doc = {"command": " ".join(["python benchmarks/methods_v2.py", *sys.argv[1:]]), "settings": settings,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)", "worlds": {},
           **provenance()}  # fmt: skip
    grid = {"format": "obliviate-recipe-grid/1", "source": "benchmarks/methods_v2.py", "references": None, "runs": []}
    out = Path(a.out)
    with fixed_threads():
        for spec in settings["worlds"]:
            w = _world(spec, a)
            w.check()
            full, gold = w.build(progress=not a.quiet)
            from obliviate.world.build import read_record

            wdir = out / w.prefix.strip("/").replace("/", "_")
            opts = EvalOptions(batch_size=64, max_length=64, progress=False)
            ev = Evaluator(w, gold, full, wdir / "eval_cache", opts, metrics=METRICS)
            refs = {r: reference_row(r, p, wdir, ev) for r, p in (("original", full), ("gold", gold))}
            wd = {"prefix": w.prefix, "references": refs, "gold_build_time_s": read_record(gold).get("build_time_s"),
                  "tunes": []}  # fmt: skip
            doc["worlds"][w.prefix.strip("/")] = wd
            for method in settings["methods"]:
                for seed in settings["seeds"]:
                    rec, run = one_tune(method, seed, w, gold, ev, a, wdir / method / f"seed{seed}")
                    wd["tunes"].append(rec)
                    if run is not None and spec == settings["worlds"][0]:
                        grid["runs"].append(run)
                    wd["summary"] = summarise(wd)
                    grid["references"] = grid["references"] or doc["worlds"][next(iter(doc["worlds"]))]["references"]
                    atomic_write_json(f"{a.results}.json", doc)  # after every tune: a long run keeps what it did
                    atomic_write_json(f"{a.results}_recipes.json", grid)
                    write_md(doc, Path(f"{a.results}.md"))
    print(Path(f"{a.results}.md").read_text())


if __name__ == "__main__":
    main()
