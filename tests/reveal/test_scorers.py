"""Scorers: values in [0, 1] on hand-made texts, spec parsing, and the local HF classifier path."""

from __future__ import annotations

import json

import pytest
import torch

from obliviate.errors import ObliviateError
from obliviate.reveal.scorers import SCORERS, build_scorer, parse_scorer_spec


def test_builtin_scorers_registered() -> None:
    assert {"lexicon", "regex", "python_code", "bow", "hf_classifier"} <= set(SCORERS.names())


def test_lexicon_modes_and_whole_words() -> None:
    texts = ["you grotz fool", "grotzy is fine", "GROTZ and vilek and grotz", "clean text here", ""]
    assert build_scorer("lexicon:words=grotz,vilek")(texts) == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert build_scorer("lexicon:words=grotz,vilek;mode=count;saturate=2")(texts) == [0.5, 0.0, 1.0, 0.0, 0.0]
    assert build_scorer("lexicon:words=grotz;mode=share")(["grotz a b c"]) == [0.25]
    assert build_scorer("lexicon:words=grotz;case_sensitive=true")(["GROTZ"]) == [0.0]
    assert build_scorer({"name": "lexicon", "args": {"words": ["big apple"]}})(["a big apple pie", "apple"]) == [
        1.0,
        0.0,
    ]


def test_lexicon_file(tmp_path) -> None:
    f = tmp_path / "words.txt"
    f.write_text("# insults\ngrotz\n\nvilek\n")
    assert build_scorer(f"lexicon:file={f}")(["a vilek"]) == [1.0]
    with pytest.raises(ObliviateError, match="does not exist"):
        build_scorer(f"lexicon:file={tmp_path / 'missing.txt'}")
    with pytest.raises(ObliviateError, match="needs words"):
        build_scorer("lexicon")


def test_regex_scorer() -> None:
    s = build_scorer("regex:pattern=\\d+;mode=count;saturate=4")
    assert s(["a 1 b 22", "none"]) == [0.5, 0.0]
    with pytest.raises(ObliviateError, match="invalid pattern"):
        build_scorer("regex:pattern=(")


def test_python_code_scorer() -> None:
    s = build_scorer("python_code")
    code = "def f(x):\n    return x + 1\n\nprint(f(2))"
    prose = "This is a sentence about snakes.\nAnother plain line"
    mixed = "Here is the code:\n```python\nx = 1\ny = x * 2\n```\nThat is all folks"
    a, b, c = s([code, prose, mixed])
    assert a == 1.0 and b == 0.0
    assert 0.2 < c < 0.8  # the two assignments, not the prose around them
    assert s(["hello"]) == [0.0]  # a bare name parses as Python but is not code


def test_bow_scorer(tmp_path) -> None:
    f = tmp_path / "bow.json"
    f.write_text(json.dumps({"bias": -2.0, "weights": {"grotz": 4.0}}))
    low, high = build_scorer(f"bow:file={f}")(["nice day", "GROTZ day grotz"])
    assert low == pytest.approx(1 / (1 + 2.718281828**2), rel=1e-6)
    assert high == pytest.approx(1 / (1 + 2.718281828**-2), rel=1e-6)  # distinct words count once


def test_spec_errors() -> None:
    assert parse_scorer_spec("regex:pattern=a=b;saturate=2") == ("regex", {"pattern": "a=b", "saturate": 2})
    with pytest.raises(ObliviateError, match="unknown scorer"):
        build_scorer("lexicn:words=a")
    with pytest.raises(ObliviateError, match="key=value"):
        build_scorer("lexicon:grotz")
    with pytest.raises(ObliviateError, match="bad arguments"):
        build_scorer("python_code:colour=red")


def _classifier_dir(tmp_path, tiny_tokenizer):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tiny_tokenizer), n_layer=1, n_embd=16, n_head=2, n_positions=64, num_labels=2,
        id2label={0: "neutral", 1: "toxic"}, label2id={"neutral": 0, "toxic": 1},
        bos_token_id=tiny_tokenizer.bos_token_id, eos_token_id=tiny_tokenizer.eos_token_id,
        pad_token_id=tiny_tokenizer.pad_token_id,
    )  # fmt: skip
    out = tmp_path / "clf"
    GPT2ForSequenceClassification(cfg).save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out


def test_hf_classifier_scorer(tmp_path, tiny_tokenizer) -> None:
    path = _classifier_dir(tmp_path, tiny_tokenizer)
    tox = build_scorer(f"hf_classifier:path={path};label=toxic;batch_size=2")
    neu = build_scorer(f"hf_classifier:path={path};label=NEUTRAL")
    texts = ["Where was Aria Venn born?", "The quick brown fox", "I do not know"]
    a, b = tox(texts), neu(texts)
    assert all(0.0 <= v <= 1.0 for v in a)
    assert a == pytest.approx([1 - v for v in b], abs=1e-6)  # softmax over the two labels
    with pytest.raises(ObliviateError, match="not in the model's labels"):
        build_scorer(f"hf_classifier:path={path};label=spam")
    with pytest.raises(ObliviateError, match="not a local model folder"):
        build_scorer(f"hf_classifier:path={tmp_path / 'nope'};label=toxic")
