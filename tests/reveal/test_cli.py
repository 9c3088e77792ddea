"""The reveal / reveal-release commands on a tiny generic model: outputs, and one-line errors for bad input."""

from __future__ import annotations

import json

from obliviate.cli import main


def test_reveal_generic_model(tiny_gpt2_dir, tmp_path) -> None:
    pool = tmp_path / "pool.txt"
    pool.write_text("".join(f"Where was person {i} born?\n" for i in range(12)))
    out = tmp_path / "out"
    argv = ["reveal", "--model", str(tiny_gpt2_dir), "--pool", str(pool), "--scorer", "regex:pattern=[a-z]",
            "--budget", "6", "--n-init", "3", "--out", str(out), "-q", "sample.k=2", "sample.max_new_tokens=6",
            "forget.samples=4", "forget.threshold=0.0", "retain=null", "policy.refit_steps=20"]  # fmt: skip
    assert main(argv) == 0
    rows = [json.loads(line) for line in (out / "instructions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["phase"] for r in rows} == {"init", "policy"}
    meta = json.loads((out / "reveal.json").read_text())
    assert meta["config"]["budget"] == 6 and meta["stats"]["pool_size"] == 12
    assert main(argv) == 2  # the output folder exists and --overwrite is not given


def test_bad_input_is_one_line_error(tiny_gpt2_dir, tmp_path, capsys) -> None:
    pool = tmp_path / "pool.txt"
    pool.write_text("a\nb\n")
    assert main(["reveal", "--model", str(tiny_gpt2_dir), "--pool", str(pool), "--scorer", "lexicn:words=a",
                 "--out", str(tmp_path / "o"), "-q"]) == 2  # fmt: skip
    assert "unknown scorer 'lexicn'" in capsys.readouterr().err
    assert main(["reveal-release", f"model.path={tiny_gpt2_dir}", f"output_dir={tmp_path / 'rr'}", "-q"]) == 2
    assert "set method.args.pool" in capsys.readouterr().err
    assert main(["unlearn", "method.name=reveal_release", "method.args.mode=bogus", "-q"]) == 2
    assert "mode must be negate or ascent" in capsys.readouterr().err
    # --resume reaches the pipeline: with both flags the run folder's rule answers before anything loads
    argv = ["reveal-release", f"model.path={tiny_gpt2_dir}", f"output_dir={tmp_path / 'rr'}", "-q"]
    assert main([*argv, "--resume", "--overwrite"]) == 2
    assert "overwrite and resume are both set" in capsys.readouterr().err
