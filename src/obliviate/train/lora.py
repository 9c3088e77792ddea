"""LoRA for every method, through peft: attach adapters, report what trains, save the adapter or the merged model.

Under LoRA the frozen reference is the same model with its adapters disabled (see :mod:`obliviate.reference`),
so no second copy of the weights is ever made.

    model = attach_lora(model, LoraConfig(enabled=True, r=8, target_modules="all-linear"))
    print(trainable_report(model))   # trainable 4.1k / 44.0k parameters (9.36 %)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from obliviate.config import LoraConfig
from obliviate.errors import ObliviateError
from obliviate.train.plan import check_lora_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainableReport:
    """How many parameters the optimiser will update, out of all the model's parameters."""

    trainable: int
    total: int

    @property
    def fraction(self) -> float:
        return self.trainable / max(self.total, 1)

    def __str__(self) -> str:
        return f"trainable {_human(self.trainable)} / {_human(self.total)} parameters ({100 * self.fraction:.2f} %)"


def _human(n: int) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def trainable_report(model: nn.Module) -> TrainableReport:
    """Count trainable and total parameters (shared tensors, e.g. tied embeddings, counted once)."""
    seen: set[int] = set()
    trainable = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return TrainableReport(trainable, total)


def is_lora(model: nn.Module) -> bool:
    """Whether ``model`` is a peft model carrying LoRA adapters."""
    from peft import PeftModel

    return isinstance(model, PeftModel)


def _has_conv1d(model: nn.Module) -> bool:
    from transformers.pytorch_utils import Conv1D

    return any(isinstance(m, Conv1D) for m in model.modules())


def attach_lora(model: nn.Module, cfg: LoraConfig, seed: int | None = None) -> nn.Module:
    """Wrap ``model`` in a peft ``PeftModel`` with fresh LoRA adapters; only the adapters stay trainable.

    Args:
        model: a transformers causal LM.
        cfg: ``r``, ``alpha``, ``dropout``, ``target_modules`` (a list of module names or ``"all-linear"``).
        seed: seeds the adapters' random init (LoRA's A matrices), so two runs with one seed start identical;
            the global RNG state is left as it was. None: the global RNG draws them.

    Returns:
        The peft model (the base weights are frozen; ``disable_adapter()`` gives back the original model).

    Raises:
        ObliviateError: an option is invalid or no module matches ``target_modules``.
    """
    import peft

    check_lora_config(cfg)
    targets = cfg.target_modules
    if isinstance(targets, list) and len(targets) == 1 and targets[0] in ("all-linear", "all_linear"):
        targets = "all-linear"  # the config loader turns a single string into a one-item list
    peft_cfg = peft.LoraConfig(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=targets,
        # GPT-2's Conv1D stores weights as (in, out): peft must transpose them.
        fan_in_fan_out=_has_conv1d(model),
        task_type="CAUSAL_LM",
    )
    try:
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            wrapped = peft.get_peft_model(model, peft_cfg)
    except ValueError as e:
        names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if not list(m.children())})
        raise ObliviateError(
            f"lora.target_modules={cfg.target_modules!r} does not fit this model ({str(e).splitlines()[0]}); "
            f"use 'all-linear' or module names such as {', '.join(names[:8])}"
        ) from None
    log.info("LoRA r=%d alpha=%d: %s", cfg.r, cfg.alpha, trainable_report(wrapped))
    return wrapped


def save_adapter(model: nn.Module, out_dir: str | Path) -> None:
    """Write the peft adapter (``adapter_model.safetensors`` + ``adapter_config.json``) into ``out_dir``."""
    model.save_pretrained(str(out_dir), safe_serialization=True)


def merge(model: nn.Module) -> nn.Module:
    """Fold the adapters into the base weights; returns the plain transformers model (no LoRA modules left)."""
    return model.merge_and_unload()
