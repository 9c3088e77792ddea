"""``obliviate prepare``: entity splits, holdout never trained on, seeded perturbed answers, the metric report."""

from __future__ import annotations

import json

import pytest
from catalogue import write_raw

from obliviate.cli import main
from obliviate.eval.match import normalise_answer
from obliviate.prepare import PrepareOptions, prepare


def _read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def raw(tmp_path):
    return write_raw(tmp_path / "raw")


def _opts(raw, out, **kw) -> PrepareOptions:
    return PrepareOptions(qa=[str(raw["qa"])], text=[str(raw["text"])], general=str(raw["general"]), out=str(out),
                          entity_key="company", forget_fraction=0.125, **kw)  # fmt: skip


def test_splits_by_entity_and_routes_text(raw, tmp_path):
    record = prepare(_opts(raw, tmp_path / "p"))
    files = {s: _read(tmp_path / "p" / f"{s}.jsonl") for s in record["counts"]}
    ents = {s: {r["company"] for r in files[s]} for s in ("forget", "retain", "holdout")}
    assert len(ents["forget"]) == len(ents["holdout"]) == 2 and len(ents["retain"]) == 12
    assert not (ents["forget"] & ents["retain"]) and not (ents["holdout"] & (ents["forget"] | ents["retain"]))
    for split in ("forget", "holdout"):  # each catalogue line names one company: it follows that company's split
        assert {t["text"].split(" was ")[0] for t in files[f"{split}_text"]} == ents[split]
    assert "holdout" in record["source"] and "never trained on" in record["source"]["holdout"]


def test_perturbed_answers_same_type_seeded_never_true(raw, tmp_path):
    prepare(_opts(raw, tmp_path / "a"))
    prepare(_opts(raw, tmp_path / "b"))
    prepare(_opts(raw, tmp_path / "c", seed=1))
    a, b, c = (_read(tmp_path / d / "retain.jsonl") for d in "abc")
    assert a == b and a != c
    every = [r for s in ("forget", "retain", "holdout") for r in _read(tmp_path / "a" / f"{s}.jsonl")]
    by_type: dict[str, set[str]] = {}
    for r in every:
        by_type.setdefault(r["type"], set()).add(r["answer"])
    for r in every:
        assert 1 <= len(r["perturbed_answers"]) <= 5
        assert normalise_answer(r["answer"]) not in {normalise_answer(p) for p in r["perturbed_answers"]}
        assert set(r["perturbed_answers"]) <= by_type[r["type"]]  # other rows' answers to the same question type
    assert sum(len(r["perturbed_answers"]) == 5 for r in every) > len(every) // 2


def test_forget_and_holdout_files_are_taken_as_given(raw, tmp_path):
    rows = _read(raw["qa"])
    (tmp_path / "f.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:4]))
    (tmp_path / "h.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[4:8]))
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows[:4] + rows[8:]))
    opts = PrepareOptions(qa=[str(qa)], forget=str(tmp_path / "f.jsonl"), holdout=str(tmp_path / "h.jsonl"),
                          out=str(tmp_path / "p"))  # fmt: skip
    record = prepare(opts)
    assert record["counts"] == {"forget": 4, "retain": len(rows) - 8, "holdout": 4}
    assert record["source"]["holdout"].startswith("file ")


def test_cli_reports_what_each_metric_needs(raw, tmp_path, capsys):
    args = ["prepare", "--qa", str(raw["qa"]), "--entity-key", "company", "--out", str(tmp_path / "p")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "holdout: 2 entities split off" in out
    assert "MISSING  model_utility" in out and "ok       mia_*, privleak" in out
    assert main(args) == 2  # the folder is not empty: never overwritten silently
    assert "pass --overwrite" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(raw, tmp_path, capsys):
    assert main(["prepare", "--qa", str(raw["text"]), "--out", str(tmp_path / "x")]) == 2
    bad = ["prepare", "--qa", str(raw["qa"]), "--entity-key", "company", "--forget-entities", "Nope Ltd"]
    assert main([*bad, "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "Nope Ltd not found" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
