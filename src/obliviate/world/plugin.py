"""What the built-in world provides to the core, registered when this plugin loads
(:func:`obliviate.resolvers.load_plugins`): the ``world:`` source prefix, for data rows (``world:forget10``), model
folders (``world:tiny/gold``, built on first use), instruction pools (the prompts of a split) and the ``world`` eval
suite's ``--data`` (a world options prefix such as ``uncorrelated`` or ``seed=3``).
"""

from __future__ import annotations

from pathlib import Path

from obliviate.resolvers import Resolver, register_resolver
from obliviate.world.splits import load_split_rows


def _model_path(spec: str) -> Path:
    from obliviate.world.build import resolve_model_path  # torch / transformers load only when a model is asked for

    return resolve_model_path(spec)


def _pool(spec: str, seed: int) -> list[str]:
    """The prompts (or texts) of a world split, in order; ``seed`` is unused (the split is the pool)."""
    return [r.get("prompt") or r.get("text", "") for r in load_split_rows(spec)]


def _suite_root(data: str) -> str:
    """``--data`` of the world suite (``""``, ``uncorrelated``, ``world:seed=3/``) -> ``""`` or ``"<options>/"``."""
    options = data.removeprefix("world:").strip("/")
    return f"{options}/" if options else ""


register_resolver(
    "world",
    Resolver(
        "the built-in fictitious world: world:<split> (data, pools), world:<preset>[/<variant>] (models)",
        rows=load_split_rows,
        model_path=_model_path,
        pool=_pool,
        suite_root=_suite_root,
    ),
)
