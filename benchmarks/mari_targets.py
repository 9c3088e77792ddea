"""Forgetting-MarI's two MI targets against the gold model (a benchmark, not a test).

    python benchmarks/mari_targets.py                           # both worlds, ~15 min on a busy 2-core CPU
    python benchmarks/mari_targets.py --worlds uncorrelated     # one world: updates its entry in the results

(The world models are built on first use into ``$OBLIVIATE_CACHE``; the test suite's cache holds these ones.)

``target=zero`` is the paper's (drive I(X;Z) of forget vs retain to 0); ``target=holdout`` is ours (penalise only
γ·relu(I_u − I_h), with I_h the pooled MI between a holdout batch and the retain batch under the current model,
computed without gradient). Both run with the same recipe, ``configs/mari.yaml`` (lr, batch sizes, steps, γ and the
retain weight), on the 60-person test-size worlds (``people=60``, correlated and uncorrelated, world seed 0, the
``tiny`` preset, forget10: 6 people / 36 QA rows), for training seeds 0, 1, 2.

The holdout people (holdout10: 6 people, 36 rows) are split by person: the first 3 people are the **target**
holdout (``data.holdout`` of the training runs, the rows I_h is estimated on), the other 3 the **evaluation**
holdout (the ``holdout`` split of the evaluation, i.e. of the forget-vs-holdout AUC). No row is in both.

Per run: forget quality (TOFU's KS-test p-value of the truth ratio against the gold model's), forget and retain
(``retain_eval``) QA accuracy, ``mia_loss`` = AUC(forget vs holdout) = P(NLL_holdout > NLL_forget) (the gold
model's value is the reference, not 0.5), and the last logged I_u and I_h. Writes
``benchmarks/results/mari_targets.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch

from obliviate.api import unlearn
from obliviate.config import load_config
from obliviate.eval import EvalOptions, evaluate
from obliviate.methods.mari import MariConfig
from obliviate.utils.io import atomic_write_json, atomic_write_text
from obliviate.world import load_split_rows, resolve_model_path

ROOT = Path(__file__).resolve().parents[1]
WORLDS = ("correlated", "uncorrelated")
TARGETS = ("zero", "holdout")
METRICS = ["forget_quality", "forget_acc", "retain_acc", "mia_loss"]


def holdout_halves(prefix: str) -> tuple[list[dict], list[dict]]:
    """holdout10 split by person: (target rows: first half of the people, evaluation rows: the rest)."""
    rows = load_split_rows(f"{prefix}/holdout10")
    people = list(dict.fromkeys(r["person"] for r in rows))
    first = set(people[: len(people) // 2])
    return [r for r in rows if r["person"] in first], [r for r in rows if r["person"] not in first]


def metrics_of(model: str | Path, out: Path, prefix: str, refs: dict) -> dict:
    """The benchmark's metrics of ``model``; ``refs``: gold / original paths, evaluation holdout rows, and the
    metric cache shared by every model of the world (the gold model's values are computed once)."""
    evaluate(
        str(model), suite="world", run_dir=out, gold=str(refs["gold"]), original=str(refs["full"]), data=prefix,
        splits={"forget": f"world:{prefix}/forget10", "holdout": refs["eval_holdout"]}, metrics=METRICS,
        options=EvalOptions(progress=False), cache_dir=refs["cache"], summary=False,
    )  # fmt: skip
    found = json.loads((out / "eval.json").read_text())["metrics"]
    return {m: found[m]["value"] if found[m]["status"] == "ok" else None for m in METRICS}


def one_run(prefix: str, target: str, seed: int, holdout_file: Path, refs: dict, tmp: Path) -> dict:
    out = tmp / f"{prefix.replace('/', '_')}_{target}_{seed}"
    cfg = load_config(
        ROOT / "configs" / "mari.yaml",
        [f"model.path=world:{prefix}/tiny", f"data.retain=world:{prefix}/retain90", f"data.holdout={holdout_file}",
         f"method.args.target={target}", f"train.seed={seed}", f"output_dir={out / 'run'}", "overwrite=true",
         "train.log_every=1"],
    )  # fmt: skip
    cfg.data.forget = [f"world:{prefix}/forget10"]
    result = unlearn(cfg, progress=False)
    log = [json.loads(x) for x in (out / "run" / "train_log.jsonl").read_text().splitlines()]
    m = metrics_of(result.model_dir, out / "eval", prefix, refs)
    active = [r["mari"] > r["mari_target"] for r in log] if target == "holdout" else [True]
    return {"target": target, "seed": seed, **m, "mi_last": log[-1]["mari"], "target_last": log[-1].get("mari_target"),
            "mi_term_active": sum(active) / len(active)}  # fmt: skip


def _mean_sd(xs: list[float | None]) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    fmt = (lambda v: f"{v:.2g}") if max(abs(x) for x in xs) < 1e-2 else (lambda v: f"{v:.3f}")
    return f"{fmt(statistics.mean(xs))} ± {fmt(statistics.stdev(xs))}" if len(xs) > 1 else fmt(xs[0])


def render(res: dict) -> str:
    a = res["settings"]
    lines = [
        "# MarI targets: the paper's (zero) and ours (holdout) against the gold model",
        "",
        f"Recipe `configs/mari.yaml` for both targets (lr {a['lr']:g}, {a['steps']} steps, batch {a['batch_size']} "
        f"forget + {a['retain_batch_size']} retain, γ {a['gamma']:g}, method args {a['args']}); worlds `people=60` "
        f"(tiny preset, world seed 0, forget10); training seeds {a['seeds']}; {res['device']}, {a['threads']} "
        "thread(s). Holdout10 split by person: 3 people (18 rows) are the training target's holdout (I_h), the "
        "other 3 the evaluation holdout (AUC f-h). Mean ± sd over seeds. forget quality: KS p-value vs gold "
        "(higher is closer to gold); AUC f-h = P(NLL_holdout > NLL_forget), gold's value is the reference; "
        "I_u / I_h: last logged batch values (full_vs_retain, nats); active: fraction of steps whose MI term had "
        "a gradient (I_u > I_h; always 1 for zero).",
        "",
        "| world | model | forget quality | forget acc | retain acc | AUC f-h | I_u | I_h | active |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for world, w in res["worlds"].items():
        for ref in ("original", "gold"):
            r = w[ref]
            lines.append(
                f"| {world} | *{ref}* | {_mean_sd([r['forget_quality']])} | {_mean_sd([r['forget_acc']])} | "
                f"{_mean_sd([r['retain_acc']])} | {_mean_sd([r['mia_loss']])} | | | |"
            )
        for target in TARGETS:
            runs = [r for r in w["runs"] if r["target"] == target]
            keys = [*METRICS, "mi_last", "target_last", "mi_term_active"]
            cells = " | ".join(_mean_sd([r[k] for r in runs]) for k in keys)
            lines.append(f"| {world} | mari target={target} | {cells} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--worlds", default=",".join(WORLDS), help="a subset updates only its worlds in the results")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    recipe = load_config(ROOT / "configs" / "mari.yaml")
    t = recipe.train
    settings = {"seeds": seeds, "threads": a.threads, "lr": t.lr, "steps": t.max_steps, "batch_size": t.batch_size,
                "retain_batch_size": t.retain_batch_size, "args": recipe.method.args,
                "gamma": recipe.method.args.get("gamma", MariConfig().gamma)}  # fmt: skip
    res: dict = {"settings": settings, "device": "cuda" if torch.cuda.is_available() else "cpu", "worlds": {}}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for world in a.worlds.split(","):
            prefix = f"{world}/people=60"
            target_rows, eval_rows = holdout_halves(prefix)
            holdout_file = tmp / f"{world}_target_holdout.jsonl"
            atomic_write_text(holdout_file, "".join(json.dumps(r) + "\n" for r in target_rows))
            full = resolve_model_path(f"{prefix}/tiny", progress=False)
            gold = resolve_model_path(f"{prefix}/tiny/gold", progress=False)
            refs = {"full": full, "gold": gold, "eval_holdout": eval_rows, "cache": tmp / f"{world}_cache"}
            w: dict = {"target_holdout_people": sorted({r["person"] for r in target_rows}), "runs": []}
            w["eval_holdout_people"] = sorted({r["person"] for r in eval_rows})
            for ref, path in (("original", full), ("gold", gold)):
                w[ref] = metrics_of(path, tmp / f"{world}_{ref}", prefix, refs)
                print(world, ref, w[ref], flush=True)
            for seed in seeds:
                for target in TARGETS:
                    w["runs"].append(one_run(prefix, target, seed, holdout_file, refs, tmp))
                    print(world, w["runs"][-1], flush=True)
            res["worlds"][world] = w
    out = Path(a.out)
    old = json.loads((out / "mari_targets.json").read_text()) if (out / "mari_targets.json").is_file() else {}
    if old.get("settings") == res["settings"]:  # --worlds W updates W's entry and keeps the other world's
        res["worlds"] = {**old["worlds"], **res["worlds"]}
    atomic_write_json(out / "mari_targets.json", res)
    atomic_write_text(out / "mari_targets.md", render(res))
    print(render(res))


if __name__ == "__main__":
    main()
