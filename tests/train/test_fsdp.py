"""Sharded training: FSDP2 (``torch.distributed.fsdp.fully_shard``) on two gloo CPU processes, and accelerate's FSDP
configuration (GPU only: accelerate applies its FSDP plugin only to GPU-type processes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ROOT = Path(__file__).resolve().parents[2]


def test_mari_pooled_sums_reduce_correctly_under_fsdp2(tmp_path):
    """Each process holds half of both batches; with the differentiable all-reduce of the pooled sums, FSDP2's
    averaged gradient equals the single-process full-batch gradient of MarI (MI of the global batch + retain KL);
    without it (sync_processes=False) it does not, so the check can fail."""
    out = tmp_path / "res.json"
    worker = Path(__file__).with_name("fsdp_mari_worker.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(worker),
           str(out)]  # fmt: skip
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["n_params"] > 0 and res["mari"] > 0
    assert res["loss_err"] < 1e-6
    assert res["grad_err"] < 1e-4  # relative to each parameter's largest gradient entry
    assert res["grad_err_unsynced"] > 1e-2


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="accelerate's FSDP needs 2 CUDA devices here")
def test_unlearn_under_accelerate_fsdp_config(run_overrides, tmp_path):
    exe = shutil.which("accelerate")
    if exe is None:
        pytest.skip("the accelerate launcher is not installed")
    obliviate = shutil.which("obliviate") or str(Path(sys.executable).parent / "obliviate")
    config = ROOT / "configs" / "accelerate" / "fsdp.yaml"
    overrides = run_overrides(method__name="mari", train__max_steps=2)
    cmd = [exe, "launch", "--config_file", str(config), "--num_processes", "2", obliviate, "unlearn", "--quiet",
           *overrides]  # fmt: skip
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["num_processes"] == 2 and summary["steps"] == 2
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()


def test_fsdp_config_on_cpu_is_refused_not_run_unsharded(run_overrides, tmp_path):
    """On CPU accelerate ignores its FSDP plugin; `unlearn` must say so (exit 2, one error line) and write nothing,
    instead of running unsharded (or, with several processes, as independent duplicate runs)."""
    exe = shutil.which("obliviate") or str(Path(sys.executable).parent / "obliviate")
    if not Path(exe).is_file():
        pytest.skip("the obliviate console script is not installed")
    env = {**ENV, "ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([exe, "unlearn", "--quiet", *run_overrides()], env=env, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "asks for FSDP" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()
