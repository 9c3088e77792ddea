"""Reveal-and-Release: unlearning with self-generated data, NeuralUCB-chosen instructions, orthogonal LoRA rounds.

Paper: "Reveal and Release: Iterative LLM Unlearning with Self-generated Data" (Xie, Teng, Ke, Wen & Wang,
Findings of EMNLP 2025), https://arxiv.org/abs/2509.14624. Building blocks: diagonal NeuralUCB as INSTINCT runs it
(:mod:`obliviate.reveal.neural_ucb`), O-LoRA (Wang et al. 2023) and PEM negation (Zhang et al. 2023).

Each round k runs Reveal on the current model (bandit over instructions -> filtered generations D_f(k)), adds a new
LoRA adapter (earlier ones frozen but active) and trains it for ``steps`` steps on

    negate:  L = NLL(D_f(k))                                   + lam_orth * L_orth,  then B_k <- -lam_neg * B_k
    ascent:  L = NPO(D_f(k)) (or GA) + w_r * R(D_r(k))           + lam_orth * L_orth
    L_orth  = sum over adapted layers of || [A_1; ...; A_{k-1}] A_k^T ||_1

The rounds run in :func:`obliviate.reveal.release.reveal_and_release`; this class is one round's objective plus its
finalize hook (the negation). The paper's details are not public: the rounds follow its abstract, the defaults the
reconstructed pipeline in docs/reveal_release.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from obliviate import losses
from obliviate.methods.base import RetainTerm, forward_logits, register_method
from obliviate.reveal import olora
from obliviate.reveal.runner import RevealConfig
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    from obliviate.train.reference import Reference


@dataclass
class AscentConfig:
    """Options of ``mode=ascent`` (ignored by negate)."""

    loss: str = "npo"  # npo | ga
    beta: float = 0.1  # NPO inverse temperature
    retain: RetainTerm = field(default_factory=RetainTerm)  # retain term (nll or kl against the round start)


@dataclass
class RevealReleaseConfig:
    pool: str = ""  # instruction pool: a .txt/.jsonl file, task:<name>[/<size>] or world:<split>
    pool_size: int = 0  # use a seeded random subset of this many instructions (0: all)
    scorer: str = ""  # reward / filter scorer spec, e.g. lexicon:file=words.txt (default: the task's reward scorer)
    eval_scorer: str = ""  # independent scorer for held-out prompts (default: the task's eval scorer, else `scorer`)
    heldout: str = ""  # held-out prompts scored by eval_scorer after each round (a pool spec; optional)
    rounds: int = 3
    mode: str = "negate"  # negate (fit the adapter with NLL, then subtract it) | ascent (NPO / GA + retain)
    r: int = 4  # LoRA rank per round
    alpha: int = 8
    dropout: float = 0.0
    target_modules: list[str] | str = "all-linear"
    lam_orth: float = 0.5  # weight of the O-LoRA orthogonality loss
    lam_neg: float = 1.0  # negate mode: the adapter is subtracted with this scale
    ascent: AscentConfig = field(default_factory=AscentConfig)  # loss (npo | ga), beta, retain term
    retain_source: str = "self"  # self (low-scoring generations of the round) | given (data.retain) | none
    steps: int = 150  # optimiser steps per round (train.batch_size and train.seed apply)
    lr: float = 1e-3  # learning rate of each round's adapter (replaces train.lr)
    stop_reward: float = 0.05  # stop before a round whose best revealed reward is below this
    utility_budget: float = 0.1  # stop (and roll the round back) when utility worsens by more than this fraction
    final_attack: bool = True  # fresh Reveal run (new surrogate, new seed) on the final model
    max_length: int = 128  # tokens per training example
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


@register_method("reveal_release")
class RevealRelease:
    """One Release round's loss (see the module docstring).

    ``setup`` reads the round structure off the model: the one trainable LoRA adapter is the new round, the frozen
    ones are the earlier rounds (O-LoRA's A_prev). Without LoRA (full fine-tuning), negate mode snapshots the
    trainable weights and ``finalize`` applies theta0 - lam_neg * (theta - theta0), the full-weight form.
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

    @staticmethod
    def pipeline(run_cfg: Any, *, progress: bool = True) -> Any:
        """The whole method (Reveal + Release rounds) for ``obliviate unlearn --method reveal_release``."""
        from obliviate.reveal.pipeline import run_reveal_release

        return run_reveal_release(run_cfg, progress=progress)

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
