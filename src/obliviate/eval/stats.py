"""Pure numeric definitions behind the metrics (numpy / scipy only, no model): each one unit-tested by hand.

Where OpenUnlearning (``locuslab/open-unlearning``, ``src/evals/metrics/``) defines a statistic, the function
here reproduces its definition exactly (same normalisation, tie handling and length conventions); the docstring says
which OpenUnlearning function it matches and any deliberate difference.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

TR_EPS = 1e-10  # OpenUnlearning's epsilon in truth_ratio / privleak denominators


def roc_auc(neg: Sequence[float], pos: Sequence[float]) -> float:
    """Area under the ROC curve for scores where *higher means positive*, ties counted one half.

    Equals the Mann–Whitney probability ``P(pos > neg) + 0.5 * P(pos == neg)`` and sklearn's
    ``roc_auc_score([0]*len(neg) + [1]*len(pos), [*neg, *pos])`` (computed from average ranks, O(n log n)).

    Args:
        neg: scores of the negative class.
        pos: scores of the positive class.

    Returns:
        The AUC in [0, 1]; NaN when either class is empty.
    """
    n0, n1 = len(neg), len(pos)
    if n0 == 0 or n1 == 0:
        return float("nan")
    ranks = sps.rankdata(np.concatenate([np.asarray(neg, float), np.asarray(pos, float)]))  # average ranks for ties
    u = ranks[n0:].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n0 * n1))


def roc_curve(neg: Sequence[float], pos: Sequence[float]) -> tuple[list[float], list[float]]:
    """ROC points ``(fpr, tpr)`` from (0, 0) to (1, 1), one point per distinct threshold (ties move diagonally).

    Positive = higher score, as in :func:`roc_auc`; the trapezoid area under these points equals ``roc_auc``.
    """
    neg_a, pos_a = np.asarray(neg, float), np.asarray(pos, float)
    thresholds = np.unique(np.concatenate([neg_a, pos_a]))[::-1]
    fpr, tpr = [0.0], [0.0]
    for t in thresholds:
        fpr.append(float((neg_a >= t).mean()) if len(neg_a) else 0.0)
        tpr.append(float((pos_a >= t).mean()) if len(pos_a) else 0.0)
    return fpr, tpr


def harmonic_mean(values: Sequence[float]) -> float:
    """Harmonic mean of non-negative values; 0 if any value is 0 (scipy.stats.hmean's convention, as TOFU's
    model utility: one destroyed component zeroes the utility)."""
    arr = np.asarray(values, float)
    if arr.size == 0:
        raise ValueError("harmonic mean of no values")
    if (arr < 0).any():
        raise ValueError(f"harmonic mean needs non-negative values, got {arr.tolist()}")
    if (arr == 0).any():
        return 0.0
    return float(arr.size / np.sum(1.0 / arr))


def ks_test(sample: Sequence[float], reference: Sequence[float]) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov test (scipy ``ks_2samp``, default two-sided / exact-when-small mode, as
    OpenUnlearning's ``ks_test`` / TOFU's forget quality). Returns ``(p_value, statistic)``."""
    res = sps.ks_2samp(np.asarray(sample, float), np.asarray(reference, float))
    return float(res.pvalue), float(res.statistic)


def truth_ratio(correct_avg_nll: float, wrong_avg_nlls: Sequence[float]) -> float:
    """TOFU truth ratio of one question, as OpenUnlearning's ``truth_ratio``.

    ``exp(-mean_i wrong_nll_i) / (exp(-correct_nll) + 1e-10)`` where each nll is the per-token mean NLL of one
    answer (so the perturbed side is the geometric mean of the length-normalised perturbed-answer probabilities).
    """
    wrong = math.exp(-float(np.mean(np.asarray(wrong_avg_nlls, float))))
    return wrong / (math.exp(-correct_avg_nll) + TR_EPS)


def tr_closer_to_1(ratios: Sequence[float]) -> float:
    """OpenUnlearning's ``closer_to_1_better`` aggregate (forget set): ``mean(min(tr, 1 / (tr + 1e-10)))``."""
    arr = np.asarray(ratios, float)
    return float(np.mean(np.minimum(arr, 1.0 / (arr + TR_EPS))))


def tr_true_better(ratios: Sequence[float]) -> float:
    """OpenUnlearning's ``true_better`` aggregate (retain / general sets): ``mean(max(0, 1 - tr))``."""
    return float(np.mean(np.maximum(0.0, 1.0 - np.asarray(ratios, float))))


