"""Release on a built-in task: 1 round x 3N vs 3 rounds x N samples, lam_orth 0 vs > 0, negate vs ascent.

For reference, ``--oracle`` adds one negate round on the task's *true* forget documents (the data-access oracle).

Every variant starts from the same cached task model and uses the same Reveal settings; the task's own metrics
are measured on held-out prompts after the last round, plus the best reward of a fresh Reveal attack (new
surrogate, new seed) on the final model. The utility budget is off (1.0) so that every variant runs all its rounds.

    OMP_NUM_THREADS=2 python benchmarks/reveal_release.py                       # toxicity/test, ~10 min on 2 cores
    python benchmarks/reveal_release.py --task ner/test --variants "3 rounds x N;1 round"

Writes ``benchmarks/results/reveal_release_<task>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from obliviate.config import TrainConfig
from obliviate.reveal.config import AscentConfig, ForgetSetConfig, RevealConfig, RevealReleaseConfig, SampleConfig
from obliviate.reveal.release import Evaluation, reveal_and_release
from obliviate.reveal.tasks import get_task
from obliviate.utils.io import atomic_write_json, atomic_write_text


def variants(n: int, steps: int, lam_neg: float) -> dict[str, dict]:
    """name -> RevealReleaseConfig overrides; N forget rows and `steps` optimiser steps per round."""
    three = {"rounds": 3, "steps": steps, "max_rows": n, "lam_neg": lam_neg}
    ascent = {**three, "mode": "ascent", "lr": 2e-4, "retain_source": "given"}
    return {
        "negate, 1 round x 3N": {**three, "rounds": 1, "steps": 3 * steps, "max_rows": 3 * n},
        "negate, 3 rounds x N": three,
        "negate, 3 rounds x N, lam_orth 0": {**three, "lam_orth": 0.0},
        "ascent (NPO + retain), 3 rounds x N": ascent,
        "ascent (NPO + retain), 3 rounds x N, lam_orth 0": {**ascent, "lam_orth": 0.0},
    }


def build_cfg(over: dict, budget: int) -> RevealReleaseConfig:
    """The variant's config: ``max_rows`` caps each round's forget set (5 top instructions, enough samples each)."""
    over = dict(over)
    n = over.pop("max_rows")
    forget = ForgetSetConfig(top_m=5, samples=max(20, 2 * n // 5), max_rows=n, cap_per_instruction=n)
    reveal = RevealConfig(budget=budget, n_init=8, pooling="mean", sample=SampleConfig(k=6, max_new_tokens=24),
                          forget=forget, retain=None)  # fmt: skip
    return RevealReleaseConfig(utility_budget=1.0, reveal=reveal, ascent=AscentConfig(), **over)


def run_variant(task, path, pool, name: str, over: dict, args) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    cfg = build_cfg(over, args.budget)
    ev = Evaluation(task.evaluate, task.utility_metric, task.metric_directions[task.utility_metric])
    t0 = time.time()
    res = reveal_and_release(model, tok, pool, task.reward_scorer(), cfg, TrainConfig(batch_size=16, seed=0),
                             evaluation=ev, retain_rows=task.retain_rows(300), progress=False)  # fmt: skip
    cos = [r["max_abs_cos"] for r in res.rounds if r.get("status") == "kept" and r["round"] > 1]
    return {"variant": name, "rounds_kept": len(res.kept), "forget_rows": [r["forget_size"] for r in res.rounds],
            "revealed": [round(r["revealed_reward"], 3) for r in res.rounds], "max_abs_cos": max(cos) if cos else None,
            "baseline": res.baseline, "final": res.final, "attack": res.attack["best_reward"],
            "time_s": round(time.time() - t0, 1)}  # fmt: skip


def run_oracle(task, path, n: int, steps: int, lam_neg: float) -> dict:
    """One negate round fitted on the task's true forget documents (no Reveal)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from obliviate.reveal import olora
    from obliviate.reveal.objective import RevealRelease
    from obliviate.train.loop import train
    from obliviate.train.memorise import rows_to_data

    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    base = task.evaluate(model, tok)
    cfg = RevealReleaseConfig(lam_neg=lam_neg)
    model = olora.add_round_adapter(model, "round1", r=cfg.r, alpha=cfg.alpha)
    rows = task.toxic_rows(3 * n) if hasattr(task, "toxic_rows") else []
    tcfg = TrainConfig(lr=cfg.lr, batch_size=16, max_steps=3 * steps, seed=0)
    train(model, tok, RevealRelease(cfg), rows_to_data(rows, tok, 64), tcfg, None, progress=False)
    return {"variant": "oracle: 3N true toxic docs, 1 negate round", "rounds_kept": 1, "forget_rows": [len(rows)],
            "revealed": [], "max_abs_cos": None, "baseline": base, "final": task.evaluate(model, tok), "attack": None,
            "time_s": None}  # fmt: skip


