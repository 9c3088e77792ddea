"""Read run directories (config.yaml, summary.json, train_log.jsonl, eval.json, certificate.json) for a report.

Every file is optional except the directory itself: a missing or unreadable piece becomes a ``*_note`` that the
report prints as "not available: <reason>", so a half-finished run still gets a report.

Reference rows (the gold model and the original) come, in this order of precedence, from
1. ``gold=`` / ``original=`` arguments: a folder holding an ``eval.json`` of that model;
2. run folders whose ``summary.json`` or ``eval.json`` says ``"role": "gold"`` / ``"original"``;
3. a run's ``eval.json``: its ``"reference_metrics"`` (the suite run on the references by ``obliviate eval``), else
   its ``"references"`` entry when that is an inline ``{"metrics": {...}}`` or a folder holding an ``eval.json``.
   A path to a bare model folder gives a row saying it was not evaluated.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from obliviate.errors import ObliviateError

ROLES = ("gold", "original")


@dataclass
class Run:
    """One row of the report: an unlearning run or a reference model (``role`` gold / original)."""

    label: str
    path: Path | None
    role: str = "run"  # run | gold | original
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    log: list[dict] = field(default_factory=list)
    log_note: str = ""
    metrics: dict[str, dict] | None = None  # eval.json "metrics"; None when unavailable (see eval_note)
    eval_note: str = ""
    eval_meta: dict = field(default_factory=dict)  # eval.json without "metrics"
    certificate: dict | None = None
    cert_note: str = ""

    @property
    def method(self) -> str:
        m = self.summary.get("method") or (self.config.get("method") or {}).get("name")
        return str(m) if m else ("–" if self.role == "run" else self.role)

    def metric(self, name: str) -> dict | None:
        """The eval.json entry of ``name`` (with ``status``), or None when the run has no such metric."""
        return None if self.metrics is None else self.metrics.get(name)

    def value(self, name: str) -> float | None:
        """The numeric value of an ``ok`` metric, else None."""
        entry = self.metric(name)
        if not entry or entry.get("status", "ok") != "ok":
            return None
        return as_float(entry.get("value"))


def as_float(v: Any) -> float | None:
    """A finite-or-inf float, or None for anything else (None, strings, NaN)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return None if math.isnan(v) else float(v)


def _read_json(path: Path) -> tuple[Any, str]:
    if not path.is_file():
        return None, f"no {path.name} in {path.parent}"
    try:
        return json.loads(path.read_text(encoding="utf-8")), ""
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"{path} could not be read ({e})"


def _read_log(path: Path) -> tuple[list[dict], str]:
    if not path.is_file():
        return [], f"no train_log.jsonl in {path.parent}"
    rows, bad = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            bad += 1  # a run killed mid-write leaves a truncated last line: skip it, say so
            continue
        if isinstance(row, dict):
            rows.append(row)
    note = f"{bad} unreadable line(s) in {path} skipped" if bad else ""
    if not rows:
        note = f"{path} holds no logged steps"
    return rows, note


def _apply_eval(run: Run, data: Any, note: str) -> None:
    if data is None:
        run.eval_note = f"{note} (evaluate it with `obliviate eval`)" if "no eval.json" in note else note
        return
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        run.eval_note = f"eval.json of {run.label} has no 'metrics' mapping"
        return
    run.metrics = {}
    for name, entry in data["metrics"].items():
        entry = dict(entry) if isinstance(entry, dict) else {"value": entry}
        if not isinstance(entry.get("extra"), dict):
            entry["extra"] = {}  # readers below may then take ``entry["extra"]`` as a mapping
        run.metrics[str(name)] = entry
    run.eval_meta = {k: v for k, v in data.items() if k != "metrics"}


