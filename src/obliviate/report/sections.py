"""Report sections built from loaded runs: leaderboard, trade-off scatter, training curves, MIA ROC, all metrics.

Each builder returns a list of :mod:`obliviate.report.doc` blocks and never raises on missing data: what is
absent becomes a :class:`~obliviate.report.doc.Note` with the reason.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from obliviate.report import plots
from obliviate.report.doc import Block, Bullets, Cell, Figure, Heading, Note, Para, Table
from obliviate.report.mia import looks_like_mia, member_roc
from obliviate.report.runs import Run, as_float
from obliviate.utils.fmt import arrow, best_index, fmt_duration, fmt_number, metric_kind

# Headline columns, in priority order (regexes over metric names); the full table lists everything.
_HEADLINE = [
    r"^forget_quality$",
    r"^model_utility",
    r"^forget_(acc|em)$|^forget.*exact_match",
    r"^retain_acc$|^retain.*exact_match",
    r"privleak",
    r"^general_acc$|^(world_facts|real_authors).*acc",
    r"^forget_rouge",
    r"^forget_es$|extraction",
    r"^mia_min_k_plus_plus$",
    r"^holdout_acc$",
]
_MAX_HEADLINE = 9
_NOT_TERMS = {"request", "step", "lr", "time_s", "epoch", "tokens"}


@dataclass
class Column:
    """One metric column: an eval.json metric, or a scalar inside its ``extra`` (``sub``)."""

    metric: str
    sub: str | None = None
    higher_is_better: bool | None = None
    target: float | None = None
    kind: str = "float"

    @property
    def title(self) -> str:
        name = self.metric if self.sub is None else f"{self.metric} · {self.sub}"
        mark = arrow(self.higher_is_better, self.target)
        return f"{name} {mark}".rstrip()

    def cell(self, run: Run) -> tuple[float | None, str]:
        """(value, status) with status ok / skipped / missing / no-eval."""
        if run.metrics is None:
            return None, "no-eval"
        entry = run.metric(self.metric)
        if entry is None:
            return None, "missing"
        status = str(entry.get("status", "ok"))
        if status != "ok":
            return None, status
        raw = entry.get("value") if self.sub is None else entry["extra"].get(self.sub)
        value = as_float(raw)
        return value, "ok" if value is not None else "missing"


def _extra_column(key: str, val: object, entry: dict) -> bool:
    """Scalar extras get their own row, except counts, log transforms and copies of the metric's value."""
    v = as_float(val)
    skip = key == "n" or key.startswith(("n_", "log10_")) or v == as_float(entry.get("value"))
    return v is not None and not skip


def _columns(rows: list[Run]) -> list[Column]:
    """Every metric (and scalar extra) found in any row, with metadata from the first row that states it."""
    cols: dict[tuple[str, str | None], Column] = {}
    for run in rows:
        for name, entry in (run.metrics or {}).items():
            col = cols.setdefault((name, None), Column(name, kind=metric_kind(name, entry)))
            if col.higher_is_better is None and isinstance(entry.get("higher_is_better"), bool):
                col.higher_is_better = entry["higher_is_better"]
            if col.target is None:
                col.target = as_float(entry.get("target"))
                if col.target is None and "privleak" in name.lower():
                    col.target = 0.0  # PrivLeak: 0 means "as detectable as the gold model"
            for key, val in entry["extra"].items():
                if _extra_column(key, val, entry) and (name, key) not in cols:
                    stat = "stat" in key.lower()  # a KS statistic: lower = closer to the gold distribution
                    cols[(name, key)] = Column(name, key, False if stat else None, kind=metric_kind(key))
    return list(cols.values())


def headline_columns(cols: list[Column]) -> list[Column]:
    """The leaderboard's columns: metrics matching the priority list (plus the KS statistic next to FQ)."""
    plain = [c for c in cols if c.sub is None]
    picked: list[Column] = []
    for pattern in _HEADLINE:
        for c in plain:
            if c not in picked and re.search(pattern, c.metric.lower()):
                picked.append(c)
                ks = next((s for s in cols if s.metric == c.metric and s.sub and "stat" in s.sub.lower()), None)
                if ks is not None:
                    picked.append(ks)
    if not picked:
        picked = plain
    return picked[:_MAX_HEADLINE]


