"""``obliviate tune`` launched on 2 CPU processes: the main process drives the study and every process trains each
trial (obliviate.tune.group), sharded under accelerate's FSDP config or data parallel under torchrun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launch import launch

GRID = ["--methods", "ga", "--sampler", "grid", "--grid-points", "2", "--trials", "2", "--lr", "1e-4:3e-2",
        "--steps", "4:4", "train.log_every=1"]  # fmt: skip


def _trials(out: Path) -> list[dict]:
    return json.loads((out / "tune.json").read_text())["studies"]["ga"]["trials"]


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def test_tune_under_fsdp_trains_every_trial_sharded_and_matches_a_ddp_tune(tmp_path, tune_argv):
    """A 2-point grid of gradient ascent (lr 1e-4 and 3e-2, 4 steps, a check at step 2) under the FSDP config: each
    trial is sharded on both processes, the main process's pruning stops both at the check, and every trial (state,
    point, scores, loss curve) equals the same tune launched data parallel; only the main process prints."""
    fsdp = launch([a for a in tune_argv(tmp_path / "fsdp", *GRID) if a != "--quiet"], fsdp=True)  # the log lines
    launch(tune_argv(tmp_path / "ddp", *GRID), fsdp=False)
    assert fsdp.stderr.count("FSDP2 (fully_shard) on 2 CPU processes") == 2  # every trial (the main process logs)
    assert fsdp.stdout.count("ga: ") == 1 and "error:" not in fsdp.stderr and "Traceback" not in fsdp.stderr
    got, want = _trials(tmp_path / "fsdp"), _trials(tmp_path / "ddp")
    assert sorted(t["state"] for t in got) == ["COMPLETE", "PRUNED"]  # lr 1e-4 / 3e-2
    assert [(t["state"], t["point"]) for t in got] == [(t["state"], t["point"]) for t in want]
    for a, b in zip(got, want):
        assert a["distance"] == pytest.approx(b["distance"], rel=1e-5, abs=1e-6)
        for key, value in (b["scores"] or b["check"]).items():
            assert (a["scores"] or a["check"])[key] == pytest.approx(value, rel=1e-5, abs=1e-6), (a["number"], key)
        run = Path(a["run_dir"])
        assert json.loads((run / "summary.json").read_text())["num_processes"] == 2
        log, want_log = _log(run), _log(Path(b["run_dir"]))
        assert [r["step"] for r in log] == ([1, 2, 3, 4] if a["state"] == "COMPLETE" else [1, 2])  # pruned at 2
        for r, w in zip(log, want_log, strict=True):
            assert r["loss"] == pytest.approx(w["loss"], rel=1e-5) and r["grad_norm"] == pytest.approx(w["grad_norm"])
    assert (tmp_path / "fsdp" / "ga" / "selected" / "model").is_dir()


def test_tune_setup_error_stops_every_process(tmp_path, tune_argv):
    """A bad tune (no holdout set) on 2 processes: the main process's error reaches the other one, both exit with
    it (no hang, no traceback) and nothing is written."""
    proc = launch(tune_argv(tmp_path / "tune", "data.holdout=null"), fsdp=False, ok=False)
    error = "error: tune needs data.retain and data.holdout"
    assert proc.returncode != 0 and proc.stderr.count(error) == 2  # each process says it
    assert "exitcode  : 2" in proc.stderr  # torchrun's summary (its own traceback follows our lines)
    assert "Traceback" not in proc.stderr[: proc.stderr.rindex(error)] and not (tmp_path / "tune").exists()
