"""Number formatting for people: p-values in scientific notation, accuracies in %, best-value selection."""

from __future__ import annotations

import math

import pytest

from obliviate.utils.fmt import arrow, best_index, fmt_duration, fmt_number, metric_kind, sci


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.3e-7, "2.3 × 10⁻⁷"),
        (9.96e-5, "1.0 × 10⁻⁴"),
        (0.41, "4.1 × 10⁻¹"),
        (1.0, "1.0"),
        (0.0, "0"),
        (12500.0, "1.2 × 10⁴"),
    ],
)
def test_sci(value: float, text: str) -> None:
    assert sci(value) == text


def test_fmt_number_kinds() -> None:
    assert fmt_number(0.8734, "percent") == "87.3 %"
    assert fmt_number(1e-12, "pvalue") == "1.0 × 10⁻¹²"
    assert fmt_number(0.61234, "auc") == "0.612"
    assert fmt_number(2.3456) == "2.35"
    assert fmt_number(0.0123) == "0.012"
    assert fmt_number(4.2e-5) == "4.20 × 10⁻⁵"
    assert fmt_number(12345.6) == "12,346"
    assert fmt_number(1.0) == "1.00" and fmt_number(11.0) == "11.0" and fmt_number(-20.66) == "-20.7"
    assert fmt_number(99.97) == "100"
    assert fmt_number(None) == fmt_number(math.nan) == "–"


def test_metric_kind_from_name_and_explicit_fmt() -> None:
    assert metric_kind("forget_quality") == "pvalue"
    assert metric_kind("retain_qa_acc") == "percent"
    assert metric_kind("forget_rouge_l_recall") == "percent"
    assert metric_kind("mia_min_k_auc") == "auc"
    assert metric_kind("forget_nll") == "float"
    assert metric_kind("some_score", {"fmt": "percent"}) == "percent"
    assert metric_kind("retain_qa_acc", {"fmt": "float"}) == "percent"  # "float" is the registry default: name wins


def test_best_index_directions() -> None:
    assert best_index([0.2, 0.5, None], True) == 1
    assert best_index([0.2, 0.5, None], False) == 0
    assert best_index([-20.7, 18.4, 30.0], None, target=0.0) == 1
    assert best_index([0.2, 0.5], None) is None  # no direction: nothing is "best"
    assert best_index([0.2, None], True) is None  # a single value is not a comparison


def test_arrow_and_duration() -> None:
    assert (arrow(True), arrow(False), arrow(None), arrow(None, 0.0)) == ("↑", "↓", "", "→0")
    assert fmt_duration(95) == "1 min 35 s"
    assert fmt_duration(12.5) == "12.5 s"
