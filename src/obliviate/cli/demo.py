"""obliviate demo: build the built-in world, unlearn with every default method, evaluate against the gold model,
print a leaderboard and write a report. Offline; a few minutes on 2 CPU cores once the world is cached (building
it the first time adds about two minutes).
"""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  obliviate demo                                       # tiny world, correlated, forget10, default methods
  obliviate demo --methods graddiff,npo,mari --steps 20 --out runs/demo_small --overwrite   # CPU-sized: ~1 min
  obliviate demo --methods all --overwrite             # every registered method
  obliviate demo --setting uncorrelated --forget-split forget05 --out runs/demo_unc
  obliviate report runs/demo/original runs/demo/gold runs/demo/runs/*   # re-render the report later
"""


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from obliviate.cli.tables import leaderboard_table, steps_label
    from obliviate.demo import DEFAULT_METHODS, run_demo
    from obliviate.utils.fmt import fmt_duration

    console = Console()
    methods = args.methods or None
    console.print(
        f"[bold]obliviate demo[/bold]: world [cyan]{args.preset}[/cyan] / {args.setting} / {args.forget_split}, "
        f"methods: {methods or ','.join(DEFAULT_METHODS)}"
    )
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the "Loading weights" bar of every model load; the demo shows its own bars
    try:
        result = run_demo(
            preset=args.preset, setting=args.setting, forget_split=args.forget_split, methods=methods, out=args.out,
            overwrite=args.overwrite, steps=args.steps, seed=args.seed, people=args.people,
            progress=not args.no_progress,
        )  # fmt: skip
    finally:
        hf_logging.enable_progress_bar()
    steps, per_method = steps_label(result.leaderboard)
    settings = f"{args.preset} · {args.setting} · {args.forget_split} · {steps}"
    console.print(leaderboard_table(result.leaderboard, title=f"obliviate demo · {settings}"))
    if per_method:
        console.print(per_method, highlight=False)
    failed = [r for r in result.leaderboard if r.get("status") == "failed"]
    for r in failed:
        console.print(f"[red]{r['name']} failed:[/red] {r['error']}", markup=True, highlight=False)
    # paths are printed unwrapped (soft_wrap) so they can be copied from any terminal width
    console.print(f"results: {result.out / 'leaderboard.json'} (each run's eval.json under runs/)", soft_wrap=True)
    console.print(f"report:  [bold]{result.report}[/bold]", soft_wrap=True)
    t = result.times
    console.print(f"total time: {fmt_duration(t['total'])} (world {fmt_duration(t['world'])})")
    return 1 if failed else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the whole story offline: world, unlearning with every method, evaluation, leaderboard, report",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", default="tiny", help="world model preset: tiny (GPT-2, ~0.6M) or small (Llama, ~3.7M)")
    p.add_argument(
        "--setting",
        default="correlated",
        choices=["correlated", "uncorrelated"],
        help="correlated: forget people share values and phrasing with retain people (default)",
    )
    p.add_argument(
        "--forget-split",
        default="forget10",
        choices=["forget01", "forget05", "forget10"],
        help="which 1 / 5 / 10 %% of the people to forget (default forget10)",
    )
    p.add_argument(
        "--methods",
        default="",
        help="comma-separated method names, or 'all' (default: the demo's list, see `obliviate methods`)",
    )
    p.add_argument("--steps", type=int, default=None, help="optimiser steps for every method (default: each recipe's)")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    p.add_argument(
        "--people",
        type=int,
        default=200,
        help="trained people in the world (default 200; the method settings were tuned for 200)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)
