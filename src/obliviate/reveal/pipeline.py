"""The Reveal-and-Release run: config -> model, pool, scorers -> rounds -> a complete run directory.

    from obliviate import load_config
    from obliviate.reveal.pipeline import run_reveal_release
    cfg = load_config(None, ["model.path=task:toxicity/test", "method.name=reveal_release", "output_dir=runs/rr"])
    result = run_reveal_release(cfg)

``model.path=task:<name>[/<size>]`` uses a built-in task's cached model; its pool, scorers, retain rows and metrics
become the defaults. Otherwise ``method.args.pool`` and ``method.args.scorer`` are required, utility is the
perplexity of ``data.retain`` (or of the first round's self-generated retain rows) and, with ``method.args.heldout``,
the mean ``eval_scorer`` value of generations of those held-out prompts is logged per round.

Run directory (the life of every run folder, :mod:`obliviate.runs`: written in ``.<name>.partial`` under the
output folder's lock and renamed when complete; ``overwrite`` replaces only a run folder): ``config.yaml``,
``train_log.jsonl`` (one request per round), ``rounds.jsonl``, ``reveal/round<k>/`` (each round's Reveal outputs),
``adapters/<name>/`` (the kept round adapters and the retain module, for rollback and ablation), ``model/`` (all
of them merged into a plain model, with the tokenizer) and ``summary.json`` (rounds, the retain module's fit, stop
reason, baseline / final metrics, the fresh Reveal attack).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from pathlib import Path
from typing import Any

from obliviate import runs
from obliviate.config import RunConfig, from_dict, to_dict
from obliviate.errors import ObliviateError
from obliviate.pipelines import register_pipeline
from obliviate.receipt import write_receipt
from obliviate.reveal.config import RevealReleaseConfig
from obliviate.runs import RunResult
from obliviate.utils.io import atomic_dir, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def load_model(cfg: RunConfig) -> tuple[Any, Any, Any]:
    """``(model, tokenizer, task or None)``; a ``model.path`` whose prefix provides tasks (``task:<name>``) builds /
    reuses the task's model, and the task supplies the run's defaults."""
    from obliviate.models import load_model_and_tokenizer
    from obliviate.resolvers import lookup

    get_task = lookup(cfg.model.path, "task", required=False)
    task = get_task() if get_task is not None else None
    model_cfg = cfg.model if task is None else dataclasses.replace(cfg.model, path=str(task.model_dir()))
    model, tok = load_model_and_tokenizer(model_cfg)
    return model, tok, task


def resolve_inputs(args: RevealReleaseConfig, task: Any, seed: int) -> tuple[list[str], Any, Any, list[str] | None]:
    """``(pool, reward scorer, eval scorer, held-out prompts)`` from the method args, with task defaults."""
    from obliviate.reveal.pool import load_pool
    from obliviate.reveal.scorers import build_scorer

    if not args.pool and task is None:
        raise ObliviateError("set method.args.pool (a .txt/.jsonl file of instructions, or task:<name>)")
    pool = load_pool(args.pool, seed=seed) if args.pool else task.pool(None)
    if args.pool_size and args.pool_size < len(pool):
        pool = random.Random(seed).sample(pool, args.pool_size)
    if not args.scorer and task is None:
        raise ObliviateError("set method.args.scorer (e.g. lexicon:file=words.txt); see docs/reveal_release.md")
    scorer = build_scorer(args.scorer) if args.scorer else task.reward_scorer()
    eval_scorer = build_scorer(args.eval_scorer) if args.eval_scorer else (task.eval_scorer() if task else scorer)
    heldout = load_pool(args.heldout, seed=seed + 1) if args.heldout else None
    return pool, scorer, eval_scorer, heldout


def _evaluation(task: Any, retain_rows: list | None, heldout: list[str] | None, eval_scorer: Any, chat: bool):
    from obliviate.reveal.release import Evaluation, default_evaluation

    if task is not None:
        return Evaluation(task.evaluate, task.utility_metric, task.metric_directions[task.utility_metric])
    if retain_rows or heldout:
        return default_evaluation(retain_rows or [], heldout, eval_scorer, chat_template=chat)
    return None  # default: perplexity of the first round's self-generated retain rows


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, default=str) + "\n" for r in rows)


def _write_outputs(result: Any, tokenizer: Any, work: Path) -> None:
    from obliviate.reveal import olora
    from obliviate.reveal.runner import save_reveal

    atomic_write_text(work / "rounds.jsonl", _jsonl(result.rounds))
    for k, rev in enumerate(result.reveals, start=1):
        save_reveal(rev, work / "reveal" / f"round{k}")
    if result.kept:
        with atomic_dir(work / "adapters") as tmp:
            result.model.save_pretrained(str(tmp), selected_adapters=olora.adapter_names(result.model))
    with atomic_dir(work / "model") as tmp:
        olora.merged_copy(result.model).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)


@register_pipeline(
    "reveal_release",
    config=RevealReleaseConfig,
    doc="Reveal-and-Release: self-generated forget data (bandit-chosen instructions), orthogonal LoRA rounds",
)
def run_reveal_release(cfg: RunConfig, *, progress: bool = True) -> RunResult:
    """Run Reveal-and-Release as ``cfg`` describes (``cfg.method.args`` -> :class:`RevealReleaseConfig`).

    Returns:
        A :class:`obliviate.runs.RunResult` (run dir, merged model dir, summary, the peft model and tokenizer).

    Raises:
        ObliviateError: bad options, missing pool / scorer, or an output folder that exists without ``overwrite``,
            is in use by another run, or is not a run folder (see :mod:`obliviate.runs`).
    """
    from obliviate.train.plan import check_train_config

    args = from_dict(RevealReleaseConfig, cfg.method.args, "method.args")
    check_train_config(cfg.train)
    out = runs.resolve_output(cfg.output_dir)
    inputs = [cfg.model.path, cfg.data.retain, args.pool, args.heldout]
    runs.plan(out, overwrite=cfg.overwrite, resume=cfg.resume, inputs=inputs)  # before anything loads or locks
    with runs.lock(out):
        status = runs.plan(out, overwrite=cfg.overwrite, resume=cfg.resume, inputs=inputs, held=True)  # locked
        if status == "done":
            log.info("%s is already complete; nothing to resume", out)
            return runs.read_done(out)
        return _run(cfg, args, out, status, progress)


def _resumed_at(result: Any) -> dict[str, Any] | None:
    """The receipt's resume point (request = round - 1): the start of the first round this process ran, or the end of
    the last finished round when none was left to run; None when nothing was restored."""
    k = result.resumed_at
    if k is None:
        return None
    if k <= len(result.rounds):  # rounds[k - 1] is the round this process (re)ran
        return {"request": k - 1, "step": 0}
    return {"request": len(result.rounds) - 1, "step": result.rounds[-1].get("train_steps", 0)}


def _run(cfg: RunConfig, args: RevealReleaseConfig, out: Path, status: str, progress: bool) -> RunResult:
    from obliviate.data import load_rows
    from obliviate.reveal.release import reveal_and_release

    model, tok, task = load_model(cfg)
    pool, scorer, eval_scorer, heldout = resolve_inputs(args, task, cfg.train.seed)
    retain = load_rows(cfg.data.retain, column=cfg.data.column) if cfg.data.retain else None
    if retain is None and task is not None:
        retain = task.retain_rows()
    if args.retain_source == "given" and not retain:
        raise ObliviateError("method.args.retain_source=given needs data.retain")
    work = runs.start(out, status, {**to_dict(cfg), "output_dir": str(out)})
    evaluation = _evaluation(task, retain, heldout, eval_scorer, args.reveal.sample.chat_template)
    result = reveal_and_release(
        model, tok, pool, scorer, args, cfg.train, evaluation=evaluation, retain_rows=retain, run_dir=work,
        resume=status == "resume", progress=progress,
    )  # fmt: skip
    _write_outputs(result, tok, work)
    summary = {
        "method": "reveal_release",
        "steps": sum(r.get("train_steps", 0) for r in result.rounds),
        "time_s": round(result.time_s, 3),
        "requests": result.rounds,
        "status": "ok",
        "model_dir": "model",
        "stop_reason": result.stop_reason,
        "rounds_kept": result.kept,
        "retain_module": result.retain,
        "baseline": result.baseline,
        "final": result.final,
        "attack": result.attack,
        "pool_size": len(pool),
    }
    atomic_write_json(work / "summary.json", summary)
    revealed = sorted(str(p.relative_to(work)) for p in (work / "reveal").glob("round*/forget.jsonl"))
    write_receipt(work, cfg, generated_forget=revealed, resumed=status == "resume", resumed_at=_resumed_at(result))
    runs.finish(work, out)
    return RunResult(out, out / "model", summary, result.model, tok)


def reveal_to_dir(
    model_path: str,
    pool_spec: str,
    scorer_spec: str,
    cfg: Any,
    out_dir: str | Path,
    *,
    pool_size: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> Any:
    """One Reveal run on ``model_path`` (a model dir, hub id or ``task:<name>``), saved to ``out_dir``.

    ``pool_spec`` / ``scorer_spec`` may be empty for a task model (its pool and reward scorer are used).

    Returns:
        The :class:`~obliviate.reveal.runner.RevealResult`.
    """
    from obliviate.config import ModelConfig
    from obliviate.reveal.runner import run_reveal, save_reveal

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ObliviateError(f"{str(out)!r} already exists; pass --overwrite or choose another --out folder")
    run_cfg = RunConfig(model=ModelConfig(path=model_path))
    model, tok, task = load_model(run_cfg)
    args = RevealReleaseConfig(pool=pool_spec, scorer=scorer_spec, pool_size=pool_size)
    pool, scorer, _, _ = resolve_inputs(args, task, cfg.seed)
    result = run_reveal(model, tok, pool, scorer, cfg, progress=progress)
    meta = {"model": model_path, "pool": pool_spec or f"{model_path} pool", "scorer": scorer_spec or "task reward"}
    save_reveal(result, out, {**meta, **dataclasses.asdict(cfg)})
    return result
