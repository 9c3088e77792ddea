"""Metric functions on a tiny model: checked against direct computations and against inputs whose value is known."""

from __future__ import annotations

import math

import pytest
import torch

from obliviate.data.collate import collate, tokenize_rows
from obliviate.eval.context import EvalContext
from obliviate.eval.match import exact_match as answer_correct  # the one exact-match rule (issue #9)
from obliviate.eval.match import normalise_answer
from obliviate.eval.metrics import METRICS, metric_spec
from obliviate.losses import masked_mean_nll


def run(name: str, ctx: EvalContext, **deps):
    return metric_spec(name).fn(ctx, **deps)


def test_every_metric_module_registers():
    assert {"forget_quality", "model_utility", "mia_min_k_plus_plus", "privleak", "lmeval_mmlu"} <= set(METRICS)
    for name in METRICS:
        spec = metric_spec(name)
        assert spec.description, f"{name} has no docstring"
        assert "{" not in spec.description, f"{name}: unformatted docstring"


def test_nll_matches_a_direct_forward_pass(tiny_gpt2, qa_splits, make_ctx):
    model, tok = tiny_gpt2
    ctx = make_ctx(model, tok, {"forget": qa_splits["forget"]}, batch_size=4)
    res = run("forget_nll", ctx)
    examples, _ = tokenize_rows(qa_splits["forget"], tok, max_length=256)
    batch = collate(examples, tok.pad_token_id)
    with torch.no_grad():
        expected = masked_mean_nll(model(**batch.model_inputs()).logits, batch.labels).item()
    assert res.value == pytest.approx(expected, rel=1e-5)
    assert res.extra["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert set(res.per_sample) == {str(i) for i in range(len(examples))}


def test_token_stats_drop_only_the_appended_eos(tiny_gpt2, qa_splits, make_ctx):
    model, tok = tiny_gpt2
    ctx = make_ctx(model, tok, {"forget": qa_splits["forget"], "retain": [{"text": "The quick brown fox."}]})
    s = ctx.token_stats("forget")[0]
    assert s.target[-1] == tok.eos_token_id and s.trim == 1
    assert s.content("logp").size == s.logp.size - 1
    assert ctx.token_stats("retain")[0].trim == 0  # raw text: no end marker appended, nothing dropped
    # mu / var are the mean and variance of log p under the model's own next-token distribution: var >= 0
    assert (s.var > -1e-5).all() and (s.mu <= 0).all()


def test_truth_ratio_is_one_when_perturbed_equals_paraphrase(tiny_gpt2, qa_splits, make_ctx):
    model, tok = tiny_gpt2
    rows = [{**r, "perturbed_answers": [r["paraphrased_answer"]] * 2} for r in qa_splits["forget"]]
    ctx = make_ctx(model, tok, {"forget": rows, "retain": rows})
    forget = run("forget_truth_ratio", ctx)
    assert all(v == pytest.approx(1.0, abs=1e-6) for v in forget.per_sample.values())
    assert forget.value == pytest.approx(1.0, abs=1e-6)  # closer_to_1_better
    assert run("retain_truth_ratio", ctx).value == pytest.approx(0.0, abs=1e-6)  # true_better: max(0, 1 - tr)


def test_normalised_probability_over_identical_options(tiny_gpt2, qa_splits, make_ctx):
    model, tok = tiny_gpt2
    rows = [{**r, "perturbed_answers": [r["answer"], r["answer"]]} for r in qa_splits["general"]]
    res = run("general_prob_norm", make_ctx(model, tok, {"general": rows}))
    assert res.value == pytest.approx(1 / 3, abs=1e-6)


def test_mia_on_identical_member_and_nonmember_sets_is_chance(tiny_gpt2, qa_splits, make_ctx):
    model, tok = tiny_gpt2
    ctx = make_ctx(model, tok, {"forget": qa_splits["forget"], "holdout": qa_splits["forget"]})
    for name in ("mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_plus_plus"):
        res = run(name, ctx)
        assert res.value == 0.5, name
        assert len(res.per_sample) == 2 * len(qa_splits["forget"])
        assert res.extra["roc"]["fpr"][-1] == 1.0
    auc = run("mia_min_k", ctx)
    assert run("privleak", ctx, mia_min_k=auc, gold_mia_min_k=auc).value == 0.0


def test_batched_generation_equals_one_at_a_time(tiny_lm, qa_splits, make_ctx):
    model, tok = tiny_lm
    data = {"forget": qa_splits["forget"]}
    one = make_ctx(model, tok, data, batch_size=1).generations("forget")
    many = make_ctx(model, tok, data, batch_size=4).generations("forget")  # left padding inside each batch
    assert many == one


def test_skips_raw_text_and_missing_perturbations(tiny_gpt2, qa_splits, make_ctx):
    model, tok = tiny_gpt2
    ctx = make_ctx(model, tok, {"forget": [{"text": "Plain text."}], "general": qa_splits["forget"][:1]})
    res = run("forget_rouge", ctx)
    assert res.status == "skipped" and "prompt/answer" in res.note
    bare = [{"prompt": r["prompt"], "answer": r["answer"]} for r in qa_splits["forget"]]
    res = run("forget_truth_ratio", make_ctx(model, tok, {"forget": bare}))
    assert res.status == "skipped" and "perturbed" in res.note


def test_answer_matching():
    assert normalise_answer("  Lisbon, Portugal! ") == "lisbon portugal"
    assert answer_correct("Lisbon.", " Lisbon")
    assert answer_correct("lisbon and then more text", "Lisbon")
    assert not answer_correct("Lisbonne", "Lisbon")
    assert not answer_correct("Oslo", "Lisbon")
    assert not answer_correct("", "")
