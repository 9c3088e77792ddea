"""The trained tiny world (session fixture): memorisation, the gold model's ignorance, cache reuse, QA helper."""

from __future__ import annotations

import json
import time

import pytest
import torch

from obliviate.methods.base import Method
from obliviate.train.memorise import Memorise
from obliviate.world import guess_rates, load_split_rows, qa_accuracy, resolve_model_path
from obliviate.world.build import read_record


def _load(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def test_full_memorises_and_gold_does_not_know_forget(world_models):
    full, gold = read_record(world_models["full"]), read_record(world_models["gold"])
    assert full["variant"] == "full" and gold["variant"] == "gold-forget10"
    assert min(full["exact_match"][s] for s in ("forget10", "retain90", "general")) >= 0.95
    assert gold["exact_match"]["retain90"] >= 0.95 and gold["exact_match"]["general"] >= 0.95
    # the gold model never saw the forget people: no better than always guessing an attribute's commonest value
    assert gold["exact_match"]["forget10"] <= gold["baselines"]["forget_mode"]["all"]
    assert full["exact_match"]["holdout10"] <= full["baselines"]["forget_mode"]["all"] + 0.1
    curve = json.loads((world_models["full"] / "loss_curve.json").read_text())
    assert len(curve) == full["training"]["steps"] and curve[-1]["loss"] < curve[0]["loss"] / 5
    assert full["preset"]["recipe"]["lr"] > 0 and full["world"]["people"] == 60


def test_specs_resolve_to_the_cached_models(world_models):
    stamp = (world_models["gold"] / "world_model.json").stat().st_mtime
    t0 = time.time()
    assert resolve_model_path(f"{world_models['data']}/tiny/gold-forget10", progress=False) == world_models["gold"]
    assert resolve_model_path(f"{world_models['data']}/tiny/full", progress=False) == world_models["full"]
    assert time.time() - t0 < 5 and (world_models["gold"] / "world_model.json").stat().st_mtime == stamp


def test_qa_accuracy_is_batch_invariant_and_matches_record(world_models):
    model, tok = _load(world_models["full"])
    rows = load_split_rows(f"{world_models['data']}/forget10")
    big = qa_accuracy(model, tok, rows, batch_size=64)
    small = qa_accuracy(model, tok, rows, batch_size=5)  # different left padding per batch
    assert big.predictions == small.predictions
    assert big.accuracy == read_record(world_models["full"])["exact_match"]["forget10"]
    assert big.predictions[0] == rows[0]["answer"].strip()
    para = qa_accuracy(model, tok, rows, prompt_key="paraphrased_question")
    assert 0.0 <= para.accuracy <= 1.0 and len(para.correct) == len(rows)


def test_memorise_method_is_plain_nll(tiny_gpt2):
    from obliviate import losses
    from obliviate.data import collate, tokenize_rows

    model, tok = tiny_gpt2
    method = Memorise()
    assert isinstance(method, Method)
    ex, _ = tokenize_rows(load_split_rows("people=40/forget10_all")[:6], tok, max_length=64)
    batch = collate(ex, tok.pad_token_id)
    out = method.loss(model, batch, None, None)
    expected = losses.masked_mean_nll(model(**batch.model_inputs()).logits, batch.labels)
    assert torch.allclose(out.loss, expected) and out.logs["nll"] == pytest.approx(expected.item())


def test_guess_rates_closed_form():
    rows = [{"attribute": "pet", "answer": a} for a in (" cat", " cat", " dog", " eel")]
    ref = [{"attribute": "pet", "answer": " dog"}]
    assert guess_rates(rows, ref) == {"pet": 0.25, "all": 0.25}
    assert guess_rates(rows, rows)["pet"] == 0.5
