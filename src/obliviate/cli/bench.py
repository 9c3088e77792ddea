"""``obliviate bench``: list and run the benchmark scripts under ``benchmarks/`` of a source checkout.

Benchmarks print ratios measured side by side in one run (never timed assertions in tests).
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
from pathlib import Path

from obliviate.errors import ObliviateError

EXAMPLES = """examples:
  obliviate bench                                   # list the benchmarks
  obliviate bench mari_vs_baselines                 # run one (arguments after the name go to the script)
  obliviate bench mari_vs_baselines -- --help       # its own options
  obliviate bench step_speed -- --quick             # step time / memory ratios at tiny shapes (seconds)
"""


def bench_dir() -> Path:
    """``$OBLIVIATE_BENCH_DIR``, else ``benchmarks/`` in the current folder, else next to the source tree."""
    for cand in (
        os.environ.get("OBLIVIATE_BENCH_DIR"),
        "benchmarks",
        Path(__file__).resolve().parents[3] / "benchmarks",
    ):
        if cand and Path(cand).is_dir():
            return Path(cand)
    raise ObliviateError(
        "no benchmarks/ folder found; run from a source checkout of obliviate or set OBLIVIATE_BENCH_DIR"
    )


def _summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def run(args: argparse.Namespace) -> int:
    folder = bench_dir()
    scripts = {p.stem: p for p in sorted(folder.glob("*.py")) if not p.name.startswith("_")}
    if not args.name:
        for name, path in scripts.items():
            print(f"{name:28s} {_summary(path)}")
        return 0
    if args.name not in scripts:
        raise ObliviateError(
            f"unknown benchmark {args.name!r}; run `obliviate bench` to list them ({', '.join(scripts)})"
        )
    extra = [a for a in args.args if a != "--"]
    return subprocess.call([sys.executable, str(scripts[args.name]), *extra])


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="list or run the benchmarks (side-by-side ratios)",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", help="benchmark to run (omit to list)")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark script")
    p.set_defaults(func=run)
