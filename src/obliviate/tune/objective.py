"""The gold-free objective of ``obliviate tune``: make the forget set look like holdout data, within a retain budget.

Everything here uses only what a user has: the forget set, the retain set and a holdout set of the same kind that
the model never saw. Per example we take the mean answer-token NLL (the LOSS attack's score). Then

- ``auc``: ROC-AUC of telling holdout from forget by that score, ``P(nll(holdout) > nll(forget))`` (the ``mia_loss``
  metric's orientation: 1 = every forget row recognised as a member, 0.5 = indistinguishable, < 0.5 = over-forgot);
- ``ks``: the Kolmogorov-Smirnov distance between the forget and holdout NLL distributions (catches shape changes
  the rank-based AUC misses, e.g. a forget set pushed to absurdly high NLLs);
- ``distance = max(0, |auc - 0.5| - tol_auc) + max(0, ks - tol_ks)``, the value minimised.

Forget and holdout are different people, so even the gold model (retrained without the forget set) does not sit at
exactly AUC 0.5 / KS 0 (on world:tiny forget10: AUC 0.466, NLL gap +0.19 nats). That offset is sampling noise of the
comparison, and its sign is unknowable without gold, so the target stays 0.5 / 0 and the tolerances ignore what two
samples of one distribution typically differ by: ``tol_auc = tolerance * sd0(auc)`` and
``tol_ks = tolerance * mean0(ks)`` under the null, counted in independent units (people when rows name a ``person``,
else rows). docs/tune.md gives the reasons and the numbers.

The retain budget: retain next-token accuracy must stay within ``budget`` (relative, default 2 %) of the original
model's; ``violation = drop - budget`` (<= 0 feasible) is the constraint the sampler sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from obliviate.eval import stats

KS_NULL_MEAN = math.sqrt(math.pi / 2) * math.log(2)  # E[sup|B(t)|] of the Brownian bridge (Kolmogorov distribution)


@dataclass(frozen=True)
class ObjectiveConfig:
    """The objective's settings (stored with the study: a resumed study must use the same)."""

    budget: float = 0.02  # allowed relative drop of retain accuracy (0.02 = 2 % below the original's)
    tolerance: float = 0.5  # dead zone, in units of the null spread of the AUC / KS distance


def auc_null_sd(n: int, m: int) -> float:
    """Standard deviation of the ROC-AUC of two samples (sizes n, m) from one distribution (Mann-Whitney null)."""
    return math.sqrt((n + m + 1) / (12.0 * n * m))


def ks_null_mean(n: int, m: int) -> float:
    """Expected two-sample KS distance of samples (sizes n, m) from one distribution (asymptotic)."""
    return KS_NULL_MEAN * math.sqrt((n + m) / (n * m))


def independent_units(rows: list[dict[str, Any]]) -> int:
    """People when every row names one (a person's facts are not independent samples), else rows."""
    people = {r.get("person") for r in rows}
    return len(people) if rows and None not in people else len(rows)


def forget_distance(
    forget_nll: list[float], holdout_nll: list[float], n_forget: int, n_holdout: int, tolerance: float
) -> dict[str, float]:
    """The forget-vs-holdout statistics and ``distance`` (see the module docstring).

    Args:
        forget_nll, holdout_nll: per-example mean answer NLL.
        n_forget, n_holdout: independent units behind them (:func:`independent_units`).
        tolerance: dead zone in null-spread units.
    """
    auc = stats.roc_auc(neg=forget_nll, pos=holdout_nll)
    ks = stats.ks_test(forget_nll, holdout_nll)[1]
    tol_auc = tolerance * auc_null_sd(n_forget, n_holdout)
    tol_ks = tolerance * ks_null_mean(n_forget, n_holdout)
    d_auc, d_ks = max(0.0, abs(auc - 0.5) - tol_auc), max(0.0, ks - tol_ks)
    return {
        "auc": auc,
        "ks": ks,
        "nll_gap": float(np.mean(forget_nll) - np.mean(holdout_nll)),
        "tol_auc": tol_auc,
        "tol_ks": tol_ks,
        "distance": d_auc + d_ks,
    }


