"""Terminal tables of the CLI: the demo's leaderboard (rich), also rendered to plain text for the README's copy in
``benchmarks/results/demo.md``."""

from __future__ import annotations

import io
from typing import Any


# Terminal leaderboard (fits 80 columns): (metric key in a row's "metrics", column title, formatter)
def _pct(v: float) -> str:
    return f"{100 * v:.1f}"  # one decimal: 3 of 120 rows is 2.5 %, as in every other table (not "2")


def _p(v: float) -> str:
    return f"{v:.2f}" if v >= 0.01 else f"{v:.0e}".replace("e-0", "e-")


COLUMNS = (
    ("forget_acc", "forget\nacc %", _pct),
    ("retain_acc", "retain\nacc %", _pct),
    ("holdout_acc", "unseen\nacc %", _pct),
    ("forget_ppl", "forget\nppl", lambda v: f"{v:#.3g}".rstrip(".") if v < 1000 else f"{v:.0f}"),
    ("retain_ppl", "retain\nppl", lambda v: f"{v:#.3g}".rstrip(".") if v < 1000 else f"{v:.0f}"),
    ("forget_quality", "forget\nqual.", _p),
    ("model_utility", "\nutility", lambda v: f"{v:.2f}"),
    ("privleak", "Priv\nLeak", lambda v: f"{v:+.0f}"),
)


def leaderboard_table(rows: list[dict[str, Any]], *, title: str = "obliviate demo") -> Any:
    """A compact ``rich`` table of leaderboard rows: reference models first (dimmed), then the methods."""
    from rich import box
    from rich.table import Table

    caption = (
        "Closer to gold is better for forget acc / ppl and PrivLeak (gold = 0); higher is better for retain acc, "
        "forget quality (KS-test p-value against gold) and model utility. Unseen: holdout people, never trained on."
    )
    table = Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 1),
        caption_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("model", no_wrap=True)
    for _, head, _ in COLUMNS:
        table.add_column(head, justify="right")
    table.add_column("time\ns", justify="right")
    for i, r in enumerate(rows):
        if r.get("status") == "failed":
            table.add_row(r["name"], "[red]failed[/red]", *[""] * len(COLUMNS))  # the error is printed below
            continue
        vals = [r["metrics"].get(key) for key, _, _ in COLUMNS]
        cells = ["–" if v is None else fmt(v) for v, (_, _, fmt) in zip(vals, COLUMNS)]
        secs = (r.get("train_time_s") or 0.0) + (r.get("eval_time_s") or 0.0)
        ref = r["role"] != "run"
        last_ref = ref and (i + 1 == len(rows) or rows[i + 1]["role"] == "run")
        table.add_row(r["name"], *cells, f"{secs:.0f}", style="dim" if ref else None, end_section=last_ref)
    return table


def steps_label(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """``(for the title, a line under the table)``: ``("40 steps", "")`` when every run took the same number of
    optimiser steps, else ``("recipe steps", "steps: ga 20 · npo 35 ...")``."""
    runs = [r for r in rows if r["role"] == "run" and r.get("status") != "failed"]
    counts = {r.get("steps") for r in runs}
    if len(counts) == 1:
        return f"{counts.pop()} steps", ""
    return "recipe steps", "steps: " + " · ".join(f"{r['name']} {r.get('steps')}" for r in runs)


def leaderboard_text(rows: list[dict[str, Any]], *, title: str = "obliviate demo", width: int = 80) -> str:
    """:func:`leaderboard_table` as plain text ``width`` columns wide (no colours), as the terminal shows it."""
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(leaderboard_table(rows, title=title))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"
