"""Whole-run pipelines: recipes that own their run end to end (Reveal-and-Release's reveal + release rounds).

A method is one objective trained by the loop; a pipeline builds its own data, trains several times and writes
its run folder (through :mod:`obliviate.runs`). Both are chosen with ``method.name``; :func:`obliviate.api.unlearn`
looks the name up here first. Applications register pipelines when their plugin loads (the ``obliviate.plugins``
entry points, imported by :func:`obliviate.resolvers.load_plugins` on the first miss):

    @register_pipeline("reveal_release", config=RevealReleaseConfig)
    def run_reveal_release(cfg: RunConfig, *, progress: bool = True) -> RunResult: ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from obliviate.registry import Registry
from obliviate.resolvers import load_plugins


@dataclass(frozen=True)
class Pipeline:
    """A registered whole-run recipe.

    Attributes:
        name: its ``method.name``.
        config: the dataclass ``method.args`` is validated into.
        run: ``run(cfg: RunConfig, *, progress: bool) -> RunResult``; it writes ``cfg.output_dir``.
        doc: one line for ``obliviate methods``.
    """

    name: str
    config: type
    run: Callable[..., Any]
    doc: str = ""


PIPELINES: Registry[Pipeline] = Registry("pipeline")


def register_pipeline(
    name: str, *, config: type, doc: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``run`` as pipeline ``name`` whose options are the dataclass ``config``; ``doc`` (default:
    the first line of the run function's docstring) is its line in ``obliviate methods``."""

    def deco(run: Callable[..., Any]) -> Callable[..., Any]:
        lines = (doc or inspect.getdoc(run) or "").strip().splitlines()
        PIPELINES.register(name)(Pipeline(name, config, run, lines[0] if lines else ""))
        return run

    return deco


def find_pipeline(name: str) -> Pipeline | None:
    """The pipeline ``name`` (loading the plugins on a miss), or None when no plugin provides one."""
    if name not in PIPELINES:
        load_plugins()
    return PIPELINES.get(name) if name in PIPELINES else None


def pipeline_names() -> list[str]:
    """Every pipeline the installed plugins provide."""
    load_plugins()
    return PIPELINES.names()