def _value_cells(col: Column, rows: list[Run]) -> list[Cell]:
    """Formatted cells; the best run value is bold, with every run that ties it as shown, unless all runs tie."""
    vals = [col.cell(r) for r in rows]
    texts = [fmt_number(v, col.kind) if status == "ok" else None for v, status in vals]
    run_vals = [v if r.role == "run" else None for (v, _), r in zip(vals, rows)]
    best = best_index(run_vals, col.higher_is_better, col.target)
    shown = [t for t, r in zip(texts, rows) if t is not None and r.role == "run"]
    bold = None if best is None or shown.count(texts[best]) == len(shown) else texts[best]
    cells = []
    for (_, status), text, r in zip(vals, texts, rows):
        if text is not None:
            cells.append(Cell(text, bold=r.role == "run" and text == bold))
        else:
            cells.append(Cell("skipped" if status == "skipped" else "–", muted=True))
    return cells


REF_MARK = {"gold": "★", "original": "✕"}  # the markers of the reference rows in the plots


def _with_refs(runs: list[Run], refs: dict[str, Run]) -> list[Run]:
    """The runs, then the gold and the original reference rows (when present)."""
    return runs + [refs[k] for k in ("gold", "original") if k in refs]


def _row_label(run: Run) -> str:
    return f"{REF_MARK[run.role]} {run.label}" if run.role in REF_MARK else run.label


def leaderboard(runs: list[Run], refs: dict[str, Run]) -> list[Block]:
    rows = _with_refs(runs, refs)
    cols = headline_columns(_columns(rows))
    header = ["Run", "Method", "Steps", "Time", *(c.title for c in cols)]
    per_col = [_value_cells(c, rows) for c in cols]
    table_rows = []
    for i, r in enumerate(rows):
        steps = r.summary.get("steps")
        fixed = [
            Cell(_row_label(r)),
            Cell(r.method),
            Cell("–" if steps is None else str(steps)),
            Cell(fmt_duration(as_float(r.summary.get("time_s")))),
        ]
        table_rows.append(fixed + [pc[i] for pc in per_col])
    blocks: list[Block] = [
        Table(header, table_rows, [r.role for r in rows], numeric_from=2),
        Para(
            "↑ higher is better, ↓ lower is better, →0 closest to 0 is better; **bold** marks the best run per column "
            "(reference rows excluded); ★ gold and ✕ original are reference rows. Metrics without an arrow (e.g. "
            "truth ratio) should match the gold model. Every metric is listed in [All metrics](#all-metrics)."
        ),
    ]
    blocks += [Note(f"{r.label}: {r.eval_note}") for r in rows if r.metrics is None]
    for role in ("gold", "original"):
        if role not in refs:
            blocks.append(
                Note(f"no {role} reference row: pass `--{role} DIR` (a folder with the {role} model's eval.json)")
            )
    return blocks


def all_metrics(runs: list[Run], refs: dict[str, Run]) -> list[Block]:
    rows = _with_refs(runs, refs)
    rows = [r for r in rows if r.metrics is not None]
    if not rows:
        return [Note("no run has an eval.json; evaluate the runs with `obliviate eval`")]
    header = ["Metric", "Split", *(_row_label(r) for r in rows)]
    table_rows = []
    for col in _columns(rows):
        entry = next((r.metric(col.metric) for r in rows if r.metric(col.metric)), {}) or {}
        table_rows.append([Cell(col.title), Cell(str(entry.get("split") or "–")), *_value_cells(col, rows)])
    blocks: list[Block] = [Table(header, table_rows, caption="Rows: metrics; columns: models.", numeric_from=2)]
    skipped: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        for name, entry in (r.metrics or {}).items():
            if str(entry.get("status", "ok")) != "ok":
                skipped.setdefault((name, str(entry.get("note") or "no reason given")), []).append(r.label)
    if skipped:
        blocks.append(Para("Skipped metrics and why:"))
        blocks.append(Bullets([f"`{m}` ({', '.join(who)}): {why}" for (m, why), who in skipped.items()]))
    return blocks


def _axis(cols: list[Column], rows: list[Run], patterns: list[str]) -> Column | None:
    for pattern in patterns:
        for c in cols:
            if c.sub is None and re.search(pattern, c.metric.lower()) and any(c.cell(r)[1] == "ok" for r in rows):
                return c
    return None


