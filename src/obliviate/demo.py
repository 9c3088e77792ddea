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

The per-method hyperparameters are in :mod:`obliviate.demo_recipes` (with how they were chosen).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from obliviate.demo_recipes import DEFAULT_METHODS, DEMO_STEPS, FALLBACK, NOT_IN_DEMO, RECIPES, DemoRecipe
from obliviate.errors import ObliviateError
from obliviate.utils.io import atomic_write_json, provenance

__all__ = ["DEFAULT_METHODS", "DEMO_STEPS", "RECIPES", "DemoRecipe", "DemoResult", "leaderboard_table", "run_demo"]

CERTIFIED = ("mari",)  # runs that also get the MarI certificate (shown in the report's certificate section)
CERT_RESAMPLES = 200  # bootstrap and permutation replicates of the certificate (obliviate certify's default: 500)

# leaderboard.json keeps these metrics per row (eval.json holds everything); perplexity = exp(mean token NLL)
HEADLINE = (
    "forget_acc", "retain_acc", "holdout_acc", "general_acc", "forget_nll", "retain_nll", "holdout_nll",
    "forget_truth_ratio", "forget_quality", "model_utility", "forget_rouge", "mia_min_k", "privleak",
)  # fmt: skip


@dataclass(frozen=True)
class DemoWorld:
    """The world a demo runs on: ``prefix`` is the world-spec option prefix (``correlated/seed=0/people=200/``)."""

    preset: str = "tiny"
    setting: str = "correlated"
    forget_split: str = "forget10"
    seed: int = 0
    people: int = 200

    @property
    def prefix(self) -> str:
        return f"{self.setting}/seed={self.seed}/people={self.people}/"

    def split(self, kind: str) -> str:
        """``world:`` data spec of the forget / retain / holdout split matching ``forget_split``."""
        pct = int(self.forget_split.removeprefix("forget"))
        return f"world:{self.prefix}{kind}{100 - pct if kind == 'retain' else pct:02d}"

    def model(self, variant: str) -> str:
        """World model spec (without ``world:``) of the ``full`` or ``gold`` variant."""
        return f"{self.prefix}{self.preset}/" + ("full" if variant == "full" else f"gold-{self.forget_split}")


@dataclass
class DemoResult:
    """What :func:`run_demo` returns."""

    out: Path
    leaderboard: list[dict[str, Any]]  # rows as in leaderboard.json
    report: Path  # report.html
    times: dict[str, float]  # seconds: world, references, each method, report, total
    steps: int  # optimiser steps per method


def check_world(world: DemoWorld) -> None:
    """Validate the world choice before anything slow happens."""
    from obliviate.world.people import SETTINGS
    from obliviate.world.presets import PRESETS

    if world.preset not in PRESETS:
        raise ObliviateError(f"unknown preset {world.preset!r}; use one of {', '.join(PRESETS)} (e.g. --preset tiny)")
    if world.setting not in SETTINGS:
        raise ObliviateError(f"unknown setting {world.setting!r}; use one of {', '.join(SETTINGS)}")
    if world.forget_split not in ("forget01", "forget05", "forget10"):
        raise ObliviateError(f"unknown forget split {world.forget_split!r}; use forget01, forget05 or forget10")


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
        method_class(n)  # unknown names fail here with a suggestion
        if n in NOT_IN_DEMO:
            raise ObliviateError(f"the demo cannot run {n!r}: {NOT_IN_DEMO[n]}")
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


def run_config(name: str, world: DemoWorld, steps: int, run_dir: Path) -> Any:
    """The :class:`RunConfig` of one method in the demo (its :data:`RECIPES` entry over the method defaults)."""
    from obliviate.config import DataConfig, MethodSpec, ModelConfig, RunConfig, TrainConfig

    r = RECIPES.get(name, FALLBACK)
    return RunConfig(
        model=ModelConfig(path=f"world:{world.model('full')}"),
        data=DataConfig(
            forget=[world.split("forget")],
            retain=world.split("retain"),
            holdout=world.split("holdout"),
            max_length=64,  # world rows are at most ~30 tokens
        ),
        method=MethodSpec(name=name, args=dict(r.args)),
        train=TrainConfig(
            lr=r.lr, batch_size=r.batch_size, retain_batch_size=r.retain_batch_size, max_steps=steps, log_every=1
        ),
        output_dir=str(run_dir),
        overwrite=True,
    )


