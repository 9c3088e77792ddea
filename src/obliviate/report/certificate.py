"""The certificate section: MarI's pooled marginal information, its derived bounds and the sequence-level check.

Reads each run's ``certificate.json``. The expected layout (key spellings in ``_ALIASES`` are also accepted)::

    {"models": {"unlearned": B, "original": B, "gold": B}}     # or those keys at the top level, or one B
    B = {"full_vs_retain": C, "unlearn_vs_retain": C,           # also found one level down (e.g. under "pooled")
         "sequence": {"auc_forget_vs_retain": 0.61, "auc_forget_vs_holdout": 0.55, ...}}
    C = {"mi": nats, "ci": [lo, hi], "null_p95": nats, "pi": [pi0, pi1], "n_r": int, "n_u": int,
         "bounds": {"tv": ..., "accuracy": ..., "auc": ...}}

A certificate in another layout is shown as a flat key/value table rather than dropped.
"""

from __future__ import annotations

from typing import Any

from obliviate.report.doc import Block, Bullets, Cell, Note, Para, Table
from obliviate.report.fmt import fmt_number
from obliviate.report.runs import Run, as_float

CONSTRUCTIONS = ("full_vs_retain", "unlearn_vs_retain")
MODEL_KEYS = ("unlearned", "model", "original", "gold")
_ALIASES = {
    "mi": ("mi", "mi_nats", "i_hat", "pooled_mi", "value", "estimate"),
    "ci": ("ci", "ci95", "ci_95", "bootstrap_ci"),
    "null": ("null_p95", "permutation_p95", "perm_p95", "null95", "null_95", "permutation_null_p95"),
    "null_block": ("permutation", "null", "permutation_null"),
    "pi": ("pi", "priors", "prior"),
    "n_r": ("n_r", "n_retain", "num_retain"),
    "n_u": ("n_u", "n_unlearn", "n_forget", "num_forget"),
    "sequence": ("sequence", "sequence_level", "sequence_mia", "membership", "seq"),
}
_BOUND_COLUMNS = (("tv", "TV(P₀, P₁) ≤"), ("acc", "detector accuracy ≤"), ("auc", "token-level ROC-AUC ≤"))
CAVEAT = (
    "The bounds below hold for **token-level (word-level) detectors only**: detectors that see one token drawn from "
    "the pooled next-token distribution. They are not a guarantee against sequence-level membership attacks; the "
    "sequence-level check (per-sequence mean NLL, forget vs retain) and the gold model's AUC next to it speak to those."
)


def _get(block: dict, what: str) -> Any:
    lower = {str(k).lower(): v for k, v in block.items()}
    return next((lower[a] for a in _ALIASES[what] if a in lower), None)


def _models(cert: dict) -> dict[str, dict]:
    if isinstance(cert.get("models"), dict):
        return {str(k): v for k, v in cert["models"].items() if isinstance(v, dict)}
    top = {k: cert[k] for k in MODEL_KEYS if isinstance(cert.get(k), dict)}
    return top or {"unlearned": cert}


def _constructions(block: dict) -> dict[str, dict]:
    """Construction blocks at the top of ``block`` or one level down."""
    found = {c: block[c] for c in CONSTRUCTIONS if isinstance(block.get(c), dict)}
    for v in block.values():
        if isinstance(v, dict):
            found.update({c: v[c] for c in CONSTRUCTIONS if isinstance(v.get(c), dict) and c not in found})
    return found


def _interval(ci: Any) -> str:
    if isinstance(ci, dict):
        ci = [next((ci[k] for k in ("lo", "low", "lower") if k in ci), None),
              next((ci[k] for k in ("hi", "high", "upper") if k in ci), None)]  # fmt: skip
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(as_float(v) is not None for v in ci):
        return f"[{fmt_number(ci[0])}, {fmt_number(ci[1])}]"
    return "–"


def _pi(pi: Any) -> str:
    if isinstance(pi, (list, tuple)):
        return " / ".join(fmt_number(as_float(v)) for v in pi)
    return fmt_number(as_float(pi))


