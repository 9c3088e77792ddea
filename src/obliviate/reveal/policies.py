"""Bandit policies that pick the next instruction to evaluate, and the shared evaluation loop.

A policy sees the feature matrix of the whole pool once and then alternates ``select(candidates) -> arm`` and
``update(arm, reward)``. Built in: ``neural_ucb`` (diagonal NeuralUCB, :mod:`obliviate.reveal.neural_ucb`),
``greedy`` (the same surrogate with exploration weight nu = 0) and ``random`` (uniform over the candidates). All run
under :func:`run_bandit` with the same budget: ``n_init`` uniformly random evaluations, then one policy pick per
step from a random subset of ``n_eval`` not-yet-evaluated arms, until ``budget`` evaluations in total.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from obliviate.errors import ObliviateError
from obliviate.registry import Registry


class Policy(Protocol):
    """Chooses arms (rows of the feature matrix given at construction) and learns from their rewards."""

    def select(self, candidates: np.ndarray) -> int:
        """The arm to evaluate next, one of ``candidates`` (an int array of arm indices)."""
        ...

    def update(self, arm: int, reward: float) -> None:
        """Record the observed reward of ``arm``."""
        ...


@dataclass
class PolicyConfig:
    """Options of the bandit policies (the surrogate fields are ignored by ``random``)."""

    name: str = field(default="neural_ucb", metadata={"help": "neural_ucb | greedy | random"})
    nu: float = field(
        default=1.0,
        metadata={
            "help": "exploration weight (NeuralUCB's gamma stand-in; 1 as in NeuralUCB and INSTINCT); greedy: 0"
        },
    )
    lam: float = field(
        default=0.1, metadata={"help": "regulariser: U starts at lam, Adam weight decay lam / n_observed"}
    )
    hidden: int = field(default=100, metadata={"help": "surrogate MLP width (one hidden ReLU layer per depth)"})
    depth: int = 1
    lr: float = field(
        default=1e-2,
        metadata={"help": "Adam learning rate of the surrogate refit (INSTINCT: 1e-3 with N(0, 1) weights)"},
    )
    refit_steps: int = field(
        default=1000,
        metadata={"help": "max full-batch Adam steps per refit, always from the same initialisation (INSTINCT: 1000)"},
    )
    refit_tol: float = field(
        default=1e-3, metadata={"help": "stop a refit once the training MSE is this low (NeuralUCB's rule; 0 = never)"}
    )
    init_std: float | None = field(
        default=None,
        metadata={"help": "weights, biases ~ N(0, init_std^2) (INSTINCT: 1); None: N(0, 1/fan_in), bias 0"},
    )
    seed: int = 0


POLICIES: Registry[Callable[[np.ndarray, PolicyConfig], Policy]] = Registry("policy")
register_policy = POLICIES.register


@register_policy("random")
class RandomPolicy:
    """Uniform choice among the candidates (the comparison baseline)."""

    def __init__(self, features: np.ndarray, cfg: PolicyConfig) -> None:
        self.rng = np.random.default_rng(cfg.seed + 7919)

    def select(self, candidates: np.ndarray) -> int:
        return int(self.rng.choice(candidates))

    def update(self, arm: int, reward: float) -> None:
        pass


def build_policy(features: np.ndarray, cfg: PolicyConfig) -> Policy:
    """Instantiate the policy ``cfg.name`` over the (N, d) feature matrix."""
    import obliviate.reveal.neural_ucb  # noqa: F401  (registers neural_ucb and greedy)

    try:
        factory = POLICIES.get(cfg.name)
    except KeyError as e:
        raise ObliviateError(str(e.args[0])) from None
    return factory(np.asarray(features, dtype=np.float32), cfg)


@dataclass
class BanditTrace:
    """What one bandit run saw, in evaluation order."""

    arms: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    phases: list[str] = field(default_factory=list)  # "init" or "policy"

    def best_so_far(self) -> list[float]:
        """Best reward after each evaluation (the reward-vs-evaluations curve)."""
        return np.maximum.accumulate(np.asarray(self.rewards, dtype=float)).tolist() if self.rewards else []

    def ranked(self) -> list[tuple[int, float]]:
        """``(arm, reward)`` pairs, best first (ties keep evaluation order)."""
        order = sorted(range(len(self.arms)), key=lambda i: -self.rewards[i])
        return [(self.arms[i], self.rewards[i]) for i in order]


def run_bandit(
    features: np.ndarray,
    reward_fn: Callable[[int], float],
    cfg: PolicyConfig,
    *,
    budget: int,
    n_init: int,
    n_eval: int = 1000,
    progress: bool = False,
    on_step: Callable[[int, int, float], Any] | None = None,
) -> BanditTrace:
    """Evaluate ``budget`` distinct arms: ``n_init`` uniformly random ones, then policy picks.

    Args:
        features: (N, d) arm features (raw; the surrogate standardises them itself).
        reward_fn: arm index -> reward (e.g. the mean scorer value of k generations).
        cfg: which policy and its options.
        budget: total number of evaluations (including the ``n_init`` random ones); capped at N.
        n_init: random evaluations before the policy takes over.
        n_eval: size of the random candidate subset the policy scores at each step.
        progress: show a progress bar.
        on_step: optional callback ``(step, arm, reward)`` after each evaluation.

    Returns:
        The trace of evaluated arms and rewards.
    """
    n = len(features)
    if budget < 1 or n_init < 1:
        raise ObliviateError(f"bandit budget ({budget}) and n_init ({n_init}) must be >= 1")
    budget = min(budget, n)
    policy = build_policy(features, cfg)
    rng = np.random.default_rng(cfg.seed)
    trace = BanditTrace()
    seen = np.zeros(n, dtype=bool)
    init = rng.choice(n, size=min(n_init, budget), replace=False)
    for step in tqdm(range(budget), desc=f"reveal[{cfg.name}]", disable=not progress, leave=False):
        if step < len(init):
            arm, phase = int(init[step]), "init"
        else:
            pool = np.flatnonzero(~seen)
            cand = rng.choice(pool, size=min(n_eval, len(pool)), replace=False)
            arm, phase = policy.select(cand), "policy"
        reward = float(reward_fn(arm))
        seen[arm] = True
        policy.update(arm, reward)
        trace.arms.append(arm)
        trace.rewards.append(reward)
        trace.phases.append(phase)
        if on_step is not None:
            on_step(step, arm, reward)
    return trace
