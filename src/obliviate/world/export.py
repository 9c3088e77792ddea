"""Write the world's splits as JSONL files the data layer reads (``obliviate world export --out DIR``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from obliviate.errors import ObliviateError
from obliviate.utils.io import atomic_dir, provenance
from obliviate.world.corpus import value_pool, world_rows
from obliviate.world.people import FORGET_PERCENTS, WorldConfig
from obliviate.world.qa import guess_rates
from obliviate.world.splits import PEOPLE_SPLITS, TRAIN_SPLITS, rows_for, split_people


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """``rows`` as one JSON object per line (UTF-8)."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def forget_baselines(cfg: WorldConfig, pct: int) -> dict[str, Any]:
    """What guessing scores on forget QA (``forgetNN``) without knowing the people.

    ``forget_mode``: always answer an attribute's most common value *in the forget split* (the best constant
    guess, the acceptance bound for the gold model); ``retain_mode``: its most common value among the retain people
    (what a model that only learnt the retain prior would say); ``uniform_chance``: mean of 1 / (number of values
    the attribute can take).
    """
    world, _, _ = world_rows(cfg)
    forget = rows_for(cfg, f"forget{pct:02d}", "qa")
    retain = rows_for(cfg, f"retain{100 - pct:02d}", "qa")
    people = {p.name: p for p in world.people}
    chance = [1 / len(value_pool(world, people[r["person"]], r["attribute"])) for r in forget]
    return {
        "forget_mode": guess_rates(forget, forget),
        "retain_mode": guess_rates(forget, retain),
        "uniform_chance": sum(chance) / len(chance),
    }


def describe_world(cfg: WorldConfig) -> dict[str, Any]:
    """Config, split membership, row counts and guessing baselines of the world ``cfg`` (what ``world.json``
    holds and ``obliviate world info`` prints)."""
    world, _, _ = world_rows(cfg)
    splits = {s: split_people(cfg, s) for s in PEOPLE_SPLITS}
    counts = {
        s: {"people": len(splits.get(s, [])), "qa": len(rows_for(cfg, s, "qa")), "bio": len(rows_for(cfg, s, "bio"))}
        for s in (*PEOPLE_SPLITS, "general")
    }
    return {
        "config": {**cfg.__dict__, "key": cfg.key()},
        "people": len(world.people),
        "domains": {p.name: p.domain for p in world.people},
        "splits": splits,
        "counts": counts,
        "baselines": {f"forget{pct:02d}": forget_baselines(cfg, pct) for pct in FORGET_PERCENTS},
        "training": {
            "full": "train_full = forget10 + retain90 (QA + bio) + general (QA + text)",
            "gold-forgetNN": "train_goldNN = retainNN (QA + bio) + general (QA + text)",
        },
    }


def export_world(cfg: WorldConfig, out: str | Path, *, overwrite: bool = False) -> Path:
    """Write every split of ``cfg`` as JSONL into ``out`` (atomically), plus ``world.json``.

    Files: ``<split>.jsonl`` (QA rows) and ``<split>_bio.jsonl`` (biography sentences) for every people split and
    ``general``; ``train_full.jsonl`` / ``train_goldNN.jsonl`` (QA + text rows the models were trained on).

    Raises:
        ObliviateError: ``out`` exists and is not empty, unless ``overwrite``.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():  # never replaced, --overwrite or not: the toolkit did not write it
        raise ObliviateError(f"export folder {str(out)!r} is a file; give a folder path (new or empty) to --out")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ObliviateError(f"export folder {str(out)!r} is not empty; choose a new folder or pass --overwrite")
    with atomic_dir(out) as tmp:
        for split in (*PEOPLE_SPLITS, "general"):
            write_jsonl(tmp / f"{split}.jsonl", rows_for(cfg, split, "qa"))
            write_jsonl(tmp / f"{split}_bio.jsonl", rows_for(cfg, split, "bio"))
        for split in TRAIN_SPLITS:
            write_jsonl(tmp / f"{split}.jsonl", rows_for(cfg, split, "all"))
        (tmp / "world.json").write_text(json.dumps({**describe_world(cfg), **provenance()}, indent=2) + "\n")
    return out
