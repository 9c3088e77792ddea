"""Build and cache the book regime's tokenizer and models (``world:book/<preset>[/gold]``).

Cache layout, beside the world's own models (:mod:`obliviate.world.build`)::

    world/<setting>-s<seed>-p<people>-<world key>/
        book-tokenizer-v<vocab>-<book key>/         BPE tokenizer trained on tokenizer-only books + general text
        book-<preset>-<variant>-<model key>/        HF model + tokenizer, world_model.json, loss_curve.json

The book key hashes the world key, the book format and the shelf's constants; the model key adds the preset
(architecture and :data:`BOOK_RECIPE`) and the variant (``full``: all trained books + general knowledge; ``gold``:
without the forget book). The tokenizer never sees a trained or holdout book, so the gold model gets no tokens that
only the forget book would have given it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

from obliviate.errors import ObliviateError
from obliviate.model_presets import Preset, Recipe, get_preset
from obliviate.utils.cache import cached_dir
from obliviate.utils.io import atomic_write_json, provenance
from obliviate.utils.repro import fixed_threads
from obliviate.world import book
from obliviate.world.build import model_record, train_from_scratch, world_dir
from obliviate.world.people import FORMAT_VERSION, WorldConfig
from obliviate.world.splits import rows_for

# Passages are ~60 words (up to ~150 tokens): a longer context, and more epochs than the QA world, because
# verbatim prose takes longer to memorise than short answers.
BOOK_RECIPE = Recipe(lr=3e-3, batch_size=32, epochs=30, warmup_steps=30, max_length=192, general_repeat=1)
BOOK_VARIANTS = ("full", "gold")


def book_key(cfg: WorldConfig) -> str:
    consts = {k: getattr(book, k) for k in ("BOOK_FORMAT", "RETAIN_BOOKS", "SENTENCES", "PASSAGE_WORDS")}
    blob = json.dumps({"world": cfg.key(), "format": FORMAT_VERSION, **consts}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def book_preset(name: str) -> Preset:
    """The world preset ``name`` with the book context length and recipe."""
    return replace(get_preset(name), context=BOOK_RECIPE.max_length, recipe=BOOK_RECIPE)


def _train_tokenizer(cfg: WorldConfig, vocab_size: int, out: Path) -> None:
    from obliviate.data.tokenizer import train_bpe_tokenizer

    shelf = book.shelf(cfg)
    texts = [p for name, b in shelf.items() if name.startswith("tok") for p in book.passages(b)]
    texts += [r["prompt"] + r["answer"] for name, b in shelf.items() if name.startswith("tok")
              for r in book.guide_rows(name, b)]  # fmt: skip
    texts += [r.get("text") or r["prompt"] + r["answer"] for r in rows_for(cfg, "general", "all")]
    train_bpe_tokenizer(texts, vocab_size).save_pretrained(str(out))


def ensure_book_tokenizer(cfg: WorldConfig, vocab_size: int) -> Path:
    path = world_dir(cfg) / f"book-tokenizer-v{vocab_size}-{book_key(cfg)}"
    return cached_dir(path, functools.partial(_train_tokenizer, cfg, vocab_size), marker="tokenizer.json")


def book_model_dir(cfg: WorldConfig, preset: Preset, variant: str) -> Path:
    blob = json.dumps({"book": book_key(cfg), "preset": preset.as_dict(), "variant": variant}, sort_keys=True)
    return world_dir(cfg) / f"book-{preset.name}-{variant}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


@fixed_threads()  # the same weights on every machine, whatever its core count
def _train(cfg: WorldConfig, preset: Preset, variant: str, progress: bool, out: Path) -> None:
    from transformers import AutoTokenizer

    from obliviate.world.qa import qa_accuracy

    t0 = time.time()
    recipe = replace(preset.recipe, seed=cfg.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(ensure_book_tokenizer(cfg, preset.vocab_size)))
    split = "train_full" if variant == "full" else "train_gold"
    rows = book.book_rows(cfg, split) + rows_for(cfg, "general", "all") * (recipe.general_repeat - 1)
    model, run = train_from_scratch(
        preset, tokenizer, rows, recipe, out, label=f"book/{preset.name}/{variant}", progress=progress
    )
    qa = {s: book.book_rows(cfg, s) for s in ("qa", "retain_qa")} | {"general": rows_for(cfg, "general", "qa")}
    em = {s: qa_accuracy(model, tokenizer, r, batch_size=128).accuracy for s, r in qa.items()}
    trained_on = f"book/{split} (general knowledge x{recipe.general_repeat})"
    record = {
        **model_record(cfg, preset, variant, recipe, trained_on, model, run, t0),
        "book_key": book_key(cfg),
        "books": {n: b.title for n, b in book.shelf(cfg).items() if not n.startswith("tok")},
        "exact_match": em,
        **provenance(),
    }
    atomic_write_json(out / "world_model.json", record)


def resolve_book_model(cfg: WorldConfig, target: str, *, progress: bool = True) -> Path:
    """The model folder of ``<preset>[/full|/gold]`` (the text after ``world:[options/]book/``), built on first use."""
    parts = target.split("/")
    variant = parts[1] if len(parts) == 2 else "full"
    if len(parts) > 2 or variant not in BOOK_VARIANTS:
        raise ObliviateError(f"unknown book model {target!r}; use world:book/<preset>[/gold] (e.g. world:book/tiny)")
    preset = book_preset(parts[0])
    path = book_model_dir(cfg, preset, variant)
    return cached_dir(path, functools.partial(_train, cfg, preset, variant, progress), marker="world_model.json")
