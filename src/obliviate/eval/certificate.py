"""The MarI marginal-information check (``obliviate certify``; spec: docs/mari.md; Xu et al., arXiv:2511.11914).

    cert = certify(model, tokenizer, forget_rows, retain_rows, holdout_rows=..., original=orig, gold=gold)
    write_certificate(cert, "runs/mari")          # certificate.json + certificate.md
    cert["verdict"]["status"]                     # informative | uninformative | unknown

It is not an undetectability certificate: the paper's propositions are not public, and the pooled quantity it can
compute constrains token-level detectors only. For each model (the unlearned one, and the original / gold model
when given) one forward pass per sequence collects the per-sequence sums of next-token probabilities (V-vectors,
fp32, on CPU) and the mean token NLL. Every pooled quantity is then a weighted sum of those vectors, so the
bootstrap (resample sequences within each group) and the permutation null (shuffle sequences between
the groups) are matrix products, with no new forward passes.

Reported: first the verdict, from the ORIGINAL model's position against its own permutation null (inside it, the
pooled check cannot see the forget set on this data and says "uninformative here"); per model the pooled MarI
I(X;Z) under both Z constructions with π, N_r, N_u, the bootstrap bias, a bias-corrected estimate and interval,
the null's 95th percentile and p-value; the bounds it implies for token-level (word-level) detectors; and the
sequence-level membership check (per-sequence mean NLL, forget vs retain and vs holdout, empirical ROC-AUC), whose
reference point is the gold model's AUC. :func:`document` is the one renderer of all of it (certificate.md, report).
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
from obliviate.utils.fmt import fmt_number
from obliviate.utils.io import atomic_write_json, atomic_write_text, provenance
from obliviate.utils.modes import eval_mode

CAVEAT = (
    "The pooled-MarI bounds hold for token-level (word-level) detectors only: detectors that see one token drawn "
    "from the pooled next-token mixture. They are NOT a guarantee against sequence-level membership inference "
    "(perplexity / likelihood attacks) or extraction: a model can match the pooled token marginals and still "
    "assign high likelihood to the exact forget continuations. For that, read the sequence-level check, whose "
    "reference is the gold (retrained) model's AUC, not 0.5."
)
GROUPS = ("retain", "forget", "holdout")
TITLE = "MarI marginal-information check"
BOUND_KEYS = ("tv", "accuracy_max", "auc_max")
VERDICT_CONSTRUCTION = "unlearn_vs_retain"  # equal priors: the interpretable detection game
ALPHA = 0.05  # the original counts as inside its null when its permutation p-value exceeds this


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


def bias_corrected(point: float, boot: np.ndarray, level: float = 0.95) -> dict[str, Any]:
    """The bootstrap bias of a plug-in estimate, the bias-corrected estimate and the interval around it.

    The plug-in MI is biased upward (two finite samples never pool to identical distributions) and its bootstrap
    replicates more so, which put a percentile interval above the point estimate. By the bootstrap principle
    θ* − θ̂ mimics θ̂ − θ, so the bias is b = mean(θ*) − θ̂, the corrected estimate θ̂ − b, and the interval the
    basic (reverse-percentile) one, [2θ̂ − q_hi, 2θ̂ − q_lo], clipped at 0 (an MI is ≥ 0). It always holds the
    corrected estimate; it may lie wholly below the plug-in θ̂, which then is mostly bias.
    """
    q_lo, q_hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    bias = float(boot.mean() - point)
    return {
        "bootstrap_bias": bias,
        "value_bias_corrected": max(0.0, point - bias),
        "ci": [max(0.0, float(2 * point - q_hi)), max(0.0, float(2 * point - q_lo))],
        "ci_method": "basic bootstrap (bias-corrected)",
        "percentile_ci": [float(q_lo), float(q_hi)],
    }


def pooled_mari(
    retain: SequenceStats,
    forget: SequenceStats,
    *,
    n_boot: int = 500,
    n_perm: int = 500,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Pooled MarI of both constructions with π, N_r, N_u, the bootstrap bias with a bias-corrected estimate and
    interval, the permutation null (95th percentile, p-value) and the bounds."""
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
            entry.update(bias_corrected(value, boot[k], level))
            entry["bounds_at_ci_upper"] = bounds(entry["ci"][1], pi0, share)
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
    per_group: dict[str, SequenceStats] = {}
    with eval_mode(model):
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
    mari = pooled_mari(per_group["retain"], per_group["forget"], n_boot=n_boot, n_perm=n_perm, seed=seed)
    return {
        "mari": mari,
        "sequence": sequence_check(per_group["retain"], per_group["forget"], per_group.get("holdout")),
    }


