"""The one training loop every method runs through (nanoGPT-style, on accelerate).

    result = train(model, tokenizer, method, data, cfg.train, run_dir, ref=ref)

One optimiser step = ``grad_accum`` micro-batches of paired (forget, retain) batches from
:class:`~obliviate.data.forget_retain.PairedSampler`; for each, ``method.loss(model, forget, retain, ref)`` under
optional bf16 autocast and ``backward(loss / grad_accum)``; then gradient clipping, the optimiser step and the lr
schedule (constant / linear / cosine after a linear warmup). Then the JSONL log line, the checkpoint every
``save_every`` steps and the callback every ``callback_every`` steps.

Anything with the :class:`~obliviate.methods.base.Method` shape can be trained, registered or not: ``loss``, the
attributes ``needs_reference`` / ``needs_retain`` / ``needs_alt`` / ``disable_dropout`` (forward passes in eval
mode, gradients kept), optionally ``needs_holdout`` (``loss`` then also gets ``holdout=``, a ``data.holdout``
micro-batch) and the hooks ``setup(model, ref)`` / ``finalize(model, ref)``
(:class:`~obliviate.methods.base.MethodDefaults` supplies the defaults). ``train`` changes ``model`` in place;
hooks and the callback get the unwrapped model, ``loss`` gets the model as accelerate prepared it (a
``DistributedDataParallel`` wrapper under multi-process, the sharded copy under FSDP on CPU: call it, do not reach
into its attributes).

Data parallel (``ACCELERATE_USE_CPU=true torchrun --standalone --nproc_per_node 2 ...`` on CPU): every process
takes its own shard of each global batch; only the main process writes files. FSDP asked for on CPU processes
(``accelerate launch --config_file configs/accelerate/fsdp.yaml``, where accelerate itself shards only GPU
processes): the loop trains a sharded copy of the model with torch's FSDP2 instead (:mod:`obliviate.train.fsdp`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object, set_seed
from torch import nn
from tqdm.auto import tqdm

from obliviate.config import TrainConfig
from obliviate.data import PairedSampler, collate
from obliviate.errors import ObliviateError
from obliviate.methods.base import Method
from obliviate.train import checkpoint as ckpt
from obliviate.train import fsdp
from obliviate.train.plan import SCHEDULERS, check_train_config, plan_steps
from obliviate.types import Batch


class NonFiniteLossError(ObliviateError):
    """A loss term or the gradient norm became NaN/Inf; the message says where and what to change."""


@dataclass
class StepInfo:
    """What the callback sees after an optimiser step (``model`` is unwrapped and in its training mode)."""

    step: int
    total_steps: int
    request: int
    logs: dict[str, float]
    model: nn.Module
    accelerator: Accelerator


Callback = Callable[[StepInfo], "bool | None"]  # return True to stop this training run early


@dataclass
class TrainResult:
    """Outcome of one :func:`train` call."""

    steps: int  # the last optimiser step reached (counts resumed steps)
    total_steps: int  # the planned number of steps
    time_s: float  # wall time of this call
    logs: dict[str, float] = field(default_factory=dict)  # the last step's logged values
    stopped_early: bool = False  # the callback asked to stop
    resumed_from: int = 0  # step the run continued from (0: fresh start)


def train(
    model: nn.Module,
    tokenizer: Any,
    method: Method,
    data: Any,
    train_cfg: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    ref: Any = None,
    accelerator: Accelerator | None = None,
    request: int = 0,
    callback: Callback | None = None,
    callback_every: int = 0,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` in place with ``method`` on ``data`` (see the module docstring for the step).

    Args:
        model: the (possibly peft-wrapped) model to train, unwrapped; it ends in eval mode.
        tokenizer: its tokenizer (for the pad id).
        method: a :class:`~obliviate.methods.base.Method`-shaped object (registered or not).
        data: an :class:`~obliviate.data.UnlearnData` (``forget`` examples, optional ``retain``).
        train_cfg: lr, batch sizes, accumulation, schedule, steps or epochs, clipping, bf16, checkpoints, seed.
        run_dir: where ``train_log.jsonl`` and ``checkpoints/last`` go; None writes nothing.
        ref: the frozen :class:`~obliviate.reference.Reference` when the method needs one.
        accelerator: reuse an Accelerator (default: :func:`make_accelerator`) made with gradient_accumulation_steps=1
            (the loop accumulates itself); what this call prepared is released at the end.
        request: continual-unlearning request index (logged, and stored in checkpoints).
        callback: called every ``callback_every`` optimiser steps (not after the last one: use the returned model)
            on every process with a :class:`StepInfo`; returning True stops early.
        callback_every: 0 disables the callback.
        resume: continue from ``run_dir``'s checkpoint when it belongs to this request.
        progress: show a tqdm bar with the live loss terms (main process only).

    Returns:
        A :class:`TrainResult`. ``method.finalize(model, ref)`` has run when present.

    Raises:
        NonFiniteLossError: a loss term or the gradient norm became NaN/Inf (the checkpoint on disk is kept).
        ObliviateError: invalid settings or data (e.g. a method that needs retain data without any).
    """
    run_dir = Path(run_dir) if run_dir is not None else None
    acc = accelerator or make_accelerator(run_dir)
    ctx = _setup(model, tokenizer, method, data, train_cfg, acc, ref, run_dir, request)
    start, logs = _resume(ctx) if resume and run_dir is not None else (0, {})
    tracking = bool(acc.log_with) and run_dir is not None
    if tracking:
        acc.init_trackers(f"request{request}")
    t0 = time.time()
    step, logs, stopped = _run(ctx, start, logs, callback, callback_every, progress, tracking)
    if ctx.twin is not None:
        ctx.twin.copy_to(model)  # the trained weights, gathered, into the caller's whole model
    method.finalize(model, ref)
    model.eval()
    if tracking:
        acc.end_training()
    acc.wait_for_everyone()
    acc.free_memory()
    return TrainResult(step, ctx.total, time.time() - t0, logs, stopped, start)


