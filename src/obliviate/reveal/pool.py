"""Instruction pools: the candidate instructions Reveal searches over. Always deduplicated, order kept.

Sources (:func:`load_pool`):

* a file: ``.txt`` (one instruction per line, ``#`` comments skipped) or ``.jsonl`` / ``.json`` rows with an
  ``instruction``, ``prompt`` or ``text`` field;
* ``task:<name>`` (optionally ``task:<name>:<n>``): the instruction prefixes of a built-in synthetic task;
* ``world:<split>``: the prompts of a built-in world split (e.g. ``world:forget10``);
* any other :mod:`obliviate.resolvers` prefix that provides instruction pools.

Seed instructions can be grown by the model itself (:func:`expand_with_model`: it is asked to paraphrase or vary
each seed) or by word-level mutation (:func:`mutate`), for models too small to follow a paraphrase request.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from obliviate import resolvers
from obliviate.errors import ObliviateError

PARAPHRASE_TEMPLATE = (
    "Rewrite this instruction in different words, keeping its intent:\n{seed}\nRewritten instruction:"
)


def dedupe(instructions: Sequence[str]) -> list[str]:
    """Strip, drop empties and duplicates (whitespace- and case-insensitive); first occurrence wins."""
    seen, out = set(), []
    for text in instructions:
        text = re.sub(r"\s+", " ", str(text)).strip()
        key = text.casefold()
        if text and key not in seen:
            seen.add(key)
            out.append(text)
    return out


def _from_file(path: Path) -> list[str]:
    if path.suffix == ".txt":
        return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    if path.suffix == ".jsonl":
        rows = [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    elif path.suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8"))
    else:
        raise ObliviateError(f"instruction pool {str(path)!r}: use a .txt, .jsonl or .json file")
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, str):
            out.append(row)
            continue
        key = next((k for k in ("instruction", "prompt", "text") if k in row), None)
        if key is None:
            raise ObliviateError(f"instruction pool {str(path)!r} row {i} has no instruction/prompt/text field")
        out.append(row[key])
    return out


def load_pool(spec: str, *, seed: int = 0) -> list[str]:
    """The deduplicated instruction list named by ``spec`` (see the module docstring).

    Raises:
        ObliviateError: the file or source does not exist, or yields no instruction.
    """
    source = resolvers.lookup(spec, "pool")  # task:, world: ... (obliviate.resolvers)
    if source is not None:
        items = source(seed)
    else:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ObliviateError(
                f"instruction pool {spec!r} does not exist; pass a .txt/.jsonl file, task:<name> or world:<split>"
            )
        items = _from_file(path)
    pool = dedupe(items)
    if not pool:
        raise ObliviateError(f"instruction pool {spec!r} is empty; give at least one instruction")
    return pool


def mutate(seeds: Sequence[str], n: int, *, seed: int = 0, vocab: Sequence[str] | None = None) -> list[str]:
    """Grow ``seeds`` to up to ``n`` instructions by word-level edits: swap two words, drop one, or replace one by
    a word from ``vocab`` (default: all words of the seeds). Deduplicated; the seeds come first."""
    rng = random.Random(seed)
    words = list(vocab) if vocab else sorted({w for s in seeds for w in s.split()})
    out = dedupe(seeds)
    for _ in range(20 * n):
        if len(out) >= n or not out:
            break
        w = rng.choice(out).split()
        op = rng.randrange(3)
        i = rng.randrange(len(w))
        if op == 0 and len(w) > 1:
            j = rng.randrange(len(w))
            w[i], w[j] = w[j], w[i]
        elif op == 1 and len(w) > 2:
            del w[i]
        else:
            w[i] = rng.choice(words)
        out = dedupe([*out, " ".join(w)])
    return out[:n]


def expand_with_model(
    model: Any,
    tokenizer: Any,
    seeds: Sequence[str],
    variants: int,
    *,
    template: str = PARAPHRASE_TEMPLATE,
    sample_cfg: Any = None,
    seed: int = 0,
) -> list[str]:
    """Ask the model to paraphrase each seed ``variants`` times (sampled); seeds + first lines of the answers,
    deduplicated. ``template`` must contain ``{seed}``."""
    from obliviate.reveal.config import SampleConfig
    from obliviate.reveal.generate import sample_continuations

    if "{seed}" not in template:
        raise ObliviateError("the paraphrase template must contain {seed}")
    cfg = sample_cfg or SampleConfig(max_new_tokens=48)
    prompts = [template.format(seed=s) for s in seeds]
    gens = sample_continuations(model, tokenizer, prompts, variants, cfg, seed=seed)
    new = [g.strip().splitlines()[0] if g.strip() else "" for outs in gens for g in outs]
    return dedupe([*seeds, *new])
