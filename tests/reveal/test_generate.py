"""Sampling, instruction features and the filtered, deduplicated, capped forget set."""

from __future__ import annotations

import numpy as np
import pytest

from obliviate.errors import ObliviateError
from obliviate.reveal.generate import (
    ForgetSetConfig,
    RetainGenConfig,
    SampleConfig,
    collect_rows,
    dedupe_rows,
    instruction_features,
    sample_continuations,
)

PROMPTS = ["Where was Aria Venn born?", "What is the job of Moro Tesk?", "Which pet does Ezo Palk have?"]


def test_sampling_is_seeded_and_local(tiny_gpt2) -> None:
    import torch

    model, tok = tiny_gpt2
    cfg = SampleConfig(max_new_tokens=5, batch_size=4)
    torch.manual_seed(7)
    state = torch.get_rng_state()
    a = sample_continuations(model, tok, PROMPTS, 3, cfg, seed=1)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random state is untouched
    assert a == sample_continuations(model, tok, PROMPTS, 3, cfg, seed=1)
    assert [len(x) for x in a] == [3, 3, 3]
    greedy = sample_continuations(model, tok, PROMPTS[:1], 2, cfg, greedy=True)
    assert greedy[0][0] == greedy[0][1]


def test_features_shape_and_pooling(tiny_gpt2) -> None:
    model, tok = tiny_gpt2
    last = instruction_features(model, tok, PROMPTS, pooling="last", batch_size=2)
    mean = instruction_features(model, tok, PROMPTS, pooling="mean")
    assert last.shape == mean.shape == (3, model.config.n_embd)
    assert not np.allclose(last, mean)
    # right padding in a batch does not change an instruction's feature
    np.testing.assert_allclose(last[0], instruction_features(model, tok, PROMPTS[:1])[0], atol=1e-5)
    with pytest.raises(ObliviateError, match="pooling"):
        instruction_features(model, tok, PROMPTS, pooling="max")


def test_dedupe_rows_exact_and_near() -> None:
    rows = [{"answer": a} for a in ["the red fox jumps high", "The  red fox jumps HIGH", "the red fox jumps higher",
                                    "a blue bird", ""]]  # fmt: skip
    assert [r["answer"] for r in dedupe_rows(rows)] == [
        "the red fox jumps high",
        "the red fox jumps higher",
        "a blue bird",
    ]
    assert [r["answer"] for r in dedupe_rows(rows, near_dup=0.5)] == ["the red fox jumps high", "a blue bird"]


class LengthScorer:
    name = "length"

    def __call__(self, texts):
        return [min(len(t) / 20, 1.0) for t in texts]


def test_collect_rows_filters_caps_and_keeps_prompts(tiny_gpt2) -> None:
    model, tok = tiny_gpt2
    sample = SampleConfig(max_new_tokens=8)
    cfg = ForgetSetConfig(samples=6, threshold=0.2, cap_per_instruction=2, max_rows=5, near_dup=1.0)
    rows, stats = collect_rows(model, tok, PROMPTS, LengthScorer(), cfg, sample, seed=3)
    assert stats["generated"] == 18 and stats["kept"] == len(rows) <= 5
    assert all(r["score"] >= 0.2 and r["prompt"] in PROMPTS for r in rows)
    assert max(sum(r["prompt"] == p for r in rows) for p in PROMPTS) <= 2
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    low, _ = collect_rows(model, tok, PROMPTS, LengthScorer(), RetainGenConfig(samples=4, threshold=0.5), sample,
                          keep_high=False)  # fmt: skip
    assert all(r["score"] < 0.5 for r in low)


def test_sample_config_validation() -> None:
    with pytest.raises(ObliviateError):
        SampleConfig(top_p=0.0)
    with pytest.raises(ObliviateError):
        SampleConfig(k=0)