def tradeoff(runs: list[Run], refs: dict[str, Run], colours: dict[str, str]) -> list[Block]:
    rows = _with_refs(runs, refs)
    cols = _columns(rows)
    x = _axis(cols, rows, [r"^forget_quality$", r"forget.*(acc|exact_match)", r"forget.*rouge"])
    y = _axis(cols, rows, [r"model_utility", r"retain.*(acc|exact_match)", r"retain.*rouge"])
    if x is None or y is None:
        return [
            Note(
                "no forget metric (forget_quality, forget accuracy) and utility metric (model_utility, retain "
                "accuracy) with values in eval.json; run `obliviate eval` with a gold model and retain data"
            )
        ]
    points = []
    for r in rows:
        (xv, xs), (yv, ys) = x.cell(r), y.cell(r)
        if (
            xs == "ok"
            and ys == "ok"
            and math.isfinite(xv)
            and math.isfinite(yv)
            and not (x.kind == "pvalue" and xv <= 0)
        ):
            points.append((r.label, r.role, xv, yv))
    if not points:
        return [Note(f"no row has both {x.metric} and {y.metric}")]
    better = "higher is better" if x.higher_is_better is not False else "lower is better"
    x_label = f"{x.metric} ({'log scale, ' if x.kind == 'pvalue' else ''}{better})"
    y_label = f"{y.metric} ({'higher' if y.higher_is_better is not False else 'lower'} is better)"
    png = plots.tradeoff(points, colours, x_label=x_label, y_label=y_label, x_log=x.kind == "pvalue")
    missing = [r.label for r in rows if r.label not in {p[0] for p in points}]
    blocks: list[Block] = [Figure("tradeoff", png, f"{x.metric} against {y.metric} for every row that has both.")]
    if missing:
        blocks.append(Note(f"not plotted (missing {x.metric} or {y.metric}): {', '.join(missing)}"))
    return blocks


def _log_series(run: Run) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """term -> (global step, value); steps restarting at a new request continue after the previous request."""
    xs, offset, prev_x, prev_raw, prev_req = [], 0.0, 0.0, None, None
    for i, row in enumerate(run.log):
        raw = as_float(row.get("step"))
        raw = float(i + 1) if raw is None else raw
        req = row.get("request")
        if prev_raw is not None and req != prev_req and raw <= prev_raw:
            offset = prev_x
        prev_x, prev_raw, prev_req = raw + offset, raw, req
        xs.append(prev_x)
    terms: list[str] = []
    for row in run.log:
        for k, v in row.items():
            if k not in _NOT_TERMS and k not in terms and as_float(v) is not None:
                terms.append(k)
    terms.sort(key=lambda t: t != "loss")  # total loss first, then the log's own order
    x = np.asarray(xs)
    out = {}
    for t in terms:
        y = np.array([as_float(row.get(t)) if as_float(row.get(t)) is not None else np.nan for row in run.log])
        out[t] = (x, y)
    return out


def training_curves(runs: list[Run], colours: dict[str, str]) -> list[Block]:
    series: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for r in runs:
        for term, xy in _log_series(r).items():
            series.setdefault(term, {})[r.label] = xy
    blocks: list[Block] = []
    if series:
        blocks.append(
            Figure(
                "training_curves",
                plots.training_curves(series, colours),
                "Each logged loss term against the optimiser step; long logs are smoothed (EMA).",
            )
        )
    else:
        blocks.append(Note("no run has a train_log.jsonl with logged loss terms"))
    blocks += [Note(f"{r.label}: {r.log_note}") for r in runs if r.log_note]
    return blocks


def roc_section(runs: list[Run], refs: dict[str, Run], colours: dict[str, str]) -> list[Block]:
    rows = _with_refs(runs, refs)
    attacks: dict[str, list] = {}
    lacking: dict[str, list[str]] = {}
    for r in rows:
        for name, entry in (r.metrics or {}).items():
            if str(entry.get("status", "ok")) != "ok":
                continue
            curve = member_roc(entry)
            if curve is not None:
                attacks.setdefault(name, []).append((r.label, r.role, curve))
            elif looks_like_mia(name):
                lacking.setdefault(name, []).append(r.label)
    blocks: list[Block] = []
    if attacks:
        n = {f"{c.n_members}/{c.n_nonmembers}" for lst in attacks.values() for _, _, c in lst}
        blocks.append(
            Figure(
                "mia_roc",
                plots.roc_curves(attacks, colours),
                f"Forget rows are members, holdout rows non-members (members/non-members: {', '.join(sorted(n))}). "
                "The AUC in each legend is recomputed from the per-sample scores.",
            )
        )
    else:
        blocks.append(
            Note(
                "no membership-inference metric with per-sample forget and holdout scores in any "
                "eval.json; run `obliviate eval` with a holdout set"
            )
        )
    blocks += [Note(f"`{m}` has no per-sample forget/holdout scores for: {', '.join(w)}") for m, w in lacking.items()]
    return blocks


