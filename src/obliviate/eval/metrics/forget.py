"""Knowledge and memorisation metrics, one per split: token NLL, answer probability, greedy QA accuracy, ROUGE,
truth ratio, extraction strength, exact memorisation; and TOFU's forget quality against the gold model.

Definitions follow OpenUnlearning (``src/evals/metrics/memorization.py`` and ``utils.py``) where it has one; each
docstring says so. Per-sample values are keyed by example index (``"0"``, ``"1"``, ...).
"""

from __future__ import annotations

import math

import numpy as np

from obliviate.eval import stats
from obliviate.eval.context import EvalContext
from obliviate.eval.match import exact_match
from obliviate.eval.metrics.base import register_metric, skipped
from obliviate.types import MetricResult

QA_HINT = "needs prompt/answer rows (it holds raw text)"


def _per_sample(values: list[float | None]) -> dict[str, float]:
    return {str(i): float(v) for i, v in enumerate(values) if v is not None and math.isfinite(v)}


def _mean(per_sample: dict[str, float]) -> float | None:
    return float(np.mean(list(per_sample.values()))) if per_sample else None


def qa_problem(ctx: EvalContext, split: str) -> str | None:
    """Why ``split`` cannot feed a QA metric (raw-text rows), or None."""
    if any("prompt" not in r or "answer" not in r for r in ctx.rows(split)):
        return f"split {split!r} {QA_HINT}"
    return None


def perturbed_field(ctx: EvalContext, split: str) -> str | None:
    """The row field holding perturbed answers (world: ``perturbed_answers``, TOFU: ``perturbed_answer``)."""
    for name in ("perturbed_answers", "perturbed_answer"):
        if all(r.get(name) for r in ctx.rows(split)):
            return name
    return None


def perturbed_nlls(ctx: EvalContext, split: str, field: str) -> list[list[float]]:
    """Mean token NLL of every perturbed answer of every row (one forward pass over all of them, memoised)."""
    rows = ctx.rows(split)
    flat, owner = [], []
    for i, r in enumerate(rows):
        alts = [r[field]] if isinstance(r[field], str) else r[field]
        flat += [{"prompt": r["prompt"], "answer": a} for a in alts]
        owner += [i] * len(alts)
    ts = ctx.token_stats(split, flat, tag="perturbed")
    out: list[list[float]] = [[] for _ in rows]
    for i, s in zip(owner, ts):
        out[i].append(s.avg_nll)
    return out


def _register(name: str, split: str, **meta):
    """Register ``fn`` with its docstring formatted for ``split``."""

    def deco(fn):
        fn.__doc__ = (fn.__doc__ or "").replace("{split}", split)
        fn.__name__ = name
        return register_metric(name, split=split, **meta)(fn)

    return deco


def _nll(split: str, higher: bool | None) -> None:
    @_register(f"{split}_nll", split, higher_is_better=higher)
    def fn(ctx: EvalContext) -> MetricResult:
        """Mean token NLL on the {split} set (answer tokens of QA rows, every token of text rows; token-weighted).

        Per sample: each example's mean token NLL. ``extra.perplexity`` = exp(value)."""
        ts = ctx.token_stats(split)
        n_tok = sum(s.logp.size for s in ts)
        if n_tok == 0:
            return skipped(f"split {split!r} has no labelled tokens after truncation")
        value = float(-sum(s.logp.sum() for s in ts) / n_tok)
        extra = {"perplexity": math.exp(min(value, 700.0)), "n_tokens": int(n_tok)}
        return MetricResult(value=value, per_sample=_per_sample([s.avg_nll for s in ts]), extra=extra)


def _prob(split: str, higher: bool | None) -> None:
    @_register(f"{split}_prob", split, higher_is_better=higher)
    def fn(ctx: EvalContext) -> MetricResult:
        """Length-normalised answer probability on the {split} set: mean over rows of exp(-mean answer-token NLL),
        EOS included (OpenUnlearning's ``probability`` / TOFU's Q_A_Prob)."""
        if problem := qa_problem(ctx, split):
            return skipped(problem)
        ps = _per_sample([math.exp(-s.avg_nll) for s in ctx.token_stats(split)])
        return MetricResult(value=_mean(ps), per_sample=ps)


