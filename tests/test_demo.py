"""``obliviate demo`` end to end on the reduced test world (``world_models`` session fixture, 60 people), plus its
option checks, output-folder rules and the recipe table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obliviate.bench import SELECTION_RULE, recipes_from_results, select_run
from obliviate.cli import main
from obliviate.cli.tables import leaderboard_table
from obliviate.config import from_dict
from obliviate.demo import DEFAULT_METHODS, RECIPES, prepare_out, resolve_methods
from obliviate.demo_recipes import NOT_IN_DEMO
from obliviate.errors import ObliviateError
from obliviate.methods import METHODS


def test_demo_cli_writes_leaderboard_evals_and_report(world_models, tmp_path, capsys, monkeypatch):
    import dataclasses

    out = tmp_path / "demo"
    people = world_models["data"].removeprefix("people=")
    for name, steps in (("graddiff", 2), ("mari", 3)):  # each recipe runs its own number of steps
        monkeypatch.setitem(RECIPES, name, dataclasses.replace(RECIPES[name], steps=steps))
    argv = ["demo", "--people", people, "--methods", "graddiff,mari", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "graddiff" in printed and "mari" in printed and "total time" in printed
    assert "recipe steps" in printed and "steps: graddiff 2 · mari 3" in printed
    assert f"report:  {out / 'report' / 'report.html'}\n" in printed

    board = json.loads((out / "leaderboard.json").read_text())
    rows = {r["name"]: r for r in board["rows"]}
    assert [r["name"] for r in board["rows"]] == ["original", "gold", "graddiff", "mari"]
    assert rows["original"]["role"] == "original" and rows["gold"]["role"] == "gold"
    # the reference rows mean what they should: the original knows the forget people, the gold model does not
    assert rows["original"]["metrics"]["forget_acc"] > rows["gold"]["metrics"]["forget_acc"]
    assert rows["gold"]["metrics"]["forget_quality"] == pytest.approx(1.0)
    for name, steps in (("graddiff", 2), ("mari", 3)):
        assert rows[name]["status"] == "ok" and rows[name]["steps"] == steps
        doc = json.loads((out / "runs" / name / "eval.json").read_text())
        assert doc["metrics"]["forget_acc"]["status"] == "ok"
        assert doc["reference_metrics"]["gold"]["forget_acc"]["value"] == rows["gold"]["metrics"]["forget_acc"]
        assert (out / "runs" / name / "model").is_dir()
    cert = json.loads((out / "runs" / "mari" / "certificate.json").read_text())
    assert set(cert["models"]) == {"model", "original", "gold"}
    assert not (out / "runs" / "graddiff" / "certificate.json").exists()
    for role in ("original", "gold"):
        assert json.loads((out / role / "summary.json").read_text())["role"] == role
    html = (out / "report" / "report.html").read_text()
    assert "graddiff" in html and "gold" in html
    assert set(board["times"]) >= {"world", "references", "graddiff", "mari", "report", "total"}

    # a second demo into the same folder needs --overwrite
    assert main([*argv, "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_leaderboard_table_marks_failures_and_missing_values():
    from rich.console import Console

    rows = [
        {"name": "original", "role": "original", "metrics": {"forget_acc": 1.0, "forget_quality": 3e-7}},
        {"name": "ga", "role": "run", "metrics": {"forget_acc": 0.25}, "train_time_s": 2.0, "eval_time_s": 1.0},
        {"name": "npo", "role": "run", "status": "failed", "error": "boom", "metrics": {}},
    ]
    console = Console(width=80, record=True)
    console.print(leaderboard_table(rows))
    text = console.export_text()
    assert "100" in text and "3e-7" in text and "25" in text and "failed" in text and "–" in text


def test_resolve_methods():
    assert resolve_methods(None) == [m for m in DEFAULT_METHODS if m in METHODS]
    assert resolve_methods("npo, ga,npo") == ["npo", "ga"]
    everything = resolve_methods("all")
    assert set(everything) == set(METHODS.names()) - set(NOT_IN_DEMO)
    with pytest.raises(ObliviateError, match="graddif"):
        resolve_methods("graddif")
    with pytest.raises(ObliviateError, match="no methods"):
        resolve_methods(" , ")
    for name in NOT_IN_DEMO:
        with pytest.raises(ObliviateError, match="cannot run"):
            resolve_methods([name])


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_args_validate_against_the_method(name):
    """A method renaming an option breaks its demo recipe here, not in the middle of a demo."""
    assert name in METHODS, f"demo recipe for unregistered method {name!r}"
    cls = METHODS.get(name)
    from_dict(cls.Config, dict(RECIPES[name].args), "method.args")


def test_prepare_out_never_deletes_foreign_folders(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ObliviateError, match="no earlier demo"):
        prepare_out(foreign, overwrite=True)
    assert (foreign / "notes.txt").is_file()

    demo = tmp_path / "demo"
    prepare_out(demo, overwrite=False)  # new folder
    (demo / "demo.json").write_text("{}")
    (demo / "leaderboard.json").write_text("{}")
    with pytest.raises(ObliviateError, match="--overwrite"):
        prepare_out(demo, overwrite=False)
    prepare_out(demo, overwrite=True)
    assert demo.is_dir() and not any(demo.iterdir())


def test_demo_rejects_bad_options(tmp_path, capsys):
    assert main(["demo", "--methods", "nope", "--out", str(tmp_path / "d"), "--no-progress"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["demo", "--preset", "huge", "--out", str(tmp_path / "d"), "--no-progress"]) == 2
    assert "preset" in capsys.readouterr().err
    assert main(["demo", "--steps", "0", "--out", str(tmp_path / "d"), "--no-progress"]) == 2
    assert not (tmp_path / "d").exists()  # nothing written for bad options


def _run(forget, retain, general=1.0, status="ok"):
    return {"status": status, "metrics": {"forget_acc": forget, "retain_acc": retain, "general_acc": general}}


def test_select_run_keeps_retain_and_general_then_nears_gold():
    original, gold = _run(1.0, 1.0), _run(0.05, 1.0)
    runs = [
        _run(0.05, 0.90),  # gold-level forgetting, but retain below 95 % of the original's
        _run(0.30, 0.99),
        _run(0.10, 0.96, general=0.5),  # general knowledge below 60 %
        _run(0.20, 0.95),
        _run(0.0, 0.0, status="failed"),
    ]
    assert select_run(runs, original, gold) == (3, True)
    assert select_run(runs[:1] + runs[2:3], original, gold) == (1, False)  # none keeps both: best retain
    tie = [_run(0.10, 0.96), _run(0.0, 0.99)]  # both 0.05 from gold: the higher retain accuracy wins
    assert select_run(tie, original, gold) == (1, True)
    with pytest.raises(ObliviateError, match="no run"):
        select_run(runs[4:], original, gold)


def test_recipes_are_the_committed_benchmark_v2_selection():
    """RECIPES is what ``benchmarks/demo_recipes.py --from-results`` regenerates from benchmark v2's committed grid
    (each method's gold-free tuned runs on the first world); the older hand grid stays on record."""
    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    doc = json.loads((results / "methods_v2_recipes.json").read_text())
    assert recipes_from_results(doc) == RECIPES
    assert all(run["recipe"]["lr"] > 0 and run["recipe"]["steps"] >= 1 for run in doc["runs"])
    hand = json.loads((results / "demo_recipes.json").read_text())
    assert hand["selection_rule"] == SELECTION_RULE and set(recipes_from_results(hand)) >= set(RECIPES)
