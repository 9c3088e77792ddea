"""Build and cache the world's tokenizer and models (full and gold), and resolve ``world:`` model specs.

Cache layout under ``$OBLIVIATE_CACHE`` (default ``~/.cache/obliviate``)::

    world/<setting>-s<seed>-p<people>-<world key>/
        tokenizer-v<vocab>/                 the world's BPE tokenizer
        <preset>-<variant>-<model key>/     HF model + tokenizer, world_model.json (recipe, data, timing, exact
                                            match per split, guessing rates), loss_curve.json, train_log.jsonl

The world key hashes the world config; the model key hashes world key + preset (architecture and recipe) +
variant. Every folder is written atomically and built under a file lock, so concurrent builders (two CLI runs,
pytest-xdist workers) wait for each other instead of duplicating work; a second run reuses the cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from obliviate.errors import ObliviateError
from obliviate.model_presets import Preset, get_preset
from obliviate.utils.cache import cache_root, cached_dir, locked
from obliviate.utils.io import atomic_dir, atomic_write_json, provenance
from obliviate.utils.repro import fixed_threads
from obliviate.world.people import FORMAT_VERSION, WorldConfig
from obliviate.world.splits import parse_options, rows_for

log = logging.getLogger(__name__)
VARIANTS = ("full", "gold-forget01", "gold-forget05", "gold-forget10")


def world_dir(cfg: WorldConfig) -> Path:
    return cache_root() / "world" / f"{cfg.setting}-s{cfg.seed}-p{cfg.people}-{cfg.key()}"


def ensure_tokenizer(cfg: WorldConfig, vocab_size: int, *, rebuild: bool = False) -> Path:
    """The folder of the world's tokenizer, trained (about 2 s) when missing or when ``rebuild``."""
    from obliviate.world.tokenizer import build_world_tokenizer

    path = world_dir(cfg) / f"tokenizer-v{vocab_size}"
    build = functools.partial(build_world_tokenizer, cfg, vocab_size=vocab_size)  # build(tmp_dir)
    return cached_dir(path, build, marker="tokenizer.json", rebuild=rebuild)


def parse_variant(variant: str) -> str:
    """Normalise a model variant: ``full``, ``gold`` (= ``gold-forget10``) or ``gold-forgetNN``."""
    v = "gold-forget10" if variant == "gold" else variant
    if v not in VARIANTS:
        raise ObliviateError(f"unknown world model variant {variant!r}; use full, gold or gold-forget01/05/10")
    return v


def model_dir(cfg: WorldConfig, preset: Preset, variant: str) -> Path:
    blob = json.dumps(
        {"world": cfg.key(), "preset": preset.as_dict(), "variant": variant, "format": FORMAT_VERSION}, sort_keys=True
    )
    return world_dir(cfg) / f"{preset.name}-{variant}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def training_split(variant: str) -> str:
    """The split a variant trains on: ``train_full`` or ``train_goldNN``."""
    return "train_full" if variant == "full" else "train_gold" + variant[-2:]


def training_rows(cfg: WorldConfig, variant: str, general_repeat: int) -> list[dict]:
    """The variant's training rows; general-knowledge rows repeated ``general_repeat`` times in all (they are few
    and short-answered, so without repetition they lag the people by several epochs)."""
    rows = rows_for(cfg, training_split(variant), "all")
    return rows + rows_for(cfg, "general", "all") * (general_repeat - 1)


def evaluate_world_model(
    model: Any, tokenizer: Any, cfg: WorldConfig, variant: str, *, progress: bool = False
) -> dict[str, Any]:
    """Exact match on the variant's forget / retain / holdout split and general QA, plus the forget split's guessing
    baselines (:func:`obliviate.world.export.forget_baselines`)."""
    from obliviate.world.export import forget_baselines
    from obliviate.world.qa import qa_accuracy

    pct = 10 if variant == "full" else int(variant[-2:])
    splits = (f"forget{pct:02d}", f"retain{100 - pct:02d}", f"holdout{pct:02d}", "general")
    em = {}
    for s in splits:
        em[s] = qa_accuracy(model, tokenizer, rows_for(cfg, s, "qa"), batch_size=128, progress=progress).accuracy
    return {"exact_match": em, "baselines": forget_baselines(cfg, pct)}


def train_from_scratch(preset: Preset, tokenizer: Any, rows: list[dict], recipe: Any, out: Path, *, label: str,
                       progress: bool) -> tuple[Any, dict]:  # fmt: skip
    """Train ``preset`` from its seeded initialisation on ``rows`` through the one loop and save model + tokenizer
    into ``out``; returns ``(model, the loop's run record)``. World and book models are built by this one path."""
    from transformers.utils import logging as hf_logging

    from obliviate.model_presets import init_model
    from obliviate.train.memorise import memorise

    if progress:
        print(f"world: training {label} ({len(rows)} rows x {recipe.epochs} epochs)", file=sys.stderr)
    bars = hf_logging.is_progress_bar_enabled()
    if not progress:
        hf_logging.disable_progress_bar()  # "Writing model shards" bars
    try:
        model = init_model(preset, tokenizer, seed=recipe.seed)
        run = memorise(
            model, tokenizer, rows, recipe.train_config(), out, max_length=recipe.max_length, progress=progress
        )
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(str(out))
        tokenizer.save_pretrained(str(out))
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return model, run