def _prob_norm(split: str) -> None:
    @_register(f"{split}_prob_norm", split, higher_is_better=True)
    def fn(ctx: EvalContext) -> MetricResult:
        """Answer probability on the {split} set normalised over the options: p(answer) / (p(answer) + sum of
        p(perturbed answers)), length-normalised (OpenUnlearning's ``probability_w_options``, TOFU's
        real-authors / world-facts Prob)."""
        if problem := qa_problem(ctx, split):
            return skipped(problem)
        if (field := perturbed_field(ctx, split)) is None:
            return skipped(f"rows of split {split!r} have no perturbed answers: run `obliviate prepare`")
        correct = [math.exp(-s.avg_nll) for s in ctx.token_stats(split)]
        wrong = perturbed_nlls(ctx, split, field)
        ps = _per_sample([stats.normalised_prob(c, [math.exp(-w) for w in ws]) for c, ws in zip(correct, wrong)])
        return MetricResult(value=_mean(ps), per_sample=ps)


def _rouge(split: str, higher: bool | None, kind: str = "recall") -> None:
    @_register(f"{split}_rouge", split, higher_is_better=higher, options=("max_new_tokens",), fmt="percent")
    def fn(ctx: EvalContext) -> MetricResult:
        """ROUGE-L {kind} of the greedy answer against the reference answer on the {split} set (rouge-score with
        Porter stemming, as TOFU / OpenUnlearning's ``rouge``; MUSE VerbMem uses F1).

        ``extra`` holds the mean ROUGE-1 recall and ROUGE-L F1, and the first generations."""
        from rouge_score import rouge_scorer

        if problem := qa_problem(ctx, split):
            return skipped(problem)
        scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
        rows, gens = ctx.rows(split), ctx.generations(split)
        scores = [scorer.score(r["answer"].strip(), g) for r, g in zip(rows, gens)]
        pick = (lambda s: s["rougeL"].recall) if kind == "recall" else (lambda s: s["rougeL"].fmeasure)
        ps = _per_sample([pick(s) for s in scores])
        extra = {
            "rouge1_recall": float(np.mean([s["rouge1"].recall for s in scores])),
            "rougeL_f1": float(np.mean([s["rougeL"].fmeasure for s in scores])),
            "rougeL_recall": float(np.mean([s["rougeL"].recall for s in scores])),
            "examples": [
                {"prompt": r["prompt"], "answer": r["answer"], "generation": g} for r, g in zip(rows[:5], gens[:5])
            ],
        }
        return MetricResult(value=_mean(ps), per_sample=ps, extra=extra)

    fn.__doc__ = (fn.__doc__ or "").replace("{kind}", kind)


def _acc(split: str, higher: bool | None) -> None:
    @_register(f"{split}_acc", split, higher_is_better=higher, options=("max_new_tokens",), fmt="percent")
    def fn(ctx: EvalContext) -> MetricResult:
        """QA exact-match accuracy on the {split} set: the greedy answer, normalised (lowercase, no punctuation),
        must begin with the normalised reference answer as whole words (:func:`obliviate.eval.match.exact_match`,
        the rule world records and every table use)."""
        if problem := qa_problem(ctx, split):
            return skipped(problem)
        rows, gens = ctx.rows(split), ctx.generations(split)
        ps = _per_sample([float(exact_match(g, r["answer"])) for r, g in zip(rows, gens)])
        return MetricResult(value=_mean(ps), per_sample=ps)


def _truth_ratio(split: str, closer_to_1: bool, paraphrase: bool) -> None:
    agg = "closer_to_1_better" if closer_to_1 else "true_better"

    @_register(f"{split}_truth_ratio", split, higher_is_better=True)
    def fn(ctx: EvalContext) -> MetricResult:
        """TOFU truth ratio on the {split} set, as OpenUnlearning's ``truth_ratio``: per row
        tr = exp(-mean_i NLL(perturbed_i)) / (exp(-NLL(correct)) + 1e-10) with per-token mean NLLs, where the
        correct answer is {correct} (TOFU: the paraphrase on forget / retain, the answer on general knowledge).

        Value: OpenUnlearning's ``{agg}`` aggregate. Per sample: the raw ratios (forget quality compares them)."""
        if problem := qa_problem(ctx, split):
            return skipped(problem)
        if (field := perturbed_field(ctx, split)) is None:
            return skipped(f"rows of split {split!r} have no perturbed answers: run `obliviate prepare`")
        rows = ctx.rows(split)
        field_used = (
            "paraphrased_answer" if paraphrase and all(r.get("paraphrased_answer") for r in rows) else "answer"
        )
        if field_used == "answer":
            correct = ctx.token_stats(split)
        else:
            correct_rows = [{"prompt": r["prompt"], "answer": r[field_used]} for r in rows]
            correct = ctx.token_stats(split, correct_rows, tag="paraphrased")
        wrong = perturbed_nlls(ctx, split, field)
        ps = _per_sample([stats.truth_ratio(c.avg_nll, w) for c, w in zip(correct, wrong)])
        if not ps:
            return skipped(f"no row of split {split!r} kept an answer token after truncation")
        vals = list(ps.values())
        value = stats.tr_closer_to_1(vals) if closer_to_1 else stats.tr_true_better(vals)
        extra = {"aggregator": agg, "correct": field_used, "mean_ratio": float(np.mean(vals))}
        return MetricResult(value=value, per_sample=ps, extra=extra)

    correct = "the paraphrased answer (the answer when rows have none)" if paraphrase else "the answer"
    fn.__doc__ = (fn.__doc__ or "").replace("{agg}", agg).replace("{correct}", correct)


