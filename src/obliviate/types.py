"""Small typed containers passed between the data layer, the methods and the loop."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing the types (and the method configs) must not load torch
    import torch


@dataclass(frozen=True)
class Batch:
    """A padded, tokenised batch. ``labels`` is -100 on prompt and padding tokens (HF convention: the model
    shifts labels internally, so ``labels[b, t]`` is the target of the logits at position ``t - 1``).

    ``alt`` optionally holds the same prompts with an alternative answer (a refusal, for idknll / dpo).
    ``index`` holds the dataset row of each sequence (for logging and per-sample metrics).
    """

    input_ids: torch.Tensor  # (B, T) long
    attention_mask: torch.Tensor  # (B, T) long, 1 = real token
    labels: torch.Tensor  # (B, T) long, -100 = ignored
    alt: Batch | None = None
    index: torch.Tensor | None = None  # (B,) long

    def to(self, device: torch.device | str) -> Batch:
        return replace(
            self,
            input_ids=self.input_ids.to(device),
            attention_mask=self.attention_mask.to(device),
            labels=self.labels.to(device),
            alt=None if self.alt is None else self.alt.to(device),
            index=None if self.index is None else self.index.to(device),
        )

    @property
    def size(self) -> int:
        return int(self.input_ids.shape[0])

    def model_inputs(self) -> dict[str, torch.Tensor]:
        """Keyword arguments for ``model(**batch.model_inputs())`` (no labels: losses are computed by us)."""
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask}


@dataclass
class LossOutput:
    """What a method's ``loss`` returns: the scalar to backpropagate and the terms to log."""

    loss: torch.Tensor  # scalar
    logs: dict[str, float] = field(default_factory=dict)


@dataclass
class MetricResult:
    """One metric's outcome. ``status`` is ``ok`` or ``skipped`` (with the reason in ``note``): a missing
    dependency is never a silent None. ``per_sample`` holds per-row values keyed by row index (as strings in JSON)."""

    value: float | None
    per_sample: dict[str, float] = field(default_factory=dict)
    status: str = "ok"  # ok | skipped
    note: str = ""
    extra: dict = field(default_factory=dict)  # metric-specific aggregates (e.g. ks statistic next to p-value)
