"""Reveal-and-Release: unlearning with self-generated data, NeuralUCB-chosen instructions, orthogonal LoRA rounds.

Paper: "Reveal and Release: Iterative LLM Unlearning with Self-generated Data" (Xie, Teng, Ke, Wen & Wang,
Findings of EMNLP 2025), https://arxiv.org/abs/2509.14624. Building blocks: diagonal NeuralUCB as INSTINCT runs it
(:mod:`obliviate.reveal.neural_ucb`), O-LoRA (Wang et al. 2023) and PEM negation (Zhang et al. 2023).

Each round k runs Reveal on the current model (bandit over instructions -> filtered generations D_f(k)), adds a new
LoRA adapter (earlier ones frozen but active) and trains it for ``steps`` steps on

    negate:  L = NLL(D_f(k))                                   + lam_orth * L_orth,  then B_k <- -lam_neg * B_k
    ascent:  L = NPO(D_f(k)) (or GA) + w_r * R(D_r(k))           + lam_orth * L_orth
    L_orth  = sum over adapted layers of || [A_R; A_1; ...; A_{k-1}] A_k^T ||_1

A_R is the retain module (``retain_module=true``, the default): a LoRA adapter fitted by NLL on the retain rows
(given, or the round-1 self-generations scoring below the retain threshold) before round 1, then kept active and
frozen, so its A rows are the protected input subspace of every round in both modes (the paper's retain PEM).

The rounds run in :func:`obliviate.reveal.release.reveal_and_release` and the whole run is the registered pipeline
``reveal_release`` (:mod:`obliviate.reveal.pipeline`); this class is one round's objective plus its finalize hook (the
negation), trained by the one loop like any method. The paper's details are not public: the rounds follow its
abstract, the defaults the reconstructed pipeline in docs/reveal_release.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from obliviate import losses
from obliviate.methods.base import MethodDefaults, forward_logits
from obliviate.reveal import olora
from obliviate.reveal.config import RevealReleaseConfig
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    from obliviate.reference import Reference


class RevealRelease(MethodDefaults):
    """One Release round's loss (see the module docstring).

    ``setup`` reads the round structure off the model: the one trainable LoRA adapter is the new round, the frozen
    ones are the retain module and the earlier rounds (O-LoRA's A_prev). Without LoRA (full fine-tuning), negate
    mode snapshots the trainable weights and ``finalize`` applies theta0 - lam_neg * (theta - theta0).
    """

    Config: ClassVar[type] = RevealReleaseConfig

    def __init__(self, cfg: RevealReleaseConfig) -> None:
        self.cfg = cfg
        ascent = cfg.mode == "ascent"
        self.needs_reference = ascent and (cfg.ascent.loss == "npo" or cfg.ascent.retain.needs_reference)
        self.needs_retain = ascent and cfg.ascent.retain.active and cfg.retain_source != "none"
        self.needs_alt = False
        self.prev: list[str] = []
        self.new: str | None = None
        self._theta0: dict[str, torch.Tensor] | None = None

    def setup(self, model: nn.Module, ref: Any) -> None:
        self.prev, self.new = olora.split_adapters(model)
        if self.new is None and self.cfg.mode == "negate":
            self._theta0 = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        logits = forward_logits(model, forget)  # (B, T, V)
        if self.cfg.mode == "negate":
            term = losses.masked_mean_nll(logits, forget.labels)
            logs = {"forget_nll": term.item()}
        elif self.cfg.ascent.loss == "ga":
            nll = losses.masked_mean_nll(logits, forget.labels)
            term, logs = -nll, {"forget_nll": nll.item()}
        else:
            if ref is None:
                raise RuntimeError("reveal_release ascent with loss=npo needs the round-start reference model")
            logp = losses.sequence_logprob(logits, forget.labels)  # (B,)
            term = losses.npo_term(
                logp, losses.sequence_logprob(ref.logits(forget), forget.labels), self.cfg.ascent.beta
            )
            logs = {"forget_npo": term.item()}
        if self.cfg.mode == "ascent":
            r_loss, r_logs = self.cfg.ascent.retain(model, retain, ref)
            term, logs = term + r_loss, {**logs, **r_logs}
        orth = (
            olora.orth_loss(model, self.prev, self.new) if self.new else forget.labels.new_zeros((), dtype=torch.float)
        )
        logs["orth"] = orth.item()
        return LossOutput(term + self.cfg.lam_orth * orth, logs)

    @torch.no_grad()
    def finalize(self, model: nn.Module, ref: Any) -> None:
        if self.cfg.mode != "negate":
            return
        if self.new is not None:
            olora.negate(model, self.new, self.cfg.lam_neg)
            return
        for name, p in model.named_parameters():
            if self._theta0 is not None and name in self._theta0:
                p.copy_(self._theta0[name] - self.cfg.lam_neg * (p - self._theta0[name]))
