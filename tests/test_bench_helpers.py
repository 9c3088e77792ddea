"""The benchmark tables' shared helpers (obliviate.bench): mean ± std cells and Pareto labels."""

from __future__ import annotations

from obliviate.bench import mean_std, pareto_labels


def test_mean_std_skips_missing_values_and_says_so():
    assert mean_std([1.0, 2.0, 3.0]) == "2.00 ± 1.00"
    assert mean_std([0.5, None], scale=100, fmt=".1f") == "50.0 ± 0.0 (n=1)"
    assert mean_std([None, None]) == "–"


def test_pareto_labels_on_a_hand_drawn_front():
    # lower is better on both axes: a dominates c; a and b trade off; d is dominated by a and b
    pts = {"a": (1.0, 3.0), "b": (2.0, 1.0), "c": (1.5, 3.5), "d": (2.5, 3.0)}
    assert pareto_labels(pts) == {"a": "front", "b": "front", "c": "dominated by a", "d": "dominated by a, b"}
    assert pareto_labels({"x": (0.0, 0.0), "y": (1.0, 1.0)}) == {"x": "dominating", "y": "dominated by x"}
    assert pareto_labels({"only": (1.0, 1.0)}) == {"only": "front"}
