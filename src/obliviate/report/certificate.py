"""The certificate section: MarI's pooled marginal information, its derived bounds and the sequence-level check.

Reads each run's ``certificate.json`` as written by :func:`obliviate.eval.certificate.certify`::

    {"names": {"model": ..., "gold": ...}, "caveat": str,
     "models": {"model" | "original" | "gold": {
         "mari": {"n_retain_positions", "n_forget_positions", "sequences": [n_r, n_u],
                  "full_vs_retain" | "unlearn_vs_retain": {"value", "pi", "ci", "null_p95", "p_value",
                                                           "bounds": {"tv", "accuracy_max", "auc_max"},
                                                           "bounds_at_ci_upper": {...}}},
         "sequence": {"auc_forget_vs_retain", "auc_forget_vs_holdout", "nll_forget", ..., "binned_mi"}}}}

A certificate in another layout is listed key by key rather than dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from obliviate.report.doc import Block, Bullets, Cell, Note, Para, Table
from obliviate.report.fmt import fmt_number
from obliviate.report.runs import Run, as_float

CONSTRUCTIONS = ("full_vs_retain", "unlearn_vs_retain")
BOUNDS = (("tv", "TV(P₀, P₁) ≤"), ("accuracy_max", "detector accuracy ≤"), ("auc_max", "token-level ROC-AUC ≤"))
SEQUENCE = (
    ("auc_forget_vs_retain", "AUC forget vs retain", "auc"),
    ("auc_forget_vs_holdout", "AUC forget vs holdout", "auc"),
    ("nll_forget", "NLL forget", "float"),
    ("nll_retain", "NLL retain", "float"),
    ("nll_holdout", "NLL holdout", "float"),
    ("binned_mi", "binned Î(S; Z)", "float"),
    ("score_gap", "NLL gap", "float"),
    ("score_gap_bound_estimate", "NLL gap bound (est.)", "float"),
)
CAVEAT = (
    "These bounds hold for token-level (word-level) detectors only: detectors that see one token drawn from the "
    "pooled next-token distribution. They are not a guarantee against sequence-level membership attacks; read the "
    "sequence-level check below, next to the gold model's AUC, for those."
)


def _interval(ci: Any) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(as_float(v) is not None for v in ci):
        return f"[{fmt_number(ci[0])}, {fmt_number(ci[1])}]"
    return "–"


def _who(run: Run, key: str, names: dict) -> str:
    role = "unlearned" if key == "model" else key
    name = str(names.get(key) or "")
    short = name if ":" in name else Path(name).name  # a world: / hub spec, or a folder's name
    return f"{run.label} · {role}" + (f" ({short})" if key != "model" and short else "")


def _bound(c: dict, key: str) -> str:
    """The bound from Î, with the bound at the CI's upper end in brackets when present."""
    b, hi = c.get("bounds") or {}, c.get("bounds_at_ci_upper") or {}
    text = fmt_number(as_float(b.get(key)))
    return f"{text} ({fmt_number(as_float(hi[key]))})" if as_float(hi.get(key)) is not None else text


def _mari_rows(run: Run, key: str, block: dict, names: dict) -> tuple[list[list[Cell]], list[list[Cell]]]:
    mari = block.get("mari") or {}
    seqs = mari.get("sequences") or [None, None]
    n_r = as_float(mari.get("n_retain_positions", seqs[0]))
    n_u = as_float(mari.get("n_forget_positions", seqs[1]))
    mi_rows, bound_rows = [], []
    for name in CONSTRUCTIONS:
        c = mari.get(name)
        if not isinstance(c, dict):
            continue
        mi, null = as_float(c.get("value")), as_float(c.get("null_p95"))
        within = "–" if mi is None or null is None else ("yes" if mi <= null else "no")
        pi = c.get("pi") or []
        mi_rows.append(
            [Cell(_who(run, key, names)), Cell(name), Cell(fmt_number(as_float(pi[0]) if pi else None)),
             Cell(fmt_number(n_r)), Cell(fmt_number(n_u)), Cell(fmt_number(mi)), Cell(_interval(c.get("ci"))),
             Cell(fmt_number(null)), Cell(fmt_number(as_float(c.get("p_value")), "pvalue")), Cell(within)]
        )  # fmt: skip
        bound_rows.append([Cell(_who(run, key, names)), Cell(name), *(Cell(_bound(c, k)) for k, _ in BOUNDS)])
    return mi_rows, bound_rows


