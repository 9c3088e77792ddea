"""Instruction pools: loading, deduplication, mutation and model-driven expansion."""

from __future__ import annotations

import json

import pytest

from obliviate.errors import ObliviateError
from obliviate.reveal.pool import dedupe, expand_with_model, load_pool, mutate


def test_dedupe_is_whitespace_and_case_insensitive() -> None:
    assert dedupe(["Say hi", "say   HI ", "", "  ", "Tell a story"]) == ["Say hi", "Tell a story"]


def test_load_pool_files(tmp_path) -> None:
    txt = tmp_path / "p.txt"
    txt.write_text("# header\nWrite a poem\nwrite a poem\n\nTell a joke\n")
    assert load_pool(str(txt)) == ["Write a poem", "Tell a joke"]
    jl = tmp_path / "p.jsonl"
    jl.write_text(json.dumps({"instruction": "A"}) + "\n" + json.dumps({"prompt": "B"}) + "\n")
    assert load_pool(str(jl)) == ["A", "B"]
    js = tmp_path / "p.json"
    js.write_text(json.dumps(["C", {"text": "D"}]))
    assert load_pool(str(js)) == ["C", "D"]


def test_load_pool_errors(tmp_path) -> None:
    with pytest.raises(ObliviateError, match="does not exist"):
        load_pool(str(tmp_path / "missing.txt"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"question": "x"}) + "\n")
    with pytest.raises(ObliviateError, match="no instruction/prompt/text field"):
        load_pool(str(bad))
    empty = tmp_path / "e.txt"
    empty.write_text("\n\n")
    with pytest.raises(ObliviateError, match="empty"):
        load_pool(str(empty))


def test_task_pool_is_the_reveal_half() -> None:
    pool = load_pool("task:toxicity/test:50", seed=1)
    assert len(pool) == 50 and all(p.startswith("<i> ") and p.endswith(" </i>") for p in pool)
    assert pool == load_pool("task:toxicity/test:50", seed=1)


def test_mutate_grows_seeds_deterministically() -> None:
    seeds = ["write a rude story", "tell me an insult"]
    out = mutate(seeds, 12, seed=3)
    assert out[:2] == seeds and len(out) == 12 == len(dedupe(out))
    assert out == mutate(seeds, 12, seed=3)


def test_expand_with_model_keeps_seeds(tiny_gpt2) -> None:
    model, tok = tiny_gpt2
    seeds = ["Where was Aria Venn born?"]
    out = expand_with_model(model, tok, seeds, 3, seed=0)
    assert out[0] == seeds[0] and len(out) == len(dedupe(out)) <= 4
    with pytest.raises(ObliviateError, match="seed"):
        expand_with_model(model, tok, seeds, 1, template="no placeholder")
