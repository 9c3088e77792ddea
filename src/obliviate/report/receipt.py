"""The deletion-receipt section: what each run read and wrote, from its ``receipt.json`` (SHA-256 prefixes).

The report only shows the recorded hashes; ``obliviate verify-receipt RUN`` recomputes them.
"""

from __future__ import annotations

import json
from typing import Any

from obliviate.report.doc import Block, Cell, Note, Para, Table
from obliviate.report.runs import Run


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "–"


def _sources(entries: list[dict[str, Any]]) -> str:
    """One line per source: ``spec: sha…`` (a file's hash, a folder's file count, or the loaded rows' hash)."""
    parts = []
    for e in entries:
        files = e.get("files") or {}
        if len(files) == 1:
            parts.append(f"{e['spec']}: {_short(next(iter(files.values())))}")
        elif files:
            parts.append(f"{e['spec']}: {len(files)} files")
        else:
            parts.append(f"{e['spec']}: {e.get('rows', '?')} rows {_short(e.get('rows_sha256'))}")
    return "; ".join(parts) or "–"


def _weights(entry: dict[str, Any]) -> str:
    files = entry.get("files") or {}
    if not files:
        return entry.get("note") or "–"
    return "; ".join(f"{name.rsplit('/', 1)[-1]}: {_short(d)}" for name, d in files.items())


def _row(run: Run, doc: dict[str, Any]) -> list[Cell]:
    data, v = doc.get("data", {}), doc.get("versions", {})
    resumed = doc.get("resumed") or {}
    cert = (doc.get("certificate") or {}).get("verdict")
    libs = ", ".join(f"{k} {v[k]}" for k in ("torch", "transformers", "peft") if v.get(k))
    sha = f"; git {str(v['git_sha'])[:8]}" if v.get("git_sha") else ""
    return [
        Cell(run.label),
        Cell(_sources(data.get("forget", []))),
        Cell(_sources(data.get("retain", []) + data.get("holdout", []))),
        Cell(_weights(doc.get("base_model", {}))),
        Cell(_weights(doc.get("output", {}))),
        Cell(str(doc.get("seed", "–"))),
        Cell("yes" if resumed.get("resumed") else "no"),
        Cell(f"obliviate {v.get('obliviate_version', '?')}{sha}; {libs}"),
        Cell(cert or "–"),
    ]


def receipt_section(runs: list[Run]) -> list[Block]:
    """A table of every run's receipt (runs without one get a note naming them)."""
    rows, missing = [], []
    for run in runs:
        path = run.path / "receipt.json" if run.path is not None and run.role == "run" else None
        if path is None:
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            missing.append(run.label)
            continue
        rows.append(_row(run, doc))
    blocks: list[Block] = []
    if rows:
        header = ["Run", "Forget data", "Retain / holdout", "Base model", "Output", "Seed", "Resumed", "Versions",
                  "Certificate"]  # fmt: skip
        blocks += [
            Para("SHA-256 prefixes of what each run read and wrote; `obliviate verify-receipt RUN` recomputes them."),
            Table(header, rows, numeric_from=len(header)),
        ]
    if missing:
        blocks.append(Note(f"no readable receipt.json in {', '.join(missing)}"))
    return blocks
