"""Reproducibility of whole runs: two same-seed LoRA runs are bit-identical, and a run killed with SIGKILL at a
random step then resumed ends with the same weight bytes and summary metrics as an uninterrupted one (full, LoRA
and mari runs)."""

from __future__ import annotations

import json
import random
import signal

import pytest
import torch

from kill_run import kill_when
from obliviate import runs
from obliviate.api import unlearn
from obliviate.config import load_config

STEPS = 20

CASES = {
    "full": {},
    "lora": {"lora__enabled": True, "lora__r": 4, "lora__alpha": 8, "lora__dropout": 0.1},
    "mari": {"method__name": "mari", "train__retain_batch_size": 4},
}


def _weights(run_dir) -> bytes:
    return (run_dir / "model" / "model.safetensors").read_bytes()


def _metrics(run_dir) -> list:
    summary = json.loads((run_dir / "summary.json").read_text())
    return [(r["steps"], r["final"]) for r in summary["requests"]]


def test_two_lora_runs_with_one_seed_are_bit_identical(run_overrides, tmp_path):
    kw = {**CASES["lora"], "train__max_steps": 3}
    a = unlearn(load_config(None, run_overrides(**kw, output_dir=tmp_path / "a")), progress=False)
    b = unlearn(load_config(None, run_overrides(**kw, output_dir=tmp_path / "b")), progress=False)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert _weights(a.run_dir) == _weights(b.run_dir)
    c = unlearn(load_config(None, run_overrides(**kw, train__seed=1, output_dir=tmp_path / "c")), progress=False)
    assert _weights(c.run_dir) != _weights(a.run_dir)  # the seed matters (the adapters' init)


def _log_has(work, step: int):
    log = work / "train_log.jsonl"
    return lambda: log.is_file() and len(log.read_text().splitlines()) >= step


def _writing_model(work, steps: int):
    def ready() -> bool:
        try:
            return _log_has(work, steps)() and any(p.name.lstrip(".").startswith("model") for p in work.iterdir())
        except FileNotFoundError:  # the run finished (renamed its .partial) between the two looks
            return False

    return ready


@pytest.mark.parametrize("case", list(CASES))
def test_resume_after_kill_9_is_bit_identical(case, run_overrides, tmp_path, one_thread):
    kw = {**CASES[case], "train__max_steps": STEPS, "train__save_every": 1, "train__log_every": 1}
    unlearn(load_config(None, run_overrides(**kw, output_dir=tmp_path / "ref")), progress=False)
    args = run_overrides(**kw)
    out = tmp_path / "run"
    step = random.randrange(2, STEPS - 2)
    rc = kill_when(args, _log_has(runs.work_dir(out), step))
    assert rc == -signal.SIGKILL and not out.exists(), f"the run was not killed at step {step} (exit {rc})"
    unlearn(load_config(None, [*args, "resume=true"]), progress=False)
    assert _weights(out) == _weights(tmp_path / "ref"), f"{case}: weights differ after a kill at step {step}"
    assert _metrics(out) == _metrics(tmp_path / "ref"), f"{case}: metrics differ after a kill at step {step}"
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1)), f"the log after a kill at step {step}: {steps}"


def test_kill_9_during_the_final_write_then_resume(run_overrides, tmp_path, one_thread):
    """A real SIGKILL once the last step is logged, as the final model / summary / receipt are written (a model
    folder or its temp copy appearing in the work dir ends the wait): nothing appears under the final name, and
    --resume finishes the same run."""
    kw = {"train__max_steps": 6, "train__save_every": 1, "train__log_every": 1}
    unlearn(load_config(None, run_overrides(**kw, output_dir=tmp_path / "ref")), progress=False)
    for attempt in range(5):  # the write window is short: try again when the run finished before the kill landed
        out = tmp_path / f"run{attempt}"
        work = runs.work_dir(out)
        args = run_overrides(**kw, output_dir=out)
        if kill_when(args, _writing_model(work, 6)) == -signal.SIGKILL:
            break
    assert not out.exists() and work.is_dir(), "the killed run must not appear under its final name"
    unlearn(load_config(None, [*args, "resume=true"]), progress=False)
    assert _weights(out) == _weights(tmp_path / "ref") and _metrics(out) == _metrics(tmp_path / "ref")
    assert not list(out.glob(".*.tmp")) and json.loads((out / "receipt.json").read_text())["resumed"]["resumed"]