@dataclass
class _Evaluator:
    """Evaluates models on the world suite against the same gold / original models, sharing one metric cache."""

    world: DemoWorld
    gold: Path
    original: Path
    cache: Path
    options: Any

    def __call__(self, model_dir: Path, run_dir: Path, *, references: bool = True) -> dict[str, Any]:
        from obliviate.eval import evaluate

        evaluate(
            str(model_dir), suite="world", run_dir=run_dir, gold=str(self.gold), original=str(self.original),
            data=self.world.prefix, splits={k: self.world.split(k) for k in ("forget", "holdout")},
            options=self.options, cache_dir=self.cache, references=references, summary=False,
        )  # fmt: skip
        return json.loads((run_dir / "eval.json").read_text())


def _row(name: str, role: str, doc: dict[str, Any] | None, run_dir: Path, **extra: Any) -> dict[str, Any]:
    """One leaderboard row from an eval.json document (None when evaluation did not happen)."""
    metrics: dict[str, float | None] = {}
    for m in HEADLINE:
        entry = (doc or {}).get("metrics", {}).get(m)
        metrics[m] = entry["value"] if entry and entry["status"] == "ok" else None
    for split in ("forget", "retain", "holdout"):
        nll = metrics.get(f"{split}_nll")
        metrics[f"{split}_ppl"] = math.exp(nll) if nll is not None else None
    fq = (doc or {}).get("metrics", {}).get("forget_quality") or {}
    metrics["forget_quality_ks"] = (fq.get("extra") or {}).get("ks_statistic") if fq.get("status") == "ok" else None
    return {"name": name, "role": role, "run_dir": str(run_dir), "metrics": metrics, **extra}


def _reference(role: str, path: Path, out: Path, evaluator: _Evaluator) -> dict[str, Any]:
    from obliviate.world.build import read_record

    ref_dir = out / role
    t0 = time.time()
    doc = evaluator(path, ref_dir, references=False)
    what = "trained on every person" if role == "original" else "retrained without the forget people"
    summary = {"role": role, "method": role, "model": str(path), "status": "ok", "description": what}
    summary["build_time_s"] = read_record(path).get("build_time_s")
    atomic_write_json(ref_dir / "summary.json", summary)
    return _row(role, role, doc, ref_dir, eval_time_s=round(time.time() - t0, 2), status="ok")


def _certify(model: Any, tokenizer: Any, run_dir: Path, evaluator: _Evaluator, progress: bool) -> None:
    """Write the MarI certificate (certificate.json / .md) of an unlearned model, with the original's and gold's
    beside it, on the evaluation splits (forget, retain_eval, holdout: as benchmarks/mari_vs_baselines.py)."""
    from obliviate.config import ModelConfig
    from obliviate.eval.certificate import certify, write_certificate
    from obliviate.models import load_model_and_tokenizer
    from obliviate.world import load_split_rows

    w = evaluator.world
    rows = {k: load_split_rows(w.split(k).removeprefix("world:")) for k in ("forget", "holdout")}
    refs = {r: load_model_and_tokenizer(ModelConfig(path=str(p))) for r, p in (("original", evaluator.original),
            ("gold", evaluator.gold))}  # fmt: skip
    cert = certify(
        model.eval(), tokenizer, rows["forget"], load_split_rows(f"{w.prefix}retain_eval"),
        holdout_rows=rows["holdout"], original=refs["original"], gold=refs["gold"], max_length=64, batch_size=64,
        n_boot=CERT_RESAMPLES, n_perm=CERT_RESAMPLES, progress=progress,
        names={"model": str(run_dir / "model"), "original": str(evaluator.original), "gold": str(evaluator.gold)},
    )  # fmt: skip
    write_certificate(cert, run_dir)