def _null(c: dict) -> float | None:
    direct = as_float(_get(c, "null"))
    block = _get(c, "null_block")
    if direct is None and isinstance(block, dict):
        direct = next((as_float(block[k]) for k in ("p95", "q95", "95", "percentile_95") if k in block), None)
    return direct


def _bound(c: dict, short: str) -> float | None:
    bounds = c.get("bounds") if isinstance(c.get("bounds"), dict) else {}
    for source in (bounds, c):
        for k, v in source.items():
            name = str(k).lower()
            if short in name and (source is bounds or "bound" in name) and as_float(v) is not None:
                return as_float(v)
    return None


def _flat(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(d, dict):
        return [kv for k, v in d.items() for kv in _flat(v, f"{prefix}.{k}" if prefix else str(k))]
    if as_float(d) is not None:
        return [(prefix, fmt_number(as_float(d)))]
    if isinstance(d, str) and len(d) < 120:
        return [(prefix, d)]
    return []


def certificate_section(runs: list[Run]) -> list[Block]:
    with_cert = [r for r in runs if r.certificate is not None]
    blocks: list[Block] = [Note(f"{r.label}: {r.cert_note} (run `obliviate certify`)") for r in runs
                           if r.certificate is None]  # fmt: skip
    if not with_cert:
        return blocks
    mi_rows, bound_rows, seq_rows, seq_keys, unknown = [], [], [], [], []
    for r in with_cert:
        models = _models(r.certificate)
        if not any(_constructions(b) or isinstance(_get(b, "sequence"), dict) for b in models.values()):
            unknown.append(r)
            continue
        for model, block in models.items():
            who = f"{r.label} · {model}"
            for name, c in _constructions(block).items():
                mi, null = as_float(_get(c, "mi")), _null(c)
                verdict = "–" if mi is None or null is None else ("yes" if mi > null else "no (within null)")
                mi_rows.append([Cell(who), Cell(name), Cell(_pi(_get(c, "pi"))),
                                Cell(fmt_number(as_float(_get(c, "n_r")))), Cell(fmt_number(as_float(_get(c, "n_u")))),
                                Cell(fmt_number(mi)), Cell(_interval(_get(c, "ci"))), Cell(fmt_number(null)),
                                Cell(verdict)])  # fmt: skip
                bound_rows.append([Cell(who), Cell(name), *(Cell(fmt_number(_bound(c, s))) for s, _ in _BOUND_COLUMNS)])
            seq = _get(block, "sequence")
            if isinstance(seq, dict):
                vals = {str(k): as_float(v) for k, v in seq.items() if as_float(v) is not None}
                seq_keys += [k for k in vals if k not in seq_keys]
                seq_rows.append((who, vals))
    if mi_rows:
        blocks += [
            Para("Pooled marginal information Î(X; Z) in nats, with a bootstrap 95 % CI over sequences and the 95th "
                 "percentile of a permutation null (sequences shuffled between the groups)."),  # fmt: skip
            Table(["Model", "Construction", "π₀ / π₁", "N_r", "N_u", "Î (nats)", "95 % CI", "null p95", "Î > null?"],
                  mi_rows, numeric_from=2),  # fmt: skip
            Para(CAVEAT),
            Table(["Model", "Construction", *(t for _, t in _BOUND_COLUMNS)], bound_rows,
                  caption="Bounds for token-level (word-level) detectors only.", numeric_from=2),  # fmt: skip
        ]
    if seq_rows:
        blocks += [
            Para("Sequence-level membership check (per-sequence mean token NLL; ROC-AUC 0.5 = undetectable). "
                 "Compare the unlearned model with the gold model's row."),  # fmt: skip
            Table(["Model", *seq_keys], [[Cell(w), *(Cell(fmt_number(v.get(k))) for k in seq_keys)] for w, v in seq_rows],
                  numeric_from=1),  # fmt: skip
        ]
    elif mi_rows:
        blocks.append(Note("the certificates hold no sequence-level membership check"))
    for r in unknown:
        blocks.append(Note(f"{r.label}: certificate.json has an unrecognised layout; its values as written:", "note"))
        blocks.append(Bullets([f"`{k}`: {v}" for k, v in _flat(r.certificate)][:60]))
    return blocks
