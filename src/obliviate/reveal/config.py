"""The options of Reveal and Reveal-and-Release as plain dataclasses (no torch), so that listing and validating
them (``obliviate methods``, ``obliviate validate``) stays light. Import them from here; they used to live beside the
code that uses them (:mod:`.generate`: sampling and the forget / retain sets; :mod:`.runner`: one Reveal run;
:mod:`.objective`: a Release round).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from obliviate.errors import ObliviateError
from obliviate.methods.base import RetainTerm
from obliviate.reveal.policies import PolicyConfig


@dataclass
class SampleConfig:
    """How continuations are sampled (for rewards and for the forget / retain sets)."""

    k: int = field(default=8, metadata={"help": "generations per reward evaluation (the reward is their mean score)"})
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 0.9
    batch_size: int = field(default=64, metadata={"help": "sequences per generate() call"})
    chat_template: bool = field(default=False, metadata={"help": "wrap instructions as a user turn (chat models)"})

    def __post_init__(self) -> None:
        if self.k < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ObliviateError("sample.k, sample.max_new_tokens and sample.batch_size must be >= 1")
        if not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ObliviateError(
                f"sample.temperature must be > 0 and top_p in (0, 1] (got {self.temperature}, {self.top_p})"
            )


@dataclass
class ForgetSetConfig:
    """How the self-generated forget set is built from the top instructions."""

    top_m: int = field(
        default=5, metadata={"help": "best instructions (by observed reward) that generate the forget set"}
    )
    samples: int = field(default=100, metadata={"help": "generations per top instruction"})
    threshold: float = field(default=0.5, metadata={"help": "keep generations with score >= threshold"})
    cap_per_instruction: int = field(
        default=100, metadata={"help": "at most this many rows per instruction (no single prompt dominates)"}
    )
    max_rows: int = field(default=300, metadata={"help": "cap on the whole set"})
    near_dup: float = field(
        default=0.8,
        metadata={"help": "drop a row whose word-3-gram Jaccard with a kept row is >= this (1.0: exact dups only)"},
    )


@dataclass
class RetainGenConfig:
    """Self-generated retain rows: generations of the lowest-reward instructions that score below ``threshold``."""

    bottom_m: int = field(default=10, metadata={"help": "lowest-reward evaluated instructions used"})
    samples: int = 30
    threshold: float = field(default=0.1, metadata={"help": "keep generations with score < threshold"})
    cap_per_instruction: int = 30
    max_rows: int = 300


@dataclass
class RevealConfig:
    """One Reveal run: bandit budget and policy, reward sampling, forget / retain set construction."""

    budget: int = field(default=60, metadata={"help": "instructions evaluated in total (n_init random ones included)"})
    n_init: int = field(default=10, metadata={"help": "random evaluations before the policy takes over"})
    n_eval: int = field(
        default=1000,
        metadata={"help": "candidates scored by the policy per step (a random subset of the unevaluated pool)"},
    )
    pooling: str = field(
        default="last", metadata={"help": "instruction feature: last-token or mean-pooled final hidden state"}
    )
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    forget: ForgetSetConfig = field(default_factory=ForgetSetConfig)
    retain: RetainGenConfig | None = field(
        default_factory=RetainGenConfig, metadata={"help": "None: no self-generated retain set"}
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if self.budget < 1 or self.n_init < 1 or self.n_eval < 1:
            raise ObliviateError("reveal.budget, reveal.n_init and reveal.n_eval must be >= 1")


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
