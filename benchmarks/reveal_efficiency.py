"""Reveal efficiency: evaluations a policy needs to reach 90 % of the best reward, NeuralUCB vs greedy vs random.

The bandit is fixed from a real task model: every instruction of a pool of ``--pool`` prefixes of a built-in task
gets its reward once (mean reward-scorer value of ``--k`` sampled generations), features are the model's hidden
states (as Reveal computes them). Each policy then runs ``--seeds`` times on this table with the same budget and
n_init; the median number of evaluations until the best reward seen reaches 90 % of the table's best is reported
(``>budget`` when not reached), with the share of runs that reached it and the mean reward of the evaluated arms.

    OMP_NUM_THREADS=2 python benchmarks/reveal_efficiency.py                     # toxicity/test, ~3-5 min
    python benchmarks/reveal_efficiency.py --task toxicity --pool 1000 --budget 80

Writes ``benchmarks/results/reveal_efficiency.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from obliviate.reveal.config import SampleConfig
from obliviate.reveal.generate import instruction_features, sample_continuations
from obliviate.reveal.policies import PolicyConfig, run_bandit
from obliviate.reveal.tasks import get_task
from obliviate.utils.io import atomic_write_json, atomic_write_text

POLICIES = ("neural_ucb", "greedy", "random")


def reward_table(task, model, tok, pool: list[str], k: int, seed: int) -> np.ndarray:
    scorer = task.reward_scorer()
    gens = sample_continuations(model, tok, pool, k, SampleConfig(max_new_tokens=24, batch_size=256), seed=seed)
    return np.array([np.mean(scorer(g)) for g in gens])


def evals_to(trace, target: float, budget: int) -> int:
    hit = np.flatnonzero(np.asarray(trace.rewards) >= target)
    return int(hit[0]) + 1 if len(hit) else budget + 1


def run(args: argparse.Namespace) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    task = get_task(args.task)
    path = task.model_dir()
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    pool = task.pool(args.pool, seed=0)
    t0 = time.time()
    table = reward_table(task, model, tok, pool, args.k, seed=0)
    feats = instruction_features(model, tok, pool, pooling=args.pooling)
    target = 0.9 * table.max()
    rows = {}
    for name in POLICIES:
        steps, means, times = [], [], []
        for seed in range(args.seeds):
            t = time.time()
            cfg = PolicyConfig(name=name, seed=seed)
            trace = run_bandit(feats, lambda a: float(table[a]), cfg, budget=args.budget, n_init=args.n_init)
            times.append(time.time() - t)
            steps.append(evals_to(trace, target, args.budget))
            means.append(float(np.mean(trace.rewards)))
        rows[name] = {
            "evals": steps,
            "median": statistics.median(steps),
            "reached": float(np.mean([s <= args.budget for s in steps])),
            "mean_reward": float(np.mean(means)),
            "policy_s": float(np.mean(times)),
        }
    return {
        "task": args.task,
        "pool": len(pool),
        "k": args.k,
        "budget": args.budget,
        "n_init": args.n_init,
        "seeds": args.seeds,
        "best_reward": float(table.max()),
        "target": float(target),
        "arms_at_target": int((table >= target).sum()),
        "table_s": round(time.time() - t0, 1),
        "rows": rows,
    }


def render(res: dict) -> str:
    lines = [
        f"Reveal efficiency on `{res['task']}`: pool {res['pool']} instructions, reward = mean of {res['k']} samples, "
        f"best reward {res['best_reward']:.3f}, target 90 % = {res['target']:.3f} ({res['arms_at_target']} arms reach "
        f"it); budget {res['budget']} evaluations incl. {res['n_init']} random, {res['seeds']} seeds.",
        "",
        "| policy | median evaluations to 90 % of best | runs reaching it | mean reward of evaluated arms | "
        "policy time per run (s) |",
        "|---|---|---|---|---|",
    ]
    for name, r in res["rows"].items():
        med = f">{res['budget']}" if r["median"] > res["budget"] else f"{r['median']:g}"
        lines.append(f"| {name} | {med} | {r['reached']:.0%} | {r['mean_reward']:.3f} | {r['policy_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="toxicity/test")
    ap.add_argument("--pool", type=int, default=600)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--pooling", default="mean")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    res = run(args)
    out = Path(args.out)
    atomic_write_text(out / "reveal_efficiency.md", render(res))
    atomic_write_json(out / "reveal_efficiency.json", res)
    print(render(res))
    print(json.dumps({k: v["evals"] for k, v in res["rows"].items()}))


if __name__ == "__main__":
    main()
