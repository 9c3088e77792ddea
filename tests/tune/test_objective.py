"""The tune objective's numbers, checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from obliviate.tune.objective import (
    auc_null_sd,
    forget_distance,
    hopeless,
    independent_units,
    ks_null_mean,
    pareto_front,
    retain_check,
    select,
)
from obliviate.tune.space import Space, apply


def test_null_spreads():
    assert auc_null_sd(1, 1) == pytest.approx(0.5)  # sqrt(3 / 12)
    assert auc_null_sd(6, 6) == pytest.approx(math.sqrt(13 / 432))
    assert ks_null_mean(4, 4) == pytest.approx(0.868731 * math.sqrt(0.5), rel=1e-5)


def test_separated_sets_are_far():
    # every forget NLL below every holdout NLL: AUC 1, KS 1; n = m = 3
    d = forget_distance([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], 3, 3, tolerance=0.5)
    assert (d["auc"], d["ks"], d["nll_gap"]) == (1.0, 1.0, -3.0)
    tol_auc, tol_ks = 0.5 * math.sqrt(7 / 108), 0.5 * 0.868731 * math.sqrt(6 / 9)
    assert d["distance"] == pytest.approx((0.5 - tol_auc) + (1.0 - tol_ks), rel=1e-5)


def test_over_forgetting_counts_like_under_forgetting():
    under = forget_distance([1.0, 2.0], [3.0, 4.0], 2, 2, tolerance=0.0)
    over = forget_distance([3.0, 4.0], [1.0, 2.0], 2, 2, tolerance=0.0)
    assert (under["auc"], over["auc"]) == (1.0, 0.0)
    assert under["distance"] == over["distance"] == 1.5  # |AUC - 0.5| + KS


def test_dead_zone():
    # f = [1, 3, 5], h = [2, 4, 0]: h > f in 3 of 9 pairs (2>1, 4>1, 4>3); the ECDFs differ by at most 1/3
    d = forget_distance([1.0, 3.0, 5.0], [2.0, 4.0, 0.0], 3, 3, tolerance=0.0)
    assert d["auc"] == pytest.approx(1 / 3)
    assert d["ks"] == pytest.approx(1 / 3)
    assert d["distance"] == pytest.approx(1 / 6 + 1 / 3)
    # tolerance 1: dead zones sqrt(7/108) = 0.25 > 1/6 and 0.87 * sqrt(2/3) = 0.71 > 1/3
    assert forget_distance([1.0, 3.0, 5.0], [2.0, 4.0, 0.0], 3, 3, tolerance=1.0)["distance"] == 0.0


def test_retain_budget():
    assert retain_check(0.99, 1.0, 0.02)["feasible"]
    r = retain_check(0.9, 1.0, 0.02)
    assert not r["feasible"]
    assert (r["retain_drop"], r["violation"]) == (pytest.approx(0.1), pytest.approx(0.08))


def test_independent_units_counts_people():
    rows = [{"person": "a"}, {"person": "a"}, {"person": "b"}]
    assert independent_units(rows) == 2
    assert independent_units([{"text": "x"}, {"text": "y"}, {"text": "z"}]) == 3


def test_hopeless_rules():
    fine = {"retain_drop": 0.05, "auc": 0.5}
    assert hopeless(fine, 6, 6, budget=0.02) is None
    assert "retain accuracy fell 7.0 %" in hopeless({"retain_drop": 0.07, "auc": 0.5}, 6, 6, budget=0.02)
    # 3 null SDs below 0.5 with n = m = 20 people: 0.5 - 3 * 0.0915 = 0.2255
    assert hopeless({"retain_drop": 0.0, "auc": 0.22}, 20, 20, budget=0.02).startswith("over-forgetting")
    assert hopeless({"retain_drop": 0.0, "auc": 0.23}, 20, 20, budget=0.02) is None


def test_pareto_front_and_selection():
    pts = {0: (1.0, 0.0), 1: (0.5, 0.5), 2: (0.6, 0.6), 3: (0.0, 1.0)}
    assert pareto_front(pts) == [3, 1, 0]
    trials = {
        0: {"distance": 0.0, "retain_drop": 0.05, "feasible": False},  # closest, but over the budget
        1: {"distance": 0.0, "retain_drop": 0.015, "feasible": True},
        2: {"distance": 0.0, "retain_drop": 0.01, "feasible": True},  # tie on distance: smaller retain drop wins
        3: {"distance": 0.2, "retain_drop": 0.0, "feasible": True},
    }
    assert select(trials) == 2
    assert select({0: trials[0]}) is None


def test_space_grid_and_apply():
    space = Space("npo", lr=(1e-4, 1e-2), steps=(10, 30), step=10)
    grid = space.grid(3)
    assert grid["lr"] == [1e-4, 1e-3, 1e-2]
    assert grid["steps_x"] == [1, 2, 3]
    assert set(grid) == {"lr", "steps_x", "retain.weight", "beta"}
    args = apply({"retain": {"kind": "kl"}, "gamma": 2.0}, {"lr": 1e-3, "steps": 20, "retain.weight": 5.0})
    assert args == {"retain": {"kind": "kl", "weight": 5.0}, "gamma": 2.0}