def retain_check(acc: float, acc0: float, budget: float) -> dict[str, Any]:
    """Retain accuracy against the original's ``acc0``: relative drop, constraint violation, feasibility."""
    drop = (acc0 - acc) / acc0 if acc0 > 0 else 0.0
    return {"retain_acc": acc, "retain_drop": drop, "violation": drop - budget, "feasible": drop <= budget}


def hopeless(s: dict[str, Any], n_forget: int, n_holdout: int, budget: float) -> str | None:
    """Why a trial measured mid-run cannot end well (None when it still can): retain accuracy already fell three
    budgets (further forget steps under a constant lr rarely give it back), or the forget set already looks far
    *less* familiar than unseen data (AUC three null SDs below 0.5: more steps only push it further)."""
    if s["retain_drop"] > 3 * budget:
        return f"retain accuracy fell {100 * s['retain_drop']:.1f} % (budget {100 * budget:g} %)"
    if s["auc"] < 0.5 - 3 * auc_null_sd(n_forget, n_holdout):
        return f"over-forgetting: forget-vs-holdout AUC {s['auc']:.3f}"
    return None


@dataclass
class Probe:
    """Tokenised examples the objective reads (``tokenize_rows`` dicts) and their independent-unit counts."""

    forget: list[dict[str, Any]]
    holdout: list[dict[str, Any]]
    retain: list[dict[str, Any]]
    n_forget: int
    n_holdout: int

    def head(self, rows: int) -> Probe:
        """The first ``rows`` examples of each split (the cheap mid-run check); units shrink proportionally."""
        f, h = self.forget[:rows], self.holdout[:rows]
        return Probe(
            f, h, self.retain[:rows],
            max(1, round(self.n_forget * len(f) / len(self.forget))),
            max(1, round(self.n_holdout * len(h) / len(self.holdout))),
        )  # fmt: skip


def measure(model: Any, tokenizer: Any, probe: Probe, batch_size: int = 32) -> dict[str, Any]:
    """Teacher-forced statistics of ``model`` on the probe: per-example forget / holdout NLL, retain accuracy
    (argmax over labelled tokens) and mean retain NLL."""
    from obliviate.eval.scoring import score_examples

    def run(examples: list[dict[str, Any]], desc: str) -> list[Any]:
        return score_examples(model, tokenizer, examples, batch_size=batch_size, desc=desc, progress=False)

    retain = run(probe.retain, "retain")
    hits = sum(int((s.pred == s.target).sum()) for s in retain)
    tokens = sum(int(s.target.size) for s in retain)
    return {
        "forget_nll": [s.avg_nll for s in run(probe.forget, "forget")],
        "holdout_nll": [s.avg_nll for s in run(probe.holdout, "holdout")],
        "retain_acc": hits / tokens if tokens else 0.0,
        "retain_nll": float(np.mean([s.avg_nll for s in retain])) if retain else float("nan"),
    }


def score(m: dict[str, Any], probe: Probe, acc0: float, cfg: ObjectiveConfig) -> dict[str, Any]:
    """The objective's numbers from :func:`measure`'s output (per-example lists dropped)."""
    out = forget_distance(m["forget_nll"], m["holdout_nll"], probe.n_forget, probe.n_holdout, cfg.tolerance)
    return {**out, **retain_check(m["retain_acc"], acc0, cfg.budget), "retain_nll": m["retain_nll"]}


def pareto_front(points: dict[int, tuple[float, float]]) -> list[int]:
    """Keys of the points no other point dominates (both coordinates minimised), sorted by the first coordinate."""
    front = [
        k for k, (a, b) in points.items()
        if not any((a2 <= a and b2 <= b) and (a2 < a or b2 < b) for a2, b2 in points.values())
    ]  # fmt: skip
    return sorted(front, key=lambda k: points[k])


def select(trials: dict[int, dict[str, Any]]) -> int | None:
    """The gold-free choice among finished trials (number -> scores): within the retain budget, the smallest
    distance, ties (e.g. several inside the dead zone) broken by the smaller retain drop; None if none is within
    the budget."""
    ok = {k: s for k, s in trials.items() if s["feasible"]}
    return min(ok, key=lambda k: (ok[k]["distance"], ok[k]["retain_drop"], k)) if ok else None
