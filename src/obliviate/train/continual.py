"""Continual unlearning's stop rule: end a forget request early when retain accuracy falls too far.

Each request of a continual run starts from the previous request's result. Before it trains, the retain
next-token accuracy (teacher-forced argmax over the labelled tokens of a fixed validation subset of the retain
examples) is measured; every ``every`` optimiser steps it is measured again, and the request stops when it is below
``(1 - threshold) * start`` (a relative drop: ``threshold=0.03`` stops at 3 % below the starting accuracy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from obliviate.data import collate
from obliviate.train import checkpoint as ckpt
from obliviate.train.loop import StepInfo, total_steps, train
from obliviate.utils.io import atomic_dir

VALIDATION_ROWS = 256  # retain examples in the validation subset (the first ones: deterministic)


@torch.no_grad()
def next_token_accuracy(model: nn.Module, examples: list[dict[str, Any]], pad_id: int, batch_size: int = 16) -> float:
    """Fraction of labelled tokens whose argmax prediction is right (eval mode, no dropout); 0.0 if none."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    hit = total = 0
    try:
        for i in range(0, len(examples), batch_size):
            batch = collate(examples[i : i + batch_size], pad_id).to(device)
            logits = model(**batch.model_inputs()).logits  # (B, T, V)
            pred, tgt = logits[:, :-1].argmax(-1), batch.labels[:, 1:]  # (B, T-1): position t predicts t+1
            mask = tgt != -100
            hit += int(((pred == tgt) & mask).sum())
            total += int(mask.sum())
    finally:
        model.train(was_training)
    return hit / total if total else 0.0


class RetainDropStop:
    """A :func:`obliviate.train.loop.train` callback implementing the stop rule for one request.

    Args:
        examples: retain examples (the first :data:`VALIDATION_ROWS` are the validation subset).
        pad_id: the tokenizer's pad id.
        threshold: relative drop that stops the request (0.03 = 3 %).
        start: the accuracy at the start of the request (measured by :meth:`measure_start` when None).
    """

    def __init__(self, examples: list[dict[str, Any]], pad_id: int, threshold: float, start: float | None = None):
        self.examples = examples[:VALIDATION_ROWS]
        self.pad_id, self.threshold = pad_id, threshold
        self.start = start
        self.last = start
        self.history: list[tuple[int, float]] = []  # (step, accuracy) at each check

    def measure_start(self, model: nn.Module) -> float:
        self.start = self.last = next_token_accuracy(model, self.examples, self.pad_id)
        return self.start

    def measure(self, model: nn.Module) -> float:
        self.last = next_token_accuracy(model, self.examples, self.pad_id)
        return self.last

    def __call__(self, info: StepInfo) -> bool:
        if self.start is None:
            raise RuntimeError("RetainDropStop: measure_start(model) must run before training")
        acc = self.measure(info.model)
        self.history.append((info.step, acc))
        return acc < (1.0 - self.threshold) * self.start


def _progress_dir(work: Path) -> Path:
    return work / "checkpoints" / "request_start"


def _write_progress(work: Path, request: int, records: list[dict], start_acc: float | None, model: nn.Module) -> None:
    """Record where request ``request`` starts: finished requests, starting accuracy and (r > 0) its start weights."""
    with atomic_dir(_progress_dir(work)) as tmp:
        if request > 0:
            save_file(ckpt.trainable_state(model), str(tmp / "weights.safetensors"))
        state = {"request": request, "retain_acc_start": start_acc, "requests": records}
        (tmp / "progress.json").write_text(json.dumps(state, indent=2) + "\n")


def _read_progress(work: Path, model: nn.Module) -> dict[str, Any] | None:
    """The saved progress of an interrupted run (loading its request-start weights into ``model``), or None."""
    path = _progress_dir(work)
    if not (path / "progress.json").is_file():
        return None
    state = json.loads((path / "progress.json").read_text())
    if state["request"] > 0:
        ckpt.load_trainable_state(model, load_file(str(path / "weights.safetensors")), str(path))
    return state


def _record(request: int, data: Any, res: Any, stopper: RetainDropStop | None, model: nn.Module) -> dict[str, Any]:
    rec = {
        "request": request,
        "forget": data.stats.get("forget_spec"),
        "forget_examples": len(data.forget),
        "forget_truncated": data.stats.get("forget", {}).get("truncated", 0),
        "steps": res.steps,
        "total_steps": res.total_steps,
        "stopped_early": res.stopped_early,
        "time_s": round(res.time_s, 3),
        "final": res.logs,
    }
    if stopper is not None:
        rec["retain_acc_start"] = stopper.start
        rec["retain_acc_end"] = stopper.measure(model)
        rec["retain_acc_checks"] = stopper.history
    return rec


def run_requests(cfg, model, tokenizer, method, datas, ref, acc, work: Path, *, threshold: float, progress: bool):
    """Train the forget requests in order, each from the previous result; resume an interrupted run when asked.

    Args:
        cfg: the run config (``train``, ``resume``, ``stop_check_every``).
        model, tokenizer, method, ref: as for :func:`obliviate.train.loop.train`.
        datas: one :class:`~obliviate.data.UnlearnData` per request.
        acc: the Accelerator.
        work: the run's work dir (checkpoints and the log go there).
        threshold: the stop rule's relative retain-accuracy drop (0: no stop rule).
        progress: show progress bars.

    Returns:
        One record per request (steps, early stop, final loss terms, retain accuracy at start / end / checks).
    """
    state = _read_progress(work, model) if cfg.resume else None
    first = state["request"] if state else 0
    records: list[dict] = state["requests"] if state else []
    for r in range(first, len(datas)):
        stopper = None
        if threshold > 0 and datas[r].retain:
            start = state["retain_acc_start"] if state and r == first else None
            stopper = RetainDropStop(datas[r].retain, tokenizer.pad_token_id, threshold, start=start)
            if stopper.start is None:
                stopper.measure_start(model)
        if acc.is_main_process and not (state and r == first):
            _write_progress(work, r, records, stopper.start if stopper else None, model)
        acc.wait_for_everyone()
        every = cfg.stop_check_every or max(1, total_steps(cfg.train, len(datas[r].forget), acc.num_processes) // 10)
        res = train(
            model, tokenizer, method, datas[r], cfg.train, work, ref=ref, accelerator=acc, request=r,
            callback=stopper, callback_every=every if stopper else 0, resume=cfg.resume and r == first,
            progress=progress,
        )  # fmt: skip
        records.append(_record(r, datas[r], res, stopper, model))
    return records
