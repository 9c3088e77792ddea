"""Does NeuralUCB's exploration bonus earn its keep? Policies on a multi-modal pool built so that greedy gets stuck.

The recorded toxicity pool (``reveal_efficiency.py``) is easy: greedy (nu = 0) reaches 90 % of the best reward as
fast as NeuralUCB, so the bonus was never shown to help there. This benchmark adds a pool where exploitation alone
is expected to fail, and sweeps the exploration weight nu honestly on both kinds of pool.

The multi-modal pool (seeded, synthetic, no model needed): ``--arms`` arms with ``--dim``-dimensional features

* a broad **decoy** mode holding ``--decoy-share`` of the arms, reward ~ 0.35 near its centre: most of the
  ``n_init`` random evaluations land here or in the background, so the early evidence points at it;
* ``--modes`` narrow **high** modes of ``--mode-arms`` arms each, peak rewards 0.9, 0.75, 0.6, ... far from the decoy;
* background arms with reward ~ 0.02; every reward gets N(0, ``--noise``^2) observation noise (fixed per arm, as
  a reward table measured once from sampled generations is).

Each (pool seed, policy seed) pair is one run; the table reports over all runs: median evaluations to 90 % of the
pool's best reward (``>budget`` when not reached), the share of runs reaching it, and the best reward found at the
end of the budget (mean ± std). ``--toxicity`` adds the same sweep on the recorded toxicity reward table
(needs the toxicity task model, built and cached on first use: a few minutes on 2 cores).

    python benchmarks/reveal_bandit_modes.py                    # multi-modal pool, 10 seeds, ~3 min on 2 cores
    python benchmarks/reveal_bandit_modes.py --toxicity         # + the toxicity table (~10 min)
    python benchmarks/reveal_bandit_modes.py --seeds 2 --nus 0.1,1 --arms 200 --out /tmp/x   # smoke size

Writes ``benchmarks/results/reveal_bandit_modes.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from obliviate.reveal.policies import PolicyConfig, run_bandit
from obliviate.utils.io import atomic_write_json, atomic_write_text


def multimodal_pool(
    seed: int,
    arms: int,
    dim: int,
    modes: int,
    mode_arms: int,
    mode_width: float,
    hill: float,
    decoy_share: float,
    noise: float,
):
    """``(features (N, dim), rewards (N,))`` of one seeded multi-modal pool (see the module docstring)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(modes + 1, dim)) * 3.0  # row 0: the decoy; far apart in expectation (~4.2 * sqrt(dim))
    n_decoy = int(decoy_share * arms)
    n_high = modes * mode_arms
    n_back = arms - n_decoy - n_high
    if n_back < 0:
        raise ValueError("decoy_share and modes x mode_arms leave no background arms")
    parts = [centres[0] + rng.normal(size=(n_decoy, dim)) * 1.0]  # broad decoy
    parts += [centres[1 + m] + rng.normal(size=(mode_arms, dim)) * mode_width for m in range(modes)]  # high modes
    parts.append(rng.normal(size=(n_back, dim)) * 3.0)  # background spread over the whole space
    x = np.concatenate(parts)
    heights = [0.35] + [0.9 - 0.15 * m for m in range(modes)]
    widths = [2.0] + [hill * mode_width] * modes  # reward falls off over `hill` x a mode's spread: a hill to climb
    reward = np.full(len(x), 0.02)
    for c, h, w in zip(centres, heights, widths):
        reward += h * np.exp(-((x - c) ** 2).sum(-1) / (2 * w * w * dim))
    reward += rng.normal(size=len(x)) * noise
    perm = rng.permutation(len(x))  # arm order carries no information
    return x[perm].astype(np.float32), np.clip(reward[perm], 0.0, 1.0)


# Pool families: (spread of a high mode's arms, reward width / spread, decoy share of the arms).
FAMILIES = {
    # needles: high modes are small and their reward does not reach beyond their arms; nothing points at them
    "needles": (0.3, 2.0, 0.4),
    # hills: the high modes' reward spreads to nearby background arms (structure a surrogate can follow), while half
    # of the arms (and so of the random initial evaluations) sit on the decoy
    "hills": (0.5, 4.0, 0.5),
}


def evals_to(rewards: list[float], target: float, budget: int) -> int:
    """1-based evaluation at which the best reward so far first reaches ``target`` (``budget + 1``: never)."""
    hit = np.flatnonzero(np.asarray(rewards) >= target)
    return int(hit[0]) + 1 if len(hit) else budget + 1


def sweep(tables: list[tuple[np.ndarray, np.ndarray]], variants: dict[str, PolicyConfig], args) -> dict:
    """Every variant on every (pool, policy seed): evaluations to 90 % of best and the best reward found."""
    rows = {}
    for label, base in variants.items():
        steps, finals, secs = [], [], []
        for t, (feats, table) in enumerate(tables):
            target = 0.9 * float(table.max())
            for s in range(args.policy_seeds):
                cfg = PolicyConfig(**{**base.__dict__, "seed": 1000 * t + s})
                t0 = time.time()
                reward = table.__getitem__  # arm -> reward, bound to this pool
                trace = run_bandit(feats, reward, cfg, budget=args.budget, n_init=args.n_init)
                secs.append(time.time() - t0)
                steps.append(evals_to(trace.rewards, target, args.budget))
                finals.append(max(trace.rewards) / float(table.max()))
        rows[label] = {
            "evals": steps,
            "median": statistics.median(steps),
            "reached": float(np.mean([s <= args.budget for s in steps])),
            "best_found_mean": float(np.mean(finals)),
            "best_found_std": float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
            "policy_s": float(np.mean(secs)),
        }
    return rows


