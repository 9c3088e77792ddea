"""``obliviate tune``: choose a method's learning rate, weights and step budget without a gold model.

A study per method (Optuna: TPE or grid sampler) runs ordinary unlearning trials on the run config's model and data,
checks each every --check-every steps on small samples and prunes hopeless ones, and selects the trial whose forget
set looks most like the holdout set (membership AUC -> 0.5, NLL distributions alike) while retain accuracy stays
within --retain-budget of the original's. docs/tune.md explains the objective. --gold only adds report columns.
"""

from __future__ import annotations

import argparse
import os

from obliviate.errors import ObliviateError

EXAMPLES = """examples:
  # built-in world (a few minutes on 2 CPU cores; the first use trains and caches world:tiny):
  obliviate tune --config configs/smoke_tiny.yaml --methods npo --trials 6 --steps 10:40 \\
      --gold world:tiny/gold --out runs/tune
  # -> runs/tune/npo/selected (a normal run folder), runs/tune/tune.json, runs/tune/report/tune.md

  # the same command again after a crash (kill -9 included) continues the study; finished trials are kept.
  # Started twice at once (same arguments), two processes share the study; several machines share one through
  # --storage postgresql://user@host/db (each with its own --out)

  # several methods, a grid instead of TPE, a 1 % retain budget:
  obliviate tune --config configs/smoke_tiny.yaml --methods graddiff,npo,mari --sampler grid --grid-points 2 \\
      --retain-budget 0.01 --out runs/tune-grid

  # every trial trained by 2 processes with sharded weights (FSDP; on CPU obliviate shards with torch's FSDP2):
  accelerate launch --config_file configs/accelerate/fsdp.yaml -m obliviate.cli tune \\
      --config configs/smoke_tiny.yaml --methods graddiff --trials 6 --steps 10:40 --out runs/tune-fsdp

  optuna-dashboard sqlite:///runs/tune/study.db      # browse the studies (optuna-dashboard is a separate install)
"""


def _range(text: str, kind: type) -> tuple:
    try:
        lo, hi = (kind(v) for v in text.split(":")) if ":" in text else (kind(text),) * 2
    except ValueError:
        raise ObliviateError(f"expected LOW:HIGH numbers, got {text!r} (e.g. 1e-5:3e-3)") from None
    return lo, hi


def run(args: argparse.Namespace) -> int:
    from obliviate.cli.unlearn import _setup_logging
    from obliviate.config import load_config
    from obliviate.tune import ObjectiveConfig, TuneSettings, tune

    _setup_logging(args.quiet)
    settings = TuneSettings(
        methods=[m.strip() for m in args.methods.split(",") if m.strip()],
        trials=args.trials, sampler=args.sampler, grid_points=args.grid_points, lr=_range(args.lr, float),
        steps=_range(args.steps, int), check_every=args.check_every, probe_rows=args.probe_rows, pruner=args.pruner,
        objective=ObjectiveConfig(budget=args.retain_budget, tolerance=args.tolerance), seed=args.seed,
        storage=args.storage, heartbeat=args.heartbeat, gold=args.gold, eval_suite=args.eval_suite,
        eval_data=args.eval_data,
    )  # fmt: skip
    result = tune(load_config(args.config, args.overrides), settings, args.out, overwrite=args.overwrite,
                  progress=not args.quiet)  # fmt: skip
    if os.environ.get("RANK", "0") != "0":  # several processes: the main one reports
        return 0
    for method, d in result.doc["studies"].items():
        states = [t["state"] for t in d["trials"]]
        counts = ", ".join(f"{states.count(s)} {s.lower()}" for s in dict.fromkeys(states))
        if d["selected"] is None:
            print(f"{method}: {counts}; no trial kept retain accuracy within the budget")
            continue
        t = next(t for t in d["trials"] if t["number"] == d["selected"])
        s = t["scores"]
        fq = (t["gold"] or {}).get("forget_quality")
        gold = f", forget quality vs gold {fq:.3g} (best trial {d['best_gold_forget_quality']:.3g})" if fq else ""
        print(
            f"{method}: {counts}; selected #{t['number']} lr={t['point']['lr']:.2e} steps={t['point']['steps']}: "
            f"AUC {s['auc']:.3f}, retain drop {100 * s['retain_drop']:.1f} %{gold} -> {result.selected[method]}"
        )
    print(f"tune.json and report: {result.out / 'tune.json'}, {result.out / 'report' / 'tune.md'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune", help="gold-free hyper-parameter and step selection (Optuna)", description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--config", "-c", help="base run config (model, data with retain + holdout, batch sizes, seed)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. data.holdout=h.jsonl")
    p.add_argument("--methods", default="npo", help="comma-separated methods, one study each (default: npo)")
    p.add_argument("--trials", type=int, default=12, help="finished trials per study (default: 12)")
    p.add_argument("--sampler", default="tpe", choices=("tpe", "grid"), help="Optuna sampler (default: tpe)")
    p.add_argument("--grid-points", type=int, default=3, help="grid sampler: values per parameter (default: 3)")
    p.add_argument("--lr", default="1e-5:3e-3", help="learning-rate range LOW:HIGH, log scale (default: 1e-5:3e-3)")
    p.add_argument("--steps", default="20:80", help="optimiser-step range LOW:HIGH (default: 20:80)")
    p.add_argument("--check-every", type=int, default=10, help="steps between mid-run checks (default: 10)")
    p.add_argument("--probe-rows", type=int, default=64, help="rows per split in a mid-run check (default: 64)")
    p.add_argument("--pruner", default="hopeless", choices=("hopeless", "median", "none"),
                   help="hopeless: stop trials that cannot end well; median: also Optuna's MedianPruner")  # fmt: skip
    p.add_argument("--retain-budget", type=float, default=0.02, help="allowed relative retain-accuracy drop (0.02)")
    p.add_argument("--tolerance", type=float, default=0.5, help="dead zone in null-spread units (default: 0.5)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (train.seed is the run config's)")
    p.add_argument("--storage", help="SQLAlchemy database URL (default: sqlite:///OUT/study.db)")
    p.add_argument("--heartbeat", type=int, default=60, help="trial heartbeat seconds; stale after 2x (default 60)")
    p.add_argument("--gold", help="gold model, only to report each trial's forget quality (never to select)")
    p.add_argument("--eval-suite", default="world", help="suite for the gold report (default: world)")
    p.add_argument("--eval-data", help="the suite's --data (default: from a world: forget spec)")
    p.add_argument("--out", default="runs/tune", help="output folder (default: runs/tune)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier tune in --out")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or info logs")
    p.set_defaults(func=run)
