"""The Forgetting-MarI undetectability certificate (spec: docs/mari.md; Xu et al., arXiv:2511.11914, §3).

    cert = certify(model, tokenizer, forget_rows, retain_rows, holdout_rows=..., original=orig, gold=gold)
    write_certificate(cert, "runs/mari")          # certificate.json + certificate.md

For each model (the unlearned one, and the original / gold model when given) one forward pass per sequence
collects the per-sequence sums of next-token probabilities (V-vectors, fp32, on CPU) and the mean token NLL. Every
pooled quantity is then a weighted sum of those vectors, so the bootstrap (resample sequences within each group) and
the permutation null (shuffle sequences between the groups) are matrix products, with no new forward passes.

Reported per model: the pooled MarI I(X;Z) under both Z constructions with π, N_r, N_u, a bootstrap CI, the
permutation null's 95th percentile and p-value; the bounds it implies (total variation, detector accuracy, ROC-AUC),
which hold for token-level (word-level) detectors only; and the sequence-level membership check (per-sequence mean
NLL, forget vs retain and vs holdout, empirical ROC-AUC), whose reference point is the gold model's AUC. The pooled
bound is never a guarantee against sequence-level attacks (spec §3.2): the output says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from obliviate import losses
from obliviate.data.collate import collate, tokenize_rows
from obliviate.errors import ObliviateError
from obliviate.eval import stats
from obliviate.utils.io import atomic_write_json, atomic_write_text, provenance

CAVEAT = (
    "The pooled-MarI bounds hold for token-level (word-level) detectors only: detectors that see one token drawn "
    "from the pooled next-token mixture. They are NOT a guarantee against sequence-level membership inference "
    "(perplexity / likelihood attacks) or extraction: a model can match the pooled token marginals and still "
    "assign high likelihood to the exact forget continuations. For that, read the sequence-level check, whose "
    "reference is the gold (retrained) model's AUC, not 0.5."
)
GROUPS = ("retain", "forget", "holdout")


@dataclass
class SequenceStats:
    """Per-sequence quantities of one model on one group of rows."""

    sums: torch.Tensor  # (n, V) fp32 CPU: sum over the sequence's pooled positions of softmax(logits)
    counts: torch.Tensor  # (n,) fp32: pooled positions per sequence
    nll: np.ndarray  # (n,) mean NLL of the labelled tokens (NaN without any)


@torch.no_grad()
def sequence_stats(
    model: nn.Module,
    examples: list[dict],
    pad_id: int,
    *,
    batch_size: int = 16,
    positions: str = "labels",
    progress: bool = True,
    desc: str = "certify",
) -> SequenceStats:
    """One forward pass per sequence (batched): per-sequence probability sums, position counts and mean NLL."""
    device = next(model.parameters()).device
    sums, counts, nll = [], [], []
    for start in tqdm(range(0, len(examples), batch_size), desc=desc, disable=not progress, leave=False):
        batch = collate(examples[start : start + batch_size], pad_id).to(device)
        logits = model(**batch.model_inputs()).logits  # (B, T, V)
        if positions == "labels":
            mask = losses.next_token_positions(labels=batch.labels)
        else:
            mask = losses.next_token_positions(attention_mask=batch.attention_mask)
        for b in range(batch.size):  # one row at a time: at most one (T, V) fp32 block alive
            row = slice(b, b + 1)
            sums.append(losses.pooled_softmax(logits[row], mask[row]).float().cpu())  # (V,)
            logp, tok = losses.token_logprobs(logits[row], batch.labels[row])  # (1, T-1)
            nll.append(-logp.sum().item() / tok.sum().item() if tok.any() else math.nan)
        counts.append(mask.sum(-1).float().cpu())
    return SequenceStats(torch.stack(sums), torch.cat(counts), np.asarray(nll, dtype=float))


def _mi(s: torch.Tensor, c: torch.Tensor, w_r: torch.Tensor, w_u: torch.Tensor) -> dict[str, torch.Tensor]:
    """MarI under both constructions for R weightings of the n sequences: w_* (R, n) -> {construction: (R,)}."""
    sum_r, sum_u = w_r @ s, w_u @ s  # (R, V)
    n_r, n_u = w_r @ c, w_u @ c  # (R,)
    return {k: losses.marginal_information(sum_r, n_r, sum_u, n_u, k) for k in losses.MARI_CONSTRUCTIONS}


def _replicates(s, c, n_r: int, n_u: int, kind: str, reps: int, gen: torch.Generator) -> dict[str, np.ndarray]:
    """Bootstrap (resample within groups) or permutation (shuffle between groups) replicates of both MIs."""
    n, out = n_r + n_u, {k: [] for k in losses.MARI_CONSTRUCTIONS}
    for start in range(0, reps, 64):  # 64 replicates at a time: two (64, V) pooled blocks
        r = min(64, reps - start)
        w_r, w_u = torch.zeros(r, n), torch.zeros(r, n)
        if kind == "bootstrap":
            w_r.scatter_add_(1, torch.randint(0, n_r, (r, n_r), generator=gen), torch.ones(r, n_r))
            w_u.scatter_add_(1, n_r + torch.randint(0, n_u, (r, n_u), generator=gen), torch.ones(r, n_u))
        else:
            perm = torch.argsort(torch.rand(r, n, generator=gen), dim=1)
            w_r.scatter_(1, perm[:, :n_r], 1.0)
            w_u.scatter_(1, perm[:, n_r:], 1.0)
        for k, v in _mi(s, c, w_r, w_u).items():
            out[k].append(v.double().numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def bounds(value: float, pi0: float, unlearn_share: float | None = None) -> dict[str, float]:
    """Bounds implied by I(X;Z) ≤ ``value`` with priors (π₀, 1−π₀) — token-level (word-level) detectors only.

    TV(P₀,P₁) ≤ sqrt(I / (2π₀π₁)); |AUC − ½| ≤ TV for any score of X; P(detector correct) ≤ max π + sqrt(I/2).
    ``unlearn_share`` (full_vs_retain: w = N_u/(N_r+N_u)) also converts to TV(P_u, P_r) = TV(P₀,P₁)/w.
    """
    pi1 = 1.0 - pi0
    tv = min(1.0, math.sqrt(max(value, 0.0) / (2 * pi0 * pi1)))
    out = {
        "tv": tv,
        "auc_max": min(1.0, 0.5 + tv),
        "accuracy_max": min(1.0, max(pi0, pi1) + math.sqrt(max(value, 0.0) / 2)),
    }
    if unlearn_share:
        out["tv_unlearn_vs_retain"] = min(1.0, tv / unlearn_share)
    return out


def pooled_mari(
    retain: SequenceStats,
    forget: SequenceStats,
    *,
    n_boot: int = 500,
    n_perm: int = 500,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Pooled MarI of both constructions with π, N_r, N_u, bootstrap CI, permutation null and bounds."""
    s, c = torch.cat([retain.sums, forget.sums]), torch.cat([retain.counts, forget.counts])
    n_r, n_u = len(retain.counts), len(forget.counts)
    if n_r < 2 or n_u < 2:
        raise ObliviateError("the certificate needs at least 2 forget and 2 retain rows; pass larger data files")
    ind = torch.zeros(2, n_r + n_u)
    ind[0, :n_r], ind[1, n_r:] = 1.0, 1.0
    point = {k: float(v[0]) for k, v in _mi(s, c, ind[:1], ind[1:]).items()}
    gen = torch.Generator().manual_seed(seed)
    boot = _replicates(s, c, n_r, n_u, "bootstrap", n_boot, gen) if n_boot else None
    null = _replicates(s, c, n_r, n_u, "permutation", n_perm, gen) if n_perm else None
    pos_r, pos_u = float(retain.counts.sum()), float(forget.counts.sum())
    out: dict[str, Any] = {"n_retain_positions": pos_r, "n_forget_positions": pos_u, "sequences": [n_r, n_u]}
    for k, value in point.items():
        full = k == "full_vs_retain"
        pi0 = (pos_r + pos_u) / (2 * pos_r + pos_u) if full else 0.5
        entry: dict[str, Any] = {"value": value, "pi": [pi0, 1 - pi0]}
        share = pos_u / (pos_r + pos_u) if full else None
        entry["bounds"] = bounds(value, pi0, share)
        if boot is not None:
            lo, hi = np.quantile(boot[k], [(1 - level) / 2, (1 + level) / 2])
            entry["ci"] = [float(lo), float(hi)]  # percentile interval; replicates carry extra upward bias
            entry["bootstrap_mean"] = float(boot[k].mean())
            entry["bounds_at_ci_upper"] = bounds(float(hi), pi0, share)
        if null is not None:
            entry["null_p95"] = float(np.quantile(null[k], 0.95))
            entry["p_value"] = float((1 + (null[k] >= value).sum()) / (1 + len(null[k])))
        out[k] = entry
    return out


