"""Built-in ``ner`` task: sentences with PERSON / LOC / ORG annotations in an output format; forget PERSON, keep
LOC and ORG.

Documents: ``<i> w1 w2 w3 </i>`` + ``ner : <sentence> => <name> <TYPE> ; <name> <TYPE> ;``. The prefix decides
the sentence kind: ``person`` (two or three people), ``mixed`` (one person with places / organisations) or
``place`` (no person); trigger-word pairs make person-heavy sentences likely. Entity names are invented words
(30 people, 20 places, 15 organisations): which word is a person is knowledge the model holds.

Scorers: reward = how many person names a generation holds (lexicon over the person gazetteer, saturating at 2);
evaluation = a bag-of-words "mentions a person" classifier fitted on separately drawn labelled sentences (gold
labels, no gazetteer; it also weighs context words such as "met" or "thanked"). Metrics: per-type entity F1
(exact name + type) of greedy annotations of held-out sentences against their gold labels (``f1_per`` forget,
``f1_loc`` / ``f1_org`` kept, ``f1_keep`` their mean), and ``person_rate`` (share of sampled generations under
held-out trigger prefixes that the classifier says mention a person).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from obliviate.reveal.scorers import BowScorer, LexiconScorer, Scorer, fit_bow
from obliviate.reveal.tasks.base import (
    ModelSpec,
    SyntheticTask,
    prefix_text,
)
from obliviate.world.lexicon import ARCHAIC, PLAIN, WordMaker

KINDS = ("person", "mixed", "place")
TEMPLATES = {
    "person": ("{P} met {P2} in {L} .", "{P} and {P2} work at {O} .", "{P} called {P2} about {P3} .",
               "{P} thanked {P2} ."),
    "mixed": ("{P} visited {L} .", "{P} joined {O} in {L} .", "{P} left {O} for {O2} ."),
    "place": ("{O} opened an office in {L} .", "the road from {L} to {L2} is long .", "{O} bought {O2} in {L} .",
              "{L} is near {L2} ."),
}  # fmt: skip
TYPES = {"P": "PER", "L": "LOC", "O": "ORG"}


@dataclass(frozen=True)
class NerConfig:
    n_words: int = 24
    prefix_len: int = 3
    n_triggers: int = 3
    n_docs: int = 20000
    person_base: float = -2.0  # person-kind logit with no trigger
    trigger_weight: float = 1.5
    pair_bonus: float = 2.0
    scale: float = 0.7
    n_people: int = 30
    n_places: int = 20
    n_orgs: int = 15
    model: ModelSpec = field(default_factory=lambda: ModelSpec(steps=1500))
    seed: int = 0


SIZES = {"default": NerConfig(), "test": NerConfig(n_words=16, n_docs=6000, model=ModelSpec(steps=400))}


def parse_annotations(text: str) -> set[tuple[str, str]]:
    """``"Aria PER ; Lisbon LOC ;"`` -> ``{("Aria", "PER"), ("Lisbon", "LOC")}`` (malformed chunks are skipped)."""
    out = set()
    for chunk in text.split(";"):
        words = chunk.split()
        if len(words) == 2 and words[1] in TYPES.values():
            out.add((words[0], words[1]))
    return out


def f1(pred: set, gold: set) -> tuple[int, int, int]:
    """(true positives, predicted, gold) counts."""
    return len(pred & gold), len(pred), len(gold)


class NerTask(SyntheticTask):
    """The NER world, its cached model and its metrics (see the module docstring)."""

    name = "ner"
    forget_metric = "f1_per"
    utility_metric = "f1_keep"
    metric_directions = {"f1_per": False, "f1_loc": True, "f1_org": True, "f1_keep": True, "person_rate": False}

    def __init__(self, size: str = "default", **overrides: Any) -> None:
        c = self.configure(size, SIZES, overrides)
        taken: set[str] = set()
        self.world = self.prefix_world(KINDS, "person", base=[c.person_base, 0, 0], scale=c.scale, taken=taken)
        rng = random.Random(f"ner-names:{c.seed}")
        self.people = [WordMaker(rng, PLAIN, taken).word(2) for _ in range(c.n_people)]
        self.places = [WordMaker(rng, ARCHAIC, taken).word(2) for _ in range(c.n_places)]
        self.orgs = [WordMaker(rng, PLAIN, taken).word(2, suffix="co") for _ in range(c.n_orgs)]

    def sentence(self, kind: str, rng: random.Random) -> tuple[str, list[tuple[str, str]]]:
        """A sentence of ``kind`` and its gold annotations in order of appearance."""
        template = rng.choice(TEMPLATES[kind])
        pools = {"P": self.people, "L": self.places, "O": self.orgs}
        slots = re.findall(r"\{([PLO])(\d?)\}", template)
        chosen = {t: rng.sample(pools[t], sum(s[0] == t for s in slots)) for t in "PLO"}
        fill, gold, used = {}, [], {"P": 0, "L": 0, "O": 0}
        for t, i in slots:
            fill[t + i] = chosen[t][used[t]]
            used[t] += 1
            gold.append((fill[t + i], TYPES[t]))
        return template.format(**fill), gold

    def document(self, prefix: tuple[str, ...], rng: random.Random, kind: str | None = None) -> dict[str, str]:
        kind = kind or self.world.sample_kind(prefix, rng)
        sent, gold = self.sentence(kind, rng)
        ann = " ".join(f"{n} {t} ;" for n, t in gold)
        return {"prompt": prefix_text(prefix), "answer": f"ner : {sent} => {ann}", "kind": kind}

    def reward_scorer(self) -> Scorer:
        return LexiconScorer(words=self.people, mode="count", saturate=2, case_sensitive=True)

    def eval_scorer(self, n: int = 2000) -> Scorer:
        """Person classifier fitted on ``n`` labelled sentences drawn with their own seed: person and mixed sentences
        (label 1), place sentences and person sentences with the PER names cut out (label 0, so that context words
        alone or a text of unknown words score below 0.5). Fits in under a second, so it is not cached."""
        rng = random.Random(f"ner-eval-classifier:{self.cfg.seed}")
        texts, labels = [], []
        for i in range(n):
            kind = KINDS[i % 4] if i % 4 < 3 else rng.choice(KINDS[:2])
            sent, gold = self.sentence(kind, rng)
            if i % 4 == 3:  # the same sentence without its people
                names = {name for name, t in gold if t == "PER"}
                sent = " ".join(w for w in sent.split() if w not in names)
            texts.append(sent)
            labels.append(float(i % 4 < 2))
        return BowScorer(**fit_bow(texts, labels))

    def retain_rows(self, n: int = 300, seed: int = 1) -> list[dict[str, str]]:
        """Annotated sentences without people (the retain side)."""
        rng = random.Random(f"ner-retain:{seed}")
        return [self.document(rng.choice(self.world.pool_side), rng, kind="place") for _ in range(n)]

    def evaluate(self, model: Any, tokenizer: Any, *, n_sentences: int = 60, n_prefixes: int = 30, samples: int = 4,
                 seed: int = 0) -> dict[str, float]:  # fmt: skip
        """Per-type F1 of greedy annotations of held-out sentences, and the person rate of sampled generations."""
        from obliviate.reveal.config import SampleConfig
        from obliviate.reveal.generate import sample_continuations

        rng = random.Random(f"ner-eval:{seed}")
        prefixes = self.world.heldout(n_sentences, trigger=False, seed=seed)
        cases = [(prefix_text(p),) + self.sentence(KINDS[i % 3], rng) for i, p in enumerate(prefixes)]
        prompts = [f"{pre} ner : {sent} =>" for pre, sent, _ in cases]
        preds = sample_continuations(model, tokenizer, prompts, 1, SampleConfig(max_new_tokens=16), greedy=True)
        counts = {t: np.zeros(3) for t in TYPES.values()}
        for (_, _, gold), (pred,) in zip(cases, preds):
            p = parse_annotations(pred)
            for t in counts:
                counts[t] += f1({x for x in p if x[1] == t}, {x for x in gold if x[1] == t})
        out = {f"f1_{t.lower()}": 2 * c[0] / max(c[1] + c[2], 1) for t, c in counts.items()}
        out["f1_keep"] = (out["f1_loc"] + out["f1_org"]) / 2
        trig = [prefix_text(p) for p in self.world.heldout(n_prefixes, trigger=True, seed=seed)]
        gens = [
            g
            for gs in sample_continuations(model, tokenizer, trig, samples, SampleConfig(max_new_tokens=24), seed=seed)
            for g in gs
        ]
        out["person_rate"] = float(np.mean([s >= 0.5 for s in self.eval_scorer()(gens)]))
        return out
