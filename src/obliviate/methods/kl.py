"""KL-GA: gradient ascent on the forget set, KL to the frozen reference on the retain set.

Paper: the "KL Minimization" baseline of "TOFU: A Task of Fictitious Unlearning for LLMs" (Maini et al., 2024),
https://arxiv.org/abs/2401.06121, and the KL-GA baseline of the Forgetting-MarI paper (Xu et al., 2025),
https://arxiv.org/abs/2511.11914; OpenUnlearning's ``GradDiff`` with ``retain_loss_type=KL``.

Objective:  L(θ) = − γ · NLL_θ(D_f) + w_r · KL(p_ref ‖ p_θ)(D_r)

KL(p_ref ‖ p_θ) is the forward KL of the next-token distributions, a per-token mean over labelled retain tokens.
Deviations: OpenUnlearning averages the KL over every position of the batch, prompt and padding included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from torch import nn

from obliviate import losses
from obliviate.methods.base import RetainTerm, forward_logits, register_method
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    from obliviate.train.reference import Reference


@dataclass
class KLConfig:
    gamma: float = 1.0  # weight of the forget (ascent) term
    retain_weight: float = 1.0  # weight of KL(p_ref ‖ p_θ) on retain (graddiff with retain.kind=kl is the same)


@register_method("kl")
class KL:
    """Gradient ascent on forget + KL(p_ref ‖ p_θ) on retain (see the module docstring)."""

    Config: ClassVar[type] = KLConfig

    def __init__(self, cfg: KLConfig) -> None:
        self.cfg = cfg
        self.retain = RetainTerm(kind="kl", weight=cfg.retain_weight)
        self.needs_reference = self.retain.needs_reference
        self.needs_retain = self.retain.active
        self.needs_alt = False

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        nll = losses.masked_mean_nll(forward_logits(model, forget), forget.labels)
        retain_loss, retain_logs = self.retain(model, retain, ref)
        return LossOutput(loss=-self.cfg.gamma * nll + retain_loss, logs={"forget_nll": nll.item(), **retain_logs})
