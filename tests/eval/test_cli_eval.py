"""``obliviate eval`` end to end on the tiny saved model and jsonl files."""

from __future__ import annotations

import json

from obliviate.cli import main


def test_help_shows_runnable_examples(capsys):
    try:
        main(["eval", "--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert "obliviate eval --model world:tiny --gold world:tiny/gold --suite world" in out
    assert "--suite {world,book,tofu,muse,custom}" in out


def test_custom_suite_writes_eval_json_and_summary(tmp_path, tiny_gpt2_dir, tiny_data_files, capsys):
    out = tmp_path / "out"
    argv = ["eval", "--model", str(tiny_gpt2_dir), "--suite", "custom", "--out", str(out), "--no-progress"]
    argv += ["--forget", str(tiny_data_files["forget"]), "--holdout", str(tiny_data_files["holdout"])]
    argv += ["--metrics", "forget_nll,forget_acc,mia_loss,forget_quality,forget_truth_ratio"]
    assert main(argv) == 0
    doc = json.loads((out / "eval.json").read_text())
    assert doc["metrics"]["mia_loss"]["status"] == "ok"
    assert doc["metrics"]["forget_quality"]["status"] == "skipped"  # no --gold
    assert "perturbed" in doc["metrics"]["forget_truth_ratio"]["note"]  # plain QA rows: no perturbed answers
    printed = capsys.readouterr().out
    assert "forget_acc" in printed and f"wrote {out / 'eval.json'}" in printed


def test_bad_arguments_exit_2_with_one_line(tmp_path, tiny_gpt2_dir, tiny_data_files, capsys):
    assert main(["eval", "--model", str(tiny_gpt2_dir), "--suite", "tofu", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: suite 'tofu' needs --data DIR") and err.count("\n") == 1
    forget = str(tiny_data_files["forget"])
    assert main(["eval", "--model", str(tmp_path / "nope"), "--suite", "custom", "--forget", forget]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_run_folder_evaluates_its_model_and_receives_eval_json(tmp_path):
    from obliviate.cli._run_folder import resolve

    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text("{}\n")
    for spec in (run, run / "model"):
        target = resolve(str(spec), None, "eval")
        assert (target.model, target.out) == (str(run / "model"), run)
    assert resolve("world:tiny/gold", None, "eval").out.name == "world_tiny_gold"
    assert resolve("world:tiny", str(tmp_path / "x"), "eval").out == tmp_path / "x"


def test_eval_reads_data_and_the_original_from_a_run_folder(tmp_path, tiny_gpt2_dir, tiny_data_files):
    import shutil

    import yaml

    from obliviate.cli.eval import _world_root

    run = tmp_path / "run"
    shutil.copytree(tiny_gpt2_dir, run / "model")
    data = {"forget": [str(tiny_data_files["forget"])], "retain": str(tiny_data_files["retain"])}
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"path": str(tiny_gpt2_dir)}, "data": data}))
    argv = ["eval", "--model", str(run), "--suite", "custom", "--metrics", "forget_nll,retain_nll,holdout_nll"]
    assert main([*argv, "--holdout", str(tiny_data_files["holdout"]), "--no-progress"]) == 0  # a flag adds a split
    doc = json.loads((run / "eval.json").read_text())
    assert all(doc["metrics"][m]["status"] == "ok" for m in ("forget_nll", "retain_nll", "holdout_nll"))
    assert "original" in doc.get("reference_metrics", {})  # model.path became the original reference row
    assert _world_root(["world:uncorrelated/people=60/forget10"]) == "uncorrelated/people=60"
    assert _world_root("world:forget10") is None and _world_root(["a.jsonl"]) is None
