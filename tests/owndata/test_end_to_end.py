"""Your own data end to end, from raw files only: prepare -> finetune (original + gold, a tiny model from scratch)
-> unlearn (mari, npo, graddiff) -> eval -> report, on a data set unlike the built-in world (invented companies,
``Q: ... A: `` prompts ending in a space). Every headline metric must be computed, none skipped."""

from __future__ import annotations

import json
from pathlib import Path

from catalogue import write_raw

from obliviate.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
HEADLINE = ("forget_quality", "model_utility", "mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_plus_plus", "privleak")


def test_raw_files_to_report(tmp_path, capsys):
    raw = write_raw(tmp_path / "raw", n=8)
    prep, ft = tmp_path / "prep", tmp_path / "ft"
    assert main(["prepare", "--qa", str(raw["qa"]), "--text", str(raw["text"]), "--general", str(raw["general"]),
                 "--entity-key", "company", "--forget-fraction", "0.125", "--out", str(prep)]) == 0  # fmt: skip
    assert "MISSING" not in capsys.readouterr().out
    finetune = ["finetune", "--data", str(prep), "--fresh", "tiny", "--vocab-size", "512", "--out", str(ft),
                "--check-every", "10", "--max-steps", "400", "--no-progress"]  # fmt: skip
    assert main([*finetune, "--models", "original"]) == 0
    assert main([*finetune, "--resume"]) == 0  # the finished original is kept, the gold model is trained
    record = json.loads((ft / "finetune.json").read_text())
    original, gold = record["models"]["original"], record["models"]["gold"]
    assert original["reached_target"] and gold["reached_target"], record
    assert original["exact_match"]["forget"] >= 0.95 and gold["exact_match"]["forget"] <= 0.5
    assert original["recipe"] == gold["recipe"] and "forget" not in gold["trained_on"]
    for which in ("original", "gold"):
        assert (ft / which / "config.json").is_file() and (ft / which / "tokenizer.json").is_file()

    splits = {s: str(prep / f"{s}.jsonl") for s in ("forget", "retain", "holdout", "general")}
    runs = []
    for method in ("mari", "npo", "graddiff"):
        run = tmp_path / method
        overrides = [f"model.path={ft / 'original'}", f"data.forget=[{splits['forget']}]",
                     f"data.retain={splits['retain']}", f"data.holdout={splits['holdout']}", "data.max_length=64",
                     "train.max_steps=8", "train.batch_size=4", f"output_dir={run}", "--quiet"]  # fmt: skip
        assert main(["unlearn", "--config", str(CONFIGS / f"{method}.yaml"), *overrides]) == 0
        # the default suite with your own --forget: no world split is mixed in
        # one metric cache for the three runs: the gold / original reference rows are computed once
        flags = [f"--{s}={p}" for s, p in splits.items()] + [f"--cache-dir={tmp_path / 'eval_cache'}"]
        assert main(["eval", "--model", str(run), "--gold", str(ft / "gold"), "--original", str(ft / "original"),
                     *flags, "--no-progress"]) == 0  # fmt: skip
        doc = json.loads((run / "eval.json").read_text())
        assert {s: d["spec"] for s, d in doc["data"].items()} == splits
        for name in HEADLINE:
            assert doc["metrics"][name]["status"] == "ok", (method, name, doc["metrics"][name]["note"])
        runs.append(str(run))
    out = capsys.readouterr().out
    assert "| forget_quality |" in out  # a non-terminal stdout gets a Markdown table, not wrapped columns
    assert main(["report", *runs, "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "skipped" not in report.split("forget_quality", 1)[1].split("\n", 1)[0]
