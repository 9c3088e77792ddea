"""The data layer: load rows (:mod:`.sources`, :mod:`.benchmarks`), tokenise and pad (:mod:`.collate`), pair forget
and retain batches (:mod:`.forget_retain`), and :func:`build_data`, which does all of it for one unlearning request.

Usage::

    data = build_data(cfg.data, tokenizer, need_alt=method.needs_alt, request=0, seed=cfg.train.seed)
    sampler = PairedSampler(len(data.forget), len(data.retain or []), batch_size=8, seed=cfg.train.seed)
    for f_idx, r_idx in sampler.batches(epoch):
        forget = collate([data.forget[i] for i in f_idx], tokenizer.pad_token_id)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from obliviate.config import DataConfig
from obliviate.data import benchmarks  # noqa: F401  (registers the tofu: and muse: source prefixes)
from obliviate.data.collate import (
    collate,
    collate_prompts,
    encode_pair,
    encode_prompt,
    ensure_pad_token,
    tokenize_rows,
)
from obliviate.data.forget_retain import PairedSampler
from obliviate.data.refusals import load_refusals
from obliviate.data.sources import load_rows, row_key
from obliviate.errors import ObliviateError

__all__ = [
    "UnlearnData",
    "build_data",
    "check_overlap",
    "collate",
    "collate_prompts",
    "encode_pair",
    "encode_prompt",
    "ensure_pad_token",
    "load_refusals",
    "load_rows",
    "tokenize_rows",
    "PairedSampler",
]

log = logging.getLogger(__name__)
Rows = list[dict[str, Any]]


@dataclass
class UnlearnData:
    """Tokenised examples (see :func:`obliviate.data.collate.tokenize_rows`) and the raw rows of one request.

    ``stats`` maps ``forget`` / ``retain`` / ``holdout`` to tokenisation stats, plus ``overlap`` (forget rows that
    are also in retain) and ``forget_spec``.
    """

    forget: list[dict[str, Any]]
    retain: list[dict[str, Any]] | None
    holdout: list[dict[str, Any]] | None
    forget_rows: Rows
    retain_rows: Rows | None
    holdout_rows: Rows | None
    stats: dict[str, Any] = field(default_factory=dict)


def check_overlap(forget_rows: Rows, retain_rows: Rows) -> int:
    """Number of forget rows also in retain; warns when > 0, raises when the two sets are identical."""
    forget_keys = {row_key(r) for r in forget_rows}
    retain_keys = {row_key(r) for r in retain_rows}
    if forget_keys == retain_keys:
        raise ObliviateError(
            "the forget and retain sets are identical; give a retain set without the forget rows (or none)"
        )
    overlap = sum(row_key(r) in retain_keys for r in forget_rows)
    if overlap:
        log.warning(
            "%d of %d forget rows also appear in the retain set; the retain term will pull them back",
            overlap,
            len(forget_rows),
        )
    return overlap


def num_requests(data_cfg: DataConfig) -> int:
    """How many sequential forget requests the data section describes: each ``data.forget`` entry, cut into
    ``data.split_requests`` parts."""
    if data_cfg.split_requests < 1:
        raise ObliviateError(f"data.split_requests must be >= 1 (got {data_cfg.split_requests})")
    return len(data_cfg.forget) * data_cfg.split_requests


def request_part(rows: Rows, part: int, data_cfg: DataConfig) -> Rows:
    """Part ``part`` of ``data.split_requests`` contiguous parts of ``rows``. Rows that name a ``person`` (the
    built-in world, TOFU-like data) are cut between people, so one person's facts are deleted in one request."""
    k = data_cfg.split_requests
    if k == 1:
        return rows
    keys = [r.get("person", i) for i, r in enumerate(rows)]
    groups = list(dict.fromkeys(keys))  # unique, in order of appearance
    if len(groups) < k:
        raise ObliviateError(
            f"data.split_requests={k} but the forget set has only {len(groups)} people/rows; use at most {len(groups)}"
        )
    bounds = [round(i * len(groups) / k) for i in range(k + 1)]
    chosen = set(groups[bounds[part] : bounds[part + 1]])
    return [r for r, key in zip(rows, keys) if key in chosen]


def build_data(
    data_cfg: DataConfig, tokenizer: Any, *, need_alt: bool = False, request: int = 0, seed: int = 0
) -> UnlearnData:
    """Load, check and tokenise the forget set of request ``request`` plus the retain / holdout sets.

    Args:
        data_cfg: the run's data section; ``data_cfg.forget[request]`` is this request's forget spec.
        tokenizer: the model's tokenizer.
        need_alt: attach refusal alternatives to forget examples (idknll / dpo).
        request: index of the continual-unlearning request.
        seed: seeds the refusal choice.

    Raises:
        ObliviateError: no forget spec, empty forget set, forget identical to retain, or any load error.
    """
    if not data_cfg.forget:
        raise ObliviateError(
            "no forget set given; set data.forget to a file, dataset or world:<split> (e.g. world:forget10)"
        )
    n = num_requests(data_cfg)
    if not 0 <= request < n:
        raise ObliviateError(f"request {request} out of range: the data section gives {n} forget request(s)")
    spec = data_cfg.forget[request // data_cfg.split_requests]
    forget_rows = request_part(load_rows(spec, column=data_cfg.column), request % data_cfg.split_requests, data_cfg)
    if data_cfg.split_requests > 1:
        spec = f"{spec} (part {request % data_cfg.split_requests + 1}/{data_cfg.split_requests})"
    retain_rows = load_rows(data_cfg.retain, column=data_cfg.column) if data_cfg.retain else None
    holdout_rows = load_rows(data_cfg.holdout, column=data_cfg.column) if data_cfg.holdout else None
    overlap = check_overlap(forget_rows, retain_rows) if retain_rows else 0

    stats: dict[str, Any] = {"forget_spec": spec, "overlap": overlap}
    refusals = load_refusals(data_cfg.refusals) if need_alt else None
    forget = _tokenize(forget_rows, "forget", tokenizer, data_cfg, stats, refusals=refusals, seed=seed)
    if not forget:
        raise ObliviateError(f"forget set {spec!r} produced no tokens; give rows with text in them")
    return UnlearnData(
        forget=forget,
        retain=_tokenize(retain_rows, "retain", tokenizer, data_cfg, stats) if retain_rows else None,
        holdout=_tokenize(holdout_rows, "holdout", tokenizer, data_cfg, stats) if holdout_rows else None,
        forget_rows=forget_rows,
        retain_rows=retain_rows,
        holdout_rows=holdout_rows,
        stats=stats,
    )


def _tokenize(
    rows: Rows,
    name: str,
    tokenizer: Any,
    data_cfg: DataConfig,
    stats: dict[str, Any],
    *,
    refusals: list[str] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Tokenise one split, record its stats under ``name`` and log how many rows were truncated."""
    examples, split_stats = tokenize_rows(
        rows,
        tokenizer,
        max_length=data_cfg.max_length,
        chat_template=data_cfg.chat_template,
        txt_window=data_cfg.txt_window,
        refusals=refusals,
        seed=seed,
    )
    if split_stats["truncated"]:
        log.warning(
            "%s: %d of %d rows truncated to data.max_length=%d",
            name,
            split_stats["truncated"],
            len(rows),
            data_cfg.max_length,
        )
    stats[name] = split_stats
    return examples
