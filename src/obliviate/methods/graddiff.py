"""Gradient difference (GradDiff): gradient ascent on the forget set plus a retain term.

Paper: "Continual Learning and Private Unlearning" (Liu, Liu & Stone, 2022), https://arxiv.org/abs/2203.12817,
as the "Gradient Difference" baseline of "TOFU: A Task of Fictitious Unlearning for LLMs" (Maini et al., 2024),
https://arxiv.org/abs/2401.06121; OpenUnlearning's ``GradDiff`` (gamma = forget weight, alpha = retain weight).

Objective:  L(θ) = − γ · NLL_θ(D_f) + w_r · R(θ; D_r),   R = NLL_θ(D_r) (retain.kind=nll) or KL(p_ref ‖ p_θ) (kl)

Deviations: with retain.kind=kl the KL is a per-token mean over labelled retain tokens (OpenUnlearning averages it
over every position of the batch, prompt and padding included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from obliviate.methods.base import MethodDefaults, RetainTerm, forward_logits, register_method
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    from torch import nn

    from obliviate.reference import Reference


@dataclass
class GradDiffConfig:
    gamma: float = field(default=1.0, metadata={"help": "weight of the forget (ascent) term"})
    retain: RetainTerm = field(
        default_factory=lambda: RetainTerm(kind="nll", weight=1.0), metadata={"help": "retain regulariser"}
    )


@register_method("graddiff")
class GradDiff(MethodDefaults):
    """Gradient ascent on forget + retain regulariser (see the module docstring)."""

    Config: ClassVar[type] = GradDiffConfig

    def __init__(self, cfg: GradDiffConfig) -> None:
        self.cfg = cfg
        self.needs_reference = cfg.retain.needs_reference
        self.needs_retain = cfg.retain.active
        self.needs_alt = False

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        from obliviate import losses

        nll = losses.masked_mean_nll(forward_logits(model, forget), forget.labels)
        retain_loss, retain_logs = self.cfg.retain(model, retain, ref)
        return LossOutput(loss=-self.cfg.gamma * nll + retain_loss, logs={"forget_nll": nll.item(), **retain_logs})
