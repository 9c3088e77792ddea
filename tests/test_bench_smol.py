"""``benchmarks/smol_v2.py``: the summary and table of the real-model benchmark (fast), and one real run (slow).

The fine-tuning path it relies on (``world:smol``) is tested fast in tests/world/test_smol.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from bench_scripts import load_script

ABIL = {"lmeval_arc_easy_local": 0.8, "lmeval_piqa_local": 0.6, "lmeval_hellaswag_local": 0.5, "general_text_ppl": 12}


def _run(method: str, seed: int, fq: float, arc: float, t: float) -> dict:
    metrics = {"forget_quality": fq, "forget_acc": 0.5, "retain_acc": 0.9, "general_acc": 0.8, "model_utility": 0.4,
               "mia_loss": 0.6}  # fmt: skip
    return {"name": method, "seed": seed, "status": "ok", "metrics": metrics, "train_time_s": t,
            "abilities": {**ABIL, "lmeval_arc_easy_local": arc}}  # fmt: skip


def test_summary_reports_spread_deltas_and_cost_against_the_gold_finetune(tmp_path):
    bench = load_script("smol_v2")
    ft = {"steps": 100, "time_s": 400.0, "reached_target": True, "exact_match_trained": 0.97}
    refs = {r: {"name": r, "metrics": {"forget_quality": 0.01}, "abilities": ABIL, "finetune": ft}
            for r in ("base", "original", "gold")}  # fmt: skip
    runs = [_run("npo", 0, 0.2, 0.75, 40.0), _run("npo", 1, 0.4, 0.65, 60.0), {"name": "ga", "status": "failed"}]
    settings = {"methods": ["npo", "ga"], "seeds": [0, 1], "lr": 1e-5, "steps": 20, "batch_size": 16,
                "retain_batch_size": 16, "threads": 2}  # fmt: skip
    doc = {"settings": settings, "references": refs, "runs": runs, "command": "python benchmarks/smol_v2.py",
           "machine": "test"}  # fmt: skip
    doc["summary"] = bench.summarise(doc)
    npo, ga = doc["summary"]
    assert npo["fq"] == "0.3 ± 0.141" and npo["seeds"] == 2 and npo["failed"] == 0
    assert npo["lmeval_arc_easy_local_delta"] == "-10.0 ± 7.1"  # (75 - 80, 65 - 80) points
    assert npo["time_vs_gold"] == "0.125 ± 0.035"  # (40, 60) s / 400 s
    assert ga["seeds"] == 0 and ga["failed"] == 1 and ga["fq"] == "–"
    md = tmp_path / "smol.md"
    bench.write_md(doc, md)
    text = md.read_text()
    assert "| npo | 2 | 0.3 ± 0.141 |" in text and "| ga | 0 (1 failed) | – |" in text
    assert "0 trials per method" in text and "original 100 steps in 400 s" in text


@pytest.mark.slow
def test_one_real_run_on_smollm2(tmp_path, monkeypatch):
    """One npo run of 2 steps on the real world:smol models (skipped unless the GGUF is in place; the first use
    fine-tunes the two models, tens of minutes on 2 CPU cores). Unlike every other test it uses the user's cache
    (``$OBLIVIATE_SMOL_CACHE``, default ~/.cache/obliviate), where the GGUF and the fine-tuned models live."""
    pytest.importorskip("gguf")
    monkeypatch.setenv(
        "OBLIVIATE_CACHE", os.environ.get("OBLIVIATE_SMOL_CACHE", str(Path.home() / ".cache/obliviate"))
    )
    from obliviate.world.smol import gguf_path

    try:
        gguf_path()
    except Exception as e:  # noqa: BLE001 - the error names the commands that fetch it
        pytest.skip(str(e))
    bench = load_script("smol_v2")
    res = tmp_path / "smol"
    argv = ["smol_v2.py", "--methods", "npo", "--seeds", "0", "--steps", "2", "--out", str(tmp_path / "runs"),
            "--results", str(res), "--quiet"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    bench.main()
    doc = json.loads(res.with_suffix(".json").read_text())
    (run,) = doc["runs"]
    assert run["status"] != "failed" and run["steps"] == 2
    assert 0 <= run["metrics"]["forget_quality"] <= 1 and run["abilities"]["general_text_ppl"] > 1


def test_backfill_reads_the_metrics_bench_row_drops_from_eval_json(tmp_path):
    """``bench.row`` keeps only its headline metrics; the table's MIA column comes from the run's eval.json."""
    from obliviate.bench import row

    bench = load_script("smol_v2")
    doc = {"metrics": {"mia_loss": {"status": "ok", "value": 0.61}, "privleak": {"status": "skipped", "value": None},
                       "forget_quality": {"status": "ok", "value": 0.2}}}  # fmt: skip
    (tmp_path / "eval.json").write_text(json.dumps(doc))
    rec = row("npo", "run", doc, tmp_path)
    assert "mia_loss" not in rec["metrics"]
    rec = bench.backfill(rec)
    assert rec["metrics"]["mia_loss"] == 0.61 and rec["metrics"]["privleak"] is None
    assert rec["metrics"]["forget_quality"] == 0.2