def model_record(cfg: WorldConfig, preset: Preset, variant: str, recipe: Any, trained_on: str, model: Any,
                 run: dict, t0: float) -> dict[str, Any]:  # fmt: skip
    """The fields every built model's ``world_model.json`` carries (callers add their scores and provenance)."""
    return {
        "world": {**cfg.__dict__, "key": cfg.key()},
        "preset": preset.as_dict(),
        "variant": variant,
        "recipe": asdict(recipe),
        "trained_on": trained_on,
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": run,
        "build_time_s": round(time.time() - t0, 2),
    }


@fixed_threads()  # the same weights on every machine, whatever its core count (see obliviate.utils.repro)
def build_model(cfg: WorldConfig, preset: Preset, variant: str, *, progress: bool = True) -> Path:
    """Train one world model from scratch and save it (atomically) with its record; returns its folder."""
    from transformers import AutoTokenizer

    t0 = time.time()
    recipe = replace(preset.recipe, seed=cfg.seed)  # the world seed also seeds initialisation and data order
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_tokenizer(cfg, preset.vocab_size)))
    rows = training_rows(cfg, variant, recipe.general_repeat)
    with atomic_dir(model_dir(cfg, preset, variant)) as tmp:
        model, run = train_from_scratch(
            preset, tokenizer, rows, recipe, tmp, label=f"{preset.name}/{variant}", progress=progress
        )
        scores = evaluate_world_model(model, tokenizer, cfg, variant, progress=progress)
        trained_on = f"{training_split(variant)} (general knowledge x{recipe.general_repeat})"
        record = {**model_record(cfg, preset, variant, recipe, trained_on, model, run, t0), **scores, **provenance()}
        atomic_write_json(tmp / "world_model.json", record)
    return model_dir(cfg, preset, variant)


def resolve_model_path(spec: str, *, rebuild: bool = False, progress: bool = True) -> Path:
    """The saved HF model folder (with tokenizer) of a world model spec, built on first use.

    Args:
        spec: ``[options/]preset[/variant]``, e.g. ``tiny``, ``tiny/gold``, ``uncorrelated/small/gold-forget05``
            (grammar: :mod:`obliviate.world.splits`).
        rebuild: retrain the model (and the tokenizer) even when cached.
        progress: show progress bars while building.

    Returns:
        The model folder (loadable with ``AutoModelForCausalLM.from_pretrained``).
    """
    cfg, target = parse_options(spec)
    if target.startswith("book/"):  # the book regime's models (obliviate.world.book_build)
        from obliviate.world.book_build import resolve_book_model

        return resolve_book_model(cfg, target.removeprefix("book/"), progress=progress)
    parts = target.split("/")
    if len(parts) > 2:
        raise ObliviateError(f"world model spec {spec!r} has too many parts; use [options/]preset[/variant]")
    if parts[0] == "smol":  # a pretrained LM fine-tuned by obliviate finetune (obliviate.world.smol)
        from obliviate.world.smol import resolve_smol_model, smol_config

        variant = parse_variant(parts[1] if len(parts) == 2 else "full")
        return resolve_smol_model(smol_config(cfg, spec), variant, progress=progress)
    preset = get_preset(parts[0])
    variant = parse_variant(parts[1] if len(parts) == 2 else "full")
    if rebuild:
        ensure_tokenizer(cfg, preset.vocab_size, rebuild=True)
    path = model_dir(cfg, preset, variant)
    with locked(path.parent / f".{path.name}.lock"):
        if rebuild or not (path / "world_model.json").is_file():
            log.info("building world model %s into %s", spec, path)
            build_model(cfg, preset, variant, progress=progress)
    return path


def build_world(
    prefix: str = "",
    presets: tuple[str, ...] = ("tiny",),
    variants: tuple[str, ...] = ("full", "gold"),
    *,
    rebuild: bool = False,
    progress: bool = True,
) -> dict[str, Path]:
    """Build (or reuse from the cache) several world models at once.

    Args:
        prefix: world options, e.g. ``""`` (default world) or ``"uncorrelated/seed=3"``.
        presets: preset names.
        variants: ``full``, ``gold``, ``gold-forgetNN``.
        rebuild: retrain even when cached.
        progress: show progress bars.

    Returns:
        ``{"<preset>/<variant>": model folder}`` with normalised variants (``tiny/gold-forget10``).
    """
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    out = {}
    for preset in presets:
        for variant in variants:
            path = resolve_model_path(f"{prefix}{preset}/{variant}", rebuild=rebuild, progress=progress)
            out[f"{preset}/{parse_variant(variant)}"] = path
    return out


def read_record(path: Path) -> dict[str, Any]:
    """The ``world_model.json`` record of a built model folder."""
    return json.loads((Path(path) / "world_model.json").read_text())
