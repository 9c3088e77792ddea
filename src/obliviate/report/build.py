"""``write_report``: run directories in, ``report.md`` + self-contained ``report.html`` (+ ``figures/``) out.

from obliviate.report import write_report
write_report(["runs/ga", "runs/mari"], "runs/report", gold="runs/gold_eval")
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from obliviate.report import plots, sections
from obliviate.report.certificate import certificate_section
from obliviate.report.doc import Block, Cell, Figure, Heading, Note, Para, Table
from obliviate.report.receipt import receipt_section
from obliviate.report.render import to_html, to_markdown
from obliviate.report.runs import Run, collect
from obliviate.utils.io import atomic_dir, atomic_write_text, provenance


def default_out_dir(run_dirs: list[str | Path]) -> Path:
    """``RUN/report`` for one run; ``<common parent>/report`` for several."""
    paths = [Path(p).resolve() for p in run_dirs]
    if len(paths) == 1:
        return paths[0] / "report"
    return Path(os.path.commonpath([str(p.parent) for p in paths])) / "report"


def _details(runs: list[Run]) -> Table:
    rows = []
    for r in runs:
        cfg = r.config
        args = (cfg.get("method") or {}).get("args") or {}
        forget = (cfg.get("data") or {}).get("forget") or []
        sha = str(cfg.get("git_sha") or "–")[:8]
        rows.append(
            [
                Cell(r.label),
                Cell(f"`{r.path}`"),
                Cell(r.method),
                Cell(", ".join(f"{k}={v}" for k, v in args.items()) or "–"),
                Cell(str((cfg.get("model") or {}).get("path") or "–")),
                Cell(", ".join(map(str, forget)) if isinstance(forget, list) else str(forget)),
                Cell(str((cfg.get("train") or {}).get("lr", "–"))),
                Cell(str(r.summary.get("status") or "–")),
                Cell(sha),
            ]
        )
    header = ["Run", "Folder", "Method", "Method args", "Model", "Forget data", "lr", "Status", "Git"]
    return Table(header, rows, numeric_from=len(header))


def build_blocks(runs: list[Run], refs: dict[str, Run], notes: list[str]) -> list[Block]:
    """Every section of the report, in order, as document blocks (figures rendered to PNG here)."""
    colours = plots.palette([r.label for r in runs])
    prov = provenance()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    ref_text = ", ".join(f"{role}: {r.label}" for role, r in refs.items()) or "none"
    blocks: list[Block] = [
        Heading(1, "obliviate report"),
        Para(
            f"{len(runs)} run(s); reference rows: {ref_text}. Generated {stamp} by obliviate "
            f"{prov['obliviate_version']}" + (f" (git {str(prov['git_sha'])[:8]})." if prov["git_sha"] else ".")
        ),
        Heading(2, "Leaderboard"),
        *sections.leaderboard(runs, refs),
        *(Note(n, "note") for n in notes),
        Heading(2, "Forget vs utility trade-off"),
        *sections.tradeoff(runs, refs, colours),
        Heading(2, "Training curves"),
        *sections.training_curves(runs, colours),
        *sections.continual_section(runs, colours),
        Heading(2, "Membership-inference ROC curves"),
        *sections.roc_section(runs, refs, colours),
        Heading(2, "Certificate"),
        *certificate_section(runs),
        Heading(2, "Deletion receipt"),
        *receipt_section(runs),
        Heading(2, "All metrics"),
        *sections.all_metrics(runs, refs),
        Heading(2, "Run details"),
        _details(runs),
    ]
    return blocks


def write_report(
    run_dirs: list[str | Path],
    out_dir: str | Path | None = None,
    *,
    gold: str | Path | None = None,
    original: str | Path | None = None,
) -> Path:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` for the given runs.

    Everything is computed in memory first; the figures folder is replaced atomically and each file is written by
    rename, so an error never leaves a half-written report.

    Args:
        run_dirs: run folders (``obliviate unlearn`` output, or any folder with an ``eval.json``). Folders whose
            summary.json / eval.json say ``"role": "gold"`` or ``"original"`` become reference rows.
        out_dir: where to write; default :func:`default_out_dir`.
        gold: folder with the gold (retain-only) model's ``eval.json``, shown as a reference row.
        original: folder with the original model's ``eval.json``, shown as a reference row.

    Returns:
        The path of ``report.html``.

    Raises:
        ObliviateError: a run folder (or ``gold`` / ``original``) does not exist, or no folder was given.
    """
    runs, refs, notes = collect(list(run_dirs), gold=gold, original=original)
    out = Path(out_dir) if out_dir is not None else default_out_dir(list(run_dirs))
    blocks = build_blocks(runs, refs, notes)
    with atomic_dir(out / "figures") as fig_dir:
        for b in blocks:
            if isinstance(b, Figure):
                (fig_dir / f"{b.name}.png").write_bytes(b.png)
    atomic_write_text(out / "report.md", to_markdown(blocks))
    atomic_write_text(out / "report.html", to_html(blocks, title="obliviate report"))
    return out / "report.html"
