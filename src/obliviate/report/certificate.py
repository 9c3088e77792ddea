"""The certificate section: each run's MarI marginal-information check, rendered by the check's own renderer.

The parts (verdict, pooled MI, token-level bounds, sequence-level check, caveat) and their wording come from
:func:`obliviate.eval.certificate.document`, the same function that writes certificate.md; this module only turns
them into report blocks. A certificate.json in another layout is listed key by key
rather than dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from obliviate.eval.certificate import document
from obliviate.report.doc import Block, Bullets, Cell, Note, Para, Table
from obliviate.report.runs import Run, as_float
from obliviate.utils.fmt import fmt_number


def _who(run: Run, key: str, names: dict) -> str:
    role = "unlearned" if key == "model" else key
    name = str(names.get(key) or "")
    short = name if ":" in name else Path(name).name  # a world: / hub spec, or a folder's name
    return f"{run.label} · {role}" + (f" ({short})" if key != "model" and short else "")


def _flat(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(d, dict):
        return [kv for k, v in d.items() for kv in _flat(v, f"{prefix}.{k}" if prefix else str(k))]
    if as_float(d) is not None:
        return [(prefix, fmt_number(as_float(d)))]
    if isinstance(d, str) and len(d) < 120:
        return [(prefix, d)]
    return []


def _recognised(cert: dict[str, Any]) -> bool:
    models = cert.get("models")
    return isinstance(models, dict) and any(
        isinstance(b, dict) and isinstance(b.get("mari"), dict) and isinstance(b.get("sequence"), dict)
        for b in models.values()
    )


def _as_written(run: Run, problem: str) -> list[Block]:
    note = Note(f"{run.label}: certificate.json {problem}; its values as written:", "note")
    return [note, Bullets([f"`{k}`: {v}" for k, v in _flat(run.certificate)][:60])]


def certificate_section(runs: list[Run]) -> list[Block]:
    """Each run's check (verdict first), a note for each run without one."""
    blocks: list[Block] = [Note(f"{r.label}: {r.cert_note} (run `obliviate certify`)") for r in runs if r.cert_note]
    for r in (r for r in runs if r.certificate is not None):
        cert = r.certificate
        if not _recognised(cert):
            blocks.append(
                Note(f"{r.label}: certificate.json has an unrecognised layout; its values as written:", "note")
            )
            blocks.append(Bullets([f"`{k}`: {v}" for k, v in _flat(cert)][:60]))
            continue
        names = cert.get("names") or {}
        try:
            parts = document(cert, lambda key, r=r, names=names: _who(r, key, names))
        except (KeyError, IndexError, TypeError) as e:  # a partly written or older layout
            blocks += _as_written(r, f"lacks {e}")
            continue
        for part in parts:
            blocks.append(Para(f"**{r.label} — {part.title}.** {part.text}"))
            if part.header:
                blocks.append(Table(part.header, [[Cell(c) for c in row] for row in part.rows], numeric_from=2))
    return blocks