def binned_mi(a: np.ndarray, b: np.ndarray, bins: int = 20) -> float:
    """Plug-in I(S;Z) in nats of a score S between groups a (Z=0) and b (Z=1) over quantile bins, priors by
    counts. Indicative only: binning lowers it, finite samples raise it (by about (bins−1)/(2n))."""
    both = np.concatenate([a, b])
    k = max(2, min(bins, len(both) // 5))
    edges = np.unique(np.quantile(both, np.linspace(0, 1, k + 1)[1:-1]))
    ha = np.bincount(np.searchsorted(edges, a), minlength=len(edges) + 1) / len(a)
    hb = np.bincount(np.searchsorted(edges, b), minlength=len(edges) + 1) / len(b)
    pi0 = len(a) / len(both)
    return float(losses.weighted_jsd(torch.tensor(ha), torch.tensor(hb), pi0))


def sequence_check(retain: SequenceStats, forget: SequenceStats, holdout: SequenceStats | None) -> dict[str, Any]:
    """Per-sequence mean-NLL membership check with empirical ROC-AUCs (ties count one half)."""
    f, r = forget.nll[~np.isnan(forget.nll)], retain.nll[~np.isnan(retain.nll)]
    mi = binned_mi(f, r)
    pi0 = len(f) / (len(f) + len(r))
    spread = float(np.ptp(np.concatenate([f, r])))
    out: dict[str, Any] = {
        "nll_forget": float(f.mean()),
        "nll_retain": float(r.mean()),
        # P(nll_forget > nll_retain): 1 = every forget row looks less familiar than every retain row
        "auc_forget_vs_retain": stats.roc_auc(neg=r, pos=f),
        "binned_mi": mi,
        "score_gap_bound_estimate": spread * math.sqrt(mi / (2 * pi0 * (1 - pi0))),
        "score_gap": float(f.mean() - r.mean()),
    }
    if holdout is not None:
        h = holdout.nll[~np.isnan(holdout.nll)]
        out["nll_holdout"] = float(h.mean())
        # P(nll_holdout > nll_forget), as the eval suite's mia_loss: 1 = forget rows recognised as members
        out["auc_forget_vs_holdout"] = stats.roc_auc(neg=f, pos=h)
    return out


def certify_model(
    model: nn.Module,
    tokenizer: Any,
    rows: dict[str, list[dict] | None],
    *,
    max_length: int = 256,
    chat_template: bool = False,
    batch_size: int = 16,
    positions: str = "labels",
    n_boot: int = 500,
    n_perm: int = 500,
    seed: int = 0,
    progress: bool = True,
    label: str = "model",
) -> dict[str, Any]:
    """Pooled MarI and the sequence-level check for one model (eval mode; its training mode is restored)."""
    was_training = model.training
    model.eval()
    per_group: dict[str, SequenceStats] = {}
    try:
        for group in GROUPS:
            if rows.get(group):
                examples, _ = tokenize_rows(rows[group], tokenizer, max_length=max_length, chat_template=chat_template)
                per_group[group] = sequence_stats(
                    model,
                    examples,
                    tokenizer.pad_token_id,
                    batch_size=batch_size,
                    positions=positions,
                    progress=progress,
                    desc=f"certify {label}/{group}",
                )
    finally:
        model.train(was_training)
    mari = pooled_mari(per_group["retain"], per_group["forget"], n_boot=n_boot, n_perm=n_perm, seed=seed)
    return {
        "mari": mari,
        "sequence": sequence_check(per_group["retain"], per_group["forget"], per_group.get("holdout")),
    }


def _summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How the model's numbers sit between the original's and the gold model's."""
    out: dict[str, Any] = {}
    mine = results["model"]
    for k in losses.MARI_CONSTRUCTIONS:
        entry = {"model": mine["mari"][k]["value"], "within_null": None}
        if "null_p95" in mine["mari"][k]:
            entry["within_null"] = mine["mari"][k]["value"] <= mine["mari"][k]["null_p95"]
        for ref in ("original", "gold"):
            if ref in results:
                entry[ref] = results[ref]["mari"][k]["value"]
        out[f"mari_{k}"] = entry
    for key in ("auc_forget_vs_retain", "auc_forget_vs_holdout"):
        if key in mine["sequence"]:
            entry = {r: results[r]["sequence"][key] for r in results}
            if "gold" in results:
                entry["gap_to_gold"] = mine["sequence"][key] - results["gold"]["sequence"][key]
            out[key] = entry
    return out


def certify(
    model: nn.Module,
    tokenizer: Any,
    forget_rows: list[dict],
    retain_rows: list[dict],
    *,
    holdout_rows: list[dict] | None = None,
    original: Any = None,
    gold: Any = None,
    max_length: int = 256,
    chat_template: bool = False,
    batch_size: int = 16,
    positions: str = "labels",
    n_boot: int = 500,
    n_perm: int = 500,
    seed: int = 0,
    progress: bool = True,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The MarI certificate of ``model`` on forget vs retain rows (and holdout rows when given).

    Args:
        model, tokenizer: the (unlearned) model to certify, on the device it should run on.
        forget_rows, retain_rows, holdout_rows: ``{"prompt", "answer"}`` or ``{"text"}`` rows (data layer format).
        original, gold: optional reference models, each a model (same tokenizer) or a ``(model, tokenizer)`` pair;
            they get the same analysis so the numbers can be read against them.
        max_length, chat_template: tokenisation, as in training.
        batch_size: sequences per forward pass.
        positions: ``labels`` (positions predicting labelled tokens: QA answers, all of raw text) or ``all``.
        n_boot, n_perm: bootstrap and permutation replicates (0 disables them).
        seed: seed of the resampling.
        progress: show progress bars.
        names: labels to print for the models, e.g. ``{"model": "runs/mari", "gold": "world:tiny/gold"}``.

    Returns:
        The certificate as a JSON-ready dict (see :func:`render_markdown` for the readable form).
    """
    if positions not in ("labels", "all"):
        raise ObliviateError(f"positions must be labels or all (got {positions!r})")
    rows = {"forget": forget_rows, "retain": retain_rows, "holdout": holdout_rows}
    models = {"model": (model, tokenizer)}
    for name, ref in (("original", original), ("gold", gold)):
        if ref is not None:  # a bare model shares the tokenizer
            models[name] = tuple(ref) if isinstance(ref, (tuple, list)) else (ref, tokenizer)
    opts = dict(max_length=max_length, chat_template=chat_template, batch_size=batch_size, positions=positions)
    results = {
        name: certify_model(
            m, tok, rows, n_boot=n_boot, n_perm=n_perm, seed=seed, progress=progress, label=name, **opts
        )
        for name, (m, tok) in models.items()
    }
    return {
        "kind": "mari_certificate",
        **provenance(),
        "names": dict(names or {}),
        "data": {k: len(v) for k, v in rows.items() if v},
        "settings": {**opts, "n_boot": n_boot, "n_perm": n_perm, "seed": seed, "ci_level": 0.95},
        "models": results,
        "summary": _summary(results),
        "scope": "pooled MarI bounds: token-level (word-level) detectors only",
        "caveat": CAVEAT,
    }


def _f(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}" if abs(x) < 1e-2 else f"{x:.{digits}f}"


def render_markdown(cert: dict[str, Any]) -> str:
    """The human-readable certificate (printed by ``obliviate certify`` and saved as certificate.md)."""
    names, data, res = cert["names"], cert["data"], cert["models"]
    label = {k: f"{k} ({names[k]})" if k in names else k for k in res}
    lines = [
        "# Forgetting-MarI certificate",
        "",
        "Data: "
        + ", ".join(f"{k} {v} rows" for k, v in data.items())
        + f"; pooled positions: {cert['settings']['positions']}; bootstrap {cert['settings']['n_boot']}, "
        f"permutations {cert['settings']['n_perm']}.",
        "",
        "## Pooled marginal information I(X;Z) in nats",
        "",
        "| model | construction | Î | 95% bootstrap interval | null p95 | p | π₀ | N_r | N_u |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in res.items():
        m = r["mari"]
        for k in losses.MARI_CONSTRUCTIONS:
            e = m[k]
            ci = f"[{_f(e['ci'][0])}, {_f(e['ci'][1])}]" if "ci" in e else "–"
            lines.append(
                f"| {label[name]} | {k} | {_f(e['value'])} | {ci} | {_f(e.get('null_p95'))} | {_f(e.get('p_value'))} "
                f"| {e['pi'][0]:.3f} | {m['n_retain_positions']:.0f} | {m['n_forget_positions']:.0f} |"
            )
    lines += [
        "",
        "## Bounds for token-level (word-level) detectors only",
        "",
        "From Î (and, in brackets, the bootstrap CI's upper end). Not a bound for sequence-level attacks.",
        "",
        "| model | construction | TV(P₀,P₁) ≤ | detector accuracy ≤ | ROC-AUC of any token score ≤ |",
        "|---|---|---|---|---|",
    ]
    for name, r in res.items():
        for k in losses.MARI_CONSTRUCTIONS:
            b, hi = r["mari"][k]["bounds"], r["mari"][k].get("bounds_at_ci_upper")
            cells = [f"{_f(b[x])}" + (f" ({_f(hi[x])})" if hi else "") for x in ("tv", "accuracy_max", "auc_max")]
            lines.append(f"| {label[name]} | {k} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Sequence-level membership check (per-sequence mean token NLL)",
        "",
        "AUC forget-vs-retain = P(NLL_forget > NLL_retain); AUC forget-vs-holdout = P(NLL_holdout > NLL_forget) "
        "(the eval suite's mia_loss). The target is the gold model's AUC, not 0.5.",
        "",
        "| model | NLL forget | NLL retain | NLL holdout | AUC forget-retain | AUC forget-holdout | binned Î(S;Z) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in res.items():
        s = r["sequence"]
        lines.append(
            f"| {label[name]} | {_f(s['nll_forget'])} | {_f(s['nll_retain'])} | {_f(s.get('nll_holdout'))} "
            f"| {_f(s['auc_forget_vs_retain'])} | {_f(s.get('auc_forget_vs_holdout'))} | {_f(s['binned_mi'])} |"
        )
    lines += ["", "## Caveat", "", cert["caveat"], ""]
    return "\n".join(lines)


def write_certificate(cert: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``certificate.json`` and ``certificate.md`` into ``out_dir`` (atomically); returns the JSON path."""
    out = Path(out_dir)
    atomic_write_json(out / "certificate.json", cert)
    atomic_write_text(out / "certificate.md", render_markdown(cert))
    return out / "certificate.json"
