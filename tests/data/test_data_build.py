"""build_data: requests, refusals, stats, and the forget/retain checks (empty, overlap warning, identical)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from obliviate.config import DataConfig
from obliviate.data import build_data
from obliviate.errors import ObliviateError

ASSETS = Path(__file__).parent / "assets"
FORGET, RETAIN, TXT = (str(ASSETS / n) for n in ("forget.jsonl", "retain.jsonl", "notes.txt"))


def test_build_data_with_overlap_warning(tokenizer, caplog):
    cfg = DataConfig(forget=[FORGET, TXT], retain=RETAIN, holdout=TXT, max_length=16, txt_window=8)
    with caplog.at_level(logging.WARNING, logger="obliviate.data"):
        data = build_data(cfg, tokenizer, need_alt=True, seed=1)
    assert "1 of 4 forget rows also appear in the retain set" in caplog.text
    assert "rows truncated to data.max_length=16" in caplog.text
    assert data.stats["overlap"] == 1 and data.stats["forget_spec"] == FORGET
    assert len(data.forget) == 4 and len(data.retain) == 4 and len(data.holdout) == data.stats["holdout"]["windows"]
    assert all("alt_input_ids" in e for e in data.forget) and not any("alt_input_ids" in e for e in data.retain)
    assert data.forget_rows[0]["prompt"] == "Where was Alba Voss born?" and data.holdout_rows[0]["_chunk"]
    second = build_data(cfg, tokenizer, request=1)
    assert second.stats["forget_spec"] == TXT and all(len(e["input_ids"]) <= 8 for e in second.forget)


def test_retain_optional_and_custom_refusals(tokenizer, tmp_path):
    (tmp_path / "r.txt").write_text("Nope.\n")
    data = build_data(DataConfig(forget=[FORGET], refusals=str(tmp_path / "r.txt")), tokenizer, need_alt=True)
    assert data.retain is None and data.retain_rows is None and data.holdout is None
    assert {e["refusal"] for e in data.forget} == {0}


def test_identical_forget_and_retain_is_an_error(tokenizer):
    with pytest.raises(ObliviateError, match="forget and retain sets are identical"):
        build_data(DataConfig(forget=[FORGET], retain=FORGET), tokenizer)


@pytest.mark.parametrize(
    ("forget", "req", "message"),
    [
        ([], 0, "no forget set given; set data.forget"),
        ([FORGET], 1, "request 1 out of range: the data section gives 1 forget request"),
    ],
)
def test_bad_requests(tokenizer, forget, req, message):
    with pytest.raises(ObliviateError, match=message):
        build_data(DataConfig(forget=forget), tokenizer, request=req)


def test_empty_forget_set(tokenizer, tmp_path):
    (tmp_path / "f.jsonl").write_text("")
    with pytest.raises(ObliviateError, match="is empty"):
        build_data(DataConfig(forget=[str(tmp_path / "f.jsonl")]), tokenizer)


def test_split_requests_cuts_one_forget_set_between_people(tokenizer, tmp_path):
    import json

    rows = [{"prompt": f"Q{i} about P{i // 3}?", "answer": f"A{i}", "person": f"P{i // 3}"} for i in range(12)]
    path = tmp_path / "people.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = DataConfig(forget=[str(path)], split_requests=3)
    parts = [build_data(cfg, tokenizer, request=r) for r in range(3)]
    people = [{row["person"] for row in d.forget_rows} for d in parts]
    assert people == [{"P0"}, {"P1", "P2"}, {"P3"}]  # 4 people in 3 parts, never split within a person
    assert sum(len(d.forget) for d in parts) == 12 and parts[1].stats["forget_spec"].endswith("(part 2/3)")
    with pytest.raises(ObliviateError, match="request 3 out of range"):
        build_data(cfg, tokenizer, request=3)
    with pytest.raises(ObliviateError, match="only 4 people"):
        build_data(DataConfig(forget=[str(path)], split_requests=5), tokenizer)
