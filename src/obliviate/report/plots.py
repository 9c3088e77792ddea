"""The report's figures, drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state).

Each function returns PNG bytes. Colours are fixed per row label by :func:`palette`, so a run has the same colour
in every figure; the gold model is drawn in dark gold with a star, the original in dark grey with a cross.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from obliviate.report.mia import Roc

# tab10 without its grey (reserved for the original model)
_RUN_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf"]
REF_STYLE = {
    "gold": {"color": "#b8860b", "marker": "*", "linestyle": "--"},
    "original": {"color": "#4d4d4d", "marker": "X", "linestyle": ":"},
}
DPI = 110


def palette(labels: list[str]) -> dict[str, str]:
    """A colour per run label, in order (cycling after nine runs)."""
    return {label: _RUN_COLOURS[i % len(_RUN_COLOURS)] for i, label in enumerate(labels)}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def tradeoff(
    points: list[tuple[str, str, float, float]],
    colours: dict[str, str],
    *,
    x_label: str,
    y_label: str,
    x_log: bool,
) -> bytes:
    """Forget (x, better to the right) vs utility (y, better up) scatter.

    Args:
        points: (label, role, x, y) per row; role is run / gold / original.
        colours: run label -> colour.
        x_label, y_label: axis titles (they say which way is better).
        x_log: log-scale x (p-values spanning many decades).
    """
    fig = Figure(figsize=(7.5, 5.2))
    ax = fig.add_subplot()
    for label, role, x, y in points:
        style = REF_STYLE.get(role)
        colour = style["color"] if style else colours[label]
        marker = style["marker"] if style else "o"
        ax.scatter(
            [x],
            [y],
            s=170 if style else 90,
            c=colour,
            marker=marker,
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
            label=label,
        )
    if x_log:
        ax.set_xscale("log")
    ax.margins(0.15)
    if x_log and all(p[2] <= 1 for p in points):
        ax.set_xlim(right=min(ax.get_xlim()[1], 3.0))  # p-values stop at 1
    _label_points(ax, points, colours)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title("Forget vs utility trade-off (top right is best)")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(loc="best", fontsize=8, framealpha=0.85)
    return _png(fig)


def _label_points(ax, points: list[tuple[str, str, float, float]], colours: dict[str, str]) -> None:
    """Name each point at the first of eight spots around it that covers no marker, no earlier label and stays
    inside the axes (boxes estimated in display pixels from the label length)."""
    ax.get_xlim(), ax.get_ylim()  # settle the lazy autoscaling so transData maps to the final pixels
    px = ax.figure.dpi / 72  # pixels per point
    at = [ax.transData.transform((x, y)) for _, _, x, y in points]
    taken = [(p[0] - 7 * px, p[1] - 7 * px, p[0] + 7 * px, p[1] + 7 * px) for p in at]  # markers: radius <= 7 pt
    frame = ax.bbox.extents
    for (label, role, x, y), (cx, cy) in zip(points, at):
        w, h = 5.4 * px * len(label), 11 * px  # fontsize 9: about 0.6 em per character
        choice = None
        for dx, dy in ((9, 0), (-9, 0), (0, 14), (0, -14), (9, 12), (-9, 12), (9, -12), (-9, -12)):
            x0 = cx + dx * px - (w if dx < 0 else w / 2 if dx == 0 else 0)
            box = (x0, cy + dy * px - h / 2, x0 + w, cy + dy * px + h / 2)
            clear = all(box[2] < t[0] or box[0] > t[2] or box[3] < t[1] or box[1] > t[3] for t in taken)
            inside = frame[0] <= box[0] and box[2] <= frame[2] and frame[1] <= box[1] and box[3] <= frame[3]
            if clear and inside:
                choice = (dx, dy, box)
                break
        dx, dy, box = choice or (9, 0, (cx, cy, cx, cy))
        taken.append(box)
        colour = REF_STYLE[role]["color"] if role in REF_STYLE else colours[label]
        ax.annotate(
            label,
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            fontsize=9,
            color=colour,
            ha="left" if dx > 0 else "right" if dx < 0 else "center",
            va="center",
        )


def _ema(y: np.ndarray, n: int) -> np.ndarray:
    """Exponential moving average with a window of about ``n`` points (for long, noisy loss logs)."""
    alpha = 2.0 / (n + 1)
    out = np.empty_like(y)
    acc = y[0]
    for i, v in enumerate(y):
        acc = alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def training_curves(series: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], colours: dict[str, str]) -> bytes:
    """One subplot per loss term, one line per run.

    Args:
        series: term -> run label -> (steps, values).
        colours: run label -> colour.
    """
    terms = list(series)
    ncols = min(3, len(terms))
    nrows = math.ceil(len(terms) / ncols)
    fig = Figure(figsize=(4.4 * ncols, 3.3 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, term in zip(axes.flat, terms):
        for label, (x, y) in series[term].items():
            if len(y) > 60:  # long logs: a faint raw line under a smoothed one
                ax.plot(x, y, color=colours[label], alpha=0.25, linewidth=0.8)
                ax.plot(x, _ema(y, max(5, len(y) // 30)), color=colours[label], linewidth=1.6, label=label)
            else:
                ax.plot(x, y, color=colours[label], linewidth=1.6, marker="." if len(y) < 25 else None, label=label)
        ax.set_title(term)
        ax.set_xlabel("optimiser step")
        ax.set_ylabel(term)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(terms) :]:
        ax.set_visible(False)
    fig.suptitle("Training curves per loss term (train_log.jsonl)")
    return _png(fig)


def roc_curves(attacks: dict[str, list[tuple[str, str, Roc]]], colours: dict[str, str]) -> bytes:
    """One subplot per membership attack, one ROC line per model (forget = members, holdout = non-members).

    Args:
        attacks: metric name -> [(label, role, roc)].
        colours: run label -> colour.
    """
    names = list(attacks)
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(4.4 * ncols, 4.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.plot([0, 1], [0, 1], color="#999999", linewidth=1, linestyle="-", label="chance (AUC 0.500)")
        for label, role, r in attacks[name]:
            style = REF_STYLE.get(role, {})
            ax.plot(
                r.fpr,
                r.tpr,
                color=style.get("color", colours.get(label)),
                linewidth=1.8,
                linestyle=style.get("linestyle", "-"),
                label=f"{label} (AUC {r.auc:.3f})",
            )
        ax.set_title(name)
        ax.set_xlabel("false-positive rate (holdout flagged)")
        ax.set_ylabel("true-positive rate (forget flagged)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7.5, loc="lower right")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle("MIA ROC: forget = members (diagonal = undetectable)")
    return _png(fig)


def continual(series: dict[str, dict[str, list[float | None]]], colours: dict[str, str]) -> bytes:
    """Continual unlearning over requests: one subplot per quantity, one line per run; x = 0 is the original.

    Args:
        series: quantity -> run label -> values at x = 0 (original), 1, ..., R (after request R); None = missing.
            A label ending in `` · original`` is drawn as the original's reference (grey, dotted).
        colours: run label -> colour.
    """
    names = list(series)
    fig = Figure(figsize=(4.4 * len(names), 3.4), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        for label, ys in series[name].items():
            y = np.array([np.nan if v is None else v for v in ys], dtype=float)
            run, _, ref = label.partition(" · ")
            style = REF_STYLE["original"] if ref else {"color": colours.get(run), "marker": "o", "linestyle": "-"}
            ax.plot(np.arange(len(y)), y, linewidth=1.6, label=label, **style)
        ax.set_title(name)
        ax.set_xlabel("request (0 = original)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7.5)
    fig.suptitle("Continual unlearning: after each request (summary.json requests)")
    return _png(fig)
