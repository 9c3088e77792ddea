"""The built-in fictitious world: invented people, their biographies and QA pairs, general knowledge, an offline
BPE tokenizer, and tiny models trained from scratch on it (``full``) or on the retain people only (``gold``).

Specs (the text after ``world:``), full grammar in :mod:`obliviate.world.splits`::

    [correlated/|uncorrelated/][seed=N/][people=N/]<split>[_qa|_bio|_all]     data:  load_split_rows(spec)
    [correlated/|uncorrelated/][seed=N/][people=N/]<preset>[/<variant>]       model: resolve_model_path(spec)

splits: forget01/05/10, retain99/95/90, retain_eval, holdout01/05/10, general, train_full, train_gold01/05/10;
presets: tiny (GPT-2, ~0.7M), small (Llama, ~3.7M); variants: full (default), gold (= gold-forget10),
gold-forget01/05/10. Examples: ``world:forget10``, ``world:retain90_bio``, ``world:uncorrelated/holdout10``,
``world:tiny``, ``world:tiny/gold``, ``world:uncorrelated/tiny/gold-forget05``.

Python::

    from obliviate.world import load_split_rows, resolve_model_path, qa_accuracy
    rows = load_split_rows("forget10")             # QA rows with paraphrases and perturbed answers
    path = resolve_model_path("tiny/gold")         # built once (about a minute on 2 cores), then cached

Modules: :mod:`.lexicon` (syllable words, value domains), :mod:`.people` (config, people, splits), :mod:`.corpus`
(text and rows), :mod:`.splits` (spec grammar), :mod:`.tokenizer` (its corpus; the trainer is
:mod:`obliviate.data.tokenizer`), :mod:`.qa` (exact-match evaluation), :mod:`.build` (training through
:func:`obliviate.train.memorise.memorise`, cache; architectures and recipes in :mod:`obliviate.model_presets`),
:mod:`.export`, :mod:`.plugin` (registers the ``world:`` source prefix in :mod:`obliviate.resolvers`),
:mod:`.book` / :mod:`.book_build` (the book regime: ``world:book/forget``, ``world:book/tiny``; docs/book.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from obliviate.world.people import WorldConfig
from obliviate.world.splits import load_split_rows, parse_options

if TYPE_CHECKING:
    from obliviate.world.build import resolve_model_path
    from obliviate.world.export import export_world
    from obliviate.world.qa import QAScore, guess_rates, qa_accuracy

__all__ = [
    "QAScore",
    "WorldConfig",
    "export_world",
    "guess_rates",
    "load_split_rows",
    "parse_options",
    "qa_accuracy",
    "resolve_model_path",
]

_LAZY = {
    "resolve_model_path": "obliviate.world.build",
    "export_world": "obliviate.world.export",
    "qa_accuracy": "obliviate.world.qa",
    "guess_rates": "obliviate.world.qa",
    "QAScore": "obliviate.world.qa",
}


def __getattr__(name: str):
    # torch / transformers load only when a model-side function is first used
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
