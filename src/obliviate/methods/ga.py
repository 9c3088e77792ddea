"""Gradient ascent (GA): maximise the forget set's likelihood loss.

Paper: "Knowledge Unlearning for Mitigating Privacy Risks in Language Models" (Jang et al., 2022),
https://arxiv.org/abs/2210.01504; the GA baseline of TOFU (arXiv:2401.06121) and OpenUnlearning's ``GradAscent``.

Objective:  L(θ) = − NLL_θ(D_f),  NLL = mean over labelled forget tokens of −log p_θ(y_t | y_<t, x)

Deviations: none. GA has no retain term; it is unbounded below, so it drifts off quickly (use few steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from obliviate.methods.base import MethodDefaults, forward_logits, register_method
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    from torch import nn

    from obliviate.reference import Reference


@dataclass
class GAConfig:
    """Gradient ascent has no options: the learning rate and the number of steps are its only knobs."""


@register_method("ga")
class GA(MethodDefaults):
    """Gradient ascent on the forget set (see the module docstring)."""

    Config: ClassVar[type] = GAConfig

    def __init__(self, cfg: GAConfig) -> None:
        self.cfg = cfg
        self.needs_reference = False
        self.needs_retain = False
        self.needs_alt = False

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        from obliviate import losses

        nll = losses.masked_mean_nll(forward_logits(model, forget), forget.labels)
        return LossOutput(loss=-nll, logs={"forget_nll": nll.item()})
