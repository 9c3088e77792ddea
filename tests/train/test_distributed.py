"""Data parallel on CPU: two processes over gloo (``ACCELERATE_USE_CPU=true torchrun --nproc_per_node 2``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def test_two_process_run_completes_and_saves_once(run_overrides, tmp_path):
    exe = shutil.which("obliviate") or str(Path(sys.executable).parent / "obliviate")
    if not Path(exe).is_file():
        pytest.skip("the obliviate console script is not installed")
    # one epoch over 6 forget rows, batch 2 per process: 3 steps on one process, 2 on two (each takes a shard)
    overrides = run_overrides(train__max_steps="null", train__epochs=1, train__save_every=1)
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", exe,
           "unlearn", "--quiet", *overrides]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("ok: graddiff, 2 steps") == 1  # one summary line: only rank 0 reports
    out = tmp_path / "run"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["steps"] == 2
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # written once, by the main process
    assert (out / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no partial or temp folders left behind
