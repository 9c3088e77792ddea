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


LMEVAL = "lm-eval is not installed; install the optional extra: pip install 'obliviate[lmeval]'"


def _entry(value: float | None, split: str, higher: bool | None, fmt: str = "float", **kw) -> dict:
    """One eval.json metric entry, with the keys obliviate.eval.runner writes."""
    base = {"value": value, "per_sample": {}, "status": "ok", "note": "", "extra": {}, "higher_is_better": higher,
            "split": split, "format": fmt, "target": None, "description": "", "cached": False}  # fmt: skip
    return {**base, **kw}


def _mia(rng: np.random.Generator, gap: float, n: int = 30) -> tuple[dict, float]:
    """Loss-like per-sample scores keyed "forget/i" / "holdout/i" (members lower by ``gap``) and their AUC."""
    forget = rng.normal(2.0 - gap, 0.5, n)
    holdout = rng.normal(2.0, 0.5, n)
    auc = float((holdout[None, :] > forget[:, None]).mean())  # P(score(holdout) > score(forget))
    per = {f"forget/{i}": float(v) for i, v in enumerate(forget)}
    per.update({f"holdout/{i}": float(v) for i, v in enumerate(holdout)})
    return per, auc


def eval_metrics(seed: int, *, fq: float, utility: float, forget_acc: float, gap: float, gold: bool = True) -> dict:
    """A world-suite-like metrics mapping (a subset of its metrics, names as obliviate.eval registers them)."""
    rng = np.random.default_rng(seed)
    per, auc = _mia(rng, gap)
    ks = {"pvalue": fq, "ks_statistic": 0.9 - 0.05 * np.log10(1 / fq), "log10_pvalue": np.log10(fq), "n": 40}
    m = {
        "forget_quality": _entry(fq, "forget", True, "pvalue", extra=ks),
        "model_utility": _entry(utility, "retain+general", True),
        "forget_acc": _entry(forget_acc, "forget", False, "percent"),
        "retain_acc": _entry(min(1.0, utility + 0.35), "retain", True, "percent"),
        "forget_truth_ratio": _entry(0.6 + 0.01 * seed, "forget", True, per_sample={str(i): 0.5 for i in range(5)}),
        "forget_nll": _entry(2.0 + seed / 10, "forget", True, extra={"perplexity": np.exp(2.0 + seed / 10)}),
        "mia_loss": _entry(auc, "forget+holdout", None, "auc", target=0.5, per_sample=per, extra={"auc": auc}),
        "privleak": _entry(100 * (auc - 0.52) / 0.52, "forget+holdout", None, target=0.0, extra={"auc_gold": 0.52}),
        "lmeval_arc_easy": _entry(None, "general", True, "percent", status="skipped", note=LMEVAL),
    }  # fmt: skip
    if not gold:
        m["forget_quality"] = _entry(None, "forget", True, "pvalue", status="skipped",
                                     note="no gold model (retrained without the forget set): pass --gold")  # fmt: skip
    return m


def certificate(mi: float) -> dict:
    """A certificate in the layout of obliviate.eval.certificate.certify (numbers made up, bounds consistent)."""

    def construction(v: float, pi0: float) -> dict:
        tv = min(1.0, (v / (2 * pi0 * (1 - pi0))) ** 0.5)
        b = {"tv": tv, "auc_max": min(1.0, 0.5 + tv), "accuracy_max": min(1.0, max(pi0, 1 - pi0) + (v / 2) ** 0.5)}
        return {"value": v, "pi": [pi0, 1 - pi0], "bounds": b, "ci": [v * 0.8, v * 1.25], "null_p95": 0.004,
                "p_value": 0.002 if v > 0.004 else 0.4}  # fmt: skip

    def block(v: float, auc: float) -> dict:
        mari = {"n_retain_positions": 1200.0, "n_forget_positions": 400.0, "sequences": [120, 40],
                "full_vs_retain": construction(v, 0.571), "unlearn_vs_retain": construction(v * 1.7, 0.5)}  # fmt: skip
        seq = {"nll_forget": 2.1, "nll_retain": 1.9, "auc_forget_vs_retain": auc, "binned_mi": 0.02, "score_gap": 0.2,
               "score_gap_bound_estimate": 0.9, "nll_holdout": 2.3, "auc_forget_vs_holdout": auc - 0.03}  # fmt: skip
        return {"mari": mari, "sequence": seq}

    return {"kind": "mari_certificate", "names": {"model": "runs/mari", "gold": "world:tiny/gold"},
            "models": {"model": block(mi, 0.58), "original": block(0.09, 0.93), "gold": block(0.005, 0.55)},
            "caveat": "The pooled-MarI bounds hold for token-level (word-level) detectors only."}  # fmt: skip


def make_run(
    root: Path,
    name: str,
    method: str = "graddiff",
    *,
    seed: int = 0,
    metrics: dict | None = None,
    with_eval: bool = True,
    cert: dict | None = None,
    steps: int = 30,
    role: str | None = None,
) -> Path:
    """A run folder ``root/name``: config.yaml, summary.json, train_log.jsonl, and optionally eval / certificate."""
    d = root / name
    d.mkdir(parents=True)
    cfg = {
        "model": {"path": "world:tiny"},
        "data": {"forget": ["world:forget10"], "retain": "world:retain90"},
        "method": {"name": method, "args": {"gamma": 20.0} if method == "mari" else {}},
        "train": {"lr": 1e-4, "max_steps": steps},
        "obliviate_version": "0.1.0",
        "git_sha": "0123456789ab",
    }
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
        ev = {
            "model": str(d / "model"),
            "suite": "world",
            "metrics": metrics or eval_metrics(seed, fq=1e-3, utility=0.5, forget_acc=0.2, gap=0.3),
            "references": {"gold": None, "original": None},
        }
        if role:
            ev["role"] = role
        (d / "eval.json").write_text(json.dumps(ev))
    if cert is not None:
        (d / "certificate.json").write_text(json.dumps(cert))
    return d


def bench(root: Path) -> dict[str, Path]:
    """Three unlearning runs (one without eval.json) plus evaluated gold and original reference folders."""
    return {
        "ga": make_run(
            root, "ga", "ga", seed=1, metrics=eval_metrics(1, fq=2.3e-7, utility=0.21, forget_acc=0.02, gap=-0.1)
        ),
        "mari": make_run(
            root,
            "mari",
            "mari",
            seed=2,
            metrics=eval_metrics(2, fq=0.41, utility=0.55, forget_acc=0.08, gap=0.05),
            cert=certificate(0.011),
        ),
        "npo": make_run(root, "npo", "npo", seed=3, with_eval=False),
        "gold": make_run(
            root,
            "gold_eval",
            "retrain",
            seed=4,
            role="gold",
            metrics=eval_metrics(4, fq=1.0, utility=0.57, forget_acc=0.05, gap=0.02),
        ),
        "original": make_run(
            root,
            "original_eval",
            "original",
            seed=5,
            role="original",
            metrics=eval_metrics(5, fq=1e-12, utility=0.58, forget_acc=0.97, gap=1.2),
        ),
    }
