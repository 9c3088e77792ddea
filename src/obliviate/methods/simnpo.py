"""SimNPO: reference-free NPO with length normalisation and a reward margin.

Paper: "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM Unlearning" (Fan, Liu, Lin, Jia,
Zhang, Mei & Liu, 2024), https://arxiv.org/abs/2410.07163. Computed exactly as OpenUnlearning's ``SimNPO``
(src/trainer/unlearn/simnpo.py) with its defaults (beta 4.5, delta 0, gamma 0.125, alpha 1, retain NLL).

Objective:  L(θ) = γ · (−2/β) · mean_i log σ(β · (NLL_θ(y_i|x_i)/|y_i| − δ)) + w_r · R(θ; D_r)

NLL_θ(y|x)/|y| is the per-token mean NLL of the answer (no reference model). The paper writes the margin as
γ_paper in log σ(−(β/|y|) log p_θ(y|x) − γ_paper); OpenUnlearning's δ is γ_paper / β, and its γ is the forget
weight (our ``gamma``).

Deviations: none for retain.kind=nll. With retain.kind=kl the KL is a per-token mean over labelled retain tokens.
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
class SimNPOConfig:
    beta: float = field(default=4.5, metadata={"help": "inverse temperature (OpenUnlearning default)"})
    delta: float = field(
        default=0.0, metadata={"help": "margin subtracted from the mean forget NLL (paper's gamma / beta)"}
    )
    gamma: float = field(default=0.125, metadata={"help": "weight of the forget (SimNPO) term"})
    retain: RetainTerm = field(
        default_factory=lambda: RetainTerm(kind="nll", weight=1.0), metadata={"help": "retain regulariser"}
    )

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0 (got {self.beta})")


@register_method("simnpo")
class SimNPO(MethodDefaults):
    """Length-normalised, reference-free NPO + retain regulariser (see the module docstring)."""

    Config: ClassVar[type] = SimNPOConfig

    def __init__(self, cfg: SimNPOConfig) -> None:
        self.cfg = cfg
        self.needs_reference = cfg.retain.needs_reference
        self.needs_retain = cfg.retain.active
        self.needs_alt = False

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        from obliviate import losses

        avg_logp = losses.sequence_logprob(forward_logits(model, forget), forget.labels, average=True)  # (B,)
        forget_loss = losses.simnpo_term(avg_logp, self.cfg.beta, self.cfg.delta)
        retain_loss, retain_logs = self.cfg.retain(model, retain, ref)
        logs = {"simnpo": forget_loss.item(), "forget_nll": -avg_logp.mean().item(), **retain_logs}
        return LossOutput(loss=self.cfg.gamma * forget_loss + retain_loss, logs=logs)
