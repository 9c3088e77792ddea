"""tokenize_rows / collate: label masking, EOS, truncation count, txt windows, chat template, refusals, padding."""

from __future__ import annotations

import pytest
import torch

from obliviate.data.collate import (
    IGNORE,
    collate,
    collate_prompts,
    encode_pair,
    encode_prompt,
    ensure_pad_token,
    tokenize_rows,
)
from obliviate.data.refusals import builtin_refusals, load_refusals
from obliviate.errors import ObliviateError

QA = {"prompt": "Where was Alba Voss born?", "answer": "Alba Voss was born in Kelport."}


def test_prompt_tokens_masked_answer_tokens_trained(tokenizer):
    (ex,), stats = tokenize_rows([QA], tokenizer, max_length=64)
    p_ids = tokenizer(QA["prompt"])["input_ids"]
    a_ids = tokenizer(" " + QA["answer"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert ex["input_ids"] == p_ids + a_ids
    assert ex["labels"] == [IGNORE] * len(p_ids) + a_ids
    assert ex["prompt_len"] == len(p_ids) and stats["answer_tokens"] == len(a_ids)
    assert tokenizer.decode(ex["input_ids"], skip_special_tokens=True) == QA["prompt"] + " " + QA["answer"]


def test_boundary_whitespace_not_doubled(tokenizer):
    p, a = encode_pair("Q: where?\n", "Kelport.", tokenizer)
    assert tokenizer.decode(p + a, skip_special_tokens=True) == "Q: where?\nKelport."
    assert encode_prompt("Q: where?\n", tokenizer) == p


def test_raw_text_trains_every_token(tokenizer):
    (ex,), _ = tokenize_rows([{"text": "Drummon is a small town."}], tokenizer, max_length=64)
    assert ex["labels"] == ex["input_ids"] and ex["prompt_len"] == 0
    (both,), _ = tokenize_rows([{**QA, "text": "a biography"}], tokenizer, max_length=64)
    assert both["prompt_len"] > 0  # a record with prompt/answer and text is a QA row


def test_truncation_is_counted_and_keeps_an_answer_token(tokenizer):
    long_q = {"prompt": "Where was Alba Voss born? " * 10, "answer": "In Kelport."}
    rows = [QA, long_q, {"text": "word " * 50}]
    examples, stats = tokenize_rows(rows, tokenizer, max_length=12)
    assert stats["truncated"] == 3
    assert all(len(ex["input_ids"]) <= 12 for ex in examples)
    assert all(any(t != IGNORE for t in ex["labels"]) for ex in examples)
    untouched, stats = tokenize_rows([QA], tokenizer, max_length=64)
    assert stats["truncated"] == 0


def test_txt_rows_become_fixed_windows(tokenizer):
    text = "Kelport is a harbour town on the western coast. " * 6
    n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    examples, stats = tokenize_rows([{"text": text, "_chunk": True}], tokenizer, max_length=64, txt_window=16)
    assert [len(e["input_ids"]) for e in examples[:-1]] == [16] * (len(examples) - 1)
    assert sum(len(e["input_ids"]) for e in examples) == n and stats["windows"] == len(examples) == -(-n // 16)
    assert stats["truncated"] == 0 and all(e["row"] == 0 for e in examples)
    assert [e["index"] for e in examples] == list(range(len(examples)))


def test_chat_template(chat_tokenizer):
    p, a = encode_pair(QA["prompt"], QA["answer"], chat_tokenizer, chat_template=True)
    assert chat_tokenizer.decode(p) == f"<|endoftext|><|user|>{QA['prompt']}<|end|><|assistant|>"
    assert chat_tokenizer.decode(a) == f"{QA['answer']}<|end|>"
    (ex,), _ = tokenize_rows([QA], chat_tokenizer, max_length=128, chat_template=True)
    assert ex["labels"][: len(p)] == [IGNORE] * len(p) and ex["labels"][len(p) :] == a
    assert encode_prompt(QA["prompt"], chat_tokenizer, chat_template=True) == p


def test_chat_template_missing_is_an_error(tokenizer):
    with pytest.raises(ObliviateError, match="tokenizer has no chat template; set data.chat_template=false"):
        tokenize_rows([QA], tokenizer, max_length=64, chat_template=True)


def test_refusals_attached_seeded(tokenizer):
    rows = [QA, {"prompt": "What does Alba Voss write?", "answer": "Mysteries."}, {"text": "Drummon is small."}]
    refusals = builtin_refusals()
    a, _ = tokenize_rows(rows, tokenizer, max_length=64, refusals=refusals, seed=3)
    b, _ = tokenize_rows(rows, tokenizer, max_length=64, refusals=refusals, seed=3)
    assert [e["refusal"] for e in a] == [e["refusal"] for e in b]
    seeds = {
        tuple(e["refusal"] for e in tokenize_rows(rows, tokenizer, max_length=64, refusals=refusals, seed=s)[0])
        for s in range(6)
    }
    assert len(seeds) > 1
    ex = a[0]
    plen = ex["prompt_len"]
    assert ex["alt_input_ids"][:plen] == ex["input_ids"][:plen]
    alt_answer = [t for t in ex["alt_labels"] if t != IGNORE]
    assert tokenizer.decode(alt_answer, skip_special_tokens=True).strip() == refusals[ex["refusal"]]
    raw = a[2]  # raw text: first half of its tokens is the prompt
    half = max(1, len(raw["input_ids"]) // 2)
    assert raw["alt_input_ids"][:half] == raw["input_ids"][:half] and raw["alt_labels"][:half] == [IGNORE] * half


def test_refusal_file(tmp_path):
    assert len(builtin_refusals()) >= 20
    p = tmp_path / "r.txt"
    p.write_text("# mine\nNo idea.\n\nCannot say.\n")
    assert load_refusals(p) == ["No idea.", "Cannot say."]
    (tmp_path / "e.txt").write_text("\n")
    with pytest.raises(ObliviateError, match="refusals file .* is empty"):
        load_refusals(tmp_path / "e.txt")
    with pytest.raises(ObliviateError, match="refusals file .* does not exist"):
        load_refusals(tmp_path / "missing.txt")


def test_collate_right_pads_and_masks(tokenizer):
    rows = [QA, {"text": "Drummon."}]
    examples, _ = tokenize_rows(rows, tokenizer, max_length=64, refusals=["I don't know."])
    batch = collate(examples, pad_id=tokenizer.pad_token_id)
    n0, n1 = (len(e["input_ids"]) for e in examples)
    assert batch.input_ids.shape == (2, max(n0, n1))
    assert batch.attention_mask.sum(1).tolist() == [n0, n1]
    assert (batch.labels[1, n1:] == IGNORE).all() and (batch.input_ids[1, n1:] == tokenizer.pad_token_id).all()
    assert batch.index.tolist() == [0, 1] and batch.alt is not None
    assert batch.alt.attention_mask.sum(1).tolist() == [len(e["alt_input_ids"]) for e in examples]
    assert collate([examples[1]], 0).index.tolist() == [1]
    no_alt = [{k: v for k, v in e.items() if not k.startswith("alt")} for e in examples]
    assert collate(no_alt, 0).alt is None
    with pytest.raises(ValueError, match="some examples carry alt"):
        collate([examples[0], no_alt[1]], 0)


def test_collate_prompts_left_pads():
    ids, mask = collate_prompts([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert ids.dtype == mask.dtype == torch.long


def test_ensure_pad_token(tokenizer, no_pad_tokenizer, bare_tokenizer):
    assert ensure_pad_token(tokenizer) is False and tokenizer.pad_token == "<pad>"
    assert ensure_pad_token(no_pad_tokenizer) is True
    assert no_pad_tokenizer.pad_token_id == no_pad_tokenizer.eos_token_id is not None
    n = len(bare_tokenizer)
    assert ensure_pad_token(bare_tokenizer) is True and bare_tokenizer.pad_token == "<pad>"
    assert bare_tokenizer.pad_token_id is not None and len(bare_tokenizer) >= n


def test_max_length_too_small(tokenizer):
    with pytest.raises(ObliviateError, match="data.max_length=1 is too small"):
        tokenize_rows([QA], tokenizer, max_length=1)
