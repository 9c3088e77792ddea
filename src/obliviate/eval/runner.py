"""Run a suite: resolve metric dependencies, reuse cached results, evaluate the reference models too, write
``eval.json`` atomically and print a summary table.

Cache: one JSON file per computed metric in ``cache_dir`` (default ``RUN_DIR/eval_cache``), keyed by a sha256 of
the metric name, the model fingerprint (resolved path + file sizes/mtimes, or a digest of in-memory weights), the
fingerprints of the data rows it reads, the options that change it, and the keys of its dependencies (so changing
``mink_k`` recomputes Min-k % and PrivLeak, nothing else). A rerun loads every metric from the cache and does not
even load the model. Skipped results are never cached.

eval.json::

    {"model": str, "suite": str,
     "metrics": {name: {"value", "status", "note", "per_sample", "extra", "higher_is_better", "split",
                        "format", "target", "description", "cached", "time_s"}},
     "references": {"gold": str | None, "original": str | None},
     "reference_metrics": {"gold": {name: {...same...}}, "original": {...}},   # the same suite on each reference
     "data": {split: {"spec": str, "rows": int}}, "options": {...}, "time_s": float, "created": iso-8601,
     "obliviate_version": str, "git_sha": str | None}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from obliviate import __version__
from obliviate.errors import ObliviateError
from obliviate.eval.context import EvalContext, EvalOptions, ModelHandle
from obliviate.eval.metrics import MetricSpec, metric_spec, skipped
from obliviate.eval.suites import data_specs, get_suite, metric_names
from obliviate.types import MetricResult
from obliviate.utils.io import atomic_write_json, provenance

CACHE_VERSION = 1
SPLIT_HINT = {
    "holdout": "needs a holdout set (entities never trained on, the membership attacks' non-members): give "
    "--holdout FILE or run `obliviate prepare`",
    "general": "needs a general-knowledge set: give --general FILE (QA rows; `obliviate prepare` adds perturbed "
    "answers)",
}
REF_HINT = {
    "gold": "no gold model (retrained without the forget set): pass --gold",
    "original": "no original model (before unlearning): pass --original",
}


class Runner:
    """Computes metrics on contexts with dependency resolution, in-memory memoisation and a JSON file cache."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.cache_dir = cache_dir
        self.memo: dict[tuple[int, str], tuple[MetricResult, str | None, bool, float]] = {}
        self.computed: list[str] = []  # "label:metric" of every metric actually computed (not cached)

    def compute(self, ctx: EvalContext, name: str) -> tuple[MetricResult, str | None]:
        """``(result, cache key)`` of metric ``name`` on ``ctx``; the key is None for skipped results."""
        mk = (id(ctx), name)
        if mk not in self.memo:
            self.memo[mk] = self._compute(ctx, metric_spec(name))
        res, key, _, _ = self.memo[mk]
        return res, key

    def info(self, ctx: EvalContext, name: str) -> tuple[bool, float]:
        """(served from the cache, seconds spent) of a computed metric."""
        _, _, cached, secs = self.memo[(id(ctx), name)]
        return cached, secs

    def _deps(self, ctx: EvalContext, spec: MetricSpec) -> tuple[dict[str, MetricResult], dict[str, str]] | str:
        """Keyword arguments and dependency keys, or the reason the metric must be skipped."""
        for split in spec.data:
            if not ctx.has(split):
                return SPLIT_HINT.get(split, f"no {split} set: pass --{split}")
        for ref in (*spec.needs, *(("gold",) if spec.gold else ())):
            if ctx.reference(ref) is None:
                return REF_HINT[ref]
        kwargs: dict[str, MetricResult] = {}
        keys: dict[str, str] = {}
        todo = [(ctx, req, req) for req in spec.requires] + [
            (ctx.reference("gold"), req, f"gold_{req}") for req in spec.gold
        ]
        for dctx, req, arg in todo:
            res, key = self.compute(dctx, req)
            if res.status != "ok" or key is None:
                whose = "the gold model's " if arg.startswith("gold_") and arg != req else ""
                return f"needs {whose}{req}, which was skipped ({res.note})"
            kwargs[arg], keys[arg] = res, key
        for ref in spec.needs:
            keys[f"ref:{ref}"] = ctx.reference(ref).handle.fingerprint
        return kwargs, keys

    def _compute(self, ctx: EvalContext, spec: MetricSpec) -> tuple[MetricResult, str | None, bool, float]:
        deps = self._deps(ctx, spec)
        if isinstance(deps, str):
            return skipped(deps), None, False, 0.0
        kwargs, dep_keys = deps
        key = self._key(ctx, spec, dep_keys)
        if (hit := self._load(spec.name, key)) is not None:
            return hit, key, True, 0.0
        t0 = time.perf_counter()
        res = spec.fn(ctx, **kwargs)
        secs = time.perf_counter() - t0
        if res.status != "ok":
            return res, None, False, secs
        self.computed.append(f"{ctx.handle.label}:{spec.name}")
        self._save(spec.name, key, res, ctx.handle.label)
        return res, key, False, secs

    def _key(self, ctx: EvalContext, spec: MetricSpec, dep_keys: dict[str, str]) -> str:
        payload = {
            "version": CACHE_VERSION,
            "obliviate": __version__,  # a new release may change a metric's definition
            "metric": spec.name,
            "model": ctx.handle.fingerprint,
            "data": {s: ctx.data_fingerprint(s) for s in spec.data},
            "options": ctx.options.key_options(spec.options),
            "deps": dep_keys,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def _path(self, name: str, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / f"{name}-{key[:24]}.json"

    def _load(self, name: str, key: str) -> MetricResult | None:
        path = self._path(name, key)
        if path is None or not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # a damaged cache file is recomputed and overwritten
        return MetricResult(**doc["result"]) if doc.get("key") == key else None

    def _save(self, name: str, key: str, res: MetricResult, label: str) -> None:
        path = self._path(name, key)
        if path is not None:
            atomic_write_json(path, {"key": key, "metric": name, "model": label, "result": dataclasses.asdict(res)})


def _entry(runner: Runner, ctx: EvalContext, name: str) -> dict[str, Any]:
    res, _ = runner.compute(ctx, name)
    spec = metric_spec(name)
    cached, secs = runner.info(ctx, name)
    return {
        **dataclasses.asdict(res),
        "higher_is_better": spec.higher_is_better,
        "split": spec.split,
        "format": spec.fmt,
        "target": spec.target,
        "description": spec.description,
        "cached": cached,
        "time_s": round(secs, 3),
    }


def _handle(source: Any, tokenizer: Any, options: EvalOptions, label: str) -> ModelHandle:
    if isinstance(source, tuple):  # (model, tokenizer) for in-memory references
        source, tokenizer = source
    return ModelHandle(
        source, tokenizer, options=options, label=label if not isinstance(source, (str, Path)) else None
    )


def load_data(specs: dict[str, str | list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Rows of every split: specs go through :func:`obliviate.data.sources.load_rows`, row lists are used as is."""
    from obliviate.data.sources import load_rows

    return {split: (list(s) if isinstance(s, list) else load_rows(s)) for split, s in specs.items()}


def _check_names(names: list[str]) -> None:
    """Unknown metric names fail before any slow loading, with close-name suggestions."""
    for n in names:
        try:
            metric_spec(n)
        except KeyError as e:
            raise ObliviateError(f"{e.args[0]} (see `obliviate eval --list`)") from None


def _contexts(
    model: Any, tokenizer: Any, references: dict[str, Any], specs: dict[str, Any], options: EvalOptions
) -> tuple[EvalContext, dict[str, EvalContext], dict[str, list[dict[str, Any]]]]:
    """The model's context and the reference contexts (all sharing the rows and seeing each other as refs)."""
    main_handle = _handle(model, tokenizer, options, "model")
    handles = {r: _handle(src, None, options, r) for r, src in references.items() if src is not None}
    for h in (main_handle, *handles.values()):
        h.fingerprint  # noqa: B018  (a bad model path fails here, before any data is loaded)
    rows = load_data(specs)
    main = EvalContext(main_handle, rows, options)
    refs = {r: EvalContext(h, rows, options) for r, h in handles.items()}
    for ctx in (main, *refs.values()):
        ctx.refs = refs
    return main, refs, rows


def evaluate(
    model_or_path: Any,
    *,
    suite: str = "world",
    run_dir: str | Path,
    gold: Any = None,
    original: Any = None,
    tokenizer: Any = None,
    data: str | None = None,
    splits: dict[str, str | list[dict[str, Any]]] | None = None,
    metrics: list[str] | None = None,
    options: EvalOptions | None = None,
    cache_dir: str | Path | None = None,
    references: bool = True,
    summary: bool = True,
) -> dict[str, MetricResult]:
    """Evaluate a model on a suite and write ``run_dir/eval.json`` (format in this module's docstring).

    Args:
        model_or_path: a model folder / hub id / ``world:`` spec, or an in-memory model (then pass ``tokenizer``).
        suite: ``world``, ``tofu``, ``muse`` or ``custom`` (see :mod:`obliviate.eval.suites`).
        run_dir: where ``eval.json`` (and by default the metric cache) goes.
        gold: the gold model (retrained without the forget set): a path / spec or a ``(model, tokenizer)`` pair.
        original: the model before unlearning, same forms.
        tokenizer: tokenizer of an in-memory ``model_or_path``.
        data: the suite's ``--data`` (world setting prefix, TOFU folder, MUSE corpus folder).
        splits: per-split overrides, split -> spec or list of rows.
        metrics: metric names replacing the suite's list (``+name`` adds to it).
        options: :class:`EvalOptions` (batch size, lengths, Min-k fraction, device...).
        cache_dir: per-metric JSON cache (default ``run_dir/eval_cache``).
        references: also evaluate the gold and original models on the whole suite (reference rows of reports).
        summary: print the summary table.

    Returns:
        The model's results, metric name -> :class:`MetricResult` (skipped ones included, with their reason).
    """
    t0 = time.perf_counter()
    options = options or EvalOptions()
    s = get_suite(suite)
    names = metric_names(s, metrics)
    _check_names(names)
    specs = data_specs(s, data, splits)
    main, refs, rows = _contexts(model_or_path, tokenizer, {"gold": gold, "original": original}, specs, options)
    runner = Runner(Path(cache_dir) if cache_dir else Path(run_dir) / "eval_cache")
    ref_entries: dict[str, dict[str, Any]] = {}
    if references:
        for ref_name, ctx in refs.items():  # references first, one model in memory at a time where possible
            ref_entries[ref_name] = {n: _entry(runner, ctx, n) for n in names}
            ctx.release()
    entries = {n: _entry(runner, main, n) for n in names}
    doc = {
        "model": main.handle.label,
        "suite": s.name,
        "metrics": entries,
        "references": {r: (refs[r].handle.label if r in refs else None) for r in ("gold", "original")},
        "reference_metrics": ref_entries,
        "data": {k: {"spec": v if isinstance(v, str) else "<rows>", "rows": len(rows[k])} for k, v in specs.items()},
        "options": dataclasses.asdict(options),
        "time_s": round(time.perf_counter() - t0, 2),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **provenance(),
    }
    atomic_write_json(Path(run_dir) / "eval.json", doc)
    if summary:
        from obliviate.eval.summary import print_summary

        print_summary(doc)
    return {n: runner.compute(main, n)[0] for n in names}
