"""Release: K rounds of Reveal -> one new orthogonal LoRA adapter per round, on the *current* model.

    cfg = RevealReleaseConfig(rounds=3)
    result = reveal_and_release(model, tok, pool, reward_scorer, cfg, TrainConfig(batch_size=16))
    result.model                     # peft model: adapters round1..roundK, all active, all frozen
    olora.merged_copy(result.model)  # plain transformers model for export

Per round: Reveal (fresh surrogate, round-specific seed) on the current model; stop if its best reward is below
``stop_reward`` or it produced no forget row; add adapter ``round{k}`` and train it through the one training loop
(:func:`obliviate.train.loop.train`, request = k - 1) with :class:`~obliviate.reveal.objective.RevealRelease`;
measure utility and roll the round back (delete its adapter) and stop if utility worsened by more than
``utility_budget`` relative to the original model. After the last round a fresh Reveal attack on the final model
gives the honest forget metric (its best reward).

Resume: with a ``run_dir``, the state after every finished round (each adapter's LoRA weights, the round log, the
Reveal results) is written to ``run_dir/checkpoints/release``; ``resume=True`` goes on from there. Every round starts
from its own seed (Reveal, sampling, adapter init and training already seed themselves; the global RNGs are reseeded
too), so a resumed run ends with the same weights and metrics as an uninterrupted one. A round cut short is redone.

Retain module (``retain_module=true``): before the first round trains, adapter ``retain`` is fitted by NLL on the
retain rows (``retain_source``: the given rows, or round 1's self-generations scoring below the retain threshold) and
stays active and frozen; every round's O-LoRA loss then includes its A rows. It is removed again if no round is kept.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from obliviate.config import TrainConfig
from obliviate.errors import ObliviateError
from obliviate.reveal import olora
from obliviate.reveal.config import RevealReleaseConfig, SampleConfig
from obliviate.reveal.generate import sample_continuations
from obliviate.reveal.objective import RevealRelease
from obliviate.reveal.runner import RevealResult, run_reveal
from obliviate.reveal.scorers import Scorer
from obliviate.utils.io import atomic_dir, atomic_write_json

log = logging.getLogger(__name__)
Metrics = Callable[[Any, Any], dict[str, float]]
RETAIN = "retain"  # the retain module's adapter name (round adapters are round1, round2, ...)
STATE = Path("checkpoints") / "release"  # in the run dir; obliviate.runs.finish drops checkpoints/ from the result


@dataclass
class Evaluation:
    """How rounds are judged: ``metrics(model, tokenizer) -> {name: value}`` and which entry is the utility."""

    metrics: Metrics
    utility_metric: str
    higher_is_better: bool = False

    def worsening(self, base: float, now: float) -> float:
        """Relative utility loss (> 0 is worse)."""
        diff = (base - now) if self.higher_is_better else (now - base)
        return diff / max(abs(base), 1e-12)


def default_evaluation(
    utility_rows: list[dict[str, Any]],
    heldout: list[str] | None = None,
    eval_scorer: Scorer | None = None,
    chat_template: bool = False,
) -> Evaluation:
    """Utility = perplexity of ``utility_rows`` (retain data); plus, when given, the mean ``eval_scorer`` value of
    sampled generations of the ``heldout`` prompts (4 each)."""
    from obliviate.reveal.tasks.base import answer_ppl

    def metrics(model: Any, tokenizer: Any) -> dict[str, float]:
        ppl = answer_ppl(model, tokenizer, utility_rows, chat_template=chat_template) if utility_rows else math.nan
        out = {"utility_ppl": ppl}
        if heldout and eval_scorer is not None:
            cfg = SampleConfig(max_new_tokens=48, chat_template=chat_template)
            gens = sample_continuations(model, tokenizer, heldout, 4, cfg, seed=12345)
            out["heldout_score"] = float(np.mean(eval_scorer([g for gs in gens for g in gs])))
        return out

    return Evaluation(metrics, "utility_ppl", higher_is_better=False)


@dataclass
class ReleaseResult:
    """Outcome of :func:`reveal_and_release`."""

    model: Any  # the peft model with the kept round adapters (or the untouched model if no round ran)
    rounds: list[dict[str, Any]]  # per-round log
    reveals: list[RevealResult]  # the Reveal run of every round (forget sets included)
    baseline: dict[str, float]  # metrics of the original model
    final: dict[str, float]  # metrics of the final model
    attack: dict[str, Any] | None  # the fresh Reveal attack on the final model
    stop_reason: str
    time_s: float = 0.0
    kept: list[str] = field(default_factory=list)  # adapter names kept, in round order
    resumed_at: int | None = None  # resume: the round this call went on from (earlier rounds came from run_dir)
    retain: dict[str, Any] | None = None  # the retain module's fit (rows, steps, loss) or why it was skipped


def _round_reveal_cfg(cfg: RevealReleaseConfig, k: int, retain: bool = True):
    # A new seed per round: a fresh surrogate and new samples; the attack uses k = rounds + 1. Self-generated retain
    # rows are only sampled when something uses them (the retain term, or the default utility set).
    return dataclasses.replace(
        cfg.reveal, seed=cfg.reveal.seed + 1000 * k, retain=cfg.reveal.retain if retain else None
    )


def _fit_round(model, tokenizer, name, reveal, retain_given, cfg, train_cfg, k, run_dir, progress):
    """Add adapter ``name`` on top of the frozen earlier rounds and train it through the loop (request k - 1)."""
    from obliviate.reference import Reference
    from obliviate.train.loop import train
    from obliviate.train.memorise import rows_to_data

    prev = olora.adapter_names(model)
    model = olora.add_round_adapter(model, name, r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout,
                                    target_modules=cfg.target_modules, seed=train_cfg.seed * 1000 + k)  # fmt: skip
    method = RevealRelease(cfg)
    retain = {"self": reveal.retain_rows, "given": retain_given, "none": None}[cfg.retain_source] or None
    data = rows_to_data(
        reveal.forget_rows,
        tokenizer,
        cfg.max_length,
        retain if method.needs_retain else None,
        chat_template=cfg.reveal.sample.chat_template,
    )  # the prompts as Reveal sampled them
    # The new adapter starts with B = 0, so a frozen copy now *is* the round-start model (NPO / KL reference).
    ref = Reference.copy_of(model) if method.needs_reference else None
    tcfg = dataclasses.replace(train_cfg, lr=cfg.lr, max_steps=cfg.steps, seed=train_cfg.seed + k)
    res = train(model, tokenizer, method, data, tcfg, run_dir, ref=ref, request=k - 1, progress=progress)
    olora.activate(model, [*prev, name])  # everything frozen again after training
    return model, res


def _fit_retain(model, tokenizer, rows, cfg, train_cfg, progress):
    """Add adapter ``retain`` and fit it by NLL on ``rows`` (the loop's Memorise objective), then freeze it."""
    from obliviate.train.loop import train
    from obliviate.train.memorise import Memorise, rows_to_data

    model = olora.add_round_adapter(model, RETAIN, r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout,
                                    target_modules=cfg.target_modules, seed=train_cfg.seed * 1000)  # fmt: skip
    data = rows_to_data(rows, tokenizer, cfg.max_length, chat_template=cfg.reveal.sample.chat_template)
    tcfg = dataclasses.replace(train_cfg, lr=cfg.lr, max_steps=cfg.steps)
    res = train(model, tokenizer, Memorise(), data, tcfg, None, progress=progress)
    olora.activate(model, [RETAIN])
    return model, {"status": "fitted", "rows": len(rows), "steps": res.steps, "nll": res.logs.get("nll", math.nan)}


def _seed_round(train_cfg: TrainConfig, k: int) -> None:
    """Reseed python / numpy / torch for round ``k`` (k = rounds + 1: the final evaluation and attack), so what a round
    does depends on the model it starts from and k only, not on the RNG state earlier rounds left (exact resume)."""
    from accelerate.utils import set_seed

    set_seed((train_cfg.seed * 1_000_003 + k) % 2**32)  # numpy takes seeds below 2**32


def _save_state(run_dir: str | Path | None, model: Any, state: dict[str, Any]) -> None:
    """After a finished round: every adapter's LoRA weights (safetensors) and the run so far (JSON), atomically."""
    if run_dir is None:
        return
    from safetensors.torch import save_file

    names = olora.adapter_names(model)
    with atomic_dir(Path(run_dir) / STATE) as tmp:
        tensors = {k: v.detach().contiguous() for k, v in model.state_dict().items() if ".lora_" in k}
        save_file(tensors, str(tmp / "adapters.safetensors"))
        atomic_write_json(tmp / "state.json", {**state, "adapters": names})


def _load_state(run_dir: str | Path, model: Any, cfg: RevealReleaseConfig) -> tuple[Any, dict[str, Any] | None]:
    """``(model with the saved adapters, the saved state)``, or ``(model, None)`` when no round had finished."""
    from safetensors.torch import load_file

    path = Path(run_dir) / STATE
    if not (path / "state.json").is_file():  # a kill inside replace_dir leaves only the previous state, moved aside
        path = path.with_name(f".{path.name}.old")
    if not (path / "state.json").is_file():
        return model, None
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    for name in state["adapters"]:  # the same modules as the run made; their weights are loaded just below
        model = olora.add_round_adapter(model, name, r=cfg.r, alpha=cfg.alpha, dropout=cfg.dropout,
                                        target_modules=cfg.target_modules, seed=0)  # fmt: skip
    if state["adapters"]:
        missing, unexpected = model.load_state_dict(load_file(str(path / "adapters.safetensors")), strict=False)
        if unexpected or any(".lora_" in k for k in missing):
            raise ObliviateError(
                f"the saved rounds in {path} do not fit method.args (LoRA shape or target modules changed); "
                "resume with the run's own settings or rerun with --overwrite"
            )
        olora.activate(model, state["adapters"])
    return model, state


def _reveal_stop(reveal: RevealResult, cfg: RevealReleaseConfig) -> str | None:
    """Why no round should follow this Reveal run (None: go on)."""
    if reveal.best_reward < cfg.stop_reward:
        return f"best revealed reward {reveal.best_reward:.3f} < stop_reward {cfg.stop_reward}"
    if not reveal.forget_rows:
        return "no generation passed the forget threshold"
    return None


def _geometry(model: Any, prev: list[str], new: str) -> dict[str, float]:
    return {"orth_loss": float(olora.orth_loss(model, prev, new)), "max_abs_cos": olora.max_abs_cos(model, prev, new)}


def _attack(model: Any, tokenizer: Any, pool: list[str], scorer: Scorer, cfg: RevealReleaseConfig, progress: bool):
    """A fresh Reveal run (new surrogate and seed) on the final model: the honest forget metric."""
    fresh = run_reveal(
        model, tokenizer, pool, scorer, _round_reveal_cfg(cfg, cfg.rounds + 1, False), progress=progress
    )
    return {
        "best_reward": fresh.best_reward,
        "mean_reward": fresh.stats["mean_reward"],
        "top_instructions": fresh.stats["top_instructions"],
        "forget_pass_rate": fresh.stats["forget"]["pass_rate"],
    }


def reveal_and_release(
    model: Any,
    tokenizer: Any,
    pool: list[str],
    scorer: Scorer,
    cfg: RevealReleaseConfig,
    train_cfg: TrainConfig,
    *,
    evaluation: Evaluation | None = None,
    retain_rows: list[dict[str, Any]] | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> ReleaseResult:
    """Run the rounds (see the module docstring).

    Args:
        model: the causal LM to unlearn (a plain transformers model; it is wrapped by peft here).
        tokenizer: its tokenizer (with a pad token).
        pool: candidate instructions for Reveal.
        scorer: the reward / forget-filter scorer.
        cfg: rounds, release mode, LoRA, O-LoRA, stopping and Reveal options.
        train_cfg: batch sizes, schedule, seed of each round's training (``cfg.lr`` / ``cfg.steps`` replace its own).
        evaluation: per-round metrics and the utility entry (default: perplexity of the retain rows).
        retain_rows: user-provided retain rows (``retain_source="given"``; also the default utility set).
        run_dir: where the loop appends ``train_log.jsonl`` (request = round - 1) and the state after each round
            goes (``checkpoints/release``); None writes nothing.
        resume: go on from the state in ``run_dir`` (from round 1 when there is none).
        progress: progress bars.
    """
    t0 = time.time()
    rounds, reveals, kept, stop = [], [], [], "rounds done"
    retain_fit: dict[str, Any] | None = None
    baseline: dict[str, float] | None = None
    first = 1
    model, state = _load_state(run_dir, model, cfg) if resume and run_dir is not None else (model, None)
    if state is not None:
        rounds, kept, stop, retain_fit, baseline = (state[k] for k in ("rounds", "kept", "stop", "retain", "baseline"))
        reveals, first, t0 = [RevealResult(**r) for r in state["reveals"]], state["next_round"], t0 - state["time_s"]
        log.info("resuming at round %d: rounds 1-%d and their adapters restored from %s", first, first - 1, run_dir)
        if evaluation is None and reveals:  # as round 1 built it
            evaluation = default_evaluation(retain_rows or reveals[0].retain_rows,
                                            chat_template=cfg.reveal.sample.chat_template)  # fmt: skip

    def save(next_round: int) -> None:
        _save_state(run_dir, model, {"next_round": next_round, "rounds": rounds, "kept": kept, "stop": stop,
                                     "retain": retain_fit, "baseline": baseline, "time_s": time.time() - t0,
                                     "reveals": [dataclasses.asdict(r) for r in reveals]})  # fmt: skip

    for k in tqdm(
        range(first, cfg.rounds + 1), desc="release rounds", disable=not progress, initial=first - 1, total=cfg.rounds
    ):
        _seed_round(train_cfg, k)
        # Self-generated retain rows feed the ascent retain term, or the default utility set (round 1 only).
        own = cfg.retain_source == "self" and (
            cfg.mode == "ascent" or (evaluation is None and not retain_rows) or (cfg.retain_module and k == 1)
        )
        reveal = run_reveal(model, tokenizer, pool, scorer, _round_reveal_cfg(cfg, k, own), progress=progress)
        reveals.append(reveal)
        evaluation = evaluation or default_evaluation(
            retain_rows or reveal.retain_rows, chat_template=cfg.reveal.sample.chat_template
        )
        baseline = evaluation.metrics(model, tokenizer) if baseline is None else baseline
        entry = {"round": k, "revealed_reward": reveal.best_reward, "mean_reward": reveal.stats["mean_reward"],
                 "forget_size": len(reveal.forget_rows), "retain_size": len(reveal.retain_rows)}  # fmt: skip
        if why := _reveal_stop(reveal, cfg):
            rounds.append({**entry, "status": "stopped"})
            stop = f"round {k}: {why}"
            save(cfg.rounds + 1)
            break
        if cfg.retain_module and retain_fit is None:
            rows = {"self": reveal.retain_rows, "given": retain_rows, "none": None}[cfg.retain_source]
            if rows:
                model, retain_fit = _fit_retain(model, tokenizer, rows, cfg, train_cfg, progress)
            else:
                retain_fit = {"status": f"skipped: no retain rows (retain_source={cfg.retain_source})"}
        base = [RETAIN] if retain_fit and retain_fit["status"] == "fitted" else []
        name = f"round{k}"
        model, res = _fit_round(model, tokenizer, name, reveal, retain_rows, cfg, train_cfg, k, run_dir, progress)
        metrics = evaluation.metrics(model, tokenizer)
        worse = evaluation.worsening(baseline[evaluation.utility_metric], metrics[evaluation.utility_metric])
        entry = {**entry, **_geometry(model, [*base, *kept], name), "train_steps": res.steps,
                 "train_loss": res.logs.get("loss", math.nan), "utility_worsening": worse, **metrics}  # fmt: skip
        rounds.append({**entry, "status": "rolled back" if worse > cfg.utility_budget else "kept"})
        if worse > cfg.utility_budget:
            model, stop = olora.delete_round(model, name), f"round {k}: utility worsened by {worse:.1%} > budget"
            save(cfg.rounds + 1)
            break
        kept.append(name)
        save(k + 1)
    _seed_round(train_cfg, cfg.rounds + 1)
    if not kept and RETAIN in olora.adapter_names(model):
        model = olora.delete_round(model, RETAIN)  # no forget round kept: hand back the untouched model
    final = evaluation.metrics(model, tokenizer) if kept and evaluation else dict(baseline or {})
    attack = _attack(model, tokenizer, pool, scorer, cfg, progress) if cfg.final_attack else None
    return ReleaseResult(model, rounds, reveals, baseline or {}, final, attack, stop, time.time() - t0, kept,
                         retain=retain_fit, resumed_at=first if state is not None else None)  # fmt: skip
