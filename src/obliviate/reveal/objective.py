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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from obliviate import losses
from obliviate.methods.base import MethodDefaults, RetainTerm, forward_logits
from obliviate.reveal import olora
from obliviate.reveal.runner import RevealConfig
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    from obliviate.reference import Reference


@dataclass
class AscentConfig:
    """Options of ``mode=ascent`` (ignored by negate)."""

    loss: str = field(default="npo", metadata={"help": "npo | ga"})
    beta: float = field(default=0.1, metadata={"help": "NPO inverse temperature"})
    retain: RetainTerm = field(default_factory=RetainTerm, metadata={"help": "retain term (kl: to the round start)"})


@dataclass
class RevealReleaseConfig:
    pool: str = field(default="", metadata={"help": "instructions: .txt/.jsonl, task:<name>[/<size>], world:<split>"})
    pool_size: int = field(default=0, metadata={"help": "a seeded random subset of this many instructions (0: all)"})
    scorer: str = field(default="", metadata={"help": "reward / filter scorer, e.g. lexicon:file=w.txt (task's)"})
    eval_scorer: str = field(default="", metadata={"help": "scorer of held-out prompts (task's, else scorer)"})
    heldout: str = field(default="", metadata={"help": "held-out prompts scored after each round (a pool spec)"})
    rounds: int = field(default=3, metadata={"help": "rounds at most (the stopping rules may end earlier)"})
    mode: str = field(default="negate", metadata={"help": "negate (fit with NLL, subtract) | ascent (NPO/GA)"})
    r: int = field(default=4, metadata={"help": "LoRA rank per round"})
    alpha: int = field(default=8, metadata={"help": "LoRA alpha per round"})
    dropout: float = field(default=0.0, metadata={"help": "LoRA dropout per round"})
    target_modules: list[str] | str = field(default="all-linear", metadata={"help": "modules each round adapts"})
    lam_orth: float = field(default=0.5, metadata={"help": "weight of the O-LoRA orthogonality loss"})
    lam_neg: float = field(default=1.0, metadata={"help": "negate mode: the adapter is subtracted with this scale"})
    ascent: AscentConfig = field(default_factory=AscentConfig, metadata={"help": "loss (npo | ga), beta, retain term"})
    retain_source: str = field(default="self", metadata={"help": "self (low-scoring generations) | given | none"})
    retain_module: bool = field(
        default=True, metadata={"help": "fit a frozen retain LoRA first; every round is kept orthogonal to it"}
    )
    steps: int = field(default=150, metadata={"help": "optimiser steps per round (train.batch_size, seed apply)"})
    lr: float = field(default=1e-3, metadata={"help": "learning rate of each round's adapter (replaces train.lr)"})
    stop_reward: float = field(default=0.05, metadata={"help": "stop before a round whose best reward is below"})
    utility_budget: float = field(default=0.1, metadata={"help": "roll back and stop past this utility loss"})
    final_attack: bool = field(default=True, metadata={"help": "a fresh Reveal run on the final model"})
    max_length: int = field(default=128, metadata={"help": "tokens per training example"})
    reveal: RevealConfig = field(default_factory=RevealConfig)

    def __post_init__(self) -> None:
        if self.mode not in ("negate", "ascent"):
            raise ValueError(f"mode must be negate or ascent (got {self.mode!r})")
        if self.ascent.loss not in ("npo", "ga"):
            raise ValueError(f"ascent.loss must be npo or ga (got {self.ascent.loss!r})")
        if self.retain_source not in ("self", "given", "none"):
            raise ValueError(f"retain_source must be self, given or none (got {self.retain_source!r})")
        if self.rounds < 1 or self.steps < 1 or self.r < 1:
            raise ValueError("rounds, steps and r must be >= 1")


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
