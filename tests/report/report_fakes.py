"""Fake-but-realistic run folders (the brief's run-directory layout) for the report tests: no model is trained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

TERMS = {
    "ga": ["forget_nll"],
    "graddiff": ["forget_nll", "retain_nll"],
    "mari": ["retain_kl", "mari_full_vs_retain", "mari_unlearn_vs_retain"],
    "npo": ["npo_forget", "retain_nll"],
}


def _term(term: str, step: int, seed: int, noise: float) -> float:
    """Forget terms rise as the model unlearns; retain and MI terms fall."""
    if "forget" in term:
        return float(2.5 + np.log1p(step) * (0.5 + 0.1 * seed) + noise)
    return float(0.4 + 2.0 * np.exp(-step / (8 + seed)) + noise)


def _mia(rng: np.random.Generator, gap: float, n: int = 30) -> tuple[dict, float]:
    """Per-sample loss scores (members lower by ``gap``) keyed "forget:i" / "holdout:i", and their AUC."""
    forget = rng.normal(2.0 - gap, 0.5, n)
    holdout = rng.normal(2.0, 0.5, n)
    auc = float((forget[:, None] < holdout[None, :]).mean())
    per = {f"forget:{i}": float(v) for i, v in enumerate(forget)}
    per.update({f"holdout:{i}": float(v) for i, v in enumerate(holdout)})
    return per, auc


def eval_metrics(seed: int, *, fq: float, utility: float, forget_acc: float, gap: float, gold: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    per, auc = _mia(rng, gap)
    m = {
        "forget_quality": {"value": fq, "status": "ok", "note": "", "per_sample": {}, "higher_is_better": True,
                           "split": "forget", "extra": {"ks_statistic": 0.9 - 0.1 * np.log10(1 / fq) / 2}},
        "model_utility": {"value": utility, "status": "ok", "higher_is_better": True, "split": "retain+general"},
        "forget_qa_acc": {"value": forget_acc, "status": "ok", "higher_is_better": False, "split": "forget"},
        "retain_qa_acc": {"value": min(1.0, utility + 0.35), "status": "ok", "higher_is_better": True, "split": "retain"},
        "forget_truth_ratio": {"value": 0.6 + 0.01 * seed, "status": "ok", "higher_is_better": None, "split": "forget",
                               "per_sample": {str(i): 0.5 for i in range(5)}},
        "mia_loss": {"value": auc, "status": "ok", "higher_is_better": False, "split": "forget+holdout",
                     "per_sample": per},
        "privleak": {"value": 100 * (auc - 0.52) / 0.52, "status": "ok", "higher_is_better": None,
                     "split": "forget+holdout"},
        "lmeval_arc_easy": {"value": None, "status": "skipped", "split": "general", "higher_is_better": True,
                            "note": "lm-eval is not installed (pip install obliviate[lmeval])"},
    }  # fmt: skip
    if not gold:
        m["forget_quality"] = {"value": None, "status": "skipped", "higher_is_better": True, "split": "forget",
                               "note": "no gold model given (pass --gold)"}  # fmt: skip
    return m


def certificate(mi: float) -> dict:
    def block(v: float, auc: float) -> dict:
        c = {"mi": v, "ci": [v * 0.8, v * 1.25], "null_p95": 0.004, "pi": [0.6, 0.4], "n_r": 120, "n_u": 40,
             "bounds": {"tv": (v / 0.48) ** 0.5, "accuracy": 0.6 + (v / 2) ** 0.5, "auc": 0.5 + (v / 0.48) ** 0.5}}  # fmt: skip
        return {"full_vs_retain": c, "unlearn_vs_retain": {**c, "mi": v * 1.7, "pi": [0.5, 0.5]},
                "sequence": {"auc_forget_vs_retain": auc, "auc_forget_vs_holdout": auc - 0.03}}  # fmt: skip

    return {"models": {"unlearned": block(mi, 0.58), "original": block(0.09, 0.93), "gold": block(0.005, 0.55)}}


def make_run(root: Path, name: str, method: str = "graddiff", *, seed: int = 0, metrics: dict | None = None,
             with_eval: bool = True, cert: dict | None = None, steps: int = 30, role: str | None = None) -> Path:  # fmt: skip
    """A run folder ``root/name``: config.yaml, summary.json, train_log.jsonl, and optionally eval / certificate."""
    d = root / name
    d.mkdir(parents=True)
    cfg = {"model": {"path": "world:tiny"}, "data": {"forget": ["world:forget10"], "retain": "world:retain90"},
           "method": {"name": method, "args": {"gamma": 20.0} if method == "mari" else {}},
           "train": {"lr": 1e-4, "max_steps": steps}, "obliviate_version": "0.1.0", "git_sha": "0123456789ab"}  # fmt: skip
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    summary = {"method": method, "steps": steps, "time_s": 12.5 + seed, "requests": [0], "status": "ok"}
    if role:
        summary["role"] = role
    (d / "summary.json").write_text(json.dumps(summary))
    rng = np.random.default_rng(seed)
    with open(d / "train_log.jsonl", "w") as f:
        for s in range(1, steps + 1):
            row = {"request": 0, "step": s, "lr": 1e-4}
            terms = {t: _term(t, s, seed, rng.normal(0, 0.05)) for t in TERMS.get(method, [])}
            row["loss"] = float(sum(terms.values()) / max(1, len(terms)))
            row.update(terms)
            row["time_s"] = 0.1 * s
            f.write(json.dumps(row) + "\n")
    if with_eval:
        ev = {"model": str(d / "model"), "suite": "world", "metrics": metrics or eval_metrics(seed, fq=1e-3,
              utility=0.5, forget_acc=0.2, gap=0.3), "references": {"gold": None, "original": None}}  # fmt: skip
        if role:
            ev["role"] = role
        (d / "eval.json").write_text(json.dumps(ev))
    if cert is not None:
        (d / "certificate.json").write_text(json.dumps(cert))
    return d



def bench(root: Path) -> dict[str, Path]:
    """Three unlearning runs (one without eval.json) plus evaluated gold and original reference folders."""
    return {
        "ga": make_run(root, "ga", "ga", seed=1, metrics=eval_metrics(1, fq=2.3e-7, utility=0.21, forget_acc=0.02,
                       gap=-0.1)),  # fmt: skip
        "mari": make_run(root, "mari", "mari", seed=2, metrics=eval_metrics(2, fq=0.41, utility=0.55, forget_acc=0.08,
                         gap=0.05), cert=certificate(0.011)),  # fmt: skip
        "npo": make_run(root, "npo", "npo", seed=3, with_eval=False),
        "gold": make_run(root, "gold_eval", "retrain", seed=4, role="gold",
                         metrics=eval_metrics(4, fq=1.0, utility=0.57, forget_acc=0.05, gap=0.02)),  # fmt: skip
        "original": make_run(root, "original_eval", "original", seed=5, role="original",
                             metrics=eval_metrics(5, fq=1e-12, utility=0.58, forget_acc=0.97, gap=1.2)),  # fmt: skip
    }
