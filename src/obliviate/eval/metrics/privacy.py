"""Membership inference on the forget set (members) against the holdout set (non-members), and MUSE's PrivLeak.

Each attack gives every example a loss-like score (higher = looks unseen) exactly as OpenUnlearning's
``src/evals/metrics/mia/`` attacks do; the metric is the ROC-AUC of separating the two sets,
``P(score(holdout) > score(forget))`` with ties counted one half (OpenUnlearning's ``mia_auc``, which calls
``roc_auc_score`` with forget labelled 0 and holdout 1). AUC 1 = every forget row is recognised as a training member,
0.5 = indistinguishable from unseen data (what the gold model shows), below 0.5 = the forget rows look *less*
familiar than unseen ones (over-unlearning, itself a membership signal).

Per sample: ``"forget/<i>"`` and ``"holdout/<i>"`` scores; ``extra.roc`` has ROC points (members = positives).
"""

from __future__ import annotations

from collections.abc import Callable

from obliviate.eval import stats
from obliviate.eval.context import EvalContext, TokenStats
from obliviate.eval.metrics.base import register_metric, skipped
from obliviate.types import MetricResult

Scorer = Callable[[EvalContext, TokenStats], float]


def _auc_result(ctx: EvalContext, scorer: Scorer, name: str) -> MetricResult:
    scores = {split: [scorer(ctx, s) for s in ctx.token_stats(split)] for split in ("forget", "holdout")}
    forget, holdout = scores["forget"], scores["holdout"]
    if not forget or not holdout:
        return skipped(f"{name} needs at least one forget and one holdout example")
    auc = stats.roc_auc(neg=forget, pos=holdout)
    fpr, tpr = stats.roc_curve(neg=[-h for h in holdout], pos=[-f for f in forget])  # members = positives
    per_sample = {f"{split}/{i}": float(v) for split, vals in scores.items() for i, v in enumerate(vals)}
    extra = {
        "auc": auc,
        "roc": {"fpr": fpr, "tpr": tpr},
        "n_forget": len(forget),
        "n_holdout": len(holdout),
        "score": "loss-like (higher = looks unseen)",
    }
    return MetricResult(value=auc, per_sample=per_sample, extra=extra)


def _loss(ctx: EvalContext, s: TokenStats) -> float:
    return s.avg_nll


def _zlib(ctx: EvalContext, s: TokenStats) -> float:
    text = ctx.tokenizer.decode(s.target.tolist(), skip_special_tokens=True)
    return stats.zlib_score(s.avg_nll, text)


def _min_k(ctx: EvalContext, s: TokenStats) -> float:
    return stats.min_k(s.content("logp"), ctx.options.mink_k)


def _min_k_pp(ctx: EvalContext, s: TokenStats) -> float:
    return stats.min_k_plus_plus(s.content("logp"), s.content("mu"), s.content("var"), ctx.options.mink_k)


def _define(name: str, scorer: Scorer, doc: str, options: tuple[str, ...] = ()) -> None:
    def fn(ctx: EvalContext) -> MetricResult:
        return _auc_result(ctx, scorer, name)

    fn.__doc__, fn.__name__ = doc, name
    meta = dict(split="forget+holdout", data=("forget", "holdout"), higher_is_better=None, target=0.5, fmt="auc")
    register_metric(name, options=options, **meta)(fn)


_define(
    "mia_loss",
    _loss,
    "MIA ROC-AUC of the LOSS attack (Yeom et al. 2018): score = mean answer-token NLL, EOS included "
    "(OpenUnlearning's ``LOSSAttack``).",
)
_define(
    "mia_zlib",
    _zlib,
    "MIA ROC-AUC of the zlib attack (Carlini et al. 2021): mean token NLL / zlib-compressed byte length of the "
    "decoded answer (OpenUnlearning's ``ZLIBAttack``).",
)
_define(
    "mia_min_k",
    _min_k,
    "MIA ROC-AUC of Min-k % Prob (Shi et al. 2023): -mean of the k % lowest token log-probs, end marker excluded, "
    "k = options.mink_k (OpenUnlearning's ``MinKProbAttack``).",
    options=("mink_k",),
)
_define(
    "mia_min_k_plus_plus",
    _min_k_pp,
    "MIA ROC-AUC of Min-k %++ (Zhang et al. 2024): Min-k % over token log-probs standardised by the mean and "
    "variance of the next-token distribution (OpenUnlearning's ``MinKPlusPlusAttack``).",
    options=("mink_k",),
)


@register_metric(
    "privleak", split="forget+holdout", data=(), higher_is_better=None, target=0.0,
    requires=("mia_min_k",), gold=("mia_min_k",),
)  # fmt: skip
def privleak(ctx: EvalContext, *, mia_min_k: MetricResult, gold_mia_min_k: MetricResult) -> MetricResult:
    """MUSE PrivLeak (%) of the Min-k % attack against the gold model, as OpenUnlearning's ``privleak``:
    (a_model - a_gold) / a_gold * 100 with MUSE's AUC orientation a = 1 - AUC. 0 is ideal; strongly negative =
    the forget set still leaks; positive = over-unlearned."""
    auc, gold_auc = float(mia_min_k.value), float(gold_mia_min_k.value)
    value = stats.privleak(auc, gold_auc)
    return MetricResult(value=value, extra={"auc": auc, "auc_gold": gold_auc, "attack": "mia_min_k"})