def variants_for(args) -> dict[str, PolicyConfig]:
    out = {"random": PolicyConfig(name="random"), "greedy (nu=0)": PolicyConfig(name="greedy")}
    for nu in args.nus:
        out[f"neural_ucb nu={nu:g}"] = PolicyConfig(name="neural_ucb", nu=nu, refit_steps=args.refit_steps)
    if args.refit_compare:
        out[f"neural_ucb nu={args.nus[-1]:g}, 1000 refit steps"] = PolicyConfig(
            name="neural_ucb", nu=args.nus[-1], refit_steps=1000
        )
    return out


def toxicity_tables(args) -> list[tuple[np.ndarray, np.ndarray]]:
    """The recorded toxicity reward table (as reveal_efficiency.py builds it), one pool."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from obliviate.reveal.generate import instruction_features
    from obliviate.reveal.tasks import get_task

    sys_path = Path(__file__).parent
    import sys

    sys.path.insert(0, str(sys_path))
    from reveal_efficiency import reward_table

    task = get_task("toxicity/test")
    path = task.model_dir()
    model, tok = AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    pool = task.pool(600, seed=0)
    table = reward_table(task, model, tok, pool, 8, seed=0)
    return [(instruction_features(model, tok, pool, pooling="mean"), table)]


def render(res: dict) -> str:
    lines = [
        "# Reveal: does the exploration bonus help?",
        "",
        f"Regenerate: `{res['command']}`. Budget {res['budget']} evaluations incl. {res['n_init']} random; "
        f"runs per row = pools x policy seeds. 'best found' = best reward seen / the pool's best.",
    ]
    for name, block in res["pools"].items():
        lines += ["", f"## {name}", "", block["description"], ""]
        lines += [
            "| policy | median evaluations to 90 % of best | runs reaching it | best found (mean ± std) | s per run |",
            "|---|---|---|---|---|",
        ]
        for label, r in block["rows"].items():
            med = f">{res['budget']}" if r["median"] > res["budget"] else f"{r['median']:g}"
            lines.append(
                f"| {label} | {med} | {r['reached']:.0%} | {r['best_found_mean']:.3f} ± {r['best_found_std']:.3f} "
                f"| {r['policy_s']:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="multi-modal pools (one per seed)")
    ap.add_argument("--policy-seeds", type=int, default=1, help="policy seeds per pool")
    ap.add_argument("--arms", type=int, default=600)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--modes", type=int, default=3)
    ap.add_argument("--mode-arms", type=int, default=6)
    ap.add_argument("--families", default="", help=f"comma-separated subset of {', '.join(FAMILIES)} (default all)")
    ap.add_argument("--noise", type=float, default=0.03)
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--n-init", type=int, default=10)
    ap.add_argument("--nus", default="0.1,0.3,1,3", help="comma-separated NeuralUCB exploration weights")
    ap.add_argument("--refit-steps", type=int, default=300)
    ap.add_argument("--refit-compare", action="store_true", help="add a row with 1000 refit steps (INSTINCT)")
    ap.add_argument("--toxicity", action="store_true", help="also sweep the recorded toxicity reward table")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args(argv)
    args.nus = [float(v) for v in args.nus.split(",")]
    args.families = [f for f in args.families.split(",") if f]
    variants = variants_for(args)
    pools = {}
    for fam, (width, hill, share) in FAMILIES.items():
        if args.families and fam not in args.families:
            continue
        tables = [
            multimodal_pool(s, args.arms, args.dim, args.modes, args.mode_arms, width, hill, share, args.noise)
            for s in range(args.seeds)
        ]
        pools[f"multi-modal pool, {fam}"] = {
            "description": f"{args.seeds} seeded pools of {args.arms} arms, dim {args.dim}: decoy {share:.0%} of "
            f"arms (reward ~0.35), {args.modes} high modes of {args.mode_arms} arms (peaks 0.9, 0.75, 0.6; arm "
            f"spread {width}, reward width {hill} x spread), noise {args.noise}.",
            "rows": sweep(tables, variants, args),
        }
    if args.toxicity:
        tox_args = argparse.Namespace(**{**vars(args), "policy_seeds": max(args.policy_seeds, 5)})
        pools["toxicity/test reward table"] = {
            "description": "600 instructions of the toxicity task, reward = mean lexicon score of 8 samples "
            "(the table reveal_efficiency.py measures); 5 policy seeds.",
            "rows": sweep(toxicity_tables(args), variants, tox_args),
        }
    res = {
        "command": "python benchmarks/reveal_bandit_modes.py" + (" --toxicity" if args.toxicity else ""),
        "budget": args.budget,
        "n_init": args.n_init,
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "pools": pools,
    }
    out = Path(args.out)
    atomic_write_text(out / "reveal_bandit_modes.md", render(res))
    atomic_write_json(out / "reveal_bandit_modes.json", res)
    print(render(res))
    print(json.dumps({p: {k: v["median"] for k, v in b["rows"].items()} for p, b in pools.items()}))
    return res


if __name__ == "__main__":
    main()
