"""The metric registry and its decorator (the package docstring of :mod:`obliviate.eval.metrics` explains the
metadata). Metric modules import from here, not from the package, so importing one never re-enters the package."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from obliviate.registry import Registry
from obliviate.types import MetricResult

MetricFn = Callable[..., MetricResult]
METRICS: Registry[MetricFn] = Registry("metric")
REFERENCES = ("gold", "original")
# Split names a suite may fill (TOFU's real_authors / world_facts; MUSE's verbmem and knowmem QA sets).
SPLITS = (
    "forget", "retain", "holdout", "general", "real_authors", "world_facts", "verbmem", "knowmem_forget",
    "knowmem_retain",
)  # fmt: skip


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric with its metadata (see the module docstring)."""

    name: str
    fn: MetricFn
    split: str
    higher_is_better: bool | None
    data: tuple[str, ...]
    requires: tuple[str, ...]
    gold: tuple[str, ...]
    needs: tuple[str, ...]
    options: tuple[str, ...]
    fmt: str
    target: float | None
    description: str


def register_metric(
    name: str,
    *,
    split: str,
    higher_is_better: bool | None,
    data: tuple[str, ...] | None = None,
    requires: tuple[str, ...] = (),
    gold: tuple[str, ...] = (),
    needs: tuple[str, ...] = (),
    options: tuple[str, ...] = (),
    fmt: str = "float",
    target: float | None = None,
) -> Callable[[MetricFn], MetricFn]:
    """Decorator registering ``fn(ctx, **deps) -> MetricResult`` under ``name`` (see the module docstring)."""
    for ref in needs:
        if ref not in REFERENCES:
            raise ValueError(f"metric {name!r}: unknown reference {ref!r} in needs (known: {REFERENCES})")
    if data is None:
        data = (split,) if split in SPLITS else ()
    meta = dict(
        split=split,
        higher_is_better=higher_is_better,
        data=tuple(data),
        requires=tuple(requires),
        gold=tuple(gold),
        needs=tuple(needs),
        options=tuple(options),
        fmt=fmt,
        target=target,
    )
    return METRICS.register(name, **meta)


def metric_spec(name: str) -> MetricSpec:
    """The :class:`MetricSpec` of a registered metric (unknown names raise a KeyError with suggestions)."""
    fn = METRICS.get(name)
    doc = inspect.getdoc(fn) or ""
    return MetricSpec(name=name, fn=fn, description=doc.split("\n\n")[0].replace("\n", " "), **METRICS.meta(name))


def skipped(reason: str) -> MetricResult:
    """A visible ``skipped`` result: ``value`` None and the reason in ``note`` (shown in the summary table)."""
    return MetricResult(value=None, status="skipped", note=reason)
