"""``obliviate finetune`` options: an existing model with LoRA, plain files plus --forget, refusals to overwrite."""

from __future__ import annotations

import json

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
