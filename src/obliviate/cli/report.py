"""``obliviate report``: a Markdown + self-contained HTML report (leaderboard, plots, certificate) over run folders."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  obliviate report runs/unlearn                                  # one run -> runs/unlearn/report/report.html
  obliviate report runs/ga runs/npo runs/mari --out runs/report  # a leaderboard of three runs
  obliviate report runs/ga runs/mari --gold runs/gold_eval --original runs/original_eval
  obliviate demo                                                 # CPU-sized: ends by writing this report

A reference folder (--gold / --original) is any folder holding that model's eval.json, e.g. the --out of
`obliviate eval --model world:tiny/gold ...`. Reference rows are also taken from run folders whose summary.json or
eval.json says "role": "gold" / "original", and from the "references" of a run's eval.json.
"""


def run(args: argparse.Namespace) -> int:
    from obliviate.report import write_report  # matplotlib import only when the subcommand runs

    path = write_report(args.run_dirs, args.out, gold=args.gold, original=args.original)
    print(f"report: {path}")
    print(f"        {path.with_suffix('.md')}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write report.md and a self-contained report.html over run folders",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (with eval.json, train_log.jsonl, ...)")
    p.add_argument("--out", default=None, help="output folder (default: RUN_DIR/report, or <common parent>/report)")
    p.add_argument("--gold", default=None, metavar="DIR", help="folder with the gold model's eval.json")
    p.add_argument("--original", default=None, metavar="DIR", help="folder with the original model's eval.json")
    p.set_defaults(func=run)
