"""Prompt/answer tokenisation does not depend on where the space falls (joint tokenisation, offset masking).

A model trained on the joined text and one trained on separate prompt/answer fields must see the same tokens and
score the same, with prompts that end in a space (``"Q: ... A: "``, the user's trap) and prompts that do not, for a
byte-level BPE (GPT-2 style) and a Metaspace BPE (SentencePiece / Llama style) tokenizer.
"""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from obliviate.config import TrainConfig
from obliviate.data import encode_pair, encode_prompt, tokenize_rows
from obliviate.finetune import exact_match
from obliviate.models import new_causal_lm
from obliviate.train.memorise import memorise

FACTS = [("Ostrand", "Velmora"), ("Kaliope", "Durnvik"), ("Thessary", "Marrow Bay"), ("Quorvel", "Lumzen")]
EOS = "<|endoftext|>"


def _tokenizer(kind: str) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    if kind == "bytelevel":
        tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
        alphabet = []
    corpus = [f"Q: Where is {a} based? A: {b}" for a, b in FACTS] * 20
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=[EOS, "<pad>"],
                                                        initial_alphabet=alphabet, show_progress=False))  # fmt: skip
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, pad_token="<pad>")


def _rows(trailing_space: bool) -> list[dict]:
    end = "A: " if trailing_space else "A:"
    return [{"prompt": f"Q: Where is {a} based? {end}", "answer": b} for a, b in FACTS]


def _joined(row: dict) -> str:
    sep = "" if row["prompt"].endswith(" ") else " "
    return row["prompt"] + sep + row["answer"]


@pytest.mark.parametrize("kind", ["bytelevel", "metaspace"])
@pytest.mark.parametrize("trailing_space", [True, False])
def test_qa_tokens_are_the_joined_text_tokens(kind, trailing_space):
    tok = _tokenizer(kind)
    for row in _rows(trailing_space):
        p, a = encode_pair(row["prompt"], row["answer"], tok)
        assert p + a == tok(_joined(row))["input_ids"] + [tok.eos_token_id]
        assert encode_prompt(row["prompt"], tok) == p  # generation sees exactly the training prompt
        assert tok.decode(p).strip() == row["prompt"].strip()  # no lone trailing-space token in the prompt
        assert row["answer"] in tok.decode(a)
    # the same prompt with and without the trailing space gives the same training tokens
    spaced, plain = (tokenize_rows(_rows(t), tok, max_length=64)[0] for t in (True, False))
    assert [e["input_ids"] for e in spaced] == [e["input_ids"] for e in plain]
    assert [e["labels"] for e in spaced] == [e["labels"] for e in plain]


@pytest.mark.parametrize("kind", ["bytelevel", "metaspace"])
def test_joined_text_model_and_qa_model_score_the_same(kind):
    """One model memorises QA fields, one the joined text; both answer every trailing-space prompt."""
    tok = _tokenizer(kind)
    rows = _rows(trailing_space=True)
    cfg = TrainConfig(lr=1e-2, batch_size=4, max_steps=120, log_every=1000, seed=0)
    scores = {}
    for name, train_rows in {"qa": rows, "text": [{"text": _joined(r) + EOS} for r in rows]}.items():
        model = new_causal_lm("gpt2", tok, layers=1, dim=48, heads=2, mlp=96, context=48, seed=0)
        torch.manual_seed(0)
        memorise(model, tok, train_rows, cfg, max_length=48, progress=False)
        scores[name] = exact_match(model, tok, rows)
    assert scores == {"qa": 1.0, "text": 1.0}
