"""Reveal: search an instruction pool with a bandit for the instructions that make the model show a concept, then
turn their generations into a self-generated forget set (and, optionally, a retain set).

    result = run_reveal(model, tok, pool, build_scorer("lexicon:file=words.txt"), RevealConfig(budget=60))
    save_reveal(result, "runs/reveal")     # instructions.jsonl, curve.json, forget.jsonl, retain.jsonl, reveal.json

Reward of an instruction = mean scorer value of ``sample.k`` sampled continuations. The features the bandit sees are
the current model's final hidden state of each instruction (last token or mean-pooled; the surrogate standardises
them), computed once per run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from obliviate.errors import ObliviateError
from obliviate.reveal.config import RevealConfig
from obliviate.reveal.generate import (
    SampleConfig,
    collect_rows,
    instruction_features,
    sample_continuations,
)
from obliviate.reveal.policies import PolicyConfig, run_bandit
from obliviate.reveal.scorers import Scorer
from obliviate.utils.io import atomic_dir, atomic_write_json


@dataclass
class RevealResult:
    """What one Reveal run found."""

    evaluations: list[dict[str, Any]]  # in evaluation order: {"step", "instruction", "reward", "phase"}
    curve: list[float]  # best reward after each evaluation
    forget_rows: list[dict[str, Any]]  # {"prompt", "answer", "score"}
    retain_rows: list[dict[str, Any]]
    stats: dict[str, Any]

    @property
    def best_reward(self) -> float:
        return self.curve[-1] if self.curve else 0.0

    def ranked(self) -> list[dict[str, Any]]:
        """Evaluated instructions, best reward first."""
        return sorted(self.evaluations, key=lambda e: (-e["reward"], e["step"]))


def instruction_reward(
    model: Any, tokenizer: Any, instruction: str, scorer: Scorer, cfg: SampleConfig, seed: int
) -> tuple[float, list[str]]:
    """Mean score of ``cfg.k`` sampled continuations of ``instruction`` (and the continuations)."""
    texts = sample_continuations(model, tokenizer, [instruction], cfg.k, cfg, seed=seed)[0]
    return float(np.mean(scorer(texts))), texts


def run_reveal(
    model: Any,
    tokenizer: Any,
    pool: list[str],
    scorer: Scorer,
    cfg: RevealConfig,
    *,
    features: np.ndarray | None = None,
    progress: bool = True,
) -> RevealResult:
    """Search ``pool`` for high-reward instructions and build the forget (and retain) rows.

    Args:
        model: the current causal LM (Reveal must run on the model being unlearned *now*).
        tokenizer: its tokenizer (with a pad token).
        pool: candidate instructions (deduplicated, see :mod:`obliviate.reveal.pool`).
        scorer: reward scorer (also the forget-set filter).
        cfg: budget, policy and sampling options.
        features: precomputed (N, d) instruction features (default: from ``model``).
        progress: show progress bars.
    """
    if not pool:
        raise ObliviateError("the instruction pool is empty")
    t0 = time.time()
    if features is None:
        features = instruction_features(
            model, tokenizer, pool, pooling=cfg.pooling, chat_template=cfg.sample.chat_template, progress=progress
        )

    def reward(arm: int) -> float:
        # Seed per arm: the same instruction gets the same samples whichever policy evaluates it.
        return instruction_reward(model, tokenizer, pool[arm], scorer, cfg.sample, seed=cfg.seed * 1_000_003 + arm)[0]

    policy_cfg = PolicyConfig(**{**asdict(cfg.policy), "seed": cfg.policy.seed + cfg.seed})
    trace = run_bandit(features, reward, policy_cfg, budget=cfg.budget, n_init=cfg.n_init, n_eval=cfg.n_eval,
                       progress=progress)  # fmt: skip
    evaluations = [{"step": i, "instruction": pool[a], "reward": r, "phase": ph}
                   for i, (a, r, ph) in enumerate(zip(trace.arms, trace.rewards, trace.phases))]  # fmt: skip
    ranked = sorted(evaluations, key=lambda e: (-e["reward"], e["step"]))
    top = [e["instruction"] for e in ranked[: cfg.forget.top_m]]
    forget_rows, fstats = collect_rows(model, tokenizer, top, scorer, cfg.forget, cfg.sample, seed=cfg.seed + 1)
    retain_rows, rstats = [], {}
    if cfg.retain is not None:  # the lowest-reward instructions' generations that score below the retain threshold
        bottom = [e["instruction"] for e in ranked[::-1][: cfg.retain.bottom_m]]
        retain_rows, rstats = collect_rows(model, tokenizer, bottom, scorer, cfg.retain, cfg.sample, keep_high=False,
                                           seed=cfg.seed + 2)  # fmt: skip
    stats = {
        "pool_size": len(pool),
        "evaluations": len(evaluations),
        "policy": cfg.policy.name,
        "best_reward": trace.best_so_far()[-1],
        "mean_reward": float(np.mean(trace.rewards)),
        "top_instructions": top,
        "forget": fstats,
        "retain": rstats,
        "time_s": round(time.time() - t0, 3),
    }
    return RevealResult(evaluations, trace.best_so_far(), forget_rows, retain_rows, stats)


def _jsonl(rows: list[dict[str, Any]]) -> str:
    import json

    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def save_reveal(result: RevealResult, out_dir: str | Path, config: dict[str, Any] | None = None) -> Path:
    """Write a Reveal run atomically into ``out_dir``.

    Files: ``instructions.jsonl`` (ranked, with rewards), ``curve.json`` (best reward vs evaluations),
    ``forget.jsonl`` / ``retain.jsonl`` (``{"prompt", "answer", "score"}`` rows the data layer reads) and
    ``reveal.json`` (stats and the config).
    """
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        ranked = [{"rank": i + 1, **e} for i, e in enumerate(result.ranked())]
        (tmp / "instructions.jsonl").write_text(_jsonl(ranked), encoding="utf-8")
        atomic_write_json(
            tmp / "curve.json", {"best_so_far": result.curve, "rewards": [e["reward"] for e in result.evaluations]}
        )
        (tmp / "forget.jsonl").write_text(_jsonl(result.forget_rows), encoding="utf-8")
        (tmp / "retain.jsonl").write_text(_jsonl(result.retain_rows), encoding="utf-8")
        atomic_write_json(tmp / "reveal.json", {"stats": result.stats, "config": config or {}})
    return out
