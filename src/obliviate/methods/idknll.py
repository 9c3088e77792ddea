"""IdkNLL: fine-tune the forget prompts towards refusal answers ("I don't know").

Paper: the "IDK" baseline of "TOFU: A Task of Fictitious Unlearning for LLMs" (Maini et al., 2024),
https://arxiv.org/abs/2401.06121 (TOFU's ``forget_loss=idk``; "Idk" + retain in Zhang et al., arXiv:2404.05868).

Objective:  L(θ) = γ · NLL_θ(y_idk | x ; D_f) + w_r · R(θ; D_r)

y_idk is a refusal answer attached to each forget prompt (``forget.alt``: a built-in list, or ``data.refusals``);
the original forget answers are never seen by the loss, they are displaced by the refusals.

Deviations: none for retain.kind=nll (TOFU's idk uses retain NLL). With retain.kind=kl the KL is a per-token mean
over labelled retain tokens.
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
class IdkNLLConfig:
    gamma: float = field(default=1.0, metadata={"help": "weight of the refusal NLL term"})
    retain: RetainTerm = field(
        default_factory=lambda: RetainTerm(kind="nll", weight=1.0), metadata={"help": "retain regulariser"}
    )


@register_method("idknll")
class IdkNLL(MethodDefaults):
    """NLL of refusal answers on the forget prompts + retain regulariser (see the module docstring)."""

    Config: ClassVar[type] = IdkNLLConfig

    def __init__(self, cfg: IdkNLLConfig) -> None:
        self.cfg = cfg
        self.needs_reference = cfg.retain.needs_reference
        self.needs_retain = cfg.retain.active
        self.needs_alt = True

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        from obliviate import losses

        if forget.alt is None:
            raise RuntimeError(
                "idknll needs forget batches with refusal answers (forget.alt): build data with need_alt"
            )
        idk_nll = losses.masked_mean_nll(forward_logits(model, forget.alt), forget.alt.labels)
        retain_loss, retain_logs = self.cfg.retain(model, retain, ref)
        return LossOutput(loss=self.cfg.gamma * idk_nll + retain_loss, logs={"idk_nll": idk_nll.item(), **retain_logs})
