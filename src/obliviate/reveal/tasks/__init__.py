"""Built-in synthetic Reveal-and-Release tasks that run offline, each with a tiny model trained from scratch.

``toxicity`` (forget an insult-marked topic, keep neutral perplexity), ``ner`` (forget PERSON tagging, keep LOC /
ORG F1) and ``code`` (forget a tiny programming notation, keep arithmetic). Name a task as ``<name>`` or
``<name>/<size>`` (``default``, or ``test`` for the small worlds the test suite uses):

    task = get_task("toxicity/test")
    model_dir = task.model_dir()            # trained on first use, then cached
    pool = task.pool(500)                   # instruction prefixes for Reveal
    metrics = task.evaluate(model, tok)     # forget + utility metrics

Every task offers: ``name``, ``size``, ``model_dir()``, ``pool(n, seed)``, ``reward_scorer()``, ``eval_scorer()``,
``retain_rows(n)``, ``evaluate(model, tokenizer)``, ``forget_metric``, ``utility_metric`` and
``metric_directions`` (metric -> higher is better).
"""

from __future__ import annotations

from typing import Any

from obliviate.errors import ObliviateError
from obliviate.registry import Registry

TASKS: Registry[Any] = Registry("task")


def _register_builtins() -> None:
    if len(TASKS):
        return
    from obliviate.reveal.tasks.code import CodeTask
    from obliviate.reveal.tasks.ner import NerTask
    from obliviate.reveal.tasks.toxicity import ToxicityTask

    for cls in (ToxicityTask, NerTask, CodeTask):
        TASKS.register(cls.name)(cls)


def get_task(spec: str) -> Any:
    """The task named ``<name>[/<size>]`` (e.g. ``toxicity`` or ``toxicity/test``).

    Raises:
        ObliviateError: unknown task or size.
    """
    _register_builtins()
    name, _, size = spec.partition("/")
    try:
        cls = TASKS.get(name)
    except KeyError as e:
        raise ObliviateError(f"{e.args[0]}; name a built-in task as task:<name>[/<size>]") from None
    return cls(size or "default")


__all__ = ["TASKS", "get_task"]
