"""Numbers for people (reports, the eval summary, the demo): p-values in scientific notation, accuracies in %,
arrows for the better direction.

A metric's display kind comes from an explicit ``"fmt"`` (or ``"format"``) key in its eval.json entry (``pvalue``,
``percent``, ``auc``) when the evaluator writes one, otherwise from its name (``forget_quality`` is a KS p-value,
``*_acc`` / ``exact_match`` / ``rouge`` are fractions shown in %). ``"float"`` (the metric registry's default)
counts as no opinion.
"""

from __future__ import annotations

import math
import re

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_PVALUE = re.compile(r"forget_quality|p_?value|(^|_)pval")
_PERCENT = re.compile(r"acc|exact_match|(^|_)em($|_)|rouge|memori[sz]ation|extraction")
_AUC = re.compile(r"auc")


def metric_kind(name: str, entry: dict | None = None) -> str:
    """The display kind of a metric: ``pvalue``, ``percent``, ``auc`` or ``float``."""
    entry = entry or {}
    explicit = entry.get("fmt") or entry.get("format")
    if explicit in ("pvalue", "percent", "auc"):  # "float" is the registry's default: let the name decide
        return explicit
    low = name.lower()
    if _PVALUE.search(low):
        return "pvalue"
    if _AUC.search(low):
        return "auc"
    if _PERCENT.search(low):
        return "percent"
    return "float"


def sci(value: float, digits: int = 2) -> str:
    """``3.2 × 10⁻⁵``: scientific notation with ``digits`` significant digits and a Unicode exponent."""
    if value == 0:
        return "0"
    exp = math.floor(math.log10(abs(value)))
    mant = value / 10**exp
    if round(abs(mant), digits - 1) >= 10:  # 9.99 rounds up to 10.0: carry into the exponent
        exp, mant = exp + 1, mant / 10
    if exp == 0:
        return f"{mant:.{digits - 1}f}"
    return f"{mant:.{digits - 1}f} × 10{str(exp).translate(_SUPERSCRIPT)}"


def fmt_number(value: float | None, kind: str = "float") -> str:
    """Format one value for a table cell; None / NaN become an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    value = float(value)
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if kind == "pvalue":
        return sci(value)
    if kind == "percent":
        return f"{100 * value:.1f} %"
    if kind == "auc":
        return f"{value:.3f}"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return sci(value, 3)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    # 3 significant digits, zeros kept (1.00, 12.5); 99.97 rounds to "100." under '#': drop the dangling point
    return f"{value:#.3g}".rstrip(".") if abs(value) >= 1 else f"{value:.3f}"


def fmt_duration(seconds: float | None) -> str:
    """``95`` -> ``1 min 35 s``; None -> en dash."""
    if seconds is None:
        return "–"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"


def arrow(higher_is_better: bool | None, target: float | None = None) -> str:
    """The direction marker shown next to a metric name: ↑, ↓, →0 (closest to a target), or nothing."""
    if target is not None:
        return f"→{target:g}"
    if higher_is_better is None:
        return ""
    return "↑" if higher_is_better else "↓"


def best_index(values: list[float | None], higher_is_better: bool | None, target: float | None = None) -> int | None:
    """Index of the best value, or None when there is no direction or fewer than two values to compare."""
    present = [(i, v) for i, v in enumerate(values) if v is not None and not math.isnan(v)]
    if len(present) < 2 or (higher_is_better is None and target is None):
        return None
    if target is not None:
        return min(present, key=lambda iv: abs(iv[1] - target))[0]
    pick = max if higher_is_better else min
    return pick(present, key=lambda iv: iv[1])[0]
