"""The paper's claims on the built-in tasks, its orthogonal-loss study, and the LoRA-shape deviation, with seeds.

Studies (``--study``):

* ``claims``: each task in ``--tasks``, negate and ascent mode, retain module on / off, and the retain module alone
  (lam_neg 0: the round adapters are zeroed, only the retain adapter acts). Reports every number the
  claims concern: NER F1 per entity type (PER, LOC, ORG), code pass@1 and math exact match, toxic rate and neutral
  perplexity; each target from issue 12 is marked met / missed per seed.
* ``orth``: toxicity (the fastest task), lam_orth in {0, 0.1, 0.5, 2} x retain module on / off (negate mode).
* ``lora``: toxicity, r 4 / alpha 8 on every linear layer (the default) vs O-LoRA's r 8 / alpha 32 on the attention
  input projection (GPT-2 fuses q, k, v in ``c_attn``, so "q, v" can only be approximated by it).

Every run starts from the task's cached model with the default Release options (lam_neg 1 unless ``--lam-neg``,
lam_orth 0.5, lr 1e-3, utility budget 0.1: a round that worsens utility by more than 10 % is rolled back and ends
the run) except the sizes the shared 2-core machine forces: ``--rounds``, ``--steps`` per round, ``--n`` forget rows
per round, ``--budget`` Reveal evaluations per round, a ``--pool``-instruction pool, and the ``test`` task sizes.
The retain module is fitted on the task's given retain rows (300). A fresh Reveal attack (new surrogate and seed)
runs on every final model.

    OMP_NUM_THREADS=2 python benchmarks/reveal_claims.py --study orth --seeds 3
    OMP_NUM_THREADS=2 python benchmarks/reveal_claims.py --study claims --tasks ner/test,code/test,toxicity/test
    OMP_NUM_THREADS=2 python benchmarks/reveal_claims.py --study lora --seeds 2

Seeds can run side by side (``--seed0 1 --seeds 1 --suffix _s1``) and be combined afterwards
(``--merge ,_s1,_s2``: the files with those suffixes, the empty one first, into the one named by ``--suffix``).

Writes ``benchmarks/results/reveal_<study>[<suffix>].md`` and ``.json`` (every run, plus the per-variant mean ± std).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from obliviate.config import TrainConfig
from obliviate.reveal.config import ForgetSetConfig, RevealConfig, RevealReleaseConfig, SampleConfig
from obliviate.reveal.release import Evaluation, reveal_and_release
from obliviate.reveal.tasks import get_task
from obliviate.utils.io import atomic_write_json, atomic_write_text

# metric -> (kind, factor): "max" = final <= factor (absolute), "keep" = final >= factor * original (higher is
# better), "cut" = final <= original / factor, "ppl" = final <= factor * original (lower is better).
TARGETS = {
    "ner": {"f1_per": ("max", 0.2), "f1_loc": ("keep", 0.9), "f1_org": ("keep", 0.9)},
    "code": {"code_pass": ("max", 0.1), "math_em": ("keep", 0.95)},
    "toxicity": {"toxic_rate_trigger": ("cut", 5.0), "neutral_ppl": ("ppl", 1.02)},
}
SHOWN = {
    "ner": ["f1_per", "f1_loc", "f1_org", "person_rate"],
    "code": ["code_pass", "math_em", "code_rate"],
    "toxicity": ["toxic_rate_trigger", "toxic_rate_random", "neutral_ppl", "toxic_nll"],
}


def variants(study: str) -> dict[str, dict]:
    """variant name -> RevealReleaseConfig overrides."""
    if study == "orth":
        return {f"lam_orth {lam}, retain module {'on' if on else 'off'}": {"lam_orth": lam, "retain_module": on}
                for on in (True, False) for lam in (0.0, 0.1, 0.5, 2.0)}  # fmt: skip
    if study == "lora":
        return {
            "r 4 / alpha 8, all linear (default)": {},
            "r 8 / alpha 32, attention c_attn (O-LoRA)": {"r": 8, "alpha": 32, "target_modules": ["c_attn"]},
        }
    ascent = {"mode": "ascent", "lr": 2e-4}
    return {
        "negate, retain module on": {},
        "negate, retain module off": {"retain_module": False},
        "retain module alone (lam_neg 0)": {"lam_neg": 0.0},
        "ascent (NPO + retain NLL), retain module on": ascent,
        "ascent (NPO + retain NLL), retain module off": {**ascent, "retain_module": False},
    }


def run_one(task, path: Path, pool: list[str], over: dict, seed: int, args) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    forget = ForgetSetConfig(top_m=5, samples=max(20, 2 * args.n // 5), max_rows=args.n, cap_per_instruction=args.n)
    reveal = RevealConfig(budget=args.budget, n_init=6, sample=SampleConfig(k=4, max_new_tokens=20), forget=forget,
                          retain=None, seed=seed)  # fmt: skip
    cfg = RevealReleaseConfig(rounds=args.rounds, steps=args.steps, retain_source="given", reveal=reveal,
                              **{"lam_neg": args.lam_neg, **over})  # fmt: skip
    ev = Evaluation(task.evaluate, task.utility_metric, task.metric_directions[task.utility_metric])
    t0 = time.time()
    res = reveal_and_release(model, tok, pool, task.reward_scorer(), cfg, TrainConfig(batch_size=16, seed=seed),
                             evaluation=ev, retain_rows=task.retain_rows(300), progress=False)  # fmt: skip
    cos = [r["max_abs_cos"] for r in res.rounds if r.get("status") == "kept"]
    return {"seed": seed, "rounds_kept": len(res.kept), "stop_reason": res.stop_reason, "baseline": res.baseline,
            "final": res.final, "attack": res.attack["best_reward"] if res.attack else None,
            "revealed": [round(r["revealed_reward"], 3) for r in res.rounds],
            "round_status": [r["status"] for r in res.rounds],
            "utility_worsening": [round(r.get("utility_worsening", float("nan")), 4) for r in res.rounds],
            "max_abs_cos": max(cos) if cos else None, "retain_module": res.retain,
            "time_s": round(time.time() - t0, 1)}  # fmt: skip


def target_checks(task_name: str, base: dict, final: dict) -> dict[str, bool]:
    out = {}
    for m, (kind, f) in TARGETS[task_name].items():
        out[m] = {"max": final[m] <= f, "keep": final[m] >= f * base[m], "cut": final[m] <= base[m] / f,
                  "ppl": final[m] <= f * base[m]}[kind]  # fmt: skip
    return out


def _ms(xs: list[float]) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return ""
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def render(study: str, blocks: list[dict], args) -> str:
    lines = [f"`reveal_claims.py --study {study}`: {args.seeds} seeds per variant ({args.seed0}..), mean ± std; "
             f"rounds ≤ {args.rounds}, {args.steps} steps and N = {args.n} forget rows per round, Reveal budget "
             f"{args.budget} of a {args.pool}-instruction pool, utility budget 0.1 (default), negation scale "
             f"{args.lam_neg}, lam_orth 0.5 unless the variant says otherwise. Sized down for a shared 2-core "
             "machine.",
             "",
             f"Regenerate: `OMP_NUM_THREADS=2 python benchmarks/reveal_claims.py --study {study} --tasks {args.tasks} "
             f"--variants '{args.variants}' --seeds {args.seeds} --rounds {args.rounds} --steps {args.steps} "
             f"--n {args.n} --budget {args.budget} --pool {args.pool} --lam-neg {args.lam_neg} "
             f"--suffix '{args.suffix}'`"
             + (" (the seeds ran side by side with `--seed0 k --seeds 1` and were combined with `--merge`)."
                if getattr(args, "merge", None) else "."),
             ""]  # fmt: skip
    for b in blocks:
        tname, keys = b["task"].split("/")[0], SHOWN[b["task"].split("/")[0]]
        head = ["variant", "rounds kept", *keys, "fresh attack best reward", "max abs cos", "all targets met",
                "per target (met / seeds)"]  # fmt: skip
        lines += [f"### `{b['task']}`", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        base = b["variants"][0]["runs"][0]["baseline"]
        lines.append("| original model | | " + " | ".join(f"{base[k]:.3f}" for k in keys) + " | | | | |")
        stops = []
        for v in b["variants"]:
            runs = v["runs"]
            checks = [target_checks(tname, r["baseline"], r["final"]) for r in runs]
            per = ", ".join(f"{m} {sum(c[m] for c in checks)}/{len(checks)}" for m in TARGETS[tname])
            lines.append(
                f"| {v['name']} | {_ms([r['rounds_kept'] for r in runs])} | "
                + " | ".join(_ms([r["final"][k] for r in runs]) for k in keys)
                + f" | {_ms([r['attack'] for r in runs])} | {_ms([r['max_abs_cos'] for r in runs])} | "
                f"{sum(all(c.values()) for c in checks)}/{len(checks)} | {per} |"
            )
            stops += [f"* {v['name']}, seed {r['seed']}: {', '.join(r['round_status'])} (utility worsening "
                      f"{', '.join(f'{w:+.1%}' for w in r['utility_worsening'])}); {r['stop_reason']}"
                      for r in runs]  # fmt: skip
        targets = "; ".join(f"{m} {k} {f}" for m, (k, f) in TARGETS[tname].items())
        lines += ["", f"Targets ({targets}; max: final ≤ value, keep: final ≥ value × original, cut: final ≤ "
                  "original / value, ppl: final ≤ value × original). Rounds per run:", "", *stops, ""]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", choices=["claims", "orth", "lora"], default="orth")
    ap.add_argument("--tasks", default="toxicity/test", help="comma-separated (claims study)")
    ap.add_argument("--variants", default="", help="';'-separated substrings of variant names to run (all)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed0", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--budget", type=int, default=10)
    ap.add_argument("--pool", type=int, default=200)
    ap.add_argument("--lam-neg", type=float, default=1.0, help="negation scale (default: the method's 1.0)")
    ap.add_argument("--suffix", default="", help="appended to the result file names")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--merge", default=None, help="','-separated suffixes of finished runs to combine (no new runs)")
    args = ap.parse_args()
    if args.merge is not None:
        return merge(args)
    tasks = args.tasks.split(",") if args.study == "claims" else ["toxicity/test"]
    chosen = {k: v for k, v in variants(args.study).items()
              if not args.variants or any(s in k for s in args.variants.split(";"))}  # fmt: skip
    blocks = []
    for spec in tasks:
        task = get_task(spec)
        path, pool = task.model_dir(), task.pool(args.pool, seed=0)
        block = {"task": spec, "variants": []}
        for name, over in chosen.items():
            runs = [run_one(task, path, pool, over, s, args) for s in range(args.seed0, args.seed0 + args.seeds)]
            block["variants"].append({"name": name, "overrides": over, "runs": runs})
            print(name, json.dumps([{k: r[k] for k in ("seed", "rounds_kept", "final", "time_s")} for r in runs]))
            write(args, [*blocks, block])  # after every variant: a cut-short run still leaves its finished rows
        blocks.append(block)
    print(render(args.study, blocks, args))


def merge(args) -> None:
    """Combine the runs of several invocations (e.g. one seed each, run side by side) into one result file."""
    parts = [
        json.loads((Path(args.out) / f"reveal_{args.study}{sfx}.json").read_text()) for sfx in args.merge.split(",")
    ]
    blocks = parts[0]["blocks"]
    for part in parts[1:]:
        for block, other in zip(blocks, part["blocks"]):
            runs = {v["name"]: v["runs"] for v in other["variants"]}
            for v in block["variants"]:
                seen = {r["seed"] for r in v["runs"]}  # a file merged before may already hold a seed
                v["runs"] += [r for r in runs.get(v["name"], []) if r["seed"] not in seen]
    for key in (
        "rounds",
        "steps",
        "n",
        "budget",
        "pool",
        "lam_neg",
        "tasks",
        "variants",
    ):  # the runs' sizes, not this command's
        setattr(args, key, parts[0]["args"].get(key, getattr(args, key)))
    args.seeds = max(len(v["runs"]) for b in blocks for v in b["variants"])
    args.seed0 = min(r["seed"] for b in blocks for v in b["variants"] for r in v["runs"])
    write(args, blocks)
    print(render(args.study, blocks, args))


def write(args, blocks: list[dict]) -> None:
    stem = Path(args.out) / f"reveal_{args.study}{args.suffix}"
    atomic_write_text(stem.with_suffix(".md"), render(args.study, blocks, args))
    atomic_write_json(stem.with_suffix(".json"), {"args": vars(args), "blocks": blocks})


if __name__ == "__main__":
    main()
