"""The world's tokenizer: :func:`obliviate.data.tokenizer.train_bpe_tokenizer` on the world's own corpus.

It is trained on text rendered from the world's templates and value vocabularies with *fresh* names (not the
world's people), so the tokenizer is the same whichever people end up in forget, retain or holdout, and the gold
model gets no name tokens that only forget people would have given it.
"""

from __future__ import annotations

import random
from pathlib import Path

from obliviate.data.tokenizer import train_bpe_tokenizer
from obliviate.world.corpus import BIO, PARA_ANSWER, PROMPT, QUESTIONS, fill, world_rows
from obliviate.world.lexicon import WordMaker
from obliviate.world.people import ATTRIBUTES, WorldConfig


def tokenizer_corpus(cfg: WorldConfig, n_people: int = 1500) -> list[str]:
    """Sentences for training the world's tokenizer: every template with fresh names and the world's values."""
    world, _, general_text = world_rows(cfg)
    rng = random.Random(f"obliviate-tokenizer:{cfg.key()}")
    texts = [r["text"] for r in general_text["__general__"]]
    texts += [r["prompt"] + r["answer"] for r in world_rows(cfg)[1]["__general__"]]
    for dom_name in sorted({p.domain for p in world.people}):
        dom = world.domains[dom_name]
        maker = WordMaker(rng, dom.syllables)
        pools = {
            "birth_year": [str(y) for y in range(dom.years[0], dom.years[1] + 1)],
            "birthplace": dom.cities,
            "occupation": dom.occupations,
            "pet": dom.pets,
            "colour": dom.colours,
            "employer": dom.employers,
        }
        for _ in range(n_people):
            name = maker.name()
            for attr in ATTRIBUTES:
                v = rng.choice(pools[attr])
                q, pq = QUESTIONS[dom_name][attr]
                texts.append(PROMPT.format(q=q.format(n=name)) + " " + v)
                texts.append(PROMPT.format(q=pq.format(n=name)) + " " + fill(PARA_ANSWER[dom_name][attr], name, v))
                texts.append(fill(rng.choice(BIO[dom_name][attr]), name, v))
    return texts


def build_world_tokenizer(cfg: WorldConfig, out_dir: str | Path, vocab_size: int = 2048):
    """Train the tokenizer of world ``cfg`` and save it to ``out_dir`` (``tokenizer.json`` + config)."""
    tok = train_bpe_tokenizer(tokenizer_corpus(cfg), vocab_size)
    tok.save_pretrained(str(out_dir))
    return tok
