"""IdkDPO: direct preference optimisation with the refusal preferred over the original forget answer.

Paper: "Direct Preference Optimization: Your Language Model is Secretly a Reward Model" (Rafailov et al., 2023),
https://arxiv.org/abs/2305.18290, used for unlearning as TOFU's ``dpo`` (Maini et al., 2024,
https://arxiv.org/abs/2401.06121) and OpenUnlearning's ``DPO`` with ``experiment=unlearn/tofu/idk``
(beta 0.1, gamma = alpha = 1, retain NLL).

Objective:  L(θ) = γ · (−2/β) · mean_i log σ(β · ((log p_θ(y_idk|x) − log p_ref(y_idk|x))
                                                  − (log p_θ(y_f|x) − log p_ref(y_f|x)))) + w_r · R(θ; D_r)

log p(y|x) sums the labelled answer tokens; y_idk comes from ``forget.alt`` (the same prompts with a refusal),
y_f is the original forget answer, p_ref the frozen starting model.

Deviations: the 2/β scale follows OpenUnlearning's compute_dpo_loss (the DPO paper has 1); it makes the initial
gradient independent of β. With retain.kind=kl the KL is a per-token mean over labelled retain tokens.
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
class DPOConfig:
    beta: float = field(default=0.1, metadata={"help": "inverse temperature of the preference margin"})
    gamma: float = field(default=1.0, metadata={"help": "weight of the DPO (forget) term"})
    retain: RetainTerm = field(
        default_factory=lambda: RetainTerm(kind="nll", weight=1.0), metadata={"help": "retain regulariser"}
    )

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0 (got {self.beta})")


@register_method("dpo")
class DPO(MethodDefaults):
    """IdkDPO: refusal (chosen) over the original answer (rejected), against the reference (module docstring)."""

    Config: ClassVar[type] = DPOConfig

    def __init__(self, cfg: DPOConfig) -> None:
        self.cfg = cfg
        self.needs_reference = True
        self.needs_retain = cfg.retain.active
        self.needs_alt = True

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        from obliviate import losses

        if ref is None:
            raise RuntimeError("dpo needs the frozen reference model")
        idk = forget.alt
        if idk is None:
            raise RuntimeError("dpo needs forget batches with refusal answers (forget.alt); build data with need_alt")
        chosen = losses.sequence_logprob(forward_logits(model, idk), idk.labels)  # (B,)
        rejected = losses.sequence_logprob(forward_logits(model, forget), forget.labels)  # (B,)
        ref_chosen = losses.sequence_logprob(ref.logits(idk), idk.labels)  # (B,)
        ref_rejected = losses.sequence_logprob(ref.logits(forget), forget.labels)  # (B,)
        forget_loss = losses.dpo_term(chosen, rejected, ref_chosen, ref_rejected, self.cfg.beta)
        retain_loss, retain_logs = self.cfg.retain(model, retain, ref)
        logs = {
            "dpo": forget_loss.item(),
            "chosen_logratio": (chosen - ref_chosen).mean().item(),
            "rejected_logratio": (rejected - ref_rejected).mean().item(),
            **retain_logs,
        }
        return LossOutput(loss=self.cfg.gamma * forget_loss + retain_loss, logs=logs)
