"""``obliviate unlearn`` / ``validate`` / ``methods``: exit codes, printed facts, one-line errors, --help examples."""

from __future__ import annotations

import json

import pytest

from obliviate.cli import main


def test_unlearn_then_overwrite_and_resume_flags(run_overrides, tmp_path, capsys):
    args = ["unlearn", "--quiet", *run_overrides(train__max_steps=2)]
    assert main(args) == 0
    assert "ok: graddiff, 2 steps" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "ok"

    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: output_dir ") and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--resume"]) == 0
    # options may sit between overrides (argparse alone would reject the trailing key=value)
    assert main(["unlearn", "--quiet", *args[2:-1], "--overwrite", args[-1], "train.max_steps=1"]) == 0
    assert "ok: graddiff, 1 steps" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["unlearn", "--bogus", "a=1"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"method__name": "gradiff"}, "error: unknown method 'gradiff'. Did you mean 'graddiff'"),
        ({"method__args__gama": 2}, "error: unknown config key 'method.args.gama'. Did you mean 'gamma'?"),
        ({"model__path": "/missing/model"}, "error: model path '/missing/model' does not exist"),
        ({"train__lr": "fast"}, "error: train.lr: expected a number, got 'fast'"),
    ],
)
def test_bad_input_is_one_error_line_with_exit_2(run_overrides, tmp_path, capsys, extra, message):
    assert main(["unlearn", "--quiet", *run_overrides(**extra)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_validate_prints_what_it_found(run_overrides, capsys):
    assert main(["validate", *run_overrides(data__max_length=8)]) == 0
    out = capsys.readouterr().out
    assert "GPT2LMHeadModel" in out and "6 rows, 6 examples, 6 truncated" in out and "retain   15 rows" in out
    assert "ok: the config, model and data are valid" in out


def test_methods_lists_options_with_defaults_and_help(capsys):
    from obliviate.methods import METHODS

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in METHODS.names():
        assert f"\n{name}: " in f"\n{out}"
    assert main(["methods", "graddiff"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("graddiff: ") and "method.args.gamma: float = 1.0  # " in out
    assert "method.args.retain.kind: str = 'nll'" in out
    assert main(["methods", "gradif"]) == 2
    assert "Did you mean 'graddiff'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["unlearn", "validate", "methods"])
def test_help_shows_runnable_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"obliviate {command}" in out
    if command == "unlearn":
        assert "configs/smoke_tiny.yaml" in out and "torchrun" in out
