"""Each statistic against a value computed by hand on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from obliviate.eval import stats


def test_roc_auc_counts_ties_as_half():
    # pairs (pos > neg): pos 2 beats 1, ties 2 -> 1.5; pos 3 beats 1, 2, ties 3 -> 2.5; pos 4 beats all -> 3
    assert stats.roc_auc(neg=[1, 2, 3], pos=[2, 3, 4]) == pytest.approx(7 / 9)
    assert stats.roc_auc(neg=[5, 5], pos=[5, 5, 5]) == 0.5
    assert stats.roc_auc(neg=[0, 1], pos=[2, 3]) == 1.0
    assert stats.roc_auc(neg=[2, 3], pos=[0, 1]) == 0.0
    assert math.isnan(stats.roc_auc(neg=[], pos=[1.0]))


def test_roc_curve_area_equals_auc():
    neg, pos = [0.1, 0.4, 0.4, 0.9], [0.4, 0.8, 0.95]
    fpr, tpr = stats.roc_curve(neg, pos)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    area = sum((fpr[i + 1] - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2 for i in range(len(fpr) - 1))
    assert area == pytest.approx(stats.roc_auc(neg, pos))


def test_ks_statistic_and_exact_pvalue():
    p, d = stats.ks_test([1, 2, 3], [4, 5, 6])
    assert d == 1.0
    assert p == pytest.approx(2 / math.comb(6, 3))  # complete separation: the exact floor 2 / C(2n, n)
    _, d = stats.ks_test([1, 2, 3, 4], [3, 4, 5, 6])
    assert d == 0.5  # ECDFs differ by 2/4 on [2, 3)
    p, d = stats.ks_test([1, 2, 3], [1, 2, 3])
    assert (p, d) == (1.0, 0.0)


def test_harmonic_mean():
    assert stats.harmonic_mean([1.0, 0.5, 0.25]) == pytest.approx(3 / 7)
    assert stats.harmonic_mean([0.8, 0.0, 0.5]) == 0.0
    with pytest.raises(ValueError):
        stats.harmonic_mean([])


def test_zlib_score_of_known_strings():
    # zlib header (2 B) + one fixed-Huffman deflate block (3 header bits + one 8-bit literal + 7-bit end) = 3 B
    # + adler-32 (4 B) = 9 bytes; the empty string has no literal: 2 + 2 + 4 = 8 bytes
    assert stats.zlib_entropy("a") == 9
    assert stats.zlib_entropy("") == 8
    assert stats.zlib_score(2.7, "a") == pytest.approx(0.3)


def test_min_k_on_known_logprobs():
    lp = [-1.0, -2.0, -3.0, -4.0, -5.0]
    assert stats.min_k(lp, 0.4) == 4.5  # 2 lowest: -5, -4
    assert stats.min_k(lp, 0.1) == 5.0  # int(0.5) = 0 -> at least one token
    assert stats.min_k(lp, 1.0) == 3.0
    assert stats.min_k([], 0.2) == 0.0


def test_min_k_plus_plus_on_known_distribution_stats():
    # z = (logp - mu) / sqrt(var) = [(-1 + 1.5) / 0.5, (-2 + 1) / 2] = [1.0, -0.5]
    assert stats.min_k_plus_plus([-1.0, -2.0], [-1.5, -1.0], [0.25, 4.0], 0.5) == 0.5
    assert stats.min_k_plus_plus([-1.0, -2.0], [-1.5, -1.0], [0.25, 4.0], 1.0) == pytest.approx(-0.25)
    # a zero variance is clamped at 1e-6 (std 1e-3)
    assert stats.min_k_plus_plus([-1.0], [-1.001], [0.0], 0.5) == pytest.approx(-1.0)
    assert stats.min_k_plus_plus([], [], [], 0.5) == 0.0


def test_truth_ratio_and_aggregates():
    # correct p = 0.5; perturbed mean NLL = (ln 2 + ln 8) / 2 = ln 4 -> geometric mean prob 0.25 -> ratio 0.5
    tr = stats.truth_ratio(math.log(2), [math.log(2), math.log(8)])
    assert tr == pytest.approx(0.5)
    assert stats.tr_closer_to_1([0.5, 2.0]) == pytest.approx(0.5)
    assert stats.tr_closer_to_1([1.0]) == pytest.approx(1.0)
    assert stats.tr_true_better([0.5, 2.0]) == pytest.approx(0.25)
    assert stats.normalised_prob(0.5, [0.25, 0.25]) == pytest.approx(0.5)


def test_extraction_strength_matches_openunlearning():
    assert stats.extraction_strength([9, 2, 3, 4], [1, 2, 3, 4]) == 0.75  # suffix from k=1 reproduced
    assert stats.extraction_strength([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert stats.extraction_strength([1, 2, 3, 9], [1, 2, 3, 4]) == 0.25  # no match: k stops at n-1
    assert stats.extraction_strength([9, 9, 9, 4], [1, 2, 3, 4]) == 0.25  # only the last token: same value
    assert stats.extraction_strength([], []) == 0.0


def test_exact_memorization():
    assert stats.exact_memorization(np.array([1, 2, 0, 4]), np.array([1, 2, 3, 4])) == 0.75
    assert stats.exact_memorization([], []) is None


def test_privleak_uses_muse_orientation():
    assert stats.privleak(0.9, 0.5) == pytest.approx(-80.0)  # (0.1 - 0.5) / 0.5 * 100
    assert stats.privleak(0.5, 0.5) == 0.0
    assert stats.privleak(0.3, 0.5) == pytest.approx(40.0)


def test_roc_auc_agrees_with_sklearn_on_tied_scores():
    metrics = pytest.importorskip("sklearn.metrics")  # installed with the lmeval extra; a cross-check only
    rng = np.random.default_rng(0)
    neg, pos = rng.integers(0, 5, 40).astype(float), rng.integers(1, 6, 30).astype(float)
    expected = metrics.roc_auc_score([0] * 40 + [1] * 30, np.concatenate([neg, pos]))
    assert stats.roc_auc(neg, pos) == pytest.approx(expected)
