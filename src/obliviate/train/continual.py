"""Continual unlearning: requests in sequence, each from the previous result, with per-request tracking.

Stop rule, against the ORIGINAL model (total drift, as the paper's sequential experiment): before the first request
the retain next-token accuracy (teacher-forced argmax over the labelled tokens of a fixed validation subset of the
retain examples) of the untouched model is measured once; every ``every`` optimiser steps it is measured again, and
a request stops when it is below ``(1 - threshold) * original`` (``threshold=0.03``: 3 % below the original's
accuracy, however many requests came before; re-baselining at each request would let drift add up).

With several requests each request's record keeps what it did: retain accuracy at its start and end and the total
drift, the forget accuracy of EVERY request's forget set after it (earlier ones: does it relearn? later ones: does
it over-forget?) next to the original's, and, when ``check`` is given (the api passes the MarI check of
:mod:`obliviate.eval.certificate`), the check and its verdict on its own forget set against the original's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from obliviate.data import collate
from obliviate.train import checkpoint as ckpt
from obliviate.train.loop import StepInfo, train
from obliviate.train.plan import total_steps
from obliviate.utils.io import atomic_dir
from obliviate.utils.modes import eval_mode

VALIDATION_ROWS = 256  # retain examples in the validation subset (the first ones: deterministic)
# check(model, forget_examples, retain_examples, original_result | None) -> JSON-ready dict (a verdict when given
# the original's result); provided by a layer above (the api passes the MarI check), so train imports no eval code.
Check = Callable[[nn.Module, list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None], dict[str, Any]]


@torch.no_grad()
def next_token_accuracy(model: nn.Module, examples: list[dict[str, Any]], pad_id: int, batch_size: int = 16) -> float:
    """Fraction of labelled tokens whose argmax prediction is right (eval mode, no dropout); 0.0 if none."""
    device = next(model.parameters()).device
    hit = total = 0
    with eval_mode(model):
        for i in range(0, len(examples), batch_size):
            batch = collate(examples[i : i + batch_size], pad_id).to(device)
            logits = model(**batch.model_inputs()).logits  # (B, T, V)
            pred, tgt = logits.argmax(-1)[:, :-1], batch.labels[:, 1:]  # (B, T-1): position t predicts t+1
            mask = tgt != -100
            hit += int(((pred == tgt) & mask).sum())
            total += int(mask.sum())
    return hit / total if total else 0.0


class RetainDropStop:
    """A :func:`obliviate.train.loop.train` callback implementing the stop rule for one request.

    Args:
        examples: retain examples (the first :data:`VALIDATION_ROWS` are the validation subset).
        pad_id: the tokenizer's pad id.
        threshold: relative drop that stops the request (0.03 = 3 %).
        start: the reference accuracy: the ORIGINAL model's in a continual run, so that drift cannot add up over
            requests (measured on the model by :meth:`measure_start` when None).
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


def _write_progress(
    work: Path, request: int, records: list[dict], start_acc: float | None, model: nn.Module, original: dict
) -> None:
    """Record where request ``request`` starts: finished requests, starting accuracy, the original model's
    baseline and (r > 0) its start weights."""
    with atomic_dir(_progress_dir(work)) as tmp:
        if request > 0:
            save_file(ckpt.trainable_state(model), str(tmp / "weights.safetensors"))
        state = {"request": request, "retain_acc_start": start_acc, "original": original, "requests": records}
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


def _validation(datas: list[Any]) -> list[dict[str, Any]]:
    return (datas[0].retain or [])[:VALIDATION_ROWS]


def _baseline(model: nn.Module, datas: list[Any], pad_id: int, check: Check | None, several: bool) -> dict[str, Any]:
    """The original model's numbers, before any request: the stop rule's reference and (several requests) each
    request's forget accuracy and check."""
    val = _validation(datas)
    tracked = datas if several else []
    return {
        "retain_acc": next_token_accuracy(model, val, pad_id) if val else None,
        "forget_acc": [next_token_accuracy(model, d.forget, pad_id) for d in tracked],
        "checks": [check(model, d.forget, val, None) for d in tracked] if check and val and several else None,
    }


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
        rec["retain_acc_end"] = stopper.measure(model)
        rec["retain_acc_checks"] = stopper.history
        rec["stop_threshold"] = stopper.threshold
    return rec


