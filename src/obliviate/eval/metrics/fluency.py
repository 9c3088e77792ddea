"""Fluency of what remains: does the unlearned model give a fluent wrong answer, as a model that never saw the
forget set does, or garbage ("Cisa M M M M M1")? Forget accuracy cannot tell the two apart; these metrics can.

- ``forget_answer_gold_nll``: the gold model's mean token NLL of this model's greedy forget answers. A fluent wrong
  answer (another plausible value) is likely text to the gold model; garbage is not. Needs ``--gold``.
- ``forget_well_formed``: the fraction of greedy forget answers that are a value of the asked attribute, by the
  toolkit's one exact-match rule, against every value of that attribute the evaluation rows know (answers and
  perturbed answers of all splits; for whole-number attributes such as years, any number in their range). Needs
  rows with an ``attribute`` field (the built-in world's).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict

import numpy as np

from obliviate.eval.context import EvalContext
from obliviate.eval.match import exact_match, normalise_answer
from obliviate.eval.metrics.base import SPLITS, register_metric, skipped
from obliviate.eval.metrics.forget import qa_problem
from obliviate.types import MetricResult


def first_line(generation: str) -> str:
    """The answer part of a greedy continuation: up to its first newline (a model may go on with a new question)."""
    return generation.split("\n", 1)[0].rstrip()


def gold_nll_of_answers(gold: EvalContext, split: str, answers: list[str]) -> list[float]:
    """Mean token NLL (EOS included) under ``gold`` of ``answers`` to the prompts of ``split``, one per row."""
    rows = [{"prompt": r["prompt"], "answer": a} for r, a in zip(gold.rows(split), answers)]
    tag = "answers-" + hashlib.sha1("\x00".join(answers).encode()).hexdigest()[:16]  # memo key per answer set
    return [s.avg_nll for s in gold.token_stats(split, rows, tag=tag)]


@register_metric("forget_answer_gold_nll", split="forget", higher_is_better=False, needs=("gold",),
                 options=("max_new_tokens",))  # fmt: skip
def forget_answer_gold_nll(ctx: EvalContext) -> MetricResult:
    """Fluency of the forget answers: the gold model's mean token NLL of this model's greedy forget answers (first
    line). Near the gold model's own value: fluent; far above it: garbage. Per sample: each answer's NLL."""
    if problem := qa_problem(ctx, "forget"):
        return skipped(problem)
    answers = [first_line(g) for g in ctx.generations("forget")]
    nll = gold_nll_of_answers(ctx.reference("gold"), "forget", answers)
    per = {str(i): float(v) for i, v in enumerate(nll) if math.isfinite(v)}
    examples = [{"answer": a, "gold_nll": round(v, 3)} for a, v in zip(answers[:5], nll[:5])]
    return MetricResult(value=float(np.mean(list(per.values()))) if per else None, per_sample=per,
                        extra={"examples": examples})  # fmt: skip


def value_pools(splits: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Every value of each attribute that the rows know: answers and perturbed answers, the latter with the
    paraphrase's lead-in removed (world rows phrase them like the paraphrased answer: " the company X")."""
    pools: dict[str, set[str]] = defaultdict(set)
    for rows in splits.values():
        for r in rows:
            if "attribute" not in r or "answer" not in r:
                continue
            pools[r["attribute"]].add(r["answer"].strip())
            para = str(r.get("paraphrased_answer") or "")
            lead = para[: len(para) - len(r["answer"])] if para.endswith(r["answer"]) else ""
            alts = r.get("perturbed_answers") or []
            for alt in [alts] if isinstance(alts, str) else alts:
                pools[r["attribute"]].add((alt[len(lead) :] if lead and alt.startswith(lead) else alt).strip())
    return {k: sorted(v) for k, v in pools.items()}


def well_formed(generation: str, pool: list[str]) -> bool:
    """True when the greedy continuation's answer is one of the attribute's values (the one exact-match rule); for
    an attribute whose values are all whole numbers (years), any whole number within their range."""
    answer = first_line(generation)
    if pool and all(v.isdigit() for v in pool):
        head = normalise_answer(answer).split(" ", 1)[0]
        return head.isdigit() and min(map(int, pool)) <= int(head) <= max(map(int, pool))
    return any(exact_match(answer, v) for v in pool)


@register_metric("forget_well_formed", split="forget", higher_is_better=True, options=("max_new_tokens",),
                 fmt="percent")  # fmt: skip
def forget_well_formed(ctx: EvalContext) -> MetricResult:
    """Fluency of the forget answers: fraction of greedy forget answers that are a value of the asked attribute
    (any value the evaluation rows know for it, right or wrong). A fluent wrong answer counts; garbage does not."""
    if problem := qa_problem(ctx, "forget"):
        return skipped(problem)
    rows = ctx.rows("forget")
    if not all("attribute" in r for r in rows):
        return skipped("forget rows have no 'attribute' field (the built-in world's rows do)")
    pools = value_pools({s: ctx.rows(s) for s in SPLITS if ctx.has(s)})
    gens = ctx.generations("forget")
    per = {str(i): float(well_formed(g, pools[r["attribute"]])) for i, (r, g) in enumerate(zip(rows, gens))}
    extra = {"pool_sizes": {k: len(v) for k, v in pools.items()}}
    return MetricResult(value=float(np.mean(list(per.values()))), per_sample=per, extra=extra)
