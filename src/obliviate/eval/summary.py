"""The terminal summary of an ``eval.json``: one row per metric, with the gold and original models beside it."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from obliviate.utils.fmt import arrow, fmt_number, metric_kind


def _cell(name: str, entry: dict[str, Any] | None) -> str:
    if entry is None:
        return ""
    if entry["status"] != "ok":
        return "[yellow]skipped[/yellow]"
    return fmt_number(entry["value"], metric_kind(name, entry))


def summary_table(doc: dict[str, Any]) -> Table:
    """A rich table of ``doc`` (an eval.json document)."""
    refs = [r for r in ("gold", "original") if doc.get("reference_metrics", {}).get(r)]
    cached = sum(bool(e.get("cached")) for e in doc["metrics"].values())
    table = Table(
        title=f"obliviate eval · suite {doc['suite']} · {doc['model']}",
        caption=f"{len(doc['metrics'])} metrics, {cached} from cache, {doc['time_s']:.1f} s",
    )
    table.add_column("metric", no_wrap=True)
    table.add_column("split", style="dim", no_wrap=True)
    table.add_column("", justify="center")  # better direction
    table.add_column("model", justify="right", style="bold")
    for r in refs:
        table.add_column(r, justify="right")
    table.add_column("note", style="dim", overflow="fold")
    for name, entry in doc["metrics"].items():
        ref_cells = [_cell(name, doc["reference_metrics"][r].get(name)) for r in refs]
        note = entry["note"]
        if name == "forget_quality" and entry["status"] == "ok":
            note = f"KS D = {entry['extra']['ks_statistic']:.3f}"
        table.add_row(
            name,
            entry["split"],
            arrow(entry["higher_is_better"], entry.get("target")),
            _cell(name, entry),
            *ref_cells,
            note,
        )
    return table


def print_summary(doc: dict[str, Any], console: Console | None = None) -> None:
    """Print the summary table of an eval.json document."""
    (console or Console()).print(summary_table(doc))
