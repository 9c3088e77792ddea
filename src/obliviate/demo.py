"""``obliviate demo``: the whole story on the built-in world, offline, in a few minutes on a CPU.

Build (or load from the cache) the world's ``full`` model and its ``gold`` twin trained without the forget people;
unlearn the forget people with each method from the same original model and the same step budget; evaluate every
model with the ``world`` suite against the gold model; print a leaderboard and write a run folder and a report.

    from obliviate.demo import run_demo
    result = run_demo(methods=["graddiff", "mari"], out="runs/demo", overwrite=True)
    print(result.report, result.leaderboard[0]["metrics"]["forget_acc"])

Output folder::

    demo.json                     the demo's settings (written first; marks the folder as a demo for --overwrite)
    leaderboard.json              one row per model (original, gold, then each method): headline metrics, times
    original/, gold/              eval.json (+ summary.json with "role") of the reference models
    runs/<method>/                an ``obliviate unlearn`` run dir plus its eval.json (mari: + certificate.json)
    eval_cache/                   per-metric cache shared by every evaluation (reference metrics are computed once)
    report/report.html, .md       :func:`obliviate.report.write_report` over all of the above

The per-method hyperparameters are in :mod:`obliviate.demo_recipes`, generated from a recorded grid by
``benchmarks/demo_recipes.py``. Running, evaluating and certifying a method is :mod:`obliviate.bench` (shared with
the benchmarks); the demo pins PyTorch to one thread (:func:`obliviate.utils.repro.fixed_threads`) so its numbers
are the same on every machine of a kind. The terminal table is :func:`obliviate.cli.tables.leaderboard_table`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from obliviate.bench import Evaluator, WorldChoice, reference_row, run_row
from obliviate.demo_recipes import DEFAULT_METHODS, DEMO_STEPS, FALLBACK, NOT_IN_DEMO, RECIPES, DemoRecipe
from obliviate.errors import ObliviateError
from obliviate.utils.io import atomic_write_json, provenance
from obliviate.utils.repro import fixed_threads

__all__ = ["DEFAULT_METHODS", "DEMO_STEPS", "RECIPES", "DemoRecipe", "DemoResult", "run_demo"]

CERTIFIED = ("mari",)  # runs that also get the MarI certificate (shown in the report's certificate section)
CERT_RESAMPLES = 200  # bootstrap and permutation replicates of the certificate (obliviate certify's default: 500)


@dataclass
class DemoResult:
    """What :func:`run_demo` returns."""

    out: Path
    leaderboard: list[dict[str, Any]]  # rows as in leaderboard.json
    report: Path  # report.html
    times: dict[str, float]  # seconds: world, references, each method, report, total
    steps: int | None  # optimiser steps of every method; None: each recipe's own


def resolve_methods(methods: Sequence[str] | str | None) -> list[str]:
    """The method names to run: None -> :data:`DEFAULT_METHODS`; ``"all"`` -> every registered method; else a list
    (or a comma-separated string) of registered names, in the given order without duplicates.

    Raises:
        ObliviateError: an unknown method name (with the known names), or an empty list.
    """
    from obliviate.api import method_class
    from obliviate.methods import METHODS

    if methods is None:
        return [m for m in DEFAULT_METHODS if m in METHODS]
    names = [m.strip() for m in (methods.split(",") if isinstance(methods, str) else methods) if m.strip()]
    if names == ["all"]:
        return [m for m in METHODS.names() if m not in NOT_IN_DEMO]
    if not names:
        raise ObliviateError("no methods given; pass --methods ga,npo (comma-separated) or --methods all")
    for n in names:
        if n in NOT_IN_DEMO:  # before the method lookup: whole-run pipelines are not registered methods
            raise ObliviateError(f"the demo cannot run {n!r}: {NOT_IN_DEMO[n]}")
        method_class(n)  # unknown names fail here with a suggestion
    return list(dict.fromkeys(names))


def prepare_out(out: Path, overwrite: bool) -> None:
    """Make ``out`` ready: new or empty is fine; an earlier demo is replaced only with ``overwrite``; anything else
    is never deleted."""
    if out.exists() and not out.is_dir():
        raise ObliviateError(f"--out {str(out)!r} is a file; choose a folder path")
    if out.is_dir() and any(out.iterdir()):
        if not (out / "demo.json").is_file():
            raise ObliviateError(
                f"--out {str(out)!r} is not empty and holds no earlier demo (no demo.json); choose a new folder"
            )
        if not overwrite:
            raise ObliviateError(f"--out {str(out)!r} holds an earlier demo; pass --overwrite to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def run_demo(
    *,
    preset: str = "tiny",
    setting: str = "correlated",
    forget_split: str = "forget10",
    methods: Sequence[str] | str | None = None,
    out: str | Path = "runs/demo",
    overwrite: bool = False,
    steps: int | None = None,
    seed: int = 0,
    people: int = 200,
    eval_batch_size: int = 64,
    progress: bool = True,
) -> DemoResult:
    """Build or load the world, unlearn with each method, evaluate everything, write the leaderboard and report.

    Args:
        preset: world model preset (``tiny`` or ``small``).
        setting: ``correlated`` or ``uncorrelated``.
        forget_split: ``forget01``, ``forget05`` or ``forget10``.
        methods: method names (list or comma-separated), ``"all"``, or None for :data:`DEFAULT_METHODS`.
        out: output folder (see the module docstring).
        overwrite: replace an earlier demo in ``out``.
        steps: optimiser steps for every method; None: each recipe's own (:data:`DEMO_STEPS` unless it names one).
        seed: world seed.
        people: trained people in the world (the recipes were tuned for 200).
        eval_batch_size: sequences per evaluation forward pass / generate call (does not change values).
        progress: progress bars.

    Returns:
        A :class:`DemoResult`.

    Raises:
        ObliviateError: a bad option or output folder (nothing is written or deleted).
    """
    from obliviate.eval import EvalOptions

    t_start = time.time()
    world = WorldChoice(preset, setting, forget_split, seed, people)
    world.check()
    names = resolve_methods(methods)
    if steps is not None and steps < 1:
        raise ObliviateError(f"--steps must be at least 1 (got {steps})")
    out = Path(out)
    prepare_out(out, overwrite)
    recipes = {n: asdict(RECIPES.get(n, FALLBACK)) for n in names}
    settings = {**asdict(world), "methods": names, "steps": steps, "recipes": recipes, **provenance()}
    atomic_write_json(out / "demo.json", settings)
    times: dict[str, float] = {}
    bar = tqdm(total=3 + len(names), desc="demo", unit="phase", disable=not progress)

    def timed(key: str, label: str, fn: Callable[[], Any]) -> Any:
        bar.set_postfix_str(label)
        t0 = time.time()
        value = fn()
        times[key] = round(time.time() - t0, 2)
        bar.update()
        return value

    def method(name: str) -> dict[str, Any]:
        resamples = CERT_RESAMPLES if name in CERTIFIED else None
        recipe = RECIPES.get(name, FALLBACK)
        row = run_row(name, recipe, steps or recipe.steps, out / "runs" / name, ev, certify_resamples=resamples,
                      progress=progress)  # fmt: skip
        return {**row, "recipe": {**row["recipe"], "tuned": name in RECIPES}}

    with fixed_threads():  # the same numbers on every machine of a kind, whatever its core count
        full, gold = timed("world", "world: full + gold models", lambda: world.build(progress))
        options = EvalOptions(batch_size=eval_batch_size, max_length=64, progress=progress)
        ev = Evaluator(world, gold, full, out / "eval_cache", options)
        refs = (("original", full), ("gold", gold))
        rows = timed("references", "evaluate original + gold", lambda: [reference_row(r, p, out, ev) for r, p in refs])
        for name in names:
            rows.append(timed(name, f"{name}: unlearn + evaluate", lambda n=name: method(n)))
        board = {"settings": settings, "rows": rows, "times": times}
        report = timed("report", "leaderboard + report", lambda: _write_outputs(out, board))
    bar.close()
    times["total"] = round(time.time() - t_start, 2)
    atomic_write_json(out / "leaderboard.json", board)  # again, with the report's and the total time
    return DemoResult(out, rows, report, times, steps)


def _write_outputs(out: Path, board: dict[str, Any]) -> Path:
    """leaderboard.json, then the report over the reference and run folders; returns report.html's path."""
    from obliviate.report import write_report

    atomic_write_json(out / "leaderboard.json", board)
    rows = board["rows"]
    dirs = [out / "original", out / "gold"] + [Path(r["run_dir"]) for r in rows if r["role"] == "run"]
    return write_report([d for d in dirs if d.is_dir()], out / "report")
