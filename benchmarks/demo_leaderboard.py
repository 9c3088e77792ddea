"""The default ``obliviate demo`` leaderboard, recorded for the README (``benchmarks/results/demo.md`` / ``.json``).

    python benchmarks/demo_leaderboard.py          # the default demo (a few minutes on 2 idle cores, world cached)

Runs :func:`obliviate.demo.run_demo` with its defaults (world:tiny, correlated, forget10, ``DEMO_STEPS`` steps,
the default methods with their ``RECIPES``) in a temporary folder and writes the terminal leaderboard as text plus
its rows (the demo pins PyTorch to one thread, so the numbers do not depend on the machine's core count).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from pathlib import Path

from transformers.utils import logging as hf_logging

from obliviate.cli.tables import leaderboard_text, steps_label
from obliviate.demo import run_demo
from obliviate.utils.io import atomic_write_json, atomic_write_text


def machine() -> str:
    """CPU model and core count (the numbers are the same on every machine of a kind; times are not)."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.processor())
    return f"{model or platform.machine()}, {os.cpu_count()} cores"


def render(board: dict) -> str:
    s = board["settings"]
    steps, per_method = steps_label(board["rows"])
    title = f"obliviate demo · {s['preset']} · {s['setting']} · {s['forget_split']} · {steps}"
    return "\n".join(
        [
            "# `obliviate demo` leaderboard",
            "",
            f"Default settings: world:{s['preset']} ({s['people']} people, seed {s['seed']}), {s['setting']}, "
            f"{s['forget_split']}, {steps} per method, recipes from `src/obliviate/demo_recipes.py`; "
            f"one thread (pinned); {board['times']['total']:.0f} s on {board['machine']} with the world cached. "
            "Regenerate: `python benchmarks/demo_leaderboard.py`.",
            "",
            "```",
            leaderboard_text(board["rows"], title=title).rstrip("\n"),
            *([per_method] if per_method else []),
            "```",
            "",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    hf_logging.disable_progress_bar()  # a bar per model load would bury the results
    with tempfile.TemporaryDirectory() as tmp:
        result = run_demo(out=Path(tmp) / "demo", progress=False)
        settings = json.loads((result.out / "leaderboard.json").read_text())["settings"]
    rows = [{k: v for k, v in r.items() if k != "run_dir"} for r in result.leaderboard]
    board = {"settings": settings, "rows": rows, "times": result.times, "machine": machine()}
    atomic_write_json(Path(a.out) / "demo.json", board)
    atomic_write_text(Path(a.out) / "demo.md", render(board))
    print(render(board))


if __name__ == "__main__":
    main()
