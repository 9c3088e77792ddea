"""MarI against the baselines GA, GradDiff, KL and NPO on the built-in world, side by side (a benchmark, not a test).

    python benchmarks/mari_vs_baselines.py                     # world:tiny, forget10, full grid (~30 min, 1 core)
    python benchmarks/mari_vs_baselines.py --quick             # one grid point per method (a few minutes)

Every run starts from the same original model (``world:<preset>``) on the same split, with the same budget (steps,
forget / retain batch sizes, AdamW, constant lr). γ (or the forget weight) and lr come from a small grid per method;
every grid run is reported, and per method the run kept for the summary is the one
:func:`obliviate.bench.select_run` picks (the demo's rule: retain and general-knowledge accuracy kept, then forget
accuracy closest to the gold model's). Runs, evaluation and certificates go through :mod:`obliviate.bench`, as in
``obliviate demo``.

Per run: forget / retain / holdout QA accuracy (``obliviate.eval.match.exact_match``), the gap to the gold model,
the certificate's pooled MarI (``unlearn_vs_retain``, nats) and sequence-level AUC (forget vs retain) next to the
gold model's. Step time and memory are measured by ``benchmarks/step_speed.py`` (interleaved rounds at a realistic
vocabulary, each method's memory in its own process; measuring methods one after another in one process, as this
script did, lets the profiler count earlier methods' gradients).

Writes ``benchmarks/results/mari_vs_baselines.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from obliviate.bench import SELECTION_RULE, Evaluator, WorldChoice, certify_run, reference_row, run_row, select_run
from obliviate.config import ModelConfig
from obliviate.demo_recipes import DemoRecipe
from obliviate.utils.io import atomic_write_json, atomic_write_text

GRID = {  # method -> list of (method.args, lr); GA has no weight to tune (Adam is invariant to scaling its loss)
    "ga": [({}, lr) for lr in (3e-5, 1e-4, 3e-4)],
    "graddiff": [({"gamma": g}, lr) for g in (0.5, 1.0) for lr in (3e-5, 1e-4, 3e-4)],
    "kl": [({"gamma": g}, lr) for g in (0.5, 1.0) for lr in (3e-5, 1e-4, 3e-4)],
    "npo": [({"gamma": g}, lr) for g in (0.5, 1.0) for lr in (3e-5, 1e-4, 3e-4)],
    "mari": [({"gamma": g}, lr) for g in (20.0, 50.0) for lr in (3e-4, 1e-3, 3e-3)],
}
# MarI ablations: reported, but not eligible for the summary table (they would give MarI a larger grid).
ABLATIONS = [
    ("mari", {"gamma": 50.0, "stopgrad_retain": True}, 1e-3),
    ("mari", {"gamma": 2.5, "construction": "unlearn_vs_retain"}, 1e-3),
    ("mari", {"gamma": 50.0, "retain": {"kind": "nll"}}, 1e-3),
]
QUICK = {"ga": [({}, 1e-4)], "graddiff": [({}, 1e-4)], "kl": [({}, 1e-4)], "npo": [({}, 1e-4)], "mari": [({}, 1e-3)]}
ACC = ("forget_acc", "retain_acc", "holdout_acc", "general_acc")  # retain: retain_eval


def _cert(entry: dict) -> dict[str, float]:
    """The certificate numbers this benchmark reports, from one model's entry of ``certificate.json``."""
    mi, seq = entry["mari"]["unlearn_vs_retain"], entry["sequence"]
    return {"mi": mi["value"], "mi_null_p95": mi["null_p95"], "auc": seq["auc_forget_vs_retain"],
            "auc_fh": seq["auc_forget_vs_holdout"]}  # fmt: skip


def one_run(name: str, args: dict, lr: float, a: argparse.Namespace, ev: Evaluator, tmp: Path) -> dict:
    recipe = DemoRecipe(lr=lr, args=args, batch_size=a.batch_size, retain_batch_size=a.retain_batch_size)
    run_dir = tmp / f"{name}_{len(list(tmp.iterdir()))}"
    r = run_row(name, recipe, a.steps, run_dir, ev, certify_resamples=100, seed=a.seed, progress=False)
    cert = json.loads((run_dir / "certificate.json").read_text())["models"]["model"]
    out = {"method": name, "args": args, "lr": lr, "train_s": r.get("train_time_s"), "status": r["status"]}
    return {**out, "metrics": {k: r["metrics"][k] for k in ACC}, **_cert(cert)}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _args(r: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in r["args"].items()) or "–"


