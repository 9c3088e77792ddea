"""World specs (``world:<spec>``) and the rows of each split.

Grammar (the text after ``world:``)::

    spec    := option* target
    option  := "correlated/" | "uncorrelated/" | "seed=<int>/" | "people=<int>/"
    data    := split ["_qa" | "_bio" | "_text" | "_all"]            # load_split_rows; default _qa
    split   := forget01 | forget05 | forget10 | retain99 | retain95 | retain90 | retain_eval
             | holdout01 | holdout05 | holdout10 | general | train_full | train_gold01 | train_gold05 | train_gold10
    model   := preset ["/" variant]                                   # resolve_model_path
    preset  := tiny | small
    variant := full | gold | gold-forget01 | gold-forget05 | gold-forget10      # gold = gold-forget10

Options default to ``correlated``, ``seed=0``, ``people=200``. Kinds: ``_qa`` QA rows, ``_bio`` (alias ``_text``)
biography sentences (for ``general``: the facts as sentences), ``_all`` both. ``retain_eval`` is a fixed set of
retain people, sized like forget10 and inside retain90 (so inside every retain split). ``train_full`` /
``train_goldNN`` are the rows the full / gold model was trained on (QA + text + general knowledge; the models see
the general-knowledge rows ``Recipe.general_repeat`` times per epoch). ``seed=N`` seeds the world and the models'
initialisation and data order.

Settings: ``correlated`` draws everyone's names, values and phrasing from one domain. ``uncorrelated`` writes the
forget10 and holdout people in a second domain (archaic sea-log phrasing, other name syllables, disjoint value
vocabularies); forget01/05 are inside forget10, so for them the rest of forget10 (in retain99/95) shares that
domain: the clean uncorrelated split is forget10.

Book regime (:mod:`obliviate.world.book`): ``book/<book split>`` (data: ``forget``, ``retain``, ``retain_eval``,
``holdout``, ``verbmem``, ``qa``, ``retain_qa``, ``train_full``, ``train_gold``) and ``book/<preset>[/gold]``
(models: all trained books + general knowledge, or without the forget book); options as above (``seed=N`` picks
the books, the world's general knowledge comes along).

Examples: ``forget10``, ``retain90``, ``holdout10``, ``general``, ``forget10_bio``, ``uncorrelated/forget10``,
``seed=3/people=100/retain_eval``; models ``tiny``, ``tiny/gold``, ``uncorrelated/small/gold-forget05``.
"""

from __future__ import annotations

import copy
import re

from obliviate.errors import ObliviateError
from obliviate.world.corpus import world_rows
from obliviate.world.people import FORGET_PERCENTS, SETTINGS, WorldConfig

KINDS = ("qa", "bio", "text", "all")
PEOPLE_SPLITS = tuple(
    [f"forget{p:02d}" for p in FORGET_PERCENTS]
    + [f"retain{100 - p:02d}" for p in FORGET_PERCENTS]
    + ["retain_eval"]
    + [f"holdout{p:02d}" for p in FORGET_PERCENTS]
)
TRAIN_SPLITS = ("train_full",) + tuple(f"train_gold{p:02d}" for p in FORGET_PERCENTS)
SPLITS = PEOPLE_SPLITS + ("general",) + TRAIN_SPLITS
_OPTION = re.compile(r"^(seed|people)=(\d+)$")


def parse_options(spec: str) -> tuple[WorldConfig, str]:
    """Split ``spec`` into the world config its options select and the remaining target (e.g. ``tiny/gold``)."""
    parts = [p for p in spec.strip().strip("/").split("/") if p]
    opts: dict[str, int | str] = {}
    while parts and (parts[0] in SETTINGS or _OPTION.match(parts[0])):
        head = parts.pop(0)
        m = _OPTION.match(head)
        key, value = ("setting", head) if m is None else (m.group(1), int(m.group(2)))
        if key in opts:
            raise ObliviateError(f"world spec {spec!r} sets {key} twice; give each option once")
        opts[key] = value
    if not parts:
        raise ObliviateError(f"world spec {spec!r} names no split or preset; e.g. world:forget10 or world:tiny")
    return WorldConfig(**opts), "/".join(parts)  # type: ignore[arg-type]


def _split_and_kind(target: str) -> tuple[str, str]:
    if target in SPLITS:
        return target, "all" if target in TRAIN_SPLITS else "qa"
    base, _, kind = target.rpartition("_")
    if base in SPLITS and kind in KINDS and base not in TRAIN_SPLITS:
        return base, "bio" if kind == "text" else kind
    raise ObliviateError(
        f"unknown world split {target!r}; use one of {', '.join(SPLITS)} with an optional _qa/_bio/_all suffix "
        "(e.g. world:forget10, world:retain90_bio, world:uncorrelated/holdout10)"
    )


def split_people(cfg: WorldConfig, split: str) -> list[str]:
    """Names of the people in a people split (training splits: the trained people of that model)."""
    world, _, _ = world_rows(cfg)
    if split == "train_full":
        idx = world.splits["forget10"] + world.splits["retain90"]
    elif split.startswith("train_gold"):
        idx = world.splits["retain" + f"{100 - int(split[-2:]):02d}"]
    elif split == "general":
        return []
    else:
        idx = world.splits[split]
    return [world.people[i].name for i in sorted(idx)]


def rows_for(cfg: WorldConfig, split: str, kind: str) -> list[dict]:
    """Fresh copies of the rows of ``split`` (``kind`` qa | bio | all) in the world ``cfg``."""
    _, qa, text = world_rows(cfg)
    keys = split_people(cfg, split)
    if split == "general" or split in TRAIN_SPLITS:
        keys = keys + ["__general__"]
    out: list[dict] = []
    if kind in ("qa", "all"):
        out += [r for k in keys for r in qa[k]]
    if kind in ("bio", "all"):
        out += [r for k in keys for r in text[k]]
    return copy.deepcopy(out)


def load_split_rows(spec: str) -> list[dict]:
    """Rows of a world split, e.g. ``load_split_rows("forget10")`` or ``("uncorrelated/retain90_bio")``.

    Args:
        spec: the text after ``world:`` (grammar in this module's docstring).

    Returns:
        A new list of row dicts (QA rows and/or ``{"text"}`` rows), in a fixed order.
    """
    cfg, target = parse_options(spec)
    if target.startswith("book/"):
        from obliviate.world.book import book_rows

        return book_rows(cfg, target.removeprefix("book/"))
    split, kind = _split_and_kind(target)
    return rows_for(cfg, split, kind)
