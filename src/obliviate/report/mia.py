"""Per-sample membership-inference scores from eval.json, and ROC curves over them (forget = members).

Accepted layouts of one metric entry (the first that matches wins):
- ``extra.scores = {"forget": [...], "holdout": [...]}`` (lists, or dicts keyed by row);
- ``extra.forget_scores`` and ``extra.holdout_scores``;
- ``per_sample = {"forget": {...}, "holdout": {...}}``;
- flat ``per_sample`` keys prefixed by the split: ``"forget:3"``, ``"forget/3"``, ``"holdout_3"``.

Score direction: ``extra.higher_is_member`` when given; otherwise the orientation whose AUC matches the metric's
reported value (an AUC in [0, 1]); otherwise loss-like (a lower score means member).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from obliviate.report.runs import as_float

MEMBER, NONMEMBER = "forget", "holdout"
_PREFIX = re.compile(r"^(forget|holdout)[:/_.\-]")


@dataclass
class Roc:
    fpr: np.ndarray  # (K,) false-positive rate, non-decreasing from 0 to 1
    tpr: np.ndarray  # (K,) true-positive rate
    auc: float
    n_members: int
    n_nonmembers: int


def _values(x: object) -> list[float]:
    items = x.values() if isinstance(x, dict) else x if isinstance(x, (list, tuple)) else []
    return [f for f in (as_float(v) for v in items) if f is not None]


def split_scores(entry: dict) -> tuple[list[float], list[float]] | None:
    """(member scores, non-member scores) of one metric entry, or None when it has no per-sample split."""
    extra = entry.get("extra") or {}
    per = entry.get("per_sample") or {}
    candidates = []
    if isinstance(extra.get("scores"), dict):
        candidates.append((extra["scores"].get(MEMBER), extra["scores"].get(NONMEMBER)))
    candidates.append((extra.get(f"{MEMBER}_scores"), extra.get(f"{NONMEMBER}_scores")))
    if isinstance(per, dict):
        candidates.append((per.get(MEMBER), per.get(NONMEMBER)))
        groups: dict[str, list] = {MEMBER: [], NONMEMBER: []}
        for k, v in per.items():
            m = _PREFIX.match(str(k))
            if m:
                groups[m.group(1)].append(v)
        candidates.append((groups[MEMBER], groups[NONMEMBER]))
    for mem, non in candidates:
        mem_v, non_v = _values(mem), _values(non)
        if mem_v and non_v:
            return mem_v, non_v
    return None


def roc(positives: list[float], negatives: list[float]) -> Roc:
    """ROC of the rule "score above threshold = positive"; ties move along the diagonal (AUC counts them 1/2)."""
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    scores = np.concatenate([pos, neg])  # (P + N,)
    labels = np.concatenate([np.ones_like(pos), np.zeros_like(neg)])
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # one ROC point per distinct threshold
    tps = np.cumsum(y)[last_of_tie]
    fps = last_of_tie + 1 - tps
    tpr = np.r_[0.0, tps / pos.size]
    fpr = np.r_[0.0, fps / neg.size]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return Roc(fpr=fpr, tpr=tpr, auc=auc, n_members=pos.size, n_nonmembers=neg.size)


def member_roc(entry: dict) -> Roc | None:
    """ROC with forget rows as the positive class, oriented as the module docstring says; None without scores."""
    split = split_scores(entry)
    if split is None:
        return None
    mem, non = split
    higher = (entry.get("extra") or {}).get("higher_is_member")
    if isinstance(higher, bool):
        return roc(mem, non) if higher else roc([-v for v in mem], [-v for v in non])
    low = roc([-v for v in mem], [-v for v in non])  # loss-like: low score = member
    reported = as_float(entry.get("value"))
    if reported is not None and 0.0 <= reported <= 1.0 and abs((1 - low.auc) - reported) < abs(low.auc - reported):
        return roc(mem, non)
    return low


def looks_like_mia(name: str) -> bool:
    """Metric names that are membership attacks (their missing scores deserve a note)."""
    low = name.lower()
    return ("mia" in low or "min_k" in low or "mink" in low or "zlib" in low) and "privleak" not in low