def _run(
    ctx: _Ctx,
    start: int,
    logs: dict[str, float],
    callback: Callback | None,
    every: int,
    progress: bool,
    tracking: bool,
) -> tuple[int, dict[str, float], bool]:
    """Steps ``start + 1 .. total``: optimiser step, log, checkpoint, callback. Returns (step, last logs, stopped);
    ``logs`` are step ``start``'s (a resumed run that has no step left reports them)."""
    acc, cfg, request = ctx.acc, ctx.cfg, ctx.request
    jsonl = ckpt.TrainLog(ctx.run_dir, acc.is_main_process, request, start)
    bar = tqdm(
        total=ctx.total, initial=start, desc=f"request {request}", disable=not (progress and acc.is_main_process)
    )
    _set_mode(ctx)
    t0, step = time.time(), start
    try:
        while step < ctx.total:
            try:
                logs = _optimizer_step(ctx, step)
            except _NonFinite as err:
                raise NonFiniteLossError(_nonfinite_message(ctx, err, step + 1)) from None
            step += 1
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k not in ("lr", "grad_norm")})
            if step % cfg.log_every == 0 or step == ctx.total:
                jsonl.write({"request": request, "step": step, **logs, "time_s": round(time.time() - t0, 3)})
                if tracking:
                    acc.log(logs, step=step)
            if ctx.run_dir is not None and cfg.save_every and step % cfg.save_every == 0:
                _save(ctx, step, logs)
            if callback is not None and every and step % every == 0 and step < ctx.total:
                if ctx.twin is not None:
                    ctx.twin.copy_to(ctx.model)  # the callback evaluates the whole model, on every process
                info = StepInfo(step, ctx.total, request, logs, ctx.model, acc)
                stop = _any_process(acc, bool(callback(info)))
                _set_mode(ctx)  # the callback may have evaluated in eval mode
                if stop:
                    return step, logs, True
        return step, logs, False
    finally:
        bar.close()


