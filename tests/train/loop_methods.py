"""Throwaway methods for loop tests (not registered): the loop must train any Method-shaped object."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from obliviate import losses
from obliviate.methods.base import MethodDefaults, forward_logits
from obliviate.types import LossOutput


@dataclass
class AscentConfig:
    retain_weight: float = 1.0


class Ascent(MethodDefaults):
    """NLL ascent on forget + NLL descent on retain (gradient difference), unregistered."""

    Config = AscentConfig

    def __init__(self, cfg: AscentConfig | None = None) -> None:
        self.cfg = cfg or AscentConfig()
        self.calls: list[str] = []

    def setup(self, model, ref) -> None:
        self.calls.append("setup")

    def finalize(self, model, ref) -> None:
        self.calls.append("finalize")

    def loss(self, model, forget, retain, ref) -> LossOutput:
        f_nll = losses.masked_mean_nll(forward_logits(model, forget), forget.labels)
        total, logs = -f_nll, {"forget_nll": f_nll.item()}
        if retain is not None and self.cfg.retain_weight:
            r_nll = losses.masked_mean_nll(forward_logits(model, retain), retain.labels)
            total = total + self.cfg.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return LossOutput(total, logs)


class Exploding(Ascent):
    """Returns a NaN loss from optimiser step ``at`` on (counting loss calls with grad_accum = 1)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at, self.n = at, 0

    def loss(self, model, forget, retain, ref) -> LossOutput:
        out = super().loss(model, forget, retain, ref)
        self.n += 1
        if self.n >= self.at:
            return LossOutput(out.loss * torch.tensor(float("nan")), {**out.logs, "forget_nll": float("nan")})
        return out
