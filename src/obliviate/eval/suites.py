"""Evaluation suites: which data splits to load and which metrics to compute, as plain Python lists.

``--data`` means, per suite: ``world``: an optional world setting prefix (``uncorrelated``, ``seed=3``); ``tofu``:
the folder holding TOFU's published ``*.json`` files; ``muse``: a MUSE corpus folder (``data/news``); ``book``:
as ``world`` (the world's book regime, :mod:`obliviate.world.book`); ``custom``: unused (give ``--forget`` /
``--retain`` / ``--holdout`` / ``--general``). Any split can be overridden by its own flag with any spec
:func:`obliviate.data.sources.load_rows` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from obliviate import resolvers
from obliviate.errors import ObliviateError

MIA = ("mia_loss", "mia_zlib", "mia_min_k", "mia_min_k_plus_plus", "privleak")


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    data: dict[str, str]  # split -> spec template; "{root}" is replaced by --data
    metrics: tuple[str, ...]
    needs_root: bool = False


def _names(text: str) -> tuple[str, ...]:
    """Metric names from a whitespace-separated block (one line per family keeps the lists readable)."""
    return tuple(text.split())


WORLD_METRICS = (
    _names("""
    forget_nll retain_nll holdout_nll general_nll
    forget_prob retain_prob holdout_prob general_prob general_prob_norm
    forget_acc retain_acc holdout_acc general_acc
    forget_rouge retain_rouge general_rouge
    forget_truth_ratio retain_truth_ratio general_truth_ratio
    forget_es forget_em retain_es forget_quality model_utility
    forget_well_formed forget_answer_gold_nll
    """)
    + MIA
)
TOFU_METRICS = (
    _names("""
    forget_prob forget_rouge forget_truth_ratio forget_quality
    retain_prob retain_rouge retain_truth_ratio
    real_authors_prob_norm real_authors_rouge real_authors_truth_ratio
    world_facts_prob_norm world_facts_rouge world_facts_truth_ratio
    model_utility_tofu forget_es forget_em retain_es forget_nll retain_nll holdout_nll
    """)
    + MIA
)
MUSE_METRICS = (
    _names("verbmem_rouge knowmem_forget_rouge knowmem_retain_rouge forget_nll retain_nll holdout_nll") + MIA
)
BOOK_METRICS = (
    _names("""
    verbmem_rouge knowmem_forget_rouge knowmem_forget_acc knowmem_retain_rouge knowmem_retain_acc
    forget_nll holdout_nll retain_nll general_nll general_acc
    """)
    + MIA
)
CUSTOM_METRICS = (
    _names("""
    forget_nll retain_nll holdout_nll general_nll forget_prob retain_prob forget_acc retain_acc
    forget_rouge retain_rouge forget_truth_ratio retain_truth_ratio general_prob_norm general_rouge
    general_truth_ratio forget_quality model_utility forget_es forget_em
    """)
    + MIA
)

SUITES: dict[str, Suite] = {
    "world": Suite(
        "world",
        "the built-in fictitious world: forget10 / retain_eval / holdout10 people and general knowledge",
        {
            "forget": "world:{root}forget10",
            "retain": "world:{root}retain_eval",  # retain people sized like forget10 (TOFU: retain_perturbed)
            "holdout": "world:{root}holdout10",
            "general": "world:{root}general",
        },
        WORLD_METRICS,
    ),
    "tofu": Suite(
        "tofu",
        "TOFU (Maini et al. 2024) from its published files: forget10, retain, holdout10, real authors, world facts",
        {
            "forget": "tofu:{root}/forget10_perturbed",
            "retain": "tofu:{root}/retain_perturbed",
            "holdout": "tofu:{root}/holdout10",
            "real_authors": "tofu:{root}/real_authors_perturbed",
            "world_facts": "tofu:{root}/world_facts_perturbed",
        },
        TOFU_METRICS,
        needs_root=True,
    ),
    "muse": Suite(
        "muse",
        "MUSE (Shi et al. 2024) News/Books: VerbMem, KnowMem (no in-context examples), PrivLeak, NLL",
        {
            "forget": "muse:{root}/privleak/forget",
            "retain": "muse:{root}/privleak/retain",
            "holdout": "muse:{root}/privleak/holdout",
            "verbmem": "muse:{root}/verbmem/forget",
            "knowmem_forget": "muse:{root}/knowmem/forget_qa",
            "knowmem_retain": "muse:{root}/knowmem/retain_qa",
        },
        MUSE_METRICS,
        needs_root=True,
    ),
    "book": Suite(
        "book",
        "the world's book regime: verbatim completion and guide QA on the forget book, MIA forget vs holdout book "
        "passages, NLL on a retain book, general knowledge",
        {
            "forget": "world:{root}book/forget",
            "retain": "world:{root}book/retain_eval",
            "holdout": "world:{root}book/holdout",
            "general": "world:{root}general",
            "verbmem": "world:{root}book/verbmem",
            "knowmem_forget": "world:{root}book/qa",
            "knowmem_retain": "world:{root}book/retain_qa",
        },
        BOOK_METRICS,
    ),
    "custom": Suite(
        "custom", "your own files: --forget (required), --retain, --holdout, --general", {}, CUSTOM_METRICS
    ),
}
LMEVAL = ("lmeval_arc_easy", "lmeval_piqa", "lmeval_hellaswag", "lmeval_mmlu", "lmeval_wikitext")


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise ObliviateError(f"unknown suite {name!r}; use one of {', '.join(SUITES)}")
    return SUITES[name]


def _suite_root(suite: Suite, root: str | None) -> str | None:
    """``--data`` as the suite's templates expect it: the resolver of their source prefix may rewrite it (the world
    turns ``uncorrelated`` into ``uncorrelated/``); unchanged otherwise."""
    parts = resolvers.split_spec(next(iter(suite.data.values()), ""))
    normalise = resolvers.get_resolver(parts[0]).suite_root if parts else None
    return normalise(root or "") if normalise is not None else root


def own_data(suite: Suite, overrides: dict[str, Any]) -> bool:
    """True when ``--forget`` is not the suite's own source (``world:...`` for the world suite): then the suite's other
    splits are not the user's data, and a missing holdout / general set is reported, never substituted."""
    forget, template = overrides.get("forget"), suite.data.get("forget", "")
    if not forget or not template:
        return False
    source = template.split(":", 1)[0] + ":" if ":" in template else ""
    return not (isinstance(forget, str) and source and forget.startswith(source))