def request_check(
    model: nn.Module,
    forget_examples: list[dict],
    retain_examples: list[dict],
    original: dict[str, Any] | None = None,
    *,
    pad_id: int,
    n_perm: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """A continual run's per-request check (``obliviate.train.continual.Check``): pooled MarI of both constructions
    against a permutation null (no bootstrap, to stay cheap) and the sequence-level check, on tokenised examples;
    given the original model's result on the same examples, the verdict as well. Bind ``pad_id`` (the tokenizer's)
    with functools.partial to get a ``Check``."""
    if len(forget_examples) < 2 or len(retain_examples) < 2:
        return {"skipped": "the check needs at least 2 forget and 2 retain rows"}
    was_training = model.training
    model.eval()
    try:
        f, r = (sequence_stats(model, ex, pad_id, progress=False) for ex in (forget_examples, retain_examples))
    finally:
        model.train(was_training)
    out: dict[str, Any] = {
        "mari": pooled_mari(r, f, n_boot=0, n_perm=n_perm, seed=seed),
        "sequence": sequence_check(r, f, None),
    }
    if original is not None and "mari" in original:
        v = verdict({"model": out, "original": original})
        out["verdict"] = {"status": v["status"], "text": v["text"]}
    return out


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
        if "original" in results and "gold" in results and entry["original"] != entry["gold"]:
            # 0 = still at the original's value, 1 = at the gold model's
            entry["moved_to_gold"] = (entry["original"] - entry["model"]) / (entry["original"] - entry["gold"])
        out[f"mari_{k}"] = entry
    for key in ("auc_forget_vs_retain", "auc_forget_vs_holdout"):
        if key in mine["sequence"]:
            entry = {r: results[r]["sequence"][key] for r in results}
            if "gold" in results:
                entry["gap_to_gold"] = mine["sequence"][key] - results["gold"]["sequence"][key]
            out[key] = entry
    return out


def _position(entry: dict[str, Any]) -> str:
    where = "inside" if entry["value"] <= entry["null_p95"] else "outside"
    null = f"95th percentile {_f(entry['null_p95'])}, p = {_f(entry['p_value'], 'pvalue')}"
    return f"{_f(entry['value'])} nats, {where} its permutation null ({null})"


def verdict(results: dict[str, dict[str, Any]], construction: str = VERDICT_CONSTRUCTION) -> dict[str, Any]:
    """Whether the pooled check can see the forget set on this data at all, judged on the ORIGINAL model.

    ``uninformative``: the original (which knows the forget set) sits inside its own permutation null (p > α), so
    no pooled number of any model says anything about forgetting here. ``informative``: the original is outside it.
    ``unknown``: no original model, or no permutation null.
    """
    mine = results["model"]["mari"][construction]
    orig = results.get("original", {}).get("mari", {}).get(construction)
    gold = results.get("gold", {}).get("mari", {}).get(construction)
    out: dict[str, Any] = {"construction": construction, "alpha": ALPHA}
    if orig is None or "p_value" not in orig or "p_value" not in mine:
        out["status"] = "unknown"
        out["text"] = (
            "Unknown whether this check is informative here: it needs the original model (--original) and a "
            "permutation null (--n-perm > 0). On data whose forget and retain answers share vocabularies the "
            "original itself sits inside the null, and then 'within null' proves nothing."
        )
        return out
    if orig["p_value"] > ALPHA:
        out["status"] = "uninformative"
        out["text"] = (
            f"UNINFORMATIVE HERE: the original model, which was trained on the forget set, has pooled MI "
            f"{_position(orig)}. On this data the pooled next-token marginals do not separate forget from retain "
            "even for a model that knows the forget set, so no pooled number below (a 'within null' included) is "
            "evidence of forgetting. Read the sequence-level check, next to the gold model's."
        )
        return out
    out["status"] = "informative"
    text = f"Informative: the original model's pooled MI is {_position(orig)}. The model's: {_position(mine)}."
    if gold is not None and "p_value" in gold:
        text += (
            f" The gold (retrained) model's: {_position(gold)}; a model that never saw the forget set need not be "
            "inside the null (forget and retain texts differ), so its value, not the null, is the target."
        )
        if orig["value"] != gold["value"]:
            moved = (orig["value"] - mine["value"]) / (orig["value"] - gold["value"])
            text += f" The model has moved {moved:.0%} of the way from the original's value to the gold model's."
    out["text"] = text
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
    """The MarI marginal-information check of ``model`` on forget vs retain rows (and holdout rows when given).

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
        "title": TITLE,
        **provenance(),
        "names": dict(names or {}),
        "data": {k: len(v) for k, v in rows.items() if v},
        "settings": {**opts, "n_boot": n_boot, "n_perm": n_perm, "seed": seed, "ci_level": 0.95},
        "models": results,
        "summary": _summary(results),
        "verdict": verdict(results),
        "scope": "pooled MarI bounds: token-level (word-level) detectors only",
        "caveat": CAVEAT,
    }


def _f(value: float | None, kind: str = "float") -> str:
    """One number as every obliviate table prints it (``count`` is a plain number there)."""
    return fmt_number(value, "float" if kind == "count" else kind)


@dataclass
class Part:
    """One section of the rendered check: a title, a paragraph and an optional table of formatted cells."""

    title: str
    text: str
    header: list[str]
    rows: list[list[str]]


def _order(models: dict[str, Any]) -> list[str]:
    """Original first (its position against the null decides whether the check means anything), then gold."""
    return [k for k in ("original", "gold", "model") if k in models] + [
        k for k in models if k not in ("original", "gold", "model")
    ]


def document(cert: dict[str, Any], label: Callable[[str], str] | None = None) -> list[Part]:
    """The check as titled parts with formatted tables (``obliviate.utils.fmt`` numbers): the single renderer of
    both certificate.md (:func:`render_markdown`) and the report's certificate section.

    Args:
        cert: a :func:`certify` result (or its certificate.json).
        label: display name of a model role (``model``, ``original``, ``gold``); default ``role (name)``.
    """
    names, res = cert.get("names") or {}, cert["models"]
    label = label or (lambda k: f"{k} ({names[k]})" if k in names else k)
    order, fmt = _order(res), _f

    def interval(e: dict[str, Any]) -> str:
        return f"[{fmt(e['ci'][0], 'float')}, {fmt(e['ci'][1], 'float')}]" if "ci" in e else "–"

    v = cert.get("verdict") or verdict(res)  # a certificate.json from before verdicts were recorded
    parts = [Part("Is the pooled check informative here?", v["text"], [], [])]
    mi_rows, bound_rows = [], []
    for name in order:
        m = res[name]["mari"]
        for k in losses.MARI_CONSTRUCTIONS:
            e = m[k]
            inside = "–" if "null_p95" not in e else ("yes" if e["value"] <= e["null_p95"] else "no")
            mi_rows.append(
                [label(name), k, fmt(e["value"], "float"), fmt(e.get("bootstrap_bias"), "float"),
                 fmt(e.get("value_bias_corrected"), "float"), interval(e), fmt(e.get("null_p95"), "float"),
                 fmt(e.get("p_value"), "pvalue"), inside, fmt(e["pi"][0], "float"),
                 fmt(m["n_retain_positions"], "count"), fmt(m["n_forget_positions"], "count")]
            )  # fmt: skip
            b, hi = e["bounds"], e.get("bounds_at_ci_upper")
            bound_rows.append(
                [label(name), k]
                + [fmt(b[x], "float") + (f" ({fmt(hi[x], 'float')})" if hi else "") for x in BOUND_KEYS]
            )
    parts.append(
        Part(
            "Pooled marginal information I(X;Z) in nats",
            "The model's next-token softmax averaged over the labelled positions of each group (forget vs retain). Î "
            "is the plug-in estimate, biased upward; bias = mean(bootstrap replicates) − Î, resampling sequences "
            "within each group; the 95% interval is bias-corrected (basic bootstrap) and holds Î − bias, not "
            "necessarily Î. Null: sequences shuffled between the groups; p is the permutation p-value of Î.",
            [
                "model",
                "construction",
                "Î",
                "bootstrap bias",
                "Î − bias",
                "95% interval",
                "null p95",
                "p",
                "inside null?",
                "π₀",
                "N_r",
                "N_u",
            ],
            mi_rows,
        )  # fmt: skip
    )
    parts.append(
        Part(
            "What Î bounds: token-level (word-level) detectors only [reconstructed]",
            "Standard inequalities (Pinsker, data processing), the type of the paper's Proposition 2.1 / Theorem 3.1, "
            "whose exact statements are not public: TV(P₀,P₁) ≤ sqrt(Î/(2π₀π₁)); any detector's accuracy ≤ max π + "
            "sqrt(Î/2); any token score's |AUC − ½| ≤ TV. From Î and, in brackets, from the interval's upper end.",
            ["model", "construction", "TV(P₀,P₁) ≤", "detector accuracy ≤", "token-level ROC-AUC ≤"],
            bound_rows,
        )
    )
    seq_rows = []
    for name in order:
        q = res[name]["sequence"]
        seq_rows.append(
            [label(name), fmt(q["nll_forget"], "float"), fmt(q["nll_retain"], "float"),
             fmt(q.get("nll_holdout"), "float"), fmt(q["auc_forget_vs_retain"], "auc"),
             fmt(q.get("auc_forget_vs_holdout"), "auc"), fmt(q["binned_mi"], "float"),
             fmt(q.get("score_gap_bound_estimate"), "float")]
        )  # fmt: skip
    parts.append(
        Part(
            "Sequence-level membership check (per-sequence mean token NLL)",
            "AUC forget-vs-retain = P(NLL_forget > NLL_retain); AUC forget-vs-holdout = P(NLL_holdout > NLL_forget) "
            "(the eval suite's mia_loss). The target is the gold model's AUC, not 0.5. The NLL-gap bound (the type "
            "of the paper's Theorem 2.1) uses a binned plug-in Î(S;Z): an estimate, not a guarantee.",
            [
                "model",
                "NLL forget",
                "NLL retain",
                "NLL holdout",
                "AUC forget-retain",
                "AUC forget-holdout",
                "binned Î(S;Z)",
                "NLL gap bound (est.)",
            ],
            seq_rows,
        )  # fmt: skip
    )
    parts.append(Part("Caveat", cert.get("caveat") or CAVEAT, [], []))
    return parts


def render_markdown(cert: dict[str, Any]) -> str:
    """The human-readable check (printed by ``obliviate certify`` and saved as certificate.md)."""
    data, settings = cert.get("data") or {}, cert.get("settings") or {}
    lines = [f"# {cert.get('title', TITLE)}", ""]
    if data:
        lines += [
            "Data: " + ", ".join(f"{k} {v} rows" for k, v in data.items())
            + f"; pooled positions: {settings.get('positions')}; bootstrap {settings.get('n_boot')}, "
            f"permutations {settings.get('n_perm')}.",
            "",
        ]  # fmt: skip
    for part in document(cert):
        lines += [f"## {part.title}", "", part.text, ""]
        if part.header:
            lines += ["| " + " | ".join(part.header) + " |", "|" + "---|" * len(part.header)]
            lines += ["| " + " | ".join(row) + " |" for row in part.rows] + [""]
    return "\n".join(lines)


def write_certificate(cert: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``certificate.json`` and ``certificate.md`` into ``out_dir`` (atomically); returns the JSON path."""
    out = Path(out_dir)
    atomic_write_json(out / "certificate.json", cert)
    atomic_write_text(out / "certificate.md", render_markdown(cert))
    return out / "certificate.json"
