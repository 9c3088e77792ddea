"""Sharded training: FSDP2 (``torch.distributed.fsdp.fully_shard``) on two gloo CPU processes, MarI's pooled sums
under it, ``obliviate unlearn`` / ``finetune`` launched with accelerate's FSDP config on CPU (the loop shards,
obliviate.train.fsdp), and the same config on 2 GPUs (accelerate's own FSDP plugin; marked ``gpu``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from launch import ENV, fsdp_command, launch, obliviate_exe


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
def test_fsdp_config_on_gpus_is_refused_with_a_clear_error(run_overrides, tmp_path):
    """accelerate 1.15 prepares FSDP2 only through accelerate.prepare(); until the loop's own sharding has run on
    GPUs, the GPU launch must stop with one error line (run this with -m gpu wherever 2 GPUs are available)."""
    cmd, _ = fsdp_command(["unlearn", "--quiet", *run_overrides(method__name="mari", train__max_steps=2)])
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)  # the GPUs stay visible
    assert proc.returncode != 0 and "error: FSDP on cuda processes is not supported" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


def _assert_sharded(stderr: str) -> None:
    """The loop's log line: both blocks and the root were sharded, and this process holds half the values."""
    assert "FSDP2 (fully_shard) on 2 CPU processes: 2 blocks + the root sharded" in stderr
    held, total = map(int, stderr.split("this process holds ")[1].split(" parameter values")[0].split(" of "))
    assert total > 0 and held <= total // 2 + 64  # half of every tensor's rows (+ padding of odd row counts)


def _assert_same_run(got: Path, want: Path, atol: float) -> None:
    """Same logged steps, loss terms and gradient norms, and the same saved weights (to float rounding)."""
    a_log, b_log = _log(got), _log(want)
    assert [r["step"] for r in a_log] == [r["step"] for r in b_log]
    for a, b in zip(a_log, b_log):
        for key in ("loss", "grad_norm", *(k for k in b if k.endswith("_nll") or k == "mari")):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["step"], key)
    w_got = load_file(got / "model" / "model.safetensors")
    w_want = load_file(want / "model" / "model.safetensors")
    assert w_got.keys() == w_want.keys()
    for name, w in w_want.items():
        torch.testing.assert_close(w_got[name], w, rtol=1e-5, atol=atol, msg=name)


def test_mari_under_fsdp_config_on_cpu_shards_and_matches_ddp(run_overrides, tmp_path):
    """`accelerate launch --config_file configs/accelerate/fsdp.yaml obliviate unlearn` with mari on 2 CPU
    processes: the parameters are sharded, and the loss curve (every term, the gradient norm) and the saved weights
    equal a DDP run's on the same batches (the pooled sums are all-reduced on both paths; checkpoints every step:
    the gathering runs, collectively; 2 micro-batches per step: FSDP's reduce-scatter waits for the last, as DDP's
    all-reduce does)."""
    kw = {"method__name": "mari", "train__retain_batch_size": 4, "train__save_every": 1, "train__log_every": 1,
          "train__grad_accum": 2}  # fmt: skip
    proc = launch(["unlearn", *run_overrides(**kw, output_dir=tmp_path / "fsdp")], fsdp=True)
    launch(["unlearn", "--quiet", *run_overrides(**kw, output_dir=tmp_path / "ddp")], fsdp=False)
    _assert_sharded(proc.stderr)
    assert json.loads((tmp_path / "fsdp" / "summary.json").read_text())["num_processes"] == 2
    assert [r["step"] for r in _log(tmp_path / "fsdp")] == [1, 2, 3]
    # The logged terms and gradient norms agree to 1e-5 rel. / 1e-6 abs.; the weights to 5e-5: with 2 micro-batches
    # the two paths sum and divide the gradients in another order, and Adam's division by sqrt(v) blows that rounding
    # up on near-zero gradients (tied-embedding rows of improbable tokens: 1.9e-5 after 3 steps, 1e-6 without)
    _assert_same_run(tmp_path / "fsdp", tmp_path / "ddp", atol=5e-5)


