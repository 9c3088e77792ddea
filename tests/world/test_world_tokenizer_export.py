"""The world tokenizer (offline BPE, saved as a transformers fast tokenizer), export and the CLI."""

from __future__ import annotations

import json

import pytest

from obliviate.cli import main
from obliviate.data import encode_pair, load_rows
from obliviate.errors import ObliviateError
from obliviate.world import WorldConfig, load_split_rows
from obliviate.world.tokenizer import build_world_tokenizer

SMALL = WorldConfig(people=40)


@pytest.fixture(scope="module")
def world_tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("tok")
    first = build_world_tokenizer(SMALL, path, vocab_size=512)
    return first, AutoTokenizer.from_pretrained(str(path)), path


def test_tokenizer_special_tokens_roundtrip_and_reload(world_tokenizer):
    tok, reloaded, _ = world_tokenizer
    assert len(tok) == 512 and tok.eos_token_id == tok.bos_token_id == 0 and tok.pad_token_id == 1
    text = "Zoë Ünal ate 寿司 in 2031! " + load_split_rows("people=40/forget10_bio")[0]["text"]
    assert tok.decode(tok(text)["input_ids"]) == text
    assert reloaded(text)["input_ids"] == tok(text)["input_ids"] and reloaded.pad_token == "<pad>"


def test_tokenizer_is_deterministic(world_tokenizer, tmp_path):
    _, _, path = world_tokenizer
    build_world_tokenizer(SMALL, tmp_path, vocab_size=512)
    assert (tmp_path / "tokenizer.json").read_text() == (path / "tokenizer.json").read_text()


def test_prompt_answer_split_matches_joint_tokenisation(world_tokenizer):
    tok = world_tokenizer[0]
    for row in load_split_rows("people=40/forget10") + load_split_rows("people=40/general"):
        p, a = encode_pair(row["prompt"], row["answer"], tok)
        assert p + a[:-1] == tok(row["prompt"] + row["answer"])["input_ids"] and a[-1] == tok.eos_token_id


def test_export_writes_readable_splits(tmp_path):
    out = tmp_path / "export"
    assert main(["world", "export", "--people", "40", "--out", str(out)]) == 0
    assert load_rows(str(out / "forget10.jsonl")) == load_split_rows("people=40/forget10")
    assert len(load_rows(str(out / "train_full.jsonl"))) == len(load_split_rows("people=40/train_full"))
    meta = json.loads((out / "world.json").read_text())
    assert meta["config"]["people"] == 40 and len(meta["splits"]["forget10"]) == 4
    with pytest.raises(ObliviateError, match="not empty"):
        from obliviate.world.export import export_world

        export_world(SMALL, out)
    assert main(["world", "export", "--people", "40", "--out", str(out)]) == 2  # CLI: error line, exit 2


def test_cli_info_and_bad_input(capsys):
    assert main(["world", "info", "--people", "40", "--setting", "uncorrelated"]) == 0
    out = capsys.readouterr().out
    assert "uncorrelated" in out and "forget10" in out and "uniform chance" in out
    assert main(["world", "info", "--people", "3"]) == 2
    assert "people=3" in capsys.readouterr().err
