"""KL-GA: gradient ascent on the forget set, KL to the frozen reference on the retain set.

Paper: the "KL Minimization" baseline of "TOFU: A Task of Fictitious Unlearning for LLMs" (Maini et al., 2024),
https://arxiv.org/abs/2401.06121, and the KL-GA baseline of the Forgetting-MarI paper (Xu et al., 2025),
https://arxiv.org/abs/2511.11914; OpenUnlearning's ``GradDiff`` with ``retain_loss_type=KL``.

Objective:  L(θ) = − γ · NLL_θ(D_f) + w_r · KL(p_ref ‖ p_θ)(D_r)

KL(p_ref ‖ p_θ) is the forward KL of the next-token distributions, a per-token mean over labelled retain tokens: the
shared retain term (``retain.kind`` defaults to ``kl`` here; with ``retain.kind=nll`` this is ``graddiff``).
Deviations: OpenUnlearning averages the KL over every position of the batch, prompt and padding included.
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
class KLConfig:
    gamma: float = field(default=1.0, metadata={"help": "weight of the forget (ascent) term"})
    retain: RetainTerm = field(
        default_factory=lambda: RetainTerm(kind="kl", weight=1.0),
        metadata={"help": "retain term, KL(p_ref ‖ p_θ) on retain by default (graddiff with retain.kind=kl)"},
    )


@register_method("kl")
class KL(MethodDefaults):
    """Gradient ascent on forget + KL(p_ref ‖ p_θ) on retain (see the module docstring)."""

    Config: ClassVar[type] = KLConfig

    def __init__(self, cfg: KLConfig) -> None:
        self.cfg = cfg
        self.needs_reference = cfg.retain.needs_reference
        self.needs_retain = cfg.retain.active
        self.needs_alt = False

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        from obliviate import losses

        nll = losses.masked_mean_nll(forward_logits(model, forget), forget.labels)
        retain_loss, retain_logs = self.cfg.retain(model, retain, ref)
        return LossOutput(loss=-self.cfg.gamma * nll + retain_loss, logs={"forget_nll": nll.item(), **retain_logs})
