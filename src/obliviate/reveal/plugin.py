"""What the Reveal application provides to the core, registered when this plugin loads
(:func:`obliviate.resolvers.load_plugins`): the whole-run pipeline ``reveal_release`` (``method.name=reveal_release``)
and the ``task:`` source prefix (the built-in tasks' models, instruction pools and run defaults).
"""

from obliviate.resolvers import Resolver, register_resolver
from obliviate.reveal import pipeline  # noqa: F401  (registers the "reveal_release" pipeline)
from obliviate.reveal.tasks import get_task


def _model_path(spec: str):
    """``task:<name>[/<size>]`` -> the task's model folder (trained on first use, then cached)."""
    return get_task(spec).model_dir()


def _pool(spec: str, seed: int) -> list[str]:
    """``task:<name>[/<size>][:<n>]`` -> the task's instruction prefixes (``n`` of them, seeded)."""
    name, _, n = spec.partition(":")
    return get_task(name).pool(int(n) if n else None, seed=seed)


register_resolver(
    "task",
    Resolver(
        "built-in Reveal-and-Release tasks: task:<name>[/<size>] (toxicity, ner, code; sizes default, test)",
        model_path=_model_path,
        pool=_pool,
        task=get_task,
    ),
)
