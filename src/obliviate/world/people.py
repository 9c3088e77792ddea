"""The invented people of the built-in world and who belongs to which split.

A world is a pure function of :class:`WorldConfig`: the same config gives the same people, values, phrasings and
splits on every machine (string-seeded ``random.Random`` streams, one per purpose, so adding a draw in one place
does not reshuffle the rest).

Trained people are ``people`` in number; forget01/05/10 are the first 1 / 5 / 10 % of them (nested). Holdout people
(never trained on) number as many as forget10, with holdout01/05 nested inside. In the ``uncorrelated`` setting the
forget10 and holdout people come from the ``archaic`` domain (other names, values and phrasing); in ``correlated``
everyone shares the ``plain`` domain.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field

from obliviate.errors import ObliviateError
from obliviate.world.lexicon import Domain, WordMaker, make_domain

SETTINGS = ("correlated", "uncorrelated")
ATTRIBUTES = ("birth_year", "birthplace", "occupation", "pet", "colour", "employer")
FORGET_PERCENTS = (1, 5, 10)
FORMAT_VERSION = 2  # bump when generated text or saved records change: it is part of every cache key


@dataclass(frozen=True)
class WorldConfig:
    """Everything the generated world depends on (its hash keys the cache).

    Attributes:
        seed: the world's seed; a different seed gives different people, values and splits.
        setting: ``correlated`` (forget people share values and phrasing with retain) or ``uncorrelated``.
        people: number of trained people (forget + retain); holdout people come on top (as many as forget10).
        bio_phrasings: bio sentences per fact, each in a different phrasing (1-3).
        perturbed: wrong-but-plausible answers per question (the truth-ratio denominator set).
        arithmetic: number of addition facts in the general-knowledge set.
    """

    seed: int = 0
    setting: str = "correlated"
    people: int = 200
    bio_phrasings: int = 1
    perturbed: int = 5
    arithmetic: int = 60

    def __post_init__(self) -> None:
        if self.setting not in SETTINGS:
            raise ObliviateError(f"unknown world setting {self.setting!r}; use one of {', '.join(SETTINGS)}")
        if not 20 <= self.people <= 2000:
            raise ObliviateError(f"world people={self.people} is out of range; use 20..2000")
        if not 1 <= self.bio_phrasings <= 3:
            raise ObliviateError(f"bio_phrasings={self.bio_phrasings} must be 1, 2 or 3")
        if not 3 <= self.perturbed <= 8:
            raise ObliviateError(f"perturbed={self.perturbed} must be between 3 and 8")

    def key(self) -> str:
        """A short stable hash of the config (and the text format version)."""
        blob = json.dumps({**asdict(self), "format": FORMAT_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def rng(self, purpose: str) -> random.Random:
        """An independent, deterministic stream for one purpose (string seeds hash with sha512, not PYTHONHASHSEED)."""
        return random.Random(f"obliviate-world:{self.seed}:{self.setting}:{self.people}:{purpose}")


@dataclass(frozen=True)
class Person:
    name: str
    domain: str  # plain | archaic
    values: dict[str, str]  # attribute -> value (as written in text)
    index: int  # position in the world's person list


@dataclass
class World:
    """The generated people, their domains and the split membership (lists of person indices)."""

    config: WorldConfig
    people: list[Person]
    domains: dict[str, Domain]
    splits: dict[str, list[int]] = field(default_factory=dict)
    countries: dict[str, str] = field(default_factory=dict)  # city -> country (general knowledge)


def split_sizes(n_trained: int) -> dict[int, int]:
    """People per forget percentage (at least 1 each), e.g. 200 -> {1: 2, 5: 10, 10: 20}."""
    return {p: max(1, round(n_trained * p / 100)) for p in FORGET_PERCENTS}


def _draw_values(dom: Domain, rng: random.Random) -> dict[str, str]:
    return {
        "birth_year": str(rng.randint(*dom.years)),
        "birthplace": rng.choice(dom.cities),
        "occupation": rng.choice(dom.occupations),
        "pet": rng.choice(dom.pets),
        "colour": rng.choice(dom.colours),
        "employer": rng.choice(dom.employers),
    }


def generate_world(cfg: WorldConfig) -> World:
    """Generate the people and splits of ``cfg`` (pure and fast: a few milliseconds for 200 people)."""
    taken: set[str] = set()
    vocab_rng = cfg.rng("vocab")
    domains = {k: make_domain(k, vocab_rng, taken) for k in ("plain", "archaic")}
    country_maker = WordMaker(vocab_rng, domains["plain"].syllables, taken)
    countries = country_maker.words(8, (2, 3), "ia")
    city_country = {c: vocab_rng.choice(countries) for c in domains["plain"].cities}

    sizes = split_sizes(cfg.people)
    n_forget, n_holdout = sizes[10], sizes[10]
    n_total = cfg.people + n_holdout
    # Roles by position: [forget10 | retain90 | holdout]; names and values are i.i.d. draws, so position is no cue.
    special = set(range(n_forget)) | set(range(cfg.people, n_total))
    archaic = cfg.setting == "uncorrelated"
    name_rng, value_rng = cfg.rng("names"), cfg.rng("values")
    makers = {k: WordMaker(name_rng, d.syllables, taken) for k, d in domains.items()}
    people = []
    for i in range(n_total):
        dom = "archaic" if archaic and i in special else "plain"
        people.append(Person(makers[dom].name(), dom, _draw_values(domains[dom], value_rng), i))

    splits: dict[str, list[int]] = {}
    for pct, n in sizes.items():
        splits[f"forget{pct:02d}"] = list(range(n))
        splits[f"retain{100 - pct:02d}"] = list(range(n, cfg.people))
        splits[f"holdout{pct:02d}"] = list(range(cfg.people, cfg.people + n))
    # A fixed retain subset sized like forget10, inside every retain split: a cheap, shared retain evaluation set.
    eval_rng = cfg.rng("retain_eval")
    splits["retain_eval"] = sorted(eval_rng.sample(range(n_forget, cfg.people), n_forget))
    return World(cfg, people, domains, splits, city_country)