def _memorisation(split: str, higher: bool | None) -> None:
    @_register(f"{split}_es", split, higher_is_better=higher, fmt="percent")
    def es(ctx: EvalContext) -> MetricResult:
        """Extraction strength on the {split} set, as OpenUnlearning's ``extraction_strength``: 1 - k/n for the
        shortest answer prefix k after which teacher-forced argmax predictions reproduce the rest (end marker
        excluded; see :func:`obliviate.eval.stats.extraction_strength` for the no-match convention)."""
        ts = ctx.token_stats(split)
        ps = _per_sample([stats.extraction_strength(s.content("pred"), s.content("target")) for s in ts])
        return MetricResult(value=_mean(ps), per_sample=ps)

    @_register(f"{split}_em", split, higher_is_better=higher, fmt="percent")
    def em(ctx: EvalContext) -> MetricResult:
        """Exact memorisation on the {split} set, as OpenUnlearning's ``exact_memorization``: fraction of answer
        tokens (end marker excluded) equal to the teacher-forced argmax prediction; rows without tokens dropped."""
        ts = ctx.token_stats(split)
        ps = _per_sample([stats.exact_memorization(s.content("pred"), s.content("target")) for s in ts])
        if not ps:
            return skipped(f"no example of split {split!r} has an answer token before its end marker")
        return MetricResult(value=_mean(ps), per_sample=ps)


@register_metric(
    "forget_quality", split="forget", higher_is_better=True, requires=("forget_truth_ratio",),
    gold=("forget_truth_ratio",), fmt="pvalue",
)  # fmt: skip
def forget_quality(
    ctx: EvalContext, *, forget_truth_ratio: MetricResult, gold_forget_truth_ratio: MetricResult
) -> MetricResult:
    """TOFU forget quality: p-value of the two-sample KS test between this model's and the gold model's
    forget-set truth ratios (OpenUnlearning's ``ks_test``). ``extra.ks_statistic`` (D) still ranks methods when
    p reaches its floor (2 / C(2n, n) for n rows each)."""
    mine, gold = list(forget_truth_ratio.per_sample.values()), list(gold_forget_truth_ratio.per_sample.values())
    p, d = stats.ks_test(mine, gold)
    extra = {"pvalue": p, "ks_statistic": d, "log10_pvalue": math.log10(p) if p > 0 else None}
    return MetricResult(value=p, extra={**extra, "n": len(mine), "n_gold": len(gold)})


for _s, _hi in (("forget", True), ("retain", False), ("holdout", None), ("general", False)):
    _nll(_s, _hi)
for _s in ("real_authors", "world_facts", "verbmem", "knowmem_forget", "knowmem_retain"):
    _nll(_s, None)
for _s, _hi in (("forget", False), ("retain", True), ("holdout", None), ("general", True)):
    _prob(_s, _hi)
    _acc(_s, _hi)
for _s in ("real_authors", "world_facts"):
    _prob(_s, True)
for _s in ("general", "real_authors", "world_facts"):
    _prob_norm(_s)
for _s, _hi in (("forget", False), ("retain", True), ("general", True), ("real_authors", True), ("world_facts", True)):
    _rouge(_s, _hi)
for _s, _hi in (("knowmem_forget", False), ("knowmem_retain", True)):
    _rouge(_s, _hi)
    _acc(_s, _hi)  # exact match, for the world's book guide (short invented answers)
_rouge("verbmem", False, kind="F1")
_truth_ratio("forget", closer_to_1=True, paraphrase=True)
_truth_ratio("retain", closer_to_1=False, paraphrase=True)
for _s in ("general", "real_authors", "world_facts"):
    _truth_ratio(_s, closer_to_1=False, paraphrase=False)
_memorisation("forget", False)
_memorisation("retain", True)
