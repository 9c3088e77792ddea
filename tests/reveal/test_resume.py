"""Reveal-and-Release resumes exactly: a run killed with SIGKILL after its first round (at a random moment of the
second) and resumed ends with the same weight bytes, round log and metrics as an uninterrupted run."""

from __future__ import annotations

import json
import random
import signal

from kill_run import kill_when
from obliviate import runs
from obliviate.reveal.release import STATE

ARGS = [
    "model.path=task:toxicity/test", "method.name=reveal_release", "method.args.rounds=2", "method.args.steps=12",
    "method.args.pool_size=200", "method.args.reveal.budget=8", "method.args.reveal.n_init=4",
    "method.args.reveal.sample.k=4", "method.args.reveal.sample.max_new_tokens=16",
    "method.args.reveal.forget.samples=16", "method.args.reveal.retain=null", "method.args.utility_budget=10",
    "method.args.reveal.n_eval=50", "method.args.reveal.forget.threshold=0.1", "method.args.stop_reward=0",
    "method.args.retain_source=given",  # the task's retain rows: a retain adapter is fitted, saved and restored
    "train.batch_size=8", "train.log_every=1",
]  # fmt: skip
SAME = ("requests", "rounds_kept", "retain_module", "baseline", "final", "attack", "stop_reason", "steps")


def _after_round_one(work, delay: float):
    state = work / STATE / "state.json"
    seen: list[float] = []

    def ready() -> bool:
        import time

        if not seen and state.is_file() and json.loads(state.read_text())["next_round"] == 2:
            seen.append(time.time())
        return bool(seen) and time.time() >= seen[0] + delay

    return ready


def _summary(run_dir) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {k: summary[k] for k in SAME}


def _log(run_dir) -> list[tuple[int, int]]:
    return [(r["request"], r["step"]) for r in map(json.loads, (run_dir / "train_log.jsonl").open())]


def test_reveal_release_resumes_bit_identical_after_kill_9(toxicity_task, tmp_path):
    # All three runs in fresh one-thread interpreters: the scorers' BLAS threads must match, not only torch's.
    ref, out = tmp_path / "ref", tmp_path / "run"
    assert kill_when([*ARGS, f"output_dir={ref}"], lambda: False) == 0
    assert [r["status"] for r in _summary(ref)["requests"]] == ["kept", "kept"]  # round 2 trains: a kill lands in it
    delay = random.uniform(0.0, 1.0)
    rc = kill_when([*ARGS, f"output_dir={out}"], _after_round_one(runs.work_dir(out), delay))
    assert rc == -signal.SIGKILL and not out.exists(), f"not killed in round 2 (delay {delay:.2f} s, exit {rc})"
    assert kill_when([*ARGS, f"output_dir={out}", "resume=true"], lambda: False) == 0
    weights = [(d / "model" / "model.safetensors").read_bytes() for d in (out, ref)]
    assert weights[0] == weights[1], f"weights differ after a kill {delay:.2f} s into round 2"
    assert _summary(out) == _summary(ref) and _log(out) == _log(ref)
    receipt = json.loads((out / "receipt.json").read_text())
    # the resumed process ran round 2 only: round 1 and the retain adapter came from the saved state
    assert receipt["resumed"] == {"resumed": True, "from": {"request": 1, "step": 0}}
    assert _summary(ref)["retain_module"]["status"] == "fitted"
    assert not (out / "checkpoints").exists() and sorted(p.name for p in (out / "reveal").iterdir()) == [
        "round1", "round2"]  # fmt: skip


def test_round_seeds_stay_in_numpys_range():
    """Round seeds mix train.seed with the round number; the largest allowed train.seed must still seed numpy."""
    from obliviate.config import TrainConfig
    from obliviate.reveal.release import _seed_round

    _seed_round(TrainConfig(seed=2**32 - 1), 4)
