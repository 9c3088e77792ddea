"""Atomic training checkpoints (trainable weights, optimiser, scheduler, step, every process's RNG state) and the
resumable ``train_log.jsonl``.

A checkpoint folder holds ``weights.safetensors`` (the parameters that train: all of them for full fine-tuning,
the adapters under LoRA), ``state.pt`` (optimiser, scheduler, RNG states) and ``meta.json`` (``request``,
``step``, ``total_steps``). It is written into a temp folder and renamed (:func:`obliviate.utils.io.atomic_dir`),
so the folder on disk is always a complete checkpoint, and only by the main process. Restoring it, the data
order (a pure function of seed and epoch, see :class:`obliviate.data.forget_retain.PairedSampler`) and the RNG
states make a resumed run take exactly the steps an uninterrupted one would.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from obliviate.errors import ObliviateError
from obliviate.utils.io import atomic_dir

LAST = "last"  # the folder name of the latest checkpoint inside ``<run_dir>/checkpoints/``


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints" / LAST


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that require grad, by name, as contiguous CPU tensors (shared tensors appear once)."""
    return {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """Copy ``state`` into the model's parameters of the same names; every name must exist."""
    params = dict(model.named_parameters())
    missing = [n for n in state if n not in params]
    if missing:
        raise ObliviateError(
            f"checkpoint {where} does not match this model ({len(missing)} unknown tensors, e.g. {missing[0]!r}); "
            "resume with the same model and LoRA settings, or start again with --overwrite"
        )
    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t.to(params[n].device, params[n].dtype))


def rng_state() -> dict[str, Any]:
    """This process's RNG states (torch CPU and CUDA, python ``random``, numpy's legacy global)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))


def save_checkpoint(
    path: Path, model: nn.Module, optimizer, scheduler, meta: dict[str, Any], rng_states: list[dict[str, Any]]
) -> None:
    """Write a complete checkpoint folder at ``path`` (replacing the previous one atomically). Main process only.

    Args:
        path: the checkpoint folder (usually :func:`checkpoint_dir`).
        model: the unwrapped model; its trainable parameters are saved.
        optimizer: the optimiser (its ``state_dict`` is saved).
        scheduler: the lr scheduler.
        meta: JSON-able facts (``request``, ``step``, ...).
        rng_states: one :func:`rng_state` per process, in rank order.
    """
    with atomic_dir(path) as tmp:
        save_file(trainable_state(model), str(tmp / "weights.safetensors"))
        state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_states}
        torch.save(state, tmp / "state.pt")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def read_meta(path: Path) -> dict[str, Any] | None:
    """The checkpoint's ``meta.json``, or None when there is no complete checkpoint at ``path``."""
    f = path / "meta.json"
    return json.loads(f.read_text()) if f.is_file() else None


def load_checkpoint(path: Path, model: nn.Module, optimizer, scheduler, rank: int) -> dict[str, Any]:
    """Restore weights, optimiser, scheduler and this rank's RNG state; returns the checkpoint's meta.

    A run resumed with a different number of processes gets rank 0's RNG state on the extra ranks (the data
    order is re-sharded from the seed, so the run continues, but is no longer bit-identical).
    """
    meta = read_meta(path)
    if meta is None:
        raise ObliviateError(f"no complete checkpoint in {str(path)!r}; start again with --overwrite")
    load_trainable_state(model, load_file(str(path / "weights.safetensors")), str(path))
    # weights_only: our own file of tensors, numbers and tuples (no pickled code).
    state = torch.load(path / "state.pt", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rngs = state["rng"]
    set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
    return meta


def apply_lr(optimizer, scheduler, lr: float) -> None:
    """Make a restored optimiser and LambdaLR schedule use base lr ``lr`` from the current step on."""
    scheduler.base_lrs = [lr] * len(scheduler.base_lrs)
    for group, lam in zip(optimizer.param_groups, scheduler.lr_lambdas):
        group["initial_lr"], group["lr"] = lr, lr * lam(scheduler.last_epoch)
    scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]


class TrainLog:
    """``train_log.jsonl``: one line per logged step, main process only; a resumed run drops lines after its start."""

    def __init__(self, run_dir: Path | None, main: bool, request: int, start: int) -> None:
        self.path = run_dir / "train_log.jsonl" if run_dir is not None and main else None
        if self.path is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
        if self.path is not None and self.path.exists():
            keep = [line for line in self.path.read_text().splitlines() if line.strip()]
            keep = [line for line in keep if _not_after(json.loads(line), request, start)]
            self.path.write_text("".join(line + "\n" for line in keep))

    def write(self, record: dict[str, Any]) -> None:
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def _not_after(rec: dict[str, Any], request: int, step: int) -> bool:
    return (rec.get("request", 0), rec.get("step", 0)) <= (request, step)