def _flat(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(d, dict):
        return [kv for k, v in d.items() for kv in _flat(v, f"{prefix}.{k}" if prefix else str(k))]
    if as_float(d) is not None:
        return [(prefix, fmt_number(as_float(d)))]
    if isinstance(d, str) and len(d) < 120:
        return [(prefix, d)]
    return []


def certificate_section(runs: list[Run]) -> list[Block]:
    """Tables over every run's certificate.json; a note for each run without one."""
    blocks: list[Block] = [Note(f"{r.label}: {r.cert_note} (run `obliviate certify`)") for r in runs if r.cert_note]
    mi_rows, bound_rows, seq_rows, unknown, caveat = [], [], [], [], None
    for r in (r for r in runs if r.certificate is not None):
        models = r.certificate.get("models")
        if not isinstance(models, dict) or not any(isinstance(b, dict) and ("mari" in b or "sequence" in b)
                                                   for b in models.values()):  # fmt: skip
            unknown.append(r)
            continue
        caveat = caveat or r.certificate.get("caveat")
        names = r.certificate.get("names") or {}
        for key, block in models.items():
            mis, bounds = _mari_rows(r, key, block, names)
            mi_rows += mis
            bound_rows += bounds
            if isinstance(block.get("sequence"), dict):
                seq_rows.append((_who(r, key, names), block["sequence"]))
    if mi_rows:
        blocks += [
            Para("Pooled marginal information Î(X; Z) in nats (π₀ and the position counts N_r, N_u as pooled), with "
                 "a bootstrap 95 % CI over sequences, the 95th percentile of a permutation null (sequences shuffled "
                 "between the groups) and its p-value; 'within null': as undetectable as a random split of the same "
                 "sequences."),
            Table(["Model", "Construction", "π₀", "N_r", "N_u", "Î (nats)", "95 % CI", "null p95", "perm. p",
                   "within null?"], mi_rows, numeric_from=2),
            Para(f"**Bounds for token-level (word-level) detectors only.** {caveat or CAVEAT}"),
            Table(["Model", "Construction", *(t for _, t in BOUNDS)], bound_rows, numeric_from=2,
                  caption="From Î; in brackets, from the upper end of its 95 % CI." if any(
                      "(" in c.text for row in bound_rows for c in row[2:]) else "From Î."),
        ]  # fmt: skip
    if seq_rows:
        cols = [(k, t, kind) for k, t, kind in SEQUENCE if any(as_float(s.get(k)) is not None for _, s in seq_rows)]
        table = [
            [Cell(who), *(Cell(fmt_number(as_float(s.get(k)), kind)) for k, _, kind in cols)] for who, s in seq_rows
        ]
        blocks += [
            Para("Sequence-level membership check on per-sequence mean token NLL (AUC forget vs holdout is the "
                 "eval suite's `mia_loss`). Its reference point is the gold model's row, not 0.5."),
            Table(["Model", *(t for _, t, _ in cols)], table),
        ]  # fmt: skip
    elif mi_rows:
        blocks.append(Note("the certificates hold no sequence-level membership check"))
    for r in unknown:
        blocks.append(Note(f"{r.label}: certificate.json has an unrecognised layout; its values as written:", "note"))
        blocks.append(Bullets([f"`{k}`: {v}" for k, v in _flat(r.certificate)][:60]))
    return blocks
