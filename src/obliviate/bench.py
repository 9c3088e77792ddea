"""Unlearning runs on the built-in world, shared by ``obliviate demo``, the demo's recipe grid
(``benchmarks/demo_recipes.py``) and the benchmark scripts, so that all of them run, evaluate, certify and pick runs
the same way.

One run: a method's :class:`~obliviate.demo_recipes.DemoRecipe` becomes a :class:`~obliviate.config.RunConfig`
(:func:`run_config`), is unlearnt from the world's ``full`` model, optionally gets the MarI certificate
(:func:`certify_run`), and is evaluated with the ``world`` suite against the gold and original models with one
shared metric cache (:class:`Evaluator`); :func:`run_row` turns it into a leaderboard row. :func:`select_run` is the
one rule that picks a method's run from a grid. The demo and the grid call these under
:func:`obliviate.utils.repro.fixed_threads`, so their numbers do not depend on the machine's core count.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obliviate.demo_recipes import DemoRecipe
from obliviate.errors import ObliviateError
from obliviate.utils.io import atomic_write_json

# rows keep these metrics (eval.json holds everything); perplexity = exp(mean token NLL)
HEADLINE = (
    "forget_acc", "retain_acc", "holdout_acc", "general_acc", "forget_nll", "retain_nll", "holdout_nll",
    "forget_truth_ratio", "forget_quality", "model_utility", "forget_rouge", "mia_min_k", "privleak",
)  # fmt: skip
# The selection rule's thresholds, as fractions of the original model's accuracy (see select_run)
RETAIN_RATIO = 0.95
GENERAL_RATIO = 0.60
SELECTION_RULE = (
    f"among a method's runs that keep retain accuracy >= {RETAIN_RATIO:.0%} and general-knowledge accuracy >= "
    f"{GENERAL_RATIO:.0%} of the original model's, the one whose forget accuracy is closest to the gold model's "
    "(ties: higher retain accuracy, then the earlier run); if none keeps both, the run with the highest retain "
    "accuracy (marked as not meeting the rule)"
)


@dataclass(frozen=True)
class WorldChoice:
    """Which built-in world a run uses; ``prefix``: its world-spec options (``correlated/seed=0/people=200/``)."""

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

    def check(self) -> None:
        """Validate the choice before anything slow happens (ObliviateError with the valid values)."""
        from obliviate.model_presets import PRESETS
        from obliviate.world.people import SETTINGS

        if self.preset not in (*PRESETS, "smol"):  # smol: a pretrained LM fine-tuned on the world
            raise ObliviateError(
                f"unknown preset {self.preset!r}; use one of {', '.join(PRESETS)}, smol (e.g. --preset tiny)"
            )
        if self.setting not in SETTINGS:
            raise ObliviateError(f"unknown setting {self.setting!r}; use one of {', '.join(SETTINGS)}")
        if self.forget_split not in ("forget01", "forget05", "forget10"):
            raise ObliviateError(f"unknown forget split {self.forget_split!r}; use forget01, forget05 or forget10")

    def build(self, progress: bool = True) -> tuple[Path, Path]:
        """Paths of the full and gold models, trained on first use (then cached)."""
        from obliviate.world import resolve_model_path

        full, gold = (resolve_model_path(self.model(v), progress=progress) for v in ("full", "gold"))
        return full, gold


def run_config(name: str, recipe: DemoRecipe, world: WorldChoice, steps: int, run_dir: Path, seed: int = 0) -> Any:
    """The :class:`RunConfig` of method ``name`` with ``recipe`` (over the method's defaults) on ``world``."""
    from obliviate.config import DataConfig, MethodSpec, ModelConfig, RunConfig, TrainConfig

    return RunConfig(
        model=ModelConfig(path=f"world:{world.model('full')}"),
        data=DataConfig(
            forget=[world.split("forget")],
            retain=world.split("retain"),
            holdout=world.split("holdout"),
            max_length=64,  # world rows are at most ~30 tokens
        ),
        method=MethodSpec(name=name, args=json.loads(json.dumps(recipe.args))),  # a deep copy
        train=TrainConfig(
            lr=recipe.lr,
            batch_size=recipe.batch_size,
            retain_batch_size=recipe.retain_batch_size,
            max_steps=steps,
            log_every=1,
            seed=seed,
        ),  # fmt: skip
        output_dir=str(run_dir),
        overwrite=True,
    )


@dataclass
class Evaluator:
    """Evaluates models on the world suite against the same gold / original models, sharing one metric cache.

    ``metrics``: the metric names to compute (None: the whole suite)."""

    world: WorldChoice
    gold: Path
    original: Path
    cache: Path
    options: Any
    metrics: list[str] | None = None

    def __call__(self, model_dir: Path, run_dir: Path, *, references: bool = True) -> dict[str, Any]:
        """Evaluate the saved model in ``model_dir`` into ``run_dir/eval.json`` and return that document."""
        from obliviate.eval import evaluate

        evaluate(
            str(model_dir), suite="world", run_dir=run_dir, gold=str(self.gold), original=str(self.original),
            data=self.world.prefix, splits={k: self.world.split(k) for k in ("forget", "holdout")},
            metrics=self.metrics, options=self.options, cache_dir=self.cache, references=references, summary=False,
        )  # fmt: skip
        return json.loads((run_dir / "eval.json").read_text())


def row(name: str, role: str, doc: dict[str, Any] | None, run_dir: Path, **extra: Any) -> dict[str, Any]:
    """One leaderboard row from an eval.json document (None when evaluation did not happen)."""
    found = (doc or {}).get("metrics", {})
    metrics: dict[str, float | None] = {}
    for m in HEADLINE:
        entry = found.get(m)
        metrics[m] = entry["value"] if entry and entry["status"] == "ok" else None
    for split in ("forget", "retain", "holdout"):
        nll = metrics.get(f"{split}_nll")
        metrics[f"{split}_ppl"] = math.exp(nll) if nll is not None else None
    fq = found.get("forget_quality") or {}
    metrics["forget_quality_ks"] = (fq.get("extra") or {}).get("ks_statistic") if fq.get("status") == "ok" else None
    return {"name": name, "role": role, "run_dir": str(run_dir), "metrics": metrics, **extra}


def reference_row(role: str, path: Path, out: Path, evaluator: Evaluator) -> dict[str, Any]:
    """Evaluate the ``original`` or ``gold`` model into ``out/<role>`` (eval.json + summary.json with its role)."""
    from obliviate.world.build import read_record

    ref_dir = out / role
    t0 = time.time()
    doc = evaluator(path, ref_dir, references=False)
    what = "trained on every person" if role == "original" else "retrained without the forget people"
    summary = {"role": role, "method": role, "model": str(path), "status": "ok", "description": what}
    summary["build_time_s"] = read_record(path).get("build_time_s")
    atomic_write_json(ref_dir / "summary.json", summary)
    return row(role, role, doc, ref_dir, eval_time_s=round(time.time() - t0, 2), status="ok")


def certify_run(model: Any, tokenizer: Any, run_dir: Path, evaluator: Evaluator, *, resamples: int, progress: bool):
    """Write the MarI certificate (certificate.json / .md) of an unlearned model into ``run_dir``, with the
    original's and gold's beside it, on the evaluation splits (forget, retain_eval, holdout); returns it."""
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
        n_boot=resamples, n_perm=resamples, progress=progress,
        names={"model": str(run_dir / "model"), "original": str(evaluator.original), "gold": str(evaluator.gold)},
    )  # fmt: skip
    write_certificate(cert, run_dir)
    return cert