def normalised_prob(correct_prob: float, wrong_probs: Sequence[float]) -> float:
    """OpenUnlearning's ``probability_w_options``: ``p_correct / (p_correct + sum_i p_wrong_i + 1e-10)`` with
    length-normalised probabilities ``exp(-mean token NLL)``."""
    return correct_prob / (correct_prob + float(np.sum(wrong_probs)) + TR_EPS)


def min_k(logp: Sequence[float], k: float) -> float:
    """Min-k % Prob attack score (Shi et al. 2023), as OpenUnlearning's ``MinKProbAttack.compute_score``.

    ``-mean`` of the ``max(1, int(n * k))`` smallest token log-probabilities; 0 for an empty sequence. Higher =
    more likely a non-member.
    """
    lp = np.asarray(logp, float)
    if lp.size == 0:
        return 0.0
    num_k = max(1, int(len(lp) * k))
    return float(-np.mean(np.sort(lp)[:num_k]))


def min_k_plus_plus(logp: Sequence[float], mu: Sequence[float], var: Sequence[float], k: float) -> float:
    """Min-K %++ attack score (Zhang et al. 2024), as OpenUnlearning's ``MinKPlusPlusAttack.compute_score``.

    Each token's log-probability is standardised by the mean ``mu = E_v[log p_v]`` and variance
    ``var = E_v[(log p_v)^2] - mu^2`` of the model's next-token distribution (variance clamped at 1e-6); the score is
    ``-mean`` of the ``max(1, int(n * k))`` smallest standardised values; 0 for an empty sequence.
    """
    lp = np.asarray(logp, float)
    if lp.size == 0:
        return 0.0
    z = (lp - np.asarray(mu, float)) / np.sqrt(np.maximum(np.asarray(var, float), 1e-6))
    num_k = max(1, int(len(z) * k))
    return float(-np.mean(np.sort(z)[:num_k]))


def zlib_entropy(text: str) -> int:
    """Length in bytes of the zlib-compressed UTF-8 text (Carlini et al. 2021's zlib reference)."""
    return len(zlib.compress(text.encode("utf-8")))


def zlib_score(avg_nll: float, text: str) -> float:
    """zlib attack score, as OpenUnlearning's ``ZLIBAttack``: mean token NLL / zlib entropy of the decoded target
    text (entropy floored at 1 byte). Higher = more likely a non-member."""
    return avg_nll / max(zlib_entropy(text), 1)


def exact_memorization(pred: Sequence[int], target: Sequence[int]) -> float | None:
    """OpenUnlearning's ``exact_memorization``: fraction of target tokens equal to the model's argmax prediction
    under teacher forcing. None when there is no target token (OpenUnlearning drops such rows from the mean)."""
    p, t = np.asarray(pred), np.asarray(target)
    if t.size == 0:
        return None
    return float((p == t).sum() / t.size)


def extraction_strength(pred: Sequence[int], target: Sequence[int]) -> float:
    """OpenUnlearning's ``extraction_strength``: ``1 - k / n`` for the smallest ``k`` such that the teacher-forced
    argmax predictions equal the target on the whole suffix ``[k:]``.

    Reproduced exactly, including OpenUnlearning's loop convention: when no suffix matches, ``k`` ends at ``n - 1``,
    so the score is ``1 / n`` (the same as when only the last token matches); an empty target scores 0.
    """
    p, t = np.asarray(pred), np.asarray(target)
    n = t.size
    if n == 0:
        return 0.0
    k = 0
    for k in range(n):
        if np.array_equal(p[k:], t[k:]):
            break
    return 1.0 - k / n


def privleak(auc_model: float, auc_gold: float) -> float:
    """MUSE's PrivLeak in percent, computed as OpenUnlearning's ``privleak``.

    MUSE orients the MIA AUC the other way round (``1 - AUC`` of this package, where AUC > 0.5 means forget rows
    look like members); OpenUnlearning converts, and so do we: ``(a_m - a_g) / (a_g + 1e-10) * 100`` with
    ``a = 1 - AUC``. 0 = as private as the gold model; strongly negative = the forget set still leaks (the original
    model); positive = over-unlearned (the forget set looks *less* familiar than unseen data).
    """
    a_m, a_g = 1.0 - auc_model, 1.0 - auc_gold
    return (a_m - a_g) / (a_g + TR_EPS) * 100.0
