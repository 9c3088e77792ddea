"""Continual unlearning's stop rule: end a forget request early when retain accuracy falls too far.

Each request of a continual run starts from the previous request's result. Before it trains, the retain
next-token accuracy (teacher-forced argmax over the labelled tokens of a fixed validation subset of the retain
examples) is measured; every ``every`` optimiser steps it is measured again, and the request stops when it is below
``(1 - threshold) * start`` (a relative drop: ``threshold=0.03`` stops at 3 % below the starting accuracy).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from obliviate.data import collate
from obliviate.train.loop import StepInfo

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