def run_row(
    name: str,
    recipe: DemoRecipe,
    steps: int,
    run_dir: Path,
    evaluator: Evaluator,
    *,
    certify_resamples: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Unlearn with ``name`` and ``recipe`` into ``run_dir``, certify it when ``certify_resamples`` is given, evaluate
    it; a failure (e.g. a diverging loss) becomes a ``failed`` row. The row's ``recipe`` records what ran."""
    from dataclasses import asdict

    from obliviate.api import unlearn

    cfg = run_config(name, recipe, evaluator.world, steps, run_dir, seed)
    record = {**asdict(recipe), "args": cfg.method.args}
    try:
        result = unlearn(cfg, progress=progress)
    except ObliviateError as e:
        return row(name, "run", None, run_dir, status="failed", error=str(e), recipe=record, steps=0)
    t0 = time.time()
    if certify_resamples is not None:
        certify_run(result.model, result.tokenizer, run_dir, evaluator, resamples=certify_resamples, progress=progress)
    result.model = None  # evaluation reloads the saved model (its cache fingerprint is the folder's)
    doc = evaluator(result.model_dir, run_dir)
    return row(
        name, "run", doc, run_dir, status=result.summary["status"], recipe=record, steps=result.summary["steps"],
        train_time_s=result.summary["time_s"], eval_time_s=round(time.time() - t0, 2),
    )  # fmt: skip


def select_run(runs: list[dict[str, Any]], original: dict[str, Any], gold: dict[str, Any]) -> tuple[int, bool]:
    """The one run-selection rule (:data:`SELECTION_RULE`) over rows of one method; returns (index into ``runs``,
    whether the run meets the retain / general thresholds). A metric the runs lack (e.g. no general split) is
    not a threshold. Rows: ``{"status", "metrics": {"forget_acc", "retain_acc", "general_acc"}}``.

    Raises:
        ObliviateError: no run finished with metrics.
    """

    def acc(r: dict[str, Any], key: str) -> float | None:
        return r["metrics"].get(key)

    done = [i for i, r in enumerate(runs) if r.get("status") != "failed" and acc(r, "forget_acc") is not None]
    if not done:
        raise ObliviateError("no run of the grid finished with metrics; nothing to select")

    def keeps(r: dict[str, Any]) -> bool:
        for key, ratio in (("retain_acc", RETAIN_RATIO), ("general_acc", GENERAL_RATIO)):
            value, ref = acc(r, key), acc(original, key)
            if value is not None and ref is not None and value < ratio * ref:
                return False
        return True

    ok = [i for i in done if keeps(runs[i])]
    if not ok:
        return max(done, key=lambda i: (acc(runs[i], "retain_acc") or 0.0, -i)), False
    target = acc(gold, "forget_acc") or 0.0
    return min(
        ok, key=lambda i: (abs(acc(runs[i], "forget_acc") - target), -(acc(runs[i], "retain_acc") or 0), i)
    ), True


def selected_runs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per method of a recipe-grid results document (``benchmarks/results/demo_recipes.json``, format
    ``obliviate-recipe-grid/1``: ``references`` {original, gold} rows and ``runs``, rows with ``name`` = method and
    ``recipe`` = a DemoRecipe as a dict), in the order of first appearance: ``{"run": index into runs, "meets_rule"}``
    by :func:`select_run`. Any tool that writes this format (a tuned benchmark, say) can regenerate the recipes."""
    if doc.get("format") != "obliviate-recipe-grid/1":
        raise ObliviateError(f"not a recipe-grid results file (format {doc.get('format')!r})")
    refs, out = doc["references"], {}
    for name in dict.fromkeys(r["name"] for r in doc["runs"]):
        idx = [i for i, r in enumerate(doc["runs"]) if r["name"] == name]
        k, ok = select_run([doc["runs"][i] for i in idx], refs["original"], refs["gold"])
        out[name] = {"run": idx[k], "meets_rule": ok}
    return out


def recipes_from_results(doc: dict[str, Any]) -> dict[str, DemoRecipe]:
    """The recipe of each method's selected run (:func:`selected_runs`) in a recipe-grid results document."""
    return {name: DemoRecipe(**doc["runs"][sel["run"]]["recipe"]) for name, sel in selected_runs(doc).items()}


def mean_std(vals: list[float | None], scale: float = 1.0, fmt: str = ".2f") -> str:
    """``mean ± std`` of the values that are not None (``(n=k)`` when some were), ``–`` when none are."""
    import statistics

    v = [x * scale for x in vals if x is not None]
    if not v:
        return "–"
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.mean(v):{fmt}} ± {sd:{fmt}}" + (f" (n={len(v)})" if len(v) < len(vals) else "")


def pareto_labels(points: dict[str, tuple[float, ...]]) -> dict[str, str]:
    """Each name's place among ``points`` (every coordinate lower-is-better): ``dominated by X, Y``, ``dominating``
    (it dominates every other point) or ``front`` (on the Pareto front, dominating not all)."""

    def dominates(p: tuple[float, ...], q: tuple[float, ...]) -> bool:
        return all(x <= y for x, y in zip(p, q)) and p != q

    out = {}
    for name, p in points.items():
        by = [o for o, q in points.items() if o != name and dominates(q, p)]
        beats = [o for o, q in points.items() if o != name and dominates(p, q)]
        out[name] = f"dominated by {', '.join(by)}" if by else ("dominating" if len(beats) == len(points) - 1 > 0
                                                               else "front")  # fmt: skip
    return out
