"""The runner: dependency resolution, the per-metric cache (a rerun computes nothing), visible skips, eval.json."""

from __future__ import annotations

import json

import pytest

from obliviate.errors import ObliviateError
from obliviate.eval import EvalOptions, evaluate
from obliviate.eval.context import ModelHandle

FAST = ["forget_truth_ratio", "forget_quality", "mia_min_k", "mia_loss", "privleak", "forget_es", "general_nll"]


def _eval(model_dir, gold_dir, splits, run_dir, **kw):
    opts = kw.pop("options", EvalOptions(progress=False))
    return evaluate(
        str(model_dir), gold=gold_dir and str(gold_dir), suite="custom", run_dir=run_dir, splits=splits,
        metrics=kw.pop("metrics", FAST), options=opts, summary=kw.pop("summary", False), **kw,
    )  # fmt: skip


def _cache_files(run_dir):
    return {p.name for p in (run_dir / "eval_cache").glob("*.json")}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_gpt2_dir, tiny_llama_dir, qa_splits):
    run_dir = tmp_path_factory.mktemp("eval_run")
    results = _eval(tiny_gpt2_dir, tiny_llama_dir, qa_splits, run_dir)
    return run_dir, results


def test_dependencies_are_resolved_and_written(first_run):
    run_dir, results = first_run
    assert all(r.status == "ok" for r in results.values()), {k: r.note for k, r in results.items()}
    fq = results["forget_quality"]
    assert 0.0 <= fq.value <= 1.0 and 0.0 <= fq.extra["ks_statistic"] <= 1.0
    doc = json.loads((run_dir / "eval.json").read_text())
    assert doc["suite"] == "custom" and list(doc["metrics"]) == FAST
    entry = doc["metrics"]["forget_quality"]
    assert {"value", "status", "note", "per_sample", "extra", "higher_is_better", "split", "format"} <= set(entry)
    assert entry["format"] == "pvalue" and entry["extra"]["pvalue"] == entry["value"]
    # the gold model is evaluated on the whole suite: its forget quality against itself is 1, its privleak 0
    gold = doc["reference_metrics"]["gold"]
    assert gold["forget_quality"]["value"] == 1.0 and gold["privleak"]["value"] == 0.0
    assert doc["references"]["original"] is None
    assert doc["data"]["forget"]["rows"] == len(results["forget_truth_ratio"].per_sample)


def test_rerun_computes_nothing_and_never_loads_a_model(
    first_run, tiny_gpt2_dir, tiny_llama_dir, qa_splits, monkeypatch
):
    run_dir, results = first_run
    before = _cache_files(run_dir)

    def no_load(self):
        raise AssertionError("a fully cached rerun must not load a model")

    monkeypatch.setattr(ModelHandle, "_load", no_load)
    again = _eval(tiny_gpt2_dir, tiny_llama_dir, qa_splits, run_dir)
    assert _cache_files(run_dir) == before
    assert {k: r.value for k, r in again.items()} == {k: r.value for k, r in results.items()}
    doc = json.loads((run_dir / "eval.json").read_text())
    assert all(e["cached"] for e in doc["metrics"].values())


def test_an_option_change_recomputes_only_what_depends_on_it(first_run, tiny_gpt2_dir, tiny_llama_dir, qa_splits):
    run_dir, _ = first_run
    before = _cache_files(run_dir)
    _eval(tiny_gpt2_dir, tiny_llama_dir, qa_splits, run_dir, options=EvalOptions(progress=False, mink_k=0.2))
    new = {name.split("-")[0] for name in _cache_files(run_dir) - before}
    assert new == {"mia_min_k", "privleak"}  # for the model and the gold reference; nothing else


def test_missing_gold_and_holdout_are_visible_skips(tmp_path, tiny_gpt2_dir, qa_splits, capsys):
    splits = {k: v for k, v in qa_splits.items() if k != "holdout"}
    results = _eval(tiny_gpt2_dir, None, splits, tmp_path, summary=True)
    fq, mia, pl = results["forget_quality"], results["mia_min_k"], results["privleak"]
    assert fq.status == "skipped" and fq.value is None and "--gold" in fq.note
    assert mia.status == "skipped" and "holdout" in mia.note
    assert pl.status == "skipped" and "--gold" in pl.note
    assert results["forget_truth_ratio"].status == "ok"
    doc = json.loads((tmp_path / "eval.json").read_text())
    assert (
        doc["metrics"]["forget_quality"]["status"] == "skipped"
        and "--gold" in doc["metrics"]["forget_quality"]["note"]
    )
    out = capsys.readouterr().out
    assert "skipped" in out and "--gold" in out


def test_bad_input_fails_with_one_clear_message(tmp_path, tiny_gpt2_dir, qa_splits):
    with pytest.raises(ObliviateError, match="unknown metric 'forget_qualty'.*forget_quality"):
        _eval(tiny_gpt2_dir, None, qa_splits, tmp_path, metrics=["forget_qualty"])
    with pytest.raises(ObliviateError, match="--data"):
        evaluate(str(tiny_gpt2_dir), suite="tofu", run_dir=tmp_path)
    assert not (tmp_path / "eval.json").exists()
