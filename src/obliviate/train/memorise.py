"""Teach a model a set of rows: plain next-token NLL, trained through the project's one loop.

    from obliviate.models import new_causal_lm
    from obliviate.train.memorise import memorise

    model = new_causal_lm("gpt2", tokenizer, layers=2, dim=64, heads=4, mlp=256, context=48, seed=0)
    summary = memorise(model, tokenizer, rows, TrainConfig(lr=3e-3, max_steps=600), max_length=48)

What the built-in world (:mod:`obliviate.world.build`) and the Reveal-and-Release tasks
(:mod:`obliviate.reveal.tasks`) train their models with, and what fine-tuning a model on one's own data (so that
there is something to unlearn) runs: :class:`Memorise` is an unregistered method that treats the loop's "forget"
batch as the training data and descends its NLL (answer tokens of QA rows, every token of text rows).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from obliviate import losses
from obliviate.config import TrainConfig
from obliviate.methods.base import MethodDefaults, forward_logits
from obliviate.types import Batch, LossOutput


@dataclass
class MemoriseConfig:
    """No options: the recipe (lr, steps or epochs, ...) lives in the train config."""


class Memorise(MethodDefaults):
    """Mean token NLL on the training batch: ``L = -mean_t log p(y_t | y_<t)`` over labelled tokens."""

    Config = MemoriseConfig

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Any) -> LossOutput:
        nll = losses.masked_mean_nll(forward_logits(model, forget), forget.labels)
        return LossOutput(nll, {"nll": nll.item()})


def rows_to_data(
    rows: list[dict[str, Any]],
    tokenizer: Any,
    max_length: int,
    retain: list[dict[str, Any]] | None = None,
    chat_template: bool = False,
):
    """Tokenise rows into the loop's :class:`~obliviate.data.UnlearnData` (``rows`` as the "forget" side, the
    batch every method's loss reads; ``retain`` optional), with the tokenisation stats under ``stats``."""
    from obliviate.data import UnlearnData, tokenize_rows

    kw = {"max_length": max_length, "chat_template": chat_template}
    ex, stats = tokenize_rows(rows, tokenizer, **kw)
    rex, rstats = tokenize_rows(retain, tokenizer, **kw) if retain else (None, None)
    return UnlearnData(ex, rex, None, rows, retain, None, {"forget": stats, "retain": rstats})


def _read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def logged_time(log: str | Path | list[dict]) -> float | None:
    """Training wall time recorded in a loop's ``train_log.jsonl`` (its path, or its rows), summed over the
    successive runs that wrote it (a resumed run starts its clock again); None for an empty log."""
    rows = log if isinstance(log, list) else _read_log(Path(log))
    # a new process starts where the step does not advance (a resume redoes steps) or the clock restarts
    ends = [a["time_s"] for a, b in zip(rows, rows[1:]) if b["step"] <= a["step"] or b["time_s"] < a["time_s"]]
    return round(sum(ends) + rows[-1]["time_s"], 2) if rows else None


def memorise(
    model: nn.Module,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    train_cfg: TrainConfig,
    run_dir: str | Path | None = None,
    *,
    max_length: int,
    chat_template: bool = False,
    progress: bool = True,
    **loop_kwargs: Any,
) -> dict[str, Any]:
    """Train ``model`` in place on ``rows`` by next-token NLL, through :func:`obliviate.train.loop.train`.

    Args:
        model: a causal LM (changed in place; ends in eval mode).
        tokenizer: its tokenizer (with a pad token).
        rows: uniform rows (:mod:`obliviate.data.sources`): ``{"prompt", "answer"}`` (loss on the answer) and/or
            ``{"text"}`` (loss on every token).
        train_cfg: lr, batch size, epochs or max_steps, schedule, clipping, seed, logging.
        run_dir: where the loop writes ``train_log.jsonl``; ``loss_curve.json`` (step, loss, lr, time) goes next
            to it. None: no files.
        max_length: tokens per row (longer rows are truncated).
        chat_template: encode rows with the tokenizer's chat template.
        progress: show the loop's progress bar.
        loop_kwargs: passed on to :func:`~obliviate.train.loop.train` (``callback``, ``callback_every``,
            ``resume``, ``accelerator``...).

    Returns:
        ``{"steps", "time_s" (this call), "train_time_s" (the whole log, resumed runs included; None without
        ``run_dir``), "final_loss", "examples", "tokens"}``.
    """
    from obliviate.train.loop import train

    data = rows_to_data(rows, tokenizer, max_length, chat_template=chat_template)
    result = train(model, tokenizer, Memorise(), data, train_cfg, run_dir, progress=progress, **loop_kwargs)
    acc = loop_kwargs.get("accelerator")
    logged = None
    if run_dir is not None and (acc is None or acc.is_main_process):  # the main process writes the files
        lines = _read_log(Path(run_dir) / "train_log.jsonl")
        curve = [{"step": r["step"], "loss": r["loss"], "lr": r["lr"], "time_s": r["time_s"]} for r in lines]
        (Path(run_dir) / "loss_curve.json").write_text(json.dumps(curve) + "\n")
        logged = logged_time(lines)
    stats = data.stats["forget"]
    return {
        "steps": result.steps,
        "time_s": round(result.time_s, 2),
        "train_time_s": logged,  # every segment of the log: a resumed run's time before the interruption too
        "final_loss": result.logs.get("loss"),
        "examples": stats["examples"],
        "tokens": stats["tokens"],
    }