def load_run(path: str | Path, *, role: str | None = None, label: str | None = None) -> Run:
    """Read one run (or evaluated reference) folder. Raises ObliviateError if the folder does not exist."""
    p = Path(path)
    if not p.is_dir():
        raise ObliviateError(f"run directory {str(p)!r} does not exist; pass folders written by `obliviate unlearn`")
    run = Run(label=label or p.resolve().name, path=p)
    cfg_path = p / "config.yaml"
    if cfg_path.is_file():
        try:
            run.config = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            run.config = {}
    summary, _ = _read_json(p / "summary.json")
    run.summary = summary if isinstance(summary, dict) else {}
    run.log, run.log_note = _read_log(p / "train_log.jsonl")
    _apply_eval(run, *_read_json(p / "eval.json"))
    cert, run.cert_note = _read_json(p / "certificate.json")
    run.certificate = cert if isinstance(cert, dict) else None
    if cert is not None and run.certificate is None:
        run.cert_note = f"certificate.json of {run.label} is not a JSON object"
    run.role = role or str(run.summary.get("role") or run.eval_meta.get("role") or "run")
    if run.role not in ("run", *ROLES):
        run.role = "run"
    return run


def _reference_from_eval(run: Run, role: str) -> Run | None:
    """The ``role`` reference named in ``run``'s eval.json, as a row (possibly a 'not evaluated' one)."""
    ref = (run.eval_meta.get("references") or {}).get(role)
    inline = (run.eval_meta.get("reference_metrics") or {}).get(role)
    if isinstance(inline, dict) and inline:
        short = str(ref) if ":" in str(ref) else Path(str(ref)).name  # a world: / hub spec, or a folder's name
        out = Run(label=f"{role} ({short})" if ref else role, path=None, role=role)
        _apply_eval(out, {"metrics": inline}, "")
        return out
    if ref is None or ref == "":
        return None
    if isinstance(ref, dict):
        out = Run(label=f"{role} ({ref['model']})" if ref.get("model") else role, path=None, role=role)
        _apply_eval(out, ref, "")
        return out
    ref_path = Path(str(ref))
    if (ref_path / "eval.json").is_file():
        return load_run(ref_path, role=role, label=f"{role} ({ref_path.name})")
    out = Run(label=f"{role} ({ref_path.name or ref})", path=ref_path if ref_path.exists() else None, role=role)
    out.eval_note = (
        f"the {role} model {ref} has no eval.json next to it; evaluate it with "
        f"`obliviate eval --model {ref} --out DIR` and pass `--{role} DIR` to the report"
    )
    return out


def _unique_labels(runs: list[Run]) -> None:
    """Two folders named ``run`` in different parents get ``parent/run`` labels."""
    seen: dict[str, int] = {}
    for r in runs:
        seen[r.label] = seen.get(r.label, 0) + 1
    for r in runs:
        if seen[r.label] > 1 and r.path is not None:
            r.label = f"{r.path.resolve().parent.name}/{r.path.resolve().name}"


def collect(
    run_dirs: list[str | Path], *, gold: str | Path | None = None, original: str | Path | None = None
) -> tuple[list[Run], dict[str, Run], list[str]]:
    """Load the runs and resolve the reference rows.

    Returns:
        (runs, references by role, notes): runs in the given order (reference-role folders removed), the gold /
        original rows found, and notes about conflicting references.
    """
    if not run_dirs:
        raise ObliviateError("no run directories given; pass at least one folder written by `obliviate unlearn`")
    loaded = [load_run(d) for d in run_dirs]
    refs: dict[str, Run] = {}
    for role, explicit in (("gold", gold), ("original", original)):
        if explicit is not None:
            refs[role] = load_run(explicit, role=role, label=f"{role} ({Path(explicit).name})")
    runs = []
    for r in loaded:
        if r.role in ROLES and r.role not in refs:
            refs[r.role] = r
        elif r.role == "run":
            runs.append(r)
    notes = []
    for role in ROLES:
        named = {str((r.eval_meta.get("references") or {}).get(role)) for r in runs if r.metrics is not None}
        named.discard("None")
        if len(named) > 1:
            notes.append(f"the runs were evaluated against different {role} models: {', '.join(sorted(named))}")
        if role not in refs:
            found = next((x for x in (_reference_from_eval(r, role) for r in runs) if x is not None), None)
            if found is not None:
                refs[role] = found
    _unique_labels(runs)
    return runs, refs, notes
