"""Offline tokenizers for the data-layer tests: a tiny byte-level BPE trained in-process on the asset texts."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

ASSETS = Path(__file__).parent / "assets"
EOS = "<|endoftext|>"
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="session")
def bpe() -> Tokenizer:
    corpus = [p.read_text() for p in sorted(ASSETS.rglob("*")) if p.is_file()]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[EOS, "<pad>"]
    )
    tok.train_from_iterator(corpus * 3, trainer)
    return tok


def wrap(bpe: Tokenizer, **kw) -> PreTrainedTokenizerFast:
    """A fresh HF tokenizer around ``bpe`` (tests may mutate it: pad token, chat template)."""
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(bpe.to_str()), **kw)


@pytest.fixture
def tokenizer(bpe: Tokenizer) -> PreTrainedTokenizerFast:
    return wrap(bpe, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token="<pad>")


@pytest.fixture
def no_pad_tokenizer(bpe: Tokenizer) -> PreTrainedTokenizerFast:
    return wrap(bpe, bos_token=EOS, eos_token=EOS, unk_token=EOS)


@pytest.fixture
def bare_tokenizer(bpe: Tokenizer) -> PreTrainedTokenizerFast:
    return wrap(bpe)


@pytest.fixture
def chat_tokenizer(tokenizer: PreTrainedTokenizerFast) -> PreTrainedTokenizerFast:
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
