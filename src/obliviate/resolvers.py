"""Source prefixes (``world:``, ``task:``, ``tofu:``, ``muse:``...): one registry of what each prefix provides.

A spec such as ``world:forget10`` or ``task:toxicity/test`` names something a package above the core can produce:
data rows, a model folder, an instruction pool, a Reveal-and-Release task, an eval suite's data. The layers below
never import those packages; they ask this registry instead::

    load = lookup("world:forget10", "rows")       # None: no prefix, a plain path or hub id
    rows = load() if load else read_the_file(...)

A module registers its prefixes when it is imported: ``tofu:`` / ``muse:`` in :mod:`obliviate.data.benchmarks` (data
layer), ``world:`` in :mod:`obliviate.world.plugin`, ``task:`` in :mod:`obliviate.reveal.plugin`. Those modules are
the ``obliviate.plugins`` entry points of ``pyproject.toml``; the first lookup of an unregistered prefix imports the
entry point named like it (else all of them, :func:`load_plugins`), so ``import obliviate.data`` never loads an
application and ``world:`` specs never load Reveal. A third-party package adds a prefix the same way::

    [project.entry-points."obliviate.plugins"]
    mydata = "mypackage.obliviate_plugin"    # a module that calls register_resolver(...)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obliviate.errors import ObliviateError
from obliviate.registry import Registry

PLUGIN_GROUP = "obliviate.plugins"
# "name:rest" with a lowercase name and no path separator before the colon ("owner/name:config" is a hub dataset).
_PREFIXED = re.compile(r"^([a-z][a-z0-9_\-]*):(.*)$", re.S)


@dataclass(frozen=True)
class Resolver:
    """What one prefix provides; every function takes the text after ``<prefix>:`` (and no field is required).

    ``rows(rest)``: records in any layout :func:`obliviate.data.sources.normalise_record` accepts;
    ``model_path(rest)``: a local model folder (built on demand); ``pool(rest, seed)``: instructions for Reveal;
    ``task(rest)``: a Reveal-and-Release task object (pool, scorers and evaluation defaults of a run);
    ``suite_root(data)``: the ``--data`` value of this source's eval suite turned into the text its split
    templates expect.
    """

    description: str
    rows: Callable[[str], list[dict[str, Any]]] | None = None
    model_path: Callable[[str], str | Path] | None = None
    pool: Callable[[str, int], list[str]] | None = None
    task: Callable[[str], Any] | None = None
    suite_root: Callable[[str], str] | None = None


CAPABILITIES = {
    "rows": "data rows",
    "model_path": "model paths",
    "pool": "instruction pools",
    "task": "Reveal-and-Release tasks",
    "suite_root": "eval suite data",
}
RESOLVERS: Registry[Resolver] = Registry("source prefix")
_loaded: set[str] = set()


def register_resolver(prefix: str, resolver: Resolver) -> Resolver:
    """Register ``resolver`` for specs written ``<prefix>:...`` (a second registration of the same object is a
    no-op, so re-importing a plugin module is harmless)."""
    return RESOLVERS.register(prefix)(resolver)


def load_plugins(name: str | None = None) -> list[str]:
    """Import every ``obliviate.plugins`` entry point not imported yet (each module registers what it provides:
    resolvers, pipelines...), or only the one called ``name``. Returns the entry-point names imported now."""
    from importlib.metadata import entry_points

    new = []
    for ep in entry_points(group=PLUGIN_GROUP):
        if ep.name in _loaded or name not in (None, ep.name):
            continue
        try:
            ep.load()
        except Exception as e:  # a broken plugin is a bug, not bad input: keep its traceback
            raise RuntimeError(f"obliviate plugin {ep.name!r} ({ep.value}) failed to import: {e}") from e
        _loaded.add(ep.name)  # after success only: a failed plugin raises again on the next lookup
        new.append(ep.name)
    return new


def get_resolver(prefix: str) -> Resolver:
    """The resolver of ``prefix``, loading the plugins first when it is not registered yet.

    Raises:
        ObliviateError: unknown prefix (the message lists the known ones).
    """
    if prefix not in RESOLVERS:
        load_plugins(prefix)  # a plugin named like its prefix (world) spares importing the others
    if prefix not in RESOLVERS:
        load_plugins()
    if prefix not in RESOLVERS:
        known = ", ".join(f"{p}:" for p in RESOLVERS.names()) or "none registered"
        raise ObliviateError(f"unknown source prefix {prefix + ':'!r}; known prefixes: {known}")
    return RESOLVERS.get(prefix)


def split_spec(spec: str) -> tuple[str, str] | None:
    """``"world:forget10"`` -> ``("world", "forget10")``; None for a spec without a source prefix (a path, hub id
    or ``owner/name:config`` dataset), and for an existing local path that happens to contain a colon."""
    m = _PREFIXED.match(str(spec).strip())
    if m is None or Path(spec).expanduser().exists():
        return None
    return m.group(1), m.group(2)


def lookup(spec: str, capability: str, *, required: bool = True) -> Callable[..., Any] | None:
    """The ``capability`` function of ``spec``'s prefix with the rest of the spec bound as its first argument.

    Args:
        spec: e.g. ``world:tiny/gold``.
        capability: a :data:`CAPABILITIES` key (``rows``, ``model_path``, ``pool``, ``task``, ``suite_root``).
        required: raise when the prefix does not provide ``capability`` (else return None).

    Returns:
        None when ``spec`` has no source prefix (or, with ``required=False``, its prefix lacks ``capability``).

    Raises:
        ObliviateError: unknown prefix, or (``required``) a prefix that does not provide ``capability``.
    """
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown resolver capability {capability!r}; use one of {', '.join(CAPABILITIES)}")
    parts = split_spec(spec)
    if parts is None:
        return None
    prefix, rest = parts
    fn = getattr(get_resolver(prefix), capability)
    if fn is None:
        if not required:
            return None
        able = [p for p in RESOLVERS.names() if getattr(RESOLVERS.get(p), capability) is not None]
        raise ObliviateError(
            f"{spec!r}: source prefix {prefix + ':'!r} provides no {CAPABILITIES[capability]}; "
            f"prefixes that do: {', '.join(f'{p}:' for p in able) or 'none'}"
        )
    return functools.partial(fn, rest)
