"""Prepare your own data for unlearning and evaluation (``obliviate prepare``).

From QA files (``{"prompt"|"question", "answer", ...}``) and optional raw text (``.txt``: one row per non-empty line;
``.jsonl`` with ``text``), write into ``OUT/``:

- ``forget.jsonl`` / ``retain.jsonl`` / ``holdout.jsonl`` (QA) and ``*_text.jsonl`` (text rows that name one of the
  split's entities), optionally ``general.jsonl``. Splits are by **entity** (``entity`` / ``person`` / ``subject`` /
  ``author`` / ``name`` field, or ``--entity-key``; rows without one are their own entity), so a holdout entity's
  facts are never trained on. The forget set comes from ``--forget FILE``, ``--forget-entities A,B`` or
  ``--forget-fraction``; the holdout set from ``--holdout FILE`` or, when none is given, as many entities as the
  forget set, drawn (seeded) from the rest.
- ``perturbed_answers`` on every QA row (forget quality's truth ratio, model utility): ``--perturbed`` wrong answers
  drawn, seeded, from other rows' answers to the same question type (``--type-key``, else the prompt with the
  entity's name blanked out, as TOFU pairs same-format answers), the other entity's name replaced by this row's,
  never equal to the true answer (normalised). Rows that already have perturbed answers keep them.
- ``prepare.json``: sources, counts, seeds and where every split came from.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from obliviate.errors import ObliviateError

ENTITY_KEYS = ("entity", "person", "subject", "author", "name")
TYPE_KEYS = ("question_type", "type", "attribute", "relation")
Rows = list[dict[str, Any]]


@dataclass
class PrepareOptions:
    qa: list[str]  # QA files
    out: str
    text: list[str] = field(default_factory=list)  # raw-text files (.txt: one row per line, .jsonl: text rows)
    forget: str | None = None  # a forget QA file (its rows are taken out of the QA files)
    forget_entities: list[str] = field(default_factory=list)
    forget_fraction: float = 0.1  # of the entities, when neither forget nor forget_entities is given
    holdout: str | None = None  # a holdout QA file; none: split off as many entities as the forget set has
    general: str | None = None  # general-knowledge QA (model utility)
    entity_key: str | None = None
    type_key: str | None = None
    perturbed: int = 5
    seed: int = 0
    overwrite: bool = False


def _qa(spec: str) -> Rows:
    from obliviate.data import load_rows
    from obliviate.data.sources import is_qa

    rows = load_rows(spec)
    if not all(is_qa(r) for r in rows):
        raise ObliviateError(f"{spec!r} has rows without a prompt/question and an answer; give text via --text")
    return rows


def _text(spec: str) -> Rows:
    if spec.endswith(".txt"):
        lines = Path(spec).read_text(encoding="utf-8").splitlines() if Path(spec).is_file() else None
        if lines is None:
            raise ObliviateError(f"text file {spec!r} does not exist")
        return [{"text": line.strip()} for line in lines if line.strip()]
    from obliviate.data import load_rows

    return [r for r in load_rows(spec) if "text" in r and "prompt" not in r]


def _key(rows: Rows, given: str | None, candidates: tuple[str, ...], what: str) -> str | None:
    """The field naming each row's entity / question type: ``given`` (must be in every row), else the first
    candidate that is a string in every row (entity) or in any row (type: general rows may have none)."""
    if given:
        if what == "entity" and not all(given in r for r in rows):
            raise ObliviateError(f"--{what}-key {given!r}: some QA rows have no {given!r} field")
        return given
    test = all if what == "entity" else any
    return next((k for k in candidates if test(isinstance(r.get(k), str) for r in rows)), None)


def _norm(text: str) -> str:
    from obliviate.eval.match import normalise_answer

    return normalise_answer(text)


def add_perturbed(rows: Rows, entity: str | None, type_key: str | None, n: int, seed: int) -> int:
    """Give every row without them ``n`` perturbed answers (see the module docstring); returns how many rows got
    fewer than ``n`` (too few distinct answers of their type)."""

    def qtype(r: dict) -> str:
        if type_key and type_key in r:
            return str(r[type_key])
        name = r.get(entity) if entity else None
        return r["prompt"].replace(name, "{e}") if name else "all"

    pools: dict[str, list[dict]] = {}
    for r in rows:
        pools.setdefault(qtype(r), []).append(r)
    rng, short = random.Random(seed), 0
    for r in rows:
        if r.get("perturbed_answers") or r.get("perturbed_answer"):
            continue
        pool = pools[qtype(r)] if len(pools[qtype(r)]) > 1 else rows  # a one-row type borrows from every row
        mine = r.get(entity) if entity else None
        options: dict[str, str] = {}
        for other in pool:
            text = other["answer"]
            if mine and other.get(entity) and other[entity] != mine:
                text = text.replace(other[entity], mine)
            if _norm(text) != _norm(r["answer"]):
                options.setdefault(_norm(text), text)
        choice = sorted(options.values())
        rng.shuffle(choice)
        r["perturbed_answers"] = choice[:n]
        short += len(choice) < n
    return short


def _pick(entities: list[str], k: int, rng: random.Random) -> list[str]:
    return sorted(rng.sample(entities, min(k, len(entities))))


def split_rows(opts: PrepareOptions) -> tuple[dict[str, Rows], dict[str, Any]]:
    """The splits and a record of where each came from."""
    from obliviate.data.sources import row_key

    qa = [r for f in opts.qa for r in _qa(f)]
    ent = _key(qa, opts.entity_key, ENTITY_KEYS, "entity")
    of = (lambda r: r[ent]) if ent else row_key  # noqa: E731  (no entity field: every row is its own entity)
    rng = random.Random(opts.seed)
    if opts.forget:
        forget = _qa(opts.forget)
        keys = {row_key(r) for r in forget}
        qa = [r for r in qa if row_key(r) not in keys]
        forget_ents = {of(r) for r in forget}
        source = {"forget": f"file {opts.forget}"}
    else:
        entities = sorted(set(map(of, qa)), key=str)
        if opts.forget_entities:
            missing = sorted(set(opts.forget_entities) - set(entities))
            if missing:
                raise ObliviateError(f"--forget-entities: {', '.join(missing)} not found in the {ent or 'QA'} rows")
            forget_ents = set(opts.forget_entities)
        else:
            forget_ents = set(_pick(entities, max(1, round(opts.forget_fraction * len(entities))), rng))
        forget = [r for r in qa if of(r) in forget_ents]
        source = {"forget": f"{len(forget_ents)} entities ({'named' if opts.forget_entities else 'seeded draw'})"}
    rest = [r for r in qa if of(r) not in forget_ents]
    if opts.holdout:
        holdout = _qa(opts.holdout)
        source["holdout"] = f"file {opts.holdout}"
    else:
        pool = sorted(set(map(of, rest)), key=str)
        chosen = set(_pick(pool, len(forget_ents), rng))
        if len(chosen) >= len(pool):
            raise ObliviateError("too few entities to split off a holdout set; give --holdout FILE")
        holdout = [r for r in rest if of(r) in chosen]
        rest = [r for r in rest if of(r) not in chosen]
        source["holdout"] = f"{len(chosen)} entities split off the QA files (never trained on)"
    splits = {"forget": forget, "retain": rest, "holdout": holdout}
    if opts.general:
        splits["general"] = _qa(opts.general)
        source["general"] = f"file {opts.general}"
    names = {s: {r[ent] for r in rows if ent and isinstance(r.get(ent), str)} for s, rows in splits.items()}
    for row in (r for f in opts.text for r in _text(f)):
        home = next((s for s in ("forget", "holdout", "retain") if any(n in row["text"] for n in names[s])), "retain")
        splits.setdefault(f"{home}_text", []).append(row)
    return splits, {"entity_key": ent, "source": source}


def prepare(opts: PrepareOptions) -> dict[str, Any]:
    """Write the prepared folder ``opts.out`` (atomically) and return ``prepare.json``'s content.

    Raises:
        ObliviateError: bad inputs, or ``out`` exists and is not empty (unless ``overwrite``).
    """
    from obliviate.utils.io import atomic_dir, provenance

    out = Path(opts.out)
    if out.exists() and any(out.iterdir()) and not opts.overwrite:
        raise ObliviateError(f"{out} is not empty; choose a new folder or pass --overwrite")
    if opts.perturbed < 1:
        raise ObliviateError(f"--perturbed must be at least 1 (got {opts.perturbed})")
    splits, info = split_rows(opts)
    qa_rows = [r for s in ("forget", "retain", "holdout", "general") for r in splits.get(s, [])]
    type_key = _key(qa_rows, opts.type_key, TYPE_KEYS, "type")
    short = add_perturbed(qa_rows, info["entity_key"], type_key, opts.perturbed, opts.seed)
    record = {
        **info,
        "type_key": type_key,
        "counts": {s: len(r) for s, r in splits.items()},
        "perturbed_short": short,
        "options": asdict(opts),
        **provenance(),
    }
    with atomic_dir(out) as tmp:
        for name, rows in splits.items():
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            (tmp / f"{name}.jsonl").write_text(text, encoding="utf-8")
        (tmp / "prepare.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def metric_needs(counts: dict[str, int], perturbed: bool = True) -> list[tuple[str, str, bool]]:
    """``(metrics, what they need, present)`` lines for ``prepare``'s report."""
    has = {s: counts.get(s, 0) > 0 for s in ("forget", "retain", "holdout", "general")}
    return [
        ("forget_acc, forget_rouge, forget_prob", "forget QA rows", has["forget"]),
        ("forget_quality", "forget rows with perturbed answers + a gold model (obliviate finetune)",
         has["forget"] and perturbed),
        ("model_utility", "retain and general QA rows with perturbed answers (--general FILE)",
         has["retain"] and has["general"] and perturbed),
        ("mia_*, privleak", "holdout rows: entities never trained on (privleak also the gold model)", has["holdout"]),
    ]  # fmt: skip
