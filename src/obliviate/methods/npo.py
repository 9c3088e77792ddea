"""NPO: Negative Preference Optimization.

Paper: "Negative Preference Optimization: From Catastrophic Collapse to Effective Unlearning" (Zhang, Lin, Bai &
Mei, 2024), https://arxiv.org/abs/2404.05868; OpenUnlearning's ``NPO`` (beta 0.1, gamma = alpha = 1, retain NLL).

Objective:  L(θ) = γ · (−2/β) · mean_i log σ(−β · (log p_θ(y_i|x_i) − log p_ref(y_i|x_i))) + w_r · R(θ; D_r)

log p(y|x) is the summed log-probability of the labelled answer tokens; p_ref is the frozen starting model. At
θ = θ_ref the forget term equals (2/β)·ln 2 and its gradient equals that of gradient ascent on the summed answer
log-probability; the weight σ(β·logratio) then decays as the forget answers become unlikely, which slows NPO's
collapse compared with GA.

Deviations: none for retain.kind=nll (NPO+RT in the paper). With retain.kind=kl the KL is a per-token mean over
labelled retain tokens (OpenUnlearning averages over every position).
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
class NPOConfig:
    beta: float = field(
        default=0.1, metadata={"help": "inverse temperature of the preference term (small beta: close to GA early on)"}
    )
    gamma: float = field(default=1.0, metadata={"help": "weight of the forget (NPO) term"})
    retain: RetainTerm = field(
        default_factory=lambda: RetainTerm(kind="nll", weight=1.0), metadata={"help": "retain regulariser"}
    )

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0 (got {self.beta})")


@register_method("npo")
class NPO(MethodDefaults):
    """NPO forget term against the frozen reference + retain regulariser (see the module docstring)."""

    Config: ClassVar[type] = NPOConfig

    def __init__(self, cfg: NPOConfig) -> None:
        self.cfg = cfg
        self.needs_reference = True
        self.needs_retain = cfg.retain.active
        self.needs_alt = False

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        from obliviate import losses

        if ref is None:
            raise RuntimeError("npo needs the frozen reference model")
        logp = losses.sequence_logprob(forward_logits(model, forget), forget.labels)  # (B,)
        ref_logp = losses.sequence_logprob(ref.logits(forget), forget.labels)  # (B,)
        forget_loss = losses.npo_term(logp, ref_logp, self.cfg.beta)
        retain_loss, retain_logs = self.cfg.retain(model, retain, ref)
        logs = {"npo": forget_loss.item(), "forget_logratio": (logp - ref_logp).mean().item(), **retain_logs}
        return LossOutput(loss=self.cfg.gamma * forget_loss + retain_loss, logs=logs)
