"""``obliviate finetune`` options: an existing model with LoRA, plain files plus --forget, refusals to overwrite."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModelForCausalLM

from obliviate.cli import main


def test_lora_on_a_local_model_from_plain_files(tmp_path, tiny_gpt2_dir, tiny_data_files, capsys):
    out = tmp_path / "ft"
    args = ["finetune", "--data", str(tiny_data_files["retain"]), "--forget", str(tiny_data_files["forget"]),
            "--model", str(tiny_gpt2_dir), "--lora", "--lr", "1e-3", "--max-steps", "3", "--warmup-steps", "0",
            "--batch-size", "8", "--out", str(out), "--no-progress"]  # fmt: skip
    assert main(args) == 0
    assert "did NOT reach target" in capsys.readouterr().out  # 3 steps: the budget ends the run, and it says so
    record = json.loads((out / "finetune.json").read_text())
    original, gold = record["models"]["original"], record["models"]["gold"]
    assert original["rows"] == gold["rows"] + 6 and original["steps"] == gold["steps"] == 3
    assert original["recipe"]["lora"] and not original["reached_target"]
    model = AutoModelForCausalLM.from_pretrained(out / "gold")  # merged: a plain model, no adapter modules
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert json.loads((out / "gold" / "finetune.json").read_text())["exact_match"]["holdout"] is None

    assert main(args) == 2  # never replaces finished models silently
    assert "pass --resume to finish it or --overwrite" in capsys.readouterr().err


def test_start_and_data_errors(tmp_path, tiny_data_files, capsys):
    base = ["finetune", "--out", str(tmp_path / "x"), "--fresh", "tiny"]
    assert main([*base, "--data", str(tiny_data_files["retain"])]) == 2
    assert "with --forget FILE" in capsys.readouterr().err
    assert main(["finetune", "--out", str(tmp_path / "x"), "--data", str(tmp_path)]) == 2
    assert "run `obliviate prepare` first" in capsys.readouterr().err
    assert main([*base, "--data", str(tmp_path), "--target", "1.5"]) == 2
    assert not (tmp_path / "x").exists()


def test_resumed_finetune_keeps_the_checks_made_before_the_interruption(tmp_path, tiny_data_files, monkeypatch):
    """Checks every 2 of 10 steps; the checks at steps 4 and 8 die (after their step's checkpoint), and the first
    kill also cuts a line being written. Each `--resume` continues after the checkpoint, and the record lists the
    checks made before the interruptions (2, 6), not only those of the last call."""
    import obliviate.finetune as ft

    real, calls = ft.exact_match, []

    def dies_at_steps_4_and_8(model, tokenizer, rows, *a, **kw):
        calls.append(len(rows))  # checks at 2, 4 (dies); after the resume at 6, 8 (dies)
        if len(calls) in (2, 4):
            raise RuntimeError("killed")
        return real(model, tokenizer, rows, *a, **kw)

    out = tmp_path / "ft"
    args = ["finetune", "--data", str(tiny_data_files["retain"]), "--forget", str(tiny_data_files["forget"]),
            "--fresh", "tiny", "--max-steps", "10", "--check-every", "2", "--warmup-steps", "0", "--batch-size", "8",
            "--models", "original", "--out", str(out), "--no-progress"]  # fmt: skip
    monkeypatch.setattr(ft, "exact_match", dies_at_steps_4_and_8)
    with pytest.raises(RuntimeError, match="killed"):
        main(args)
    with open(out / ".original.partial" / ft.CHECKS_FILE, "a") as f:
        f.write('{"step": 4, "exa')  # the kill cut this line short
    with pytest.raises(RuntimeError, match="killed"):
        main([*args, "--resume"])
    monkeypatch.setattr(ft, "exact_match", real)
    assert main([*args, "--resume"]) == 0
    record = json.loads((out / "finetune.json").read_text())["models"]["original"]
    assert record["steps"] == 10 and [c["step"] for c in record["checks"]] == [2, 6]