def _tracked(run: Run) -> list[dict]:
    reqs = run.summary.get("requests")
    if not isinstance(reqs, list) or len(reqs) < 2:
        return []
    return [r for r in reqs if isinstance(r, dict) and isinstance(r.get("forget_acc"), list)]


def _check_mi(check: object) -> float | None:
    mari = check.get("mari") if isinstance(check, dict) else None
    return as_float(((mari or {}).get("unlearn_vs_retain") or {}).get("value"))


def continual_section(runs: list[Run], colours: dict[str, str]) -> list[Block]:
    """A "Continual unlearning" section when some run has several forget requests (else nothing): retain drift from
    the original, forget accuracy, the per-request check."""
    tracked = {r.label: reqs for r in runs if (reqs := _tracked(r))}
    if not tracked:
        return []
    series: dict[str, dict[str, list[float | None]]] = {}
    rows = []
    for label, reqs in tracked.items():
        first = reqs[0]
        retain = series.setdefault("retain next-token accuracy", {})
        ends = [as_float(q.get("retain_acc_end")) for q in reqs]
        retain[label] = [as_float(first.get("retain_acc_original")), *ends]
        thr, orig_r = as_float(first.get("stop_threshold")), as_float(first.get("retain_acc_original"))
        if thr is not None and orig_r is not None:  # where the stop rule fires: a drop from the ORIGINAL
            retain[f"{label} · stop rule"] = [(1 - thr) * orig_r] * (len(reqs) + 1)
        # forget accuracy averaged over the requests forgotten so far (x = r: requests 1..r), against the original's
        orig_f = [as_float(v) for v in first.get("forget_acc_original") or []]
        mean = series.setdefault("forget accuracy, requests so far", {})
        mean[label] = [None] + [
            float(np.mean(q["forget_acc"][: i + 1])) if len(q["forget_acc"]) > i else None for i, q in enumerate(reqs)
        ]
        mean[f"{label} · original"] = [None] + [
            float(np.mean(orig_f[: i + 1])) if len(orig_f) > i and None not in orig_f[: i + 1] else None
            for i in range(len(reqs))
        ]
        mi = series.setdefault("pooled MI of the request's forget set", {})
        mi[label] = [None] + [_check_mi(q.get("check")) for q in reqs]
        mi[f"{label} · original"] = [None] + [_check_mi(q.get("check_original")) for q in reqs]
        for i, q in enumerate(reqs):
            verdict = ((q.get("check") or {}).get("verdict") or {}).get("status", "–")
            own = q["forget_acc"][i] if len(q["forget_acc"]) > i else None
            rows.append(
                [Cell(label), Cell(str(q.get("request", i))), Cell(str(q.get("steps", "–"))),
                 Cell("yes" if q.get("stopped_early") else "no"), Cell(fmt_number(as_float(q.get("retain_acc_end")))),
                 Cell(fmt_number(as_float(q.get("retain_drift_total")), "percent")),
                 Cell(fmt_number(as_float(own))), Cell(fmt_number(orig_f[i] if len(orig_f) > i else None)),
                 Cell(fmt_number(_check_mi(q.get("check")))), Cell(verdict)]
            )  # fmt: skip
    header = ["Run", "request", "steps", "stopped early", "retain acc", "total drift", "forget acc (own set)",
              "original's", "pooled MI", "check verdict"]  # fmt: skip
    return [
        Heading(2, "Continual unlearning"),
        Figure(
            "continual",
            plots.continual(series, colours),
            "After each request (x = 0: the original). Retain accuracy: teacher-forced next-token accuracy on the "
            "retain validation subset, the stop rule's measure (drift counted from the original). Forget accuracy: "
            "mean over the requests forgotten so far (a rise = relearning). Dotted grey: the original's values and "
            "the stop rule's threshold.",
        ),
        Table(header, rows, numeric_from=2),
    ]
