"""What a run will do, checked and counted before anything loads: the train and LoRA options' sanity checks and the
number of optimiser steps. Torch-free, so ``obliviate validate`` and the config checks of every command stay light.
"""

from __future__ import annotations

import math

from obliviate.config import LoraConfig, TrainConfig
from obliviate.data.forget_retain import PairedSampler
from obliviate.errors import ObliviateError

SCHEDULERS = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}
MAX_STEPS = 10_000_000  # sanity bounds: larger values are typos (10**12 steps would never end) ...
MAX_BATCH = 65_536  # ... or exhaust memory long before the first step (examples per micro-batch, or grad_accum)
MAX_SEED = 2**32 - 1  # numpy's seed range, which accelerate's set_seed also feeds
OUTPUTS = ("merged", "adapter")  # lora.output


def check_train_config(cfg: TrainConfig) -> None:
    """Reject train settings the loop cannot run, with the fix. Raises ObliviateError."""
    if cfg.scheduler not in SCHEDULERS:
        raise ObliviateError(f"train.scheduler must be one of {', '.join(SCHEDULERS)} (got {cfg.scheduler!r})")
    positive = {
        "train.batch_size": cfg.batch_size,
        "train.retain_batch_size": cfg.retain_batch_size or 1,
        "train.grad_accum": cfg.grad_accum,
        "train.log_every": cfg.log_every,
        "train.max_steps": 1 if cfg.max_steps is None else cfg.max_steps,
    }
    for key, value in positive.items():
        if value < 1:
            raise ObliviateError(f"{key} must be at least 1 (got {value})")
        limit = MAX_STEPS if key == "train.max_steps" else MAX_BATCH
        if key != "train.log_every" and value > limit:
            raise ObliviateError(f"{key}={value} is above the sanity limit {limit:,}; is it a typo?")
    if not 0 <= cfg.seed <= MAX_SEED:
        raise ObliviateError(f"train.seed must be in 0..{MAX_SEED} (got {cfg.seed})")
    if cfg.max_steps is None and not cfg.epochs > 0:
        raise ObliviateError(f"train.epochs must be > 0 (got {cfg.epochs}); or set train.max_steps")
    if not cfg.lr > 0 or cfg.warmup_steps < 0 or cfg.save_every < 0 or cfg.clip_grad < 0:
        raise ObliviateError("train.lr must be > 0 and train.warmup_steps, save_every, clip_grad must be >= 0")


def check_lora_config(cfg: LoraConfig) -> None:
    """Reject LoRA options no model can take, before anything loads. Raises ObliviateError."""
    if cfg.output not in OUTPUTS:
        raise ObliviateError(f"lora.output must be one of {', '.join(OUTPUTS)} (got {cfg.output!r})")
    if cfg.r <= 0:
        raise ObliviateError(f"lora.r must be a positive integer (got {cfg.r})")
    if cfg.alpha <= 0:
        raise ObliviateError(f"lora.alpha must be positive (got {cfg.alpha}); e.g. twice lora.r")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ObliviateError(f"lora.dropout must be in [0, 1) (got {cfg.dropout})")


def plan_steps(cfg: TrainConfig, batches_per_epoch: int) -> int:
    """Optimiser steps: ``max_steps`` when set, else ``epochs`` passes over this process's forget shard."""
    if cfg.max_steps is not None:
        return cfg.max_steps
    return max(1, math.ceil(cfg.epochs * batches_per_epoch / cfg.grad_accum))


def total_steps(cfg: TrainConfig, n_forget: int, num_processes: int = 1) -> int:
    """The optimiser steps :func:`obliviate.train.loop.train` plans for ``n_forget`` forget examples over
    ``num_processes``."""
    sampler = PairedSampler(n_forget, batch_size=cfg.batch_size, num_shards=num_processes)
    return plan_steps(cfg, len(sampler))