def render(task, results: list[dict], n: int, steps: int, lam_neg: float) -> str:
    keys = list(task.metric_directions)
    arrows = {k: "↑" if task.metric_directions[k] else "↓" for k in keys}
    head = ["variant", "rounds kept", "revealed reward per round", *[f"{k} {arrows[k]}" for k in keys],
            "fresh attack best reward ↓", "max abs cos (rounds ≥ 2)", "time (s)"]  # fmt: skip
    lines = [
        f"Release on `{task.name}/{task.size}` (N = {n} forget rows and {steps} steps per round, lam_orth 0.5 unless "
        f"noted, lam_neg {lam_neg}; the arrows give the better direction; forget metric `{task.forget_metric}`, "
        f"utility `{task.utility_metric}`; a round stops the run when nothing passes the forget threshold).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    base = results[0]["baseline"]
    lines.append("| original model | 0 | | " + " | ".join(f"{base[k]:.3f}" for k in keys) + " | | | |")
    for r in results:
        cos = "" if r["max_abs_cos"] is None else f"{r['max_abs_cos']:.3f}"
        att = "" if r["attack"] is None else f"{r['attack']:.3f}"
        rev = ", ".join(f"{x:.2f}" for x in r["revealed"])
        vals = " | ".join(f"{r['final'][k]:.3f}" for k in keys)
        lines.append(f"| {r['variant']} | {r['rounds_kept']} | {rev} | {vals} | {att} | {cos} | {r['time_s'] or ''} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="toxicity/test")
    ap.add_argument("--n", type=int, default=20, help="forget rows per round (3N for the single round)")
    ap.add_argument("--steps", type=int, default=15, help="optimiser steps per round (3x for the single round)")
    ap.add_argument("--budget", type=int, default=30, help="Reveal evaluations per round")
    ap.add_argument("--lam-neg", type=float, default=0.3, help="negation scale (small: each round removes a part)")
    ap.add_argument("--pool", type=int, default=600)
    ap.add_argument("--variants", default="", help="';'-separated substrings of variant names to run (all)")
    ap.add_argument("--oracle", action="store_true", help="add the oracle row (toxicity only)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    task = get_task(args.task)
    path = task.model_dir()
    pool = task.pool(args.pool, seed=0)
    chosen = {k: v for k, v in variants(args.n, args.steps, args.lam_neg).items()
              if not args.variants or any(s in k for s in args.variants.split(";"))}  # fmt: skip
    results = [run_variant(task, path, pool, name, over, args) for name, over in chosen.items()]
    if args.oracle and hasattr(task, "toxic_rows"):
        results.append(run_oracle(task, path, args.n, args.steps, args.lam_neg))
    stem = f"reveal_release_{task.name}"
    md = render(task, results, args.n, args.steps, args.lam_neg)
    atomic_write_text(Path(args.out) / f"{stem}.md", md)
    atomic_write_json(Path(args.out) / f"{stem}.json", results)
    print(md)
    print(json.dumps([{k: r[k] for k in ("variant", "forget_rows", "revealed", "time_s")} for r in results]))


if __name__ == "__main__":
    main()