def _cells(r: dict, gold: dict) -> str:
    """forget | retain | holdout | gap to gold | MI | AUC f-r | AUC f-h"""
    m, g = r["metrics"], gold["metrics"]
    accs = " | ".join(_pct(m[k]) for k in ACC[:3])
    return f"{accs} | {_pct(m['forget_acc'] - g['forget_acc'])} | {r['mi']:.4f} | {r['auc']:.3f} | {r['auc_fh']:.3f}"


def render(res: dict) -> str:
    gold, a = res["gold"], res["settings"]
    head = "| forget | retain | holdout | gap to gold | MI | AUC f-r | AUC f-h |"
    lines = [
        f"# MarI vs baselines on world:{a['world']}{a['preset']} (forget10)",
        "",
        f"{a['steps']} steps, batch {a['batch_size']} forget + {a['retain_batch_size']} retain sequences, AdamW, "
        f"constant lr; {res['device']}, {a['threads']} thread(s). QA accuracy = greedy exact match (%); "
        "retain = retain_eval; gap = forget accuracy minus the gold model's. MI = the certificate's pooled MarI, "
        "unlearn_vs_retain (nats); AUC f-r = P(NLL_forget > NLL_retain), AUC f-h = P(NLL_holdout > NLL_forget).",
        f"Kept run per method: {SELECTION_RULE}.",
        "",
        f"| method | args | lr {head}",
        "|---|---|---" + "|---" * 7 + "|",
    ]
    for name in ("original", "gold"):
        lines.append(f"| *{name}* | | | {_cells(res[name], gold)} |")
    for m, info in res["methods"].items():
        r, mark = info["kept"], "" if info["kept_ok"] else " (no run meets the rule)"
        lines.append(f"| **{m}**{mark} | {_args(r)} | {r['lr']:g} | {_cells(r, gold)} |")
    lines += ["", "## Every grid run", "", f"| method | args | lr {head}", "|---|---|---" + "|---" * 7 + "|"]
    for m, info in res["methods"].items():
        lines += [f"| {m} | {_args(r)} | {r['lr']:g} | {_cells(r, gold)} |" for r in info["runs"]]
    if res["ablations"]:
        lines += ["", "## MarI ablations (not eligible for the summary)", ""]
        lines += [f"| method | args | lr {head}", "|---|---|---" + "|---" * 7 + "|"]
        lines += [f"| mari | {_args(r)} | {r['lr']:g} | {_cells(r, gold)} |" for r in res["ablations"]]
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--world", default="", help="world setting: correlated (default) or uncorrelated")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=16, help="forget sequences per step")
    ap.add_argument("--retain-batch-size", type=int, default=64, help="retain sequences per step")
    ap.add_argument("--methods", default="ga,graddiff,kl,npo,mari")
    ap.add_argument("--quick", action="store_true", help="one grid point per method")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from obliviate.eval import EvalOptions
    from obliviate.models import load_model_and_tokenizer

    world = WorldChoice(preset=a.preset, setting=a.world.strip("/") or "correlated")
    world.check()
    res: dict = {"settings": vars(a), "device": "cuda" if torch.cuda.is_available() else "cpu", "methods": {}}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        full, gold = world.build(progress=False)
        ev = Evaluator(world, gold, full, tmp / "eval_cache", EvalOptions(progress=False), metrics=list(ACC))
        model, tok = load_model_and_tokenizer(ModelConfig(path=str(gold)))
        refs = certify_run(model, tok, tmp / "gold", ev, resamples=100, progress=False)["models"]
        for ref, path in (("original", full), ("gold", gold)):
            row = reference_row(ref, path, tmp, ev)
            res[ref] = {"metrics": {k: row["metrics"][k] for k in ACC}, **_cert(refs[ref])}
            print(ref, res[ref], flush=True)
        grid = QUICK if a.quick else GRID
        for name in a.methods.split(","):
            runs = []
            for args, lr in grid[name]:
                runs.append(one_run(name, args, lr, a, ev, tmp))
                print(runs[-1], flush=True)
            k, ok = select_run(runs, res["original"], res["gold"])
            res["methods"][name] = {"runs": runs, "kept": runs[k], "kept_ok": ok}
        res["ablations"] = [] if a.quick else [one_run(n, args, lr, a, ev, tmp) for n, args, lr in ABLATIONS]
    out = Path(a.out)
    atomic_write_json(out / "mari_vs_baselines.json", res)
    atomic_write_text(out / "mari_vs_baselines.md", render(res))
    print(render(res))


if __name__ == "__main__":
    main()
