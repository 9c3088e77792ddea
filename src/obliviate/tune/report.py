"""tune.json, the selected run folders and the tune report (Pareto front, selected point, parameter importance).

tune.json::

    {"settings": {...}, "objective": {...}, "original": {scores of the original model},
     "studies": {method: {"study": name, "storage": url, "selected": trial number | None, "front": [numbers],
                          "importance": {param: share} | None, "best_gold_forget_quality": float | None,
                          "trials": [{"number", "state", "params", "point", "distance", "scores", "check",
                                      "pruned_reason", "gold", "run_dir", "worker", "time_s",
                                      "intermediate"}]}}}
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from obliviate.tune.objective import pareto_front, select
from obliviate.utils.io import atomic_write_json, atomic_write_text, provenance

log = logging.getLogger(__name__)
MIN_IMPORTANCE_TRIALS = 4  # fANOVA on fewer complete trials says nothing


def _record(t: Any) -> dict[str, Any]:
    a = t.user_attrs
    return {
        "number": t.number,
        "state": t.state.name,
        "params": t.params,
        "point": a.get("point"),
        "distance": t.value if t.value is not None and math.isfinite(t.value) else None,
        "scores": a.get("scores"),
        "check": a.get("check"),
        "pruned_reason": a.get("pruned_reason"),
        "gold": a.get("gold"),
        "run_dir": a.get("run_dir"),
        "worker": a.get("worker"),
        "time_s": a.get("time_s"),
        "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
    }


def _importance(study: Any, n_complete: int) -> dict[str, float] | None:
    import optuna

    if n_complete < MIN_IMPORTANCE_TRIALS:
        return None
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study, normalize=True).items()}
    except (RuntimeError, ValueError):  # e.g. every complete trial has the same parameters
        return None


def study_doc(study: Any, storage_url: str) -> dict[str, Any]:
    trials = [_record(t) for t in study.get_trials(deepcopy=False)]
    complete = {t["number"]: t["scores"] for t in trials if t["state"] == "COMPLETE" and t["scores"]}
    fq = [t["gold"]["forget_quality"] for t in trials if (t["gold"] or {}).get("forget_quality") is not None]
    return {
        "study": study.study_name,
        "storage": storage_url,
        "selected": select(complete),
        "front": pareto_front({k: (s["distance"], max(0.0, s["retain_drop"])) for k, s in complete.items()}),
        "importance": _importance(study, len(complete)),
        "best_gold_forget_quality": max(fq) if fq else None,
        "trials": trials,
    }


def write_tune_outputs(ctx: Any, studies: dict[str, Any]) -> Any:
    """Write tune.json, copy each study's selected trial to ``<method>/selected`` and write the report."""
    from obliviate.tune.study import TuneResult, copy_selected

    url = ctx.settings.storage or f"sqlite:///{(ctx.out / 'study.db').resolve()}"
    docs = {m: study_doc(s, url) for m, s in studies.items()}
    selected: dict[str, Path | None] = {}
    for method, d in docs.items():
        selected[method] = None
        t = next((t for t in d["trials"] if t["number"] == d["selected"]), None)
        if t is not None and not Path(t["run_dir"]).is_dir():  # run by another machine sharing the storage
            log.warning("%s: the selected trial's run folder %s is not on this machine", method, t["run_dir"])
        elif t is not None:
            selected[method] = ctx.out / method / "selected"
            record = {"study": d["study"], "trial": t["number"], "point": t["point"], "scores": t["scores"]}
            copy_selected(Path(t["run_dir"]), selected[method], record)
    doc = {
        "settings": json.loads(json.dumps(asdict(ctx.settings))),
        "original": ctx.original,
        "studies": docs,
        **provenance(),
    }
    atomic_write_json(ctx.out / "tune.json", doc)
    write_report(doc, ctx.out / "report")
    return TuneResult(ctx.out, doc, selected)


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def write_report(doc: dict[str, Any], folder: Path) -> Path:
    """``folder/tune.md`` with one section per study: selected trial, front plot, importance plot, trial table."""
    folder.mkdir(parents=True, exist_ok=True)
    obj = doc["settings"]["objective"]
    lines = [
        "# obliviate tune",
        "",
        f"Objective (gold-free): distance of the forget set from the holdout set (|AUC − 0.5| and KS distance of "
        f"their NLLs, dead zone {obj['tolerance']:g} null SD), subject to retain accuracy ≥ "
        f"{100 * (1 - obj['budget']):g} % of the original's ({100 * doc['original']['retain_acc']:.1f} %). "
        f"Original: AUC {doc['original']['auc']:.3f}, distance {doc['original']['distance']:.3f}.",
    ]
    for method, d in doc["studies"].items():
        lines += ["", f"## {method}", ""]
        sel = next((t for t in d["trials"] if t["number"] == d["selected"]), None)
        if sel is None:
            lines.append("No trial kept retain accuracy within the budget: nothing selected.")
        else:
            s, gold = sel["scores"], sel["gold"] or {}
            lines.append(
                f"Selected trial #{sel['number']} ({json.dumps(sel['point'])}): distance {s['distance']:.3f}, AUC "
                f"{s['auc']:.3f}, KS {s['ks']:.3f}, retain accuracy {100 * s['retain_acc']:.1f} % "
                f"(drop {100 * s['retain_drop']:.1f} %)."
            )
            if gold.get("forget_quality") is not None:
                lines.append(
                    f"Against gold (reporting only): forget quality {gold['forget_quality']:.3g}; the best any trial "
                    f"reached: {d['best_gold_forget_quality']:.3g}."
                )
        plot = _front_plot(method, d, folder)
        lines += ["", f"![Pareto front]({plot.name})"] if plot else []
        imp = _importance_plot(method, d, folder)
        lines += ["", f"![parameter importance]({imp.name})"] if imp else []
        lines += ["", "| trial | state | lr | steps | distance | AUC | retain drop % | FQ vs gold | note |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
        for t in d["trials"]:
            s, p = t["scores"] or t["check"] or {}, t["point"] or {}
            drop = s.get("retain_drop")
            mark = " (selected)" if t["number"] == d["selected"] else (" (front)" if t["number"] in d["front"] else "")
            lines.append(
                f"| {t['number']}{mark} | {t['state']} | {_fmt(p.get('lr'), '.2e')} | {p.get('steps', '–')} | "
                f"{_fmt(t['distance'])} | {_fmt(s.get('auc'))} | {_fmt(None if drop is None else 100 * drop, '.1f')}"
                f" | {_fmt((t['gold'] or {}).get('forget_quality'), '.3g')} | {t['pruned_reason'] or ''} |"
            )
    path = folder / "tune.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _front_plot(method: str, d: dict[str, Any], folder: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in d["trials"] if t["scores"]]
    if not done:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    xs = [t["scores"]["distance"] for t in done]
    ys = [100 * t["scores"]["retain_drop"] for t in done]
    fq = [(t["gold"] or {}).get("forget_quality") for t in done]
    if all(v is not None for v in fq):
        sc = ax.scatter(xs, ys, c=[math.log10(max(v, 1e-12)) for v in fq], cmap="viridis")
        fig.colorbar(sc, ax=ax, label="log10 forget quality vs gold (report only)")
    else:
        ax.scatter(xs, ys, color="tab:blue")
    front = sorted((x, y) for t, x, y in zip(done, xs, ys) if t["number"] in d["front"])
    ax.plot(*zip(*front), color="tab:gray", lw=1, label="Pareto front")
    sel = next((t for t in done if t["number"] == d["selected"]), None)
    if sel:
        ax.scatter([sel["scores"]["distance"]], [100 * sel["scores"]["retain_drop"]], s=160, facecolors="none",
                   edgecolors="red", label=f"selected #{sel['number']}")  # fmt: skip
    ax.set_xlabel("forget-vs-holdout distance (lower = looks unseen)")
    ax.set_ylabel("retain accuracy drop %")
    ax.set_title(f"{method}: {len(done)} complete trials")
    ax.legend(fontsize=8)
    path = folder / f"front_{method}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _importance_plot(method: str, d: dict[str, Any], folder: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not d["importance"]:
        return None
    names = list(d["importance"])[::-1]
    fig, ax = plt.subplots(figsize=(5, 0.5 + 0.4 * len(names)))
    ax.barh(names, [d["importance"][n] for n in names], color="tab:orange")
    ax.set_xlabel("importance for the distance (fANOVA, share)")
    ax.set_title(f"{method}: parameter importance")
    path = folder / f"importance_{method}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
