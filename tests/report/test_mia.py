"""ROC curves from per-sample membership scores: hand-computed AUCs, accepted layouts, orientation."""

from __future__ import annotations

import numpy as np
import pytest

from obliviate.report.mia import member_roc, roc, split_scores


def test_roc_auc_by_hand() -> None:
    # pairs (pos > neg): (3,1)=1 (3,2)=1 (2,1)=1 (2,2)=1/2 -> 3.5 / 4
    r = roc([3.0, 2.0], [1.0, 2.0])
    assert r.auc == pytest.approx(0.875)
    assert r.fpr.tolist() == [0.0, 0.0, 0.5, 1.0] and r.tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert roc([1.0], [1.0]).auc == pytest.approx(0.5)


@pytest.mark.parametrize(
    "entry",
    [
        {"extra": {"scores": {"forget": [1.0, 1.5], "holdout": [2.0, 3.0]}}},
        {"extra": {"forget_scores": [1.0, 1.5], "holdout_scores": [2.0, 3.0]}},
        {"per_sample": {"forget": {"0": 1.0, "1": 1.5}, "holdout": {"0": 2.0, "1": 3.0}}},
        {"per_sample": {"forget:0": 1.0, "forget:1": 1.5, "holdout/0": 2.0, "holdout/1": 3.0}},
    ],
)
def test_layouts(entry: dict) -> None:
    assert split_scores(entry) == ([1.0, 1.5], [2.0, 3.0])
    assert member_roc(entry).auc == pytest.approx(1.0)  # loss-like default: lower score = member


def test_orientation_follows_reported_value_or_flag() -> None:
    rng = np.random.default_rng(0)
    mem, non = rng.normal(1, 1, 50).tolist(), rng.normal(0, 1, 50).tolist()  # members score higher
    high_auc = roc(mem, non).auc
    assert member_roc(
        {"value": high_auc, "extra": {"forget_scores": mem, "holdout_scores": non}}
    ).auc == pytest.approx(high_auc)
    flagged = {"extra": {"forget_scores": mem, "holdout_scores": non, "higher_is_member": True}}
    assert member_roc(flagged).auc == pytest.approx(high_auc)
    assert member_roc({"extra": {"forget_scores": mem, "holdout_scores": non}}).auc == pytest.approx(1 - high_auc)


def test_no_split_scores() -> None:
    assert split_scores({"per_sample": {"0": 0.3, "1": 0.2}}) is None
    assert member_roc({"per_sample": {"forget:0": 0.3}}) is None  # members only