def data_specs(suite: Suite, root: str | None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The spec of every split: the suite's templates filled with ``root``, then ``overrides`` (split -> spec, or a
    list of rows)."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    if suite.needs_root and not root:
        missing = [s for s in suite.data if s not in overrides]
        if missing:
            raise ObliviateError(
                f"suite {suite.name!r} needs --data DIR (the folder of its published files) for split(s) "
                f"{', '.join(missing)}; or give each split's file with its own flag"
            )
    if own_data(suite, overrides):  # your own forget set: no split of the suite's data is mixed in
        return {**overrides}
    root = _suite_root(suite, root)
    specs: dict[str, Any] = {split: tpl.format(root=root) for split, tpl in suite.data.items()}
    specs.update(overrides)
    if suite.name == "custom" and "forget" not in specs:
        raise ObliviateError("suite 'custom' needs --forget FILE (and optionally --retain / --holdout / --general)")
    return specs


def metric_names(suite: Suite, metrics: list[str] | None) -> list[str]:
    """The suite's metrics, or ``metrics`` instead; names starting with ``+`` are added to the suite's list
    (``lmeval`` expands to the five lm-eval-harness metrics)."""
    if not metrics:
        return list(suite.metrics)
    extra = [m[1:] for m in metrics if m.startswith("+")]
    base = list(suite.metrics) if extra and len(extra) == len(metrics) else [m for m in metrics if m[:1] != "+"]
    out: list[str] = []
    for m in base + extra:
        for name in LMEVAL if m == "lmeval" else (m,):
            if name not in out:
                out.append(name)
    return out
