"""load_rows: every input format, and one clear error per kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from obliviate import resolvers
from obliviate.data.benchmarks import load_muse, load_tofu
from obliviate.data.sources import load_rows
from obliviate.errors import ObliviateError
from obliviate.registry import Registry

ASSETS = Path(__file__).parent / "assets"


def test_jsonl_prompt_answer_and_question_answer():
    rows = load_rows(str(ASSETS / "forget.jsonl"))
    assert len(rows) == 4
    assert rows[0] == {"prompt": "Where was Alba Voss born?", "answer": "Alba Voss was born in Kelport."}
    assert rows[2]["prompt"] == "Who taught Alba Voss to sail?" and rows[2]["question"] == rows[2]["prompt"]


def test_jsonl_mixed_text_rows():
    rows = load_rows(str(ASSETS / "retain.jsonl"))
    assert rows[3] == {"text": "Drummon is a small town in the northern hills, known for its clock tower."}


def test_json_list_and_strings(tmp_path):
    p = tmp_path / "d.json"
    p.write_text(json.dumps([{"question": "Q?", "answer": "A."}, "raw text", {"body": "b"}]))
    with pytest.raises(ObliviateError, match="unknown field layout .* record 3"):
        load_rows(str(p))
    rows = load_rows(str(p), column="body")
    assert rows[1] == {"text": "raw text"} and rows[2]["text"] == "b"


def test_column_pair(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"q": "Q?", "a": "A.", "id": 7}) + "\n")
    assert load_rows(str(p), column="q,a") == [{"id": 7, "prompt": "Q?", "answer": "A."}]


def test_txt_is_one_chunk_row():
    rows = load_rows(str(ASSETS / "notes.txt"))
    assert len(rows) == 1 and rows[0]["_chunk"] is True and rows[0]["text"].startswith("Kelport")


def test_hf_dataset_dir_and_dict_split(tmp_path):
    ds = datasets.Dataset.from_list([{"question": "Q1?", "answer": "A1."}, {"question": "Q2?", "answer": "A2."}])
    ds.save_to_disk(str(tmp_path / "single"))
    assert [r["prompt"] for r in load_rows(str(tmp_path / "single"))] == ["Q1?", "Q2?"]
    text = datasets.Dataset.from_list([{"body": "some text"}])
    datasets.DatasetDict({"train": ds, "test": text}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(ObliviateError, match=r"several splits \(train, test\).*@SPLIT"):
        load_rows(str(tmp_path / "dd"))
    with pytest.raises(ObliviateError, match="has no split 'dev'"):
        load_rows(str(tmp_path / "dd") + "@dev")
    assert load_rows(str(tmp_path / "dd") + "@test", column="body") == [{"body": "some text", "text": "some text"}]


def test_hub_name_offline_fails_clearly(monkeypatch):
    def boom(*a, **k):
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", boom)
    with pytest.raises(ObliviateError, match="could not load hub dataset 'someone/some_data@train'.*network"):
        load_rows("someone/some_data@train")


def test_world_spec_delegates(monkeypatch):
    # the data layer asks the resolver registry, never the world package: a stand-in world resolver is enough
    monkeypatch.setattr(resolvers, "RESOLVERS", Registry("source prefix"))
    fake = resolvers.Resolver("a stand-in world", rows=lambda spec: [{"prompt": f"{spec}?", "answer": "yes"}])
    resolvers.register_resolver("world", fake)
    assert load_rows("world:forget10") == [{"prompt": "forget10?", "answer": "yes"}]


def test_tofu_loader_keeps_perturbations():
    rows = load_tofu(ASSETS / "tofu", "forget01_perturbed")
    assert rows[0]["prompt"].startswith("What genre") and len(rows[0]["perturbed_answer"]) == 3
    assert rows[0]["perturbed_answers"] == rows[0]["perturbed_answer"]
    assert rows[1]["paraphrased_answer"] == "His birthplace is Astana in Kazakhstan."
    assert load_rows(f"tofu:{ASSETS / 'tofu'}/forget01")[1]["answer"].endswith("Kazakhstan.")
    with pytest.raises(ObliviateError, match=r"missing field\(s\) \['paraphrased_answer', 'perturbed_answer'\]"):
        load_tofu(ASSETS / "tofu", "bad_perturbed")
    with pytest.raises(ObliviateError, match="TOFU file .*forget05.* does not exist"):
        load_tofu(ASSETS / "tofu", "forget05")


def test_muse_loaders():
    muse = ASSETS / "muse"
    assert load_muse(muse, "raw", "forget")[0]["_chunk"] is True
    qa = load_muse(muse, "knowmem", "forget_qa")
    assert qa[0]["prompt"] == "When did the council meet?" and qa[0]["answer"] == "Tuesday"
    verb = load_rows(f"muse:{muse}/verbmem/forget")
    assert verb[0]["answer"] == verb[0]["gt"] and verb[0]["prompt"].startswith("The council")
    assert load_muse(muse, "privleak", "holdout")[1] == {
        "text": "The library extended its opening hours for the exam season."
    }
    with pytest.raises(ObliviateError, match="unknown MUSE kind 'scal'"):
        load_muse(muse, "scal", "forget_1")
    with pytest.raises(ObliviateError, match="must look like muse:DIR/KIND/SPLIT"):
        load_rows("muse:forget")


def test_muse_missing_fields(tmp_path):
    (tmp_path / "verbmem").mkdir()
    (tmp_path / "verbmem" / "forget.json").write_text('[{"prompt": "The council met"}]')
    with pytest.raises(ObliviateError, match=r"missing field in MUSE verbmem file .* need \['prompt', 'gt'\]"):
        load_muse(tmp_path, "verbmem", "forget")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("nope.jsonl", None, "does not exist; check the path"),
        ("bad.jsonl", '{"text": "ok"}\n{"text": broken\n', "malformed JSONL .* at line 2"),
        ("empty.jsonl", "\n\n", "is empty"),
        ("empty.txt", "  \n", "is empty"),
        ("empty.json", "[]", "is empty"),
        ("bad.json", '[{"text": "a"},', "malformed JSON"),
        ("half.jsonl", '{"prompt": "Q?"}\n', r"missing field 'answer' .* record 1.*accepted layouts"),
        ("noq.jsonl", '{"answer": "A."}\n', r"missing field 'prompt' or 'question'"),
        ("odd.jsonl", '{"title": "x", "body": "y"}\n', r"unknown field layout .* fields \['body', 'title'\]"),
        ("num.jsonl", "3\n", "unknown field layout"),
        ("type.jsonl", '{"prompt": "Q?", "answer": 5}\n', "field 'answer' .* must be a string"),
        ("blank.jsonl", '{"text": " "}\n', "field 'text' .* is empty"),
        ("data.csv", "a,b\n", "unsupported extension '.csv'"),
        ("sub/missing", None, "does not exist; check the path"),
    ],
)
def test_bad_inputs(tmp_path, monkeypatch, name, content, message):
    monkeypatch.chdir(tmp_path)  # relative specs: "sub/missing" must not be mistaken for a hub name
    (tmp_path / "sub").mkdir()
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(ObliviateError, match=message):
        load_rows(name)
