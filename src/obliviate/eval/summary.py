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


def _rows(doc: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and plain-text cells of the summary (no markup), for :func:`markdown_summary`."""
    refs = [r for r in ("gold", "original") if doc.get("reference_metrics", {}).get(r)]
    rows = []
    for name, entry in doc["metrics"].items():
        cells = [_cell(name, entry), *(_cell(name, doc["reference_metrics"][r].get(name)) for r in refs)]
        note = entry["note"] or ""
        if name == "forget_quality" and entry["status"] == "ok":
            note = f"KS D = {entry['extra']['ks_statistic']:.3f}"
        cells = [c.replace("[yellow]skipped[/yellow]", "skipped") for c in cells]
        rows.append([name, entry["split"], arrow(entry["higher_is_better"], entry.get("target")), *cells, note])
    return ["metric", "split", "", "model", *refs, "note"], rows


def markdown_summary(doc: dict[str, Any]) -> str:
    """The summary as a Markdown table (what a non-terminal stdout gets: logs, CI, pipes never wrap it)."""
    header, rows = _rows(doc)
    lines = [f"obliviate eval · suite {doc['suite']} · {doc['model']}", ""]
    for cells in [header, ["---"] * len(header), *rows]:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def print_summary(doc: dict[str, Any], console: Console | None = None) -> None:
    """Print the summary of an eval.json document: a rich table on a terminal, Markdown otherwise."""
    console = console or Console()
    if console.is_terminal:
        console.print(summary_table(doc))
    else:
        console.file.write(markdown_summary(doc) + "\n")