def _method(name: str, world: DemoWorld, steps: int, out: Path, evaluator: _Evaluator, progress: bool) -> dict:
    """Unlearn with ``name`` and evaluate it; a failure (e.g. a diverging loss) becomes a ``failed`` row."""
    from obliviate.api import unlearn

    run_dir = out / "runs" / name
    cfg = run_config(name, world, steps, run_dir)
    recipe = {"lr": cfg.train.lr, "args": cfg.method.args, "tuned": name in RECIPES}
    try:
        result = unlearn(cfg, progress=progress)
    except ObliviateError as e:
        return _row(name, "run", None, run_dir, status="failed", error=str(e), recipe=recipe, steps=0)
    t0 = time.time()
    if name in CERTIFIED:
        _certify(result.model, result.tokenizer, run_dir, evaluator, progress)
    result.model = None  # evaluation reloads the saved model (its cache fingerprint is the folder's)
    doc = evaluator(result.model_dir, run_dir)
    return _row(
        name, "run", doc, run_dir, status=result.summary["status"], recipe=recipe, steps=result.summary["steps"],
        train_time_s=result.summary["time_s"], eval_time_s=round(time.time() - t0, 2),
    )  # fmt: skip


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
        steps: optimiser steps per method (default :data:`DEMO_STEPS`).
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
    world = DemoWorld(preset, setting, forget_split, seed, people)
    check_world(world)
    names = resolve_methods(methods)
    steps = DEMO_STEPS if steps is None else steps
    if steps < 1:
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

    full, gold = timed("world", "world: full + gold models", lambda: _build_world(world, progress))
    options = EvalOptions(batch_size=eval_batch_size, max_length=64, progress=progress)
    ev = _Evaluator(world, gold, full, out / "eval_cache", options)
    refs = (("original", full), ("gold", gold))
    rows = timed("references", "evaluate original + gold", lambda: [_reference(r, p, out, ev) for r, p in refs])
    for name in names:
        label = f"{name}: unlearn + evaluate"
        rows.append(timed(name, label, lambda n=name: _method(n, world, steps, out, ev, progress)))
    board = {"settings": settings, "rows": rows, "times": times}
    report = timed("report", "leaderboard + report", lambda: _write_outputs(out, board))
    bar.close()
    times["total"] = round(time.time() - t_start, 2)
    atomic_write_json(out / "leaderboard.json", board)  # again, with the report's and the total time
    return DemoResult(out, rows, report, times, steps)


def _build_world(world: DemoWorld, progress: bool) -> tuple[Path, Path]:
    """Paths of the full and gold models, trained on first use (then cached)."""
    from obliviate.world import resolve_model_path

    full, gold = (resolve_model_path(world.model(v), progress=progress) for v in ("full", "gold"))
    return full, gold


def _write_outputs(out: Path, board: dict[str, Any]) -> Path:
    """leaderboard.json, then the report over the reference and run folders; returns report.html's path."""
    from obliviate.report import write_report

    atomic_write_json(out / "leaderboard.json", board)
    rows = board["rows"]
    dirs = [out / "original", out / "gold"] + [Path(r["run_dir"]) for r in rows if r["role"] == "run"]
    return write_report([d for d in dirs if d.is_dir()], out / "report")


# Terminal leaderboard (fits 80 columns): (metric key in a row's "metrics", column title, formatter)
def _pct(v: float) -> str:
    return f"{100 * v:.0f}"


def _p(v: float) -> str:
    return f"{v:.2f}" if v >= 0.01 else f"{v:.0e}".replace("e-0", "e-")


COLUMNS = (
    ("forget_acc", "forget\nacc %", _pct),
    ("retain_acc", "retain\nacc %", _pct),
    ("holdout_acc", "unseen\nacc %", _pct),
    ("forget_ppl", "forget\nppl", lambda v: f"{v:#.3g}".rstrip(".") if v < 1000 else f"{v:.0f}"),
    ("retain_ppl", "retain\nppl", lambda v: f"{v:#.3g}".rstrip(".") if v < 1000 else f"{v:.0f}"),
    ("forget_quality", "forget\nqual.", _p),
    ("model_utility", "\nutility", lambda v: f"{v:.2f}"),
    ("privleak", "Priv\nLeak", lambda v: f"{v:+.0f}"),
)


def leaderboard_table(rows: list[dict[str, Any]], *, title: str = "obliviate demo") -> Any:
    """A compact ``rich`` table of leaderboard rows: reference models first (dimmed), then the methods."""
    from rich import box
    from rich.table import Table

    caption = (
        "Closer to gold is better for forget acc / ppl and PrivLeak (gold = 0); higher is better for retain acc, "
        "forget quality (KS-test p-value against gold) and model utility. Unseen: holdout people, never trained on."
    )
    table = Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        padding=(0, 0, 0, 1),
        caption_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("model", no_wrap=True)
    for _, head, _ in COLUMNS:
        table.add_column(head, justify="right")
    table.add_column("time\ns", justify="right")
    for i, r in enumerate(rows):
        if r.get("status") == "failed":
            table.add_row(r["name"], "[red]failed[/red]", *[""] * len(COLUMNS))  # the error is printed below
            continue
        vals = [r["metrics"].get(key) for key, _, _ in COLUMNS]
        cells = ["–" if v is None else fmt(v) for v, (_, _, fmt) in zip(vals, COLUMNS)]
        secs = (r.get("train_time_s") or 0.0) + (r.get("eval_time_s") or 0.0)
        ref = r["role"] != "run"
        last_ref = ref and (i + 1 == len(rows) or rows[i + 1]["role"] == "run")
        table.add_row(r["name"], *cells, f"{secs:.0f}", style="dim" if ref else None, end_section=last_ref)
    return table