def test_graddiff_fsdp_run_killed_then_resumed_ends_as_an_uninterrupted_ddp_run(run_overrides, tmp_path):
    """SIGKILL a graddiff FSDP run (accelerate launch, 2 CPU processes) after a gathered checkpoint; `--resume`
    under FSDP shards that checkpoint (weights and AdamW moments) back, and the whole run (loss curve, weights)
    equals an uninterrupted DDP run on the same batches."""
    import contextlib
    import signal
    import time

    import psutil  # an accelerate dependency

    from obliviate.runs import work_dir

    kw = {"train__max_steps": 6, "train__save_every": 1, "train__log_every": 1}
    launch(["unlearn", "--quiet", *run_overrides(**kw, output_dir=tmp_path / "ddp")], fsdp=False)
    args = run_overrides(**kw, output_dir=tmp_path / "fsdp")
    cmd, env = fsdp_command(["unlearn", "--quiet", *args])
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = work_dir(tmp_path / "fsdp") / "checkpoints" / "last" / "meta.json"
    deadline = time.time() + 240
    while proc.poll() is None and time.time() < deadline:
        if meta.is_file() and json.loads(meta.read_text())["step"] >= 3:
            for child in [*psutil.Process(proc.pid).children(recursive=True), proc]:  # workers, then launcher
                with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)  # the workers run in sessions of their own
            break
        time.sleep(0.005)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not (tmp_path / "fsdp").exists(), "not killed mid-run"
    resumed = launch(["unlearn", "--resume", *args], fsdp=True)
    _assert_sharded(resumed.stderr)
    assert json.loads((tmp_path / "fsdp" / "receipt.json").read_text())["resumed"]["from"]["step"] >= 3
    assert [r["step"] for r in _log(tmp_path / "fsdp")] == list(range(1, 7))
    # Adam divides by sqrt(v): on near-zero gradients (attention biases) the rounding of the two reductions grows
    # to ~1.4e-6 after 6 steps of lr 1e-3 (in an uninterrupted FSDP run as well)
    _assert_same_run(tmp_path / "fsdp", tmp_path / "ddp", atol=1e-5)


def test_finetune_fresh_tiny_under_fsdp_config_on_cpu(tmp_path, tiny_data_files):
    """`obliviate finetune --fresh tiny` under accelerate's FSDP config on 2 CPU processes: sharded, the mid-run
    exact-match check and checkpoint (step 2) gather the weights, one process writes, the model loads."""
    from transformers import AutoModelForCausalLM

    out = tmp_path / "ft"
    args = ["finetune", "--data", str(tiny_data_files["retain"]), "--forget", str(tiny_data_files["forget"]),
            "--fresh", "tiny", "--max-steps", "3", "--check-every", "2", "--warmup-steps", "0", "--batch-size", "8",
            "--models", "original", "--out", str(out)]  # fmt: skip
    proc = launch(args, fsdp=True)
    assert "FSDP2 (fully_shard) on 2 CPU processes" in proc.stderr
    record = json.loads((out / "finetune.json").read_text())["models"]["original"]
    assert record["steps"] == 3 and [c["step"] for c in record["checks"]] == [2]
    model = AutoModelForCausalLM.from_pretrained(out / "original")
    assert sum(p.numel() for p in model.parameters()) > 0
    assert sorted(p.name for p in out.iterdir()) == ["finetune.json", "original"]  # no work folder left behind


def test_fsdp_config_on_one_cpu_process_is_refused_not_run_unsharded(run_overrides, tmp_path):
    """FSDP asked for on a single CPU process has nothing to shard over: `unlearn` says so (exit 2, one error line)
    and writes nothing, instead of running unsharded."""
    exe = obliviate_exe()
    env = {**ENV, "ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([exe, "unlearn", "--quiet", *run_overrides()], env=env, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "asks for FSDP" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()
