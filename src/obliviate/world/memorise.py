"""Training a world model: plain next-token NLL on the world's rows, run through the project's one loop.

:class:`Memorise` is an unregistered :class:`~obliviate.methods.base.Method`: it treats the loop's "forget" batch
as the training data and descends its NLL (answer tokens of QA rows, every token of text rows). Anything that
needs a model to memorise a synthetic corpus (the reveal demo's worlds too) can call :func:`memorise`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from obliviate import losses
from obliviate.config import TrainConfig
from obliviate.methods.base import forward_logits
from obliviate.types import Batch, LossOutput
from obliviate.world.presets import Recipe


@dataclass
class MemoriseConfig:
    """No options: the recipe (lr, epochs, ...) lives in the train config."""


class Memorise:
    """Mean token NLL on the training batch: ``L = -mean_t log p(y_t | y_<t)`` over labelled tokens."""

    Config = MemoriseConfig
    needs_reference = False
    needs_retain = False
    needs_alt = False

    def __init__(self, cfg: MemoriseConfig | None = None) -> None:
        self.cfg = cfg or MemoriseConfig()

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Any) -> LossOutput:
        nll = losses.masked_mean_nll(forward_logits(model, forget), forget.labels)
        return LossOutput(nll, {"nll": nll.item()})


def train_config(recipe: Recipe) -> TrainConfig:
    """The loop's :class:`TrainConfig` for a world recipe (cosine schedule after a linear warmup)."""
    return TrainConfig(
        lr=recipe.lr,
        batch_size=recipe.batch_size,
        epochs=float(recipe.epochs),
        warmup_steps=recipe.warmup_steps,
        scheduler="cosine",
        weight_decay=recipe.weight_decay,
        clip_grad=recipe.clip_grad,
        log_every=1,
        seed=recipe.seed,
    )


def memorise(
    model: nn.Module, tokenizer: Any, rows: list[dict], recipe: Recipe, run_dir: Path, *, progress: bool = True
) -> dict[str, Any]:
    """Train ``model`` in place on ``rows`` ({"prompt","answer"} and/or {"text"}) with ``recipe``.

    Args:
        model: a causal LM (trained in place; ends in eval mode).
        tokenizer: its tokenizer (pad token set).
        rows: the training rows.
        recipe: lr, batch size, epochs, warmup, clipping, max length, seed.
        run_dir: where the loop writes ``train_log.jsonl``; ``loss_curve.json`` is written next to it.
        progress: show the loop's progress bar.

    Returns:
        ``{"steps", "time_s", "final_loss", "examples", "tokens"}``.
    """
    from obliviate.data import UnlearnData, tokenize_rows
    from obliviate.train.loop import train

    examples, stats = tokenize_rows(rows, tokenizer, max_length=recipe.max_length)
    data = UnlearnData(
        forget=examples, retain=None, holdout=None, forget_rows=rows, retain_rows=None, holdout_rows=None
    )
    result = train(model, tokenizer, Memorise(), data, train_config(recipe), run_dir, progress=progress)
    log = [json.loads(line) for line in (Path(run_dir) / "train_log.jsonl").read_text().splitlines() if line.strip()]
    curve = [{"step": r["step"], "loss": r["loss"], "lr": r["lr"], "time_s": r["time_s"]} for r in log]
    (Path(run_dir) / "loss_curve.json").write_text(json.dumps(curve) + "\n")
    return {
        "steps": result.steps,
        "time_s": round(result.time_s, 2),
        "final_loss": result.logs.get("loss"),
        "examples": stats["examples"],
        "tokens": stats["tokens"],
    }
