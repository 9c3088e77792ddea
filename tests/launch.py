"""Launch the ``obliviate`` console script on 2 CPU processes, as users do: ``accelerate launch`` with
accelerate's FSDP config (the loop shards, obliviate.train.fsdp) or ``torchrun`` (plain data parallel, DDP)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FSDP_CONFIG = ROOT / "configs" / "accelerate" / "fsdp.yaml"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def obliviate_exe() -> str:
    exe = shutil.which("obliviate") or str(Path(sys.executable).parent / "obliviate")
    if not Path(exe).is_file():
        pytest.skip("the obliviate console script is not installed")
    return exe


def fsdp_command(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """``accelerate launch --config_file configs/accelerate/fsdp.yaml obliviate ARGS`` and its environment."""
    launcher = shutil.which("accelerate") or pytest.skip("the accelerate launcher is not installed")
    return [launcher, "launch", "--config_file", str(FSDP_CONFIG), obliviate_exe(), *args], {
        **ENV, "CUDA_VISIBLE_DEVICES": ""}  # fmt: skip


def launch(args: list[str], fsdp: bool, ok: bool = True) -> subprocess.CompletedProcess:
    """Run ``obliviate ARGS`` on 2 CPU processes (FSDP config, or torchrun); ``ok``: assert it succeeded."""
    if fsdp:
        cmd, env = fsdp_command(args)
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               obliviate_exe(), *args]  # fmt: skip
        env = {**ENV, "ACCELERATE_USE_CPU": "true"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