def _track(rec: dict, r: int, model: nn.Module, datas: list[Any], pad_id: int, original: dict, check: Any) -> None:
    """Add request ``r``'s tracking to its record: total drift, forget accuracy of every request, the check."""
    val = _validation(datas)
    rec["retain_acc_original"] = original["retain_acc"]
    if val:
        if "retain_acc_end" not in rec:  # no stop rule measured it
            rec["retain_acc_end"] = next_token_accuracy(model, val, pad_id)
        end = rec["retain_acc_end"]
        if original["retain_acc"]:
            rec["retain_drift_total"] = 1.0 - end / original["retain_acc"]  # relative drop from the ORIGINAL
    rec["forget_acc"] = [next_token_accuracy(model, d.forget, pad_id) for d in datas]
    rec["forget_acc_original"] = original["forget_acc"]
    if check is not None and original.get("checks"):
        rec["check"] = check(model, datas[r].forget, val, original["checks"][r])
        rec["check_original"] = original["checks"][r]


def _any_stop(checks: list) -> Any:
    """One callback calling every check (each keeps its own history); True when any asks to stop."""
    return lambda info: any([check(info) for check in checks])


def run_requests(
    cfg,
    model,
    tokenizer,
    method,
    datas,
    ref,
    acc,
    work: Path,
    *,
    threshold: float,
    progress: bool,
    callback=None,
    check: Check | None = None,
):
    """Train the forget requests in order, each from the previous result; resume an interrupted run when asked.

    Args:
        cfg: the run config (``train``, ``resume``, ``stop_check_every``).
        model, tokenizer, method, ref: as for :func:`obliviate.train.loop.train`.
        datas: one :class:`~obliviate.data.UnlearnData` per request.
        acc: the Accelerator.
        work: the run's work dir (checkpoints and the log go there).
        threshold: the stop rule's relative drop of retain accuracy from the ORIGINAL model's (0: no stop rule).
        progress: show progress bars.
        callback: an extra train callback (e.g. a tuning trial's pruner), checked with the stop rule; either
            returning True ends the request.
        check: with several requests, ``check(model, forget_examples, retain_examples, original_result)`` run on the
            original (``original_result`` None) and after each request (see :data:`Check`).

    Returns:
        One record per request (steps, early stop, final loss terms; with several requests also retain accuracy at
        start / end / checks, the original's and the total drift, every request's forget accuracy, the check).
    """
    pad_id, several = tokenizer.pad_token_id, len(datas) > 1
    state = _read_progress(work, model) if cfg.resume else None
    first = state["request"] if state else 0
    records: list[dict] = state["requests"] if state else []
    original = state.get("original") if state else None
    if original is None:  # the untouched model, before request 0
        original = _baseline(model, datas, pad_id, check, several) if several or threshold > 0 else {}
    for r in range(first, len(datas)):
        stopper, start = None, None
        if datas[r].retain and (threshold > 0 or several):
            start = state["retain_acc_start"] if state and r == first else None
            if start is None and r == 0 and original.get("retain_acc") is not None:
                start = original["retain_acc"]  # request 0 starts from the original: measured already
            elif start is None:
                start = next_token_accuracy(model, _validation(datas), pad_id)
        if threshold > 0 and datas[r].retain:
            stopper = RetainDropStop(datas[r].retain, pad_id, threshold, start=original["retain_acc"])
        if acc.is_main_process and not (state and r == first):
            _write_progress(work, r, records, start, model, original)
        acc.wait_for_everyone()
        checks = [c for c in (stopper, callback) if c is not None]
        every = cfg.stop_check_every or max(1, total_steps(cfg.train, len(datas[r].forget), acc.num_processes) // 10)
        res = train(
            model, tokenizer, method, datas[r], cfg.train, work, ref=ref, accelerator=acc, request=r,
            callback=_any_stop(checks) if checks else None, callback_every=every if checks else 0,
            resume=cfg.resume and r == first,
            progress=progress,
        )  # fmt: skip
        rec = _record(r, datas[r], res, stopper, model)
        if start is not None:
            rec["retain_acc_start"] = start
        if several:
            _track(rec, r, model, datas, pad_id, original, check)
        records.append(rec)
    return records