def _optimizer_step(ctx: _Ctx, step: int) -> dict[str, float]:
    """One optimiser step over ``grad_accum`` micro-batches; returns the logged values (mean over processes).

    Raises:
        _NonFinite: a loss term or the gradient norm is NaN/Inf (the optimiser did not step, weights are intact).
    """
    cfg, acc = ctx.cfg, ctx.acc
    sums: dict[str, float] = {"loss": 0.0}
    for k in range(cfg.grad_accum):
        m = step * cfg.grad_accum + k
        forget, retain = ctx.batches.get(m)
        extra = {"holdout": ctx.batches.holdout(m)} if ctx.batches.draw_holdout else {}  # only for needs_holdout
        # DDP / FSDP: skip the gradient all-reduce (reduce-scatter) on all but the last micro-batch of the step.
        last = k == cfg.grad_accum - 1
        if ctx.twin is not None:
            ctx.twin.gradient_sync(last)
        sync = contextlib.nullcontext() if last or ctx.twin is not None else acc.no_sync(ctx.wrapped)
        with sync:
            with torch.autocast(acc.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                out = ctx.method.loss(ctx.wrapped, forget, retain, ctx.ref, **extra)
            acc.backward(out.loss / cfg.grad_accum)
        sums["loss"] += out.loss.item() / cfg.grad_accum
        for key, value in out.logs.items():
            sums[key] = sums.get(key, 0.0) + float(value) / cfg.grad_accum
    max_norm = cfg.clip_grad if cfg.clip_grad > 0 else math.inf  # inf: measure the norm without clipping
    sums["grad_norm"] = float(acc.clip_grad_norm_(ctx.params, max_norm))
    logs = _mean_over_processes(acc, sums)
    bad = _first_nonfinite(logs)
    if bad is not None:
        ctx.optimizer.zero_grad(set_to_none=True)
        raise _NonFinite(bad, logs[bad])
    logs["lr"] = ctx.scheduler.get_last_lr()[0]  # the lr this step used
    ctx.optimizer.step()
    ctx.scheduler.step()
    ctx.optimizer.zero_grad(set_to_none=True)
    return logs


def make_accelerator(run_dir: str | Path | None = None) -> Accelerator:
    """The loop's Accelerator: device and processes as launched; TensorBoard into ``run_dir`` when installed."""
    tb = run_dir is not None and importlib.util.find_spec("tensorboard") is not None
    # mixed_precision stays "no": bf16 autocast is the loop's own switch (train.bf16), applied around the loss.
    # FSDP without a GPU: accelerate would run each process alone; cpu=True makes them gloo data-parallel
    # processes, which the loop then shards itself (obliviate.train.fsdp).
    acc = Accelerator(
        mixed_precision="no",
        cpu=fsdp.requested() and not torch.cuda.is_available(),
        log_with="tensorboard" if tb else None,
        project_dir=str(Path(run_dir) / "tensorboard") if tb else None,
    )
    _check_sharding(acc)
    return acc


def _check_sharding(acc: Accelerator) -> None:
    """Refuse a sharding config that nobody would apply, instead of running unsharded. accelerate 1.x applies its
    FSDP and DeepSpeed plugins only to GPU-type processes; FSDP on several CPU processes the loop applies itself
    (:mod:`obliviate.train.fsdp`), one CPU process has nothing to shard over, DeepSpeed on CPU is not supported.
    Raises ObliviateError."""
    from accelerate.utils import DistributedType, parse_flag_from_env

    if fsdp.requested() and acc.distributed_type not in (DistributedType.FSDP, DistributedType.MULTI_CPU):
        raise ObliviateError(
            f"the accelerate config asks for FSDP, but this is a single process ({acc.device}, "
            f"{acc.distributed_type.value}): FSDP shards over several. Launch several, e.g. accelerate launch "
            "--config_file configs/accelerate/fsdp.yaml -m obliviate.cli unlearn ... (2 processes)"
        )
    if acc.distributed_type == DistributedType.FSDP:
        # accelerate 1.15's prepare_model refuses FSDP2 ("FSDP2 preparation should be done via accelerate.prepare()")
        # and the loop's own sharding has only run on CPU processes: a clear refusal instead of a traceback
        raise ObliviateError(
            f"FSDP on {acc.device.type} processes is not supported in this release (tested on CPU processes only); "
            "on GPUs run data parallel (accelerate launch without the FSDP config), or shard on CPU processes"
        )
    if parse_flag_from_env("ACCELERATE_USE_DEEPSPEED") and acc.distributed_type != DistributedType.DEEPSPEED:
        raise ObliviateError(
            f"the accelerate config asks for DEEPSPEED, but accelerate did not apply it on {acc.device} "
            f"({acc.distributed_type.value}, {acc.num_processes} process(es)): accelerate applies DeepSpeed only on "
            "GPUs. On CPU use FSDP (accelerate launch --config_file configs/accelerate/fsdp.yaml ...) or data "
            "parallel (ACCELERATE_USE_CPU=true torchrun --standalone --nproc_per_node 2 -m obliviate.cli unlearn ...)"
        )


class _Batches:
    """Micro-batch ``m`` of this process: epoch ``m // len(sampler)``, position ``m % len(sampler)``."""

    def __init__(
        self, data: Any, sampler: PairedSampler, pad_id: int, device: torch.device, draw_holdout: bool = False
    ) -> None:
        self.data, self.sampler, self.pad_id, self.device = data, sampler, pad_id, device
        self.draw_holdout = draw_holdout
        self._epoch, self._list = -1, []
        self._h_epoch, self._h_list = -1, []

    def get(self, m: int) -> tuple[Batch, Batch | None]:
        epoch, pos = divmod(m, len(self.sampler))
        if epoch != self._epoch:  # batches of an epoch are a pure function of (seed, epoch): cache one epoch
            self._epoch, self._list = epoch, self.sampler.batches(epoch)
        f_idx, r_idx = self._list[pos]
        forget = collate([self.data.forget[i] for i in f_idx], self.pad_id).to(self.device)
        if not r_idx:
            return forget, None
        return forget, collate([self.data.retain[i] for i in r_idx], self.pad_id).to(self.device)

    def holdout(self, m: int) -> Batch:
        """Micro-batch ``m``'s holdout batch (``data.holdout``), a pure function of (seed, epoch) like the others."""
        epoch, pos = divmod(m, len(self.sampler))
        if epoch != self._h_epoch:
            self._h_epoch, self._h_list = epoch, self.sampler.holdout_batches(epoch, len(self.data.holdout))
        return collate([self.data.holdout[i] for i in self._h_list[pos]], self.pad_id).to(self.device)


def _set_mode(ctx: _Ctx) -> None:
    # eval() switches dropout off only; autograd is unaffected, so the loss still trains the model.
    ctx.model.train(not ctx.method.disable_dropout)
    ctx.wrapped.train(not ctx.method.disable_dropout)  # a sharded twin is a module of its own


def _optimizer_and_schedule(model: nn.Module, cfg: TrainConfig, total: int):
    from transformers import get_scheduler

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ObliviateError("the model has no trainable parameters; check the method's trainable-module options")
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = get_scheduler(
        SCHEDULERS[cfg.scheduler], optimizer, num_warmup_steps=cfg.warmup_steps, num_training_steps=total
    )
    return optimizer, scheduler


def _mean_over_processes(acc: Accelerator, logs: dict[str, float]) -> dict[str, float]:
    if acc.num_processes == 1:
        return logs
    keys = sorted(logs)
    values = acc.reduce(torch.tensor([logs[k] for k in keys], dtype=torch.float64, device=acc.device), "mean")
    return dict(zip(keys, values.tolist()))


def _any_process(acc: Accelerator, flag: bool) -> bool:
    if acc.num_processes == 1:
        return flag
    return bool(acc.reduce(torch.tensor([float(flag)], device=acc.device), "sum").item() > 0)


def _first_nonfinite(logs: dict[str, float]) -> str | None:
    # name the method's own term first (more telling than the total), then the total, then the gradient
    for key in [*sorted(k for k in logs if k not in ("loss", "grad_norm")), "loss", "grad_norm"]:
        if key in logs and not math.isfinite(logs[key]):
            return key
    return None


class _NonFinite(Exception):
    def __init__(self, term: str, value: float) -> None:
        super().__init__(term)
        self.term, self.value = term, value


@dataclass
class _Ctx:
    """Everything one optimiser step needs (kept together so the helpers stay small)."""

    cfg: TrainConfig
    acc: Accelerator
    method: Method
    ref: Any
    wrapped: nn.Module
    model: nn.Module
    params: list[nn.Parameter]
    optimizer: Any
    scheduler: Any
    batches: _Batches
    run_dir: Path | None
    request: int
    total: int
    twin: fsdp.ShardedTwin | None = None  # FSDP on CPU processes: the sharded copy that trains (wrapped)


def _save(ctx: _Ctx, step: int, logs: dict[str, float]) -> None:
    """Checkpoint after ``step`` (collective: every process contributes its RNG state; the main one writes)."""
    states = [ckpt.rng_state()]
    if ctx.acc.num_processes > 1:
        states = gather_object(states)
    optimizer = ctx.optimizer
    if ctx.twin is not None:  # gathered on every process (collective), written by the main one
        ctx.twin.copy_to(ctx.model)
        optimizer = fsdp.OptimizerView(ctx.twin, ctx.optimizer, ctx.twin.optimizer_state(ctx.optimizer))
    if ctx.acc.is_main_process:
        meta = {"request": ctx.request, "step": step, "total_steps": ctx.total, "num_processes": len(states),
                "logs": logs}  # fmt: skip
        ckpt.save_checkpoint(ckpt.checkpoint_dir(ctx.run_dir), ctx.model, optimizer, ctx.scheduler, meta, states)
    ctx.acc.wait_for_everyone()


def _resume(ctx: _Ctx) -> tuple[int, dict[str, float]]:
    """Load this request's checkpoint when there is one; returns the step to continue from (0 if none) and that
    step's logged values."""
    path = ckpt.checkpoint_dir(ctx.run_dir)
    meta = ckpt.read_meta(path)
    if meta is None or meta["request"] != ctx.request:
        return 0, {}
    optimizer = ctx.optimizer if ctx.twin is None else fsdp.OptimizerView(ctx.twin, ctx.optimizer)
    ckpt.load_checkpoint(path, ctx.model, optimizer, ctx.scheduler, ctx.acc.process_index)
    if ctx.twin is not None:
        ctx.twin.copy_from(ctx.model)
    # The optimiser state carries the old lr; a resume after a NaN usually lowers train.lr, so apply the new one.
    ckpt.apply_lr(ctx.optimizer, ctx.scheduler, ctx.cfg.lr)
    return int(meta["step"]), meta.get("logs", {})


def _nonfinite_message(ctx: _Ctx, err: _NonFinite, step: int) -> str:
    meta = ckpt.read_meta(ckpt.checkpoint_dir(ctx.run_dir)) if ctx.run_dir is not None else None
    kept = (
        f"the last good checkpoint is {ckpt.checkpoint_dir(ctx.run_dir)} (step {meta['step']})"
        if meta is not None and meta["request"] == ctx.request
        else "no checkpoint of this request was written (set train.save_every to keep some)"
    )
    return (
        f"non-finite {err.term} ({err.value}) at step {step} of {ctx.total} (request {ctx.request}); the optimiser "
        f"did not take that step and {kept}. Lower train.lr (now {ctx.cfg.lr:g}) or enable gradient clipping "
        "(train.clip_grad=1.0), then rerun with --resume"
    )


def _setup(model, tokenizer, method, data, cfg, acc, ref, run_dir, request) -> _Ctx:
    """Checks, seed, sampler, the setup hook, optimiser and schedule, accelerate preparation."""
    check_train_config(cfg)
    if method.needs_retain and not data.retain:
        raise ObliviateError(f"method {type(method).__name__} needs retain data; set data.retain")
    draw_holdout = method.needs_holdout
    if draw_holdout and not getattr(data, "holdout", None):
        raise ObliviateError(f"method {type(method).__name__} needs holdout data (its MI target); set data.holdout")
    if method.needs_reference and ref is None:
        raise ObliviateError(f"method {type(method).__name__} needs a frozen reference model (ref=...)")
    if acc.gradient_accumulation_steps != 1:
        raise ValueError("train() accumulates gradients itself (train.grad_accum); use gradient_accumulation_steps=1")
    set_seed(cfg.seed)
    n_retain = len(data.retain) if data.retain else 0
    sampler = PairedSampler(
        len(data.forget), n_retain, batch_size=cfg.batch_size, retain_batch_size=cfg.retain_batch_size,
        seed=cfg.seed, num_shards=acc.num_processes, shard_index=acc.process_index,
    )  # fmt: skip
    total = plan_steps(cfg, len(sampler))
    if ref is not None and not ref.via_disabled_adapter:
        ref.model.to(acc.device)
    method.setup(model, ref)
    # FSDP on CPU processes: shard a copy first (the optimiser must hold its sharded parameters), no DDP wrapper.
    twin = fsdp.ShardedTwin(model, acc.num_processes) if fsdp.applies(acc) else None
    optimizer, scheduler = _optimizer_and_schedule(model if twin is None else twin.module, cfg, total)
    wrapped = acc.prepare_model(model) if twin is None else twin.module
    optimizer = acc.prepare_optimizer(optimizer)
    params = [p for p in wrapped.parameters() if p.requires_grad]
    batches = _Batches(data, sampler, tokenizer.pad_token_id, acc.device, draw_holdout)
    return _Ctx(
        cfg, acc, method, ref, wrapped, model, params, optimizer, scheduler, batches, run_dir, request, total, twin
    )
