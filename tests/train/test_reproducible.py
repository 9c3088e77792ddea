"""Reproducibility of whole runs: two same-seed LoRA runs are bit-identical, and a run killed with SIGKILL at a
random step then resumed ends with the same weight bytes and summary metrics as an uninterrupted one (full, LoRA
and mari runs)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from obliviate import runs
from obliviate.api import unlearn
from obliviate.config import load_config

# A run in a fresh interpreter, as `obliviate unlearn` would do it (the library call, not the CLI parser).
_RUN = "import sys; from obliviate.api import unlearn; from obliviate.config import load_config; " \
       "unlearn(load_config(None, sys.argv[1:]), progress=False)"  # fmt: skip
_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # the same threads in every process
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


def _kill_at(args: list[str], work, step: int) -> int:
    """Start a run, SIGKILL it once its log reaches ``step``; returns the exit code."""
    proc = subprocess.Popen([sys.executable, "-c", _RUN, *args], env=_ENV, stderr=subprocess.DEVNULL)
    log = work / "train_log.jsonl"
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if log.is_file() and len(log.read_text().splitlines()) >= step:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    return proc.wait(timeout=60)


@pytest.fixture
def one_thread():
    """This process computes as the killed one does (one intra-op thread: the same float reduction order)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("case", list(CASES))
def test_resume_after_kill_9_is_bit_identical(case, run_overrides, tmp_path, one_thread):
    kw = {**CASES[case], "train__max_steps": STEPS, "train__save_every": 1, "train__log_every": 1}
    unlearn(load_config(None, run_overrides(**kw, output_dir=tmp_path / "ref")), progress=False)
    args = run_overrides(**kw)
    out = tmp_path / "run"
    step = random.randrange(2, STEPS - 2)
    rc = _kill_at(args, runs.work_dir(out), step)
    assert rc == -signal.SIGKILL and not out.exists(), f"the run was not killed at step {step} (exit {rc})"
    unlearn(load_config(None, [*args, "resume=true"]), progress=False)
    assert _weights(out) == _weights(tmp_path / "ref"), f"{case}: weights differ after a kill at step {step}"
    assert _metrics(out) == _metrics(tmp_path / "ref"), f"{case}: metrics differ after a kill at step {step}"
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1)), f"the log after a kill at step {step}: {steps}"
