"""Invented words from syllables, and the value vocabularies of the built-in world.

Reusable for any synthetic task world: :class:`WordMaker` draws unique, clearly made-up words (names, cities,
companies) from a syllable inventory with a seeded ``random.Random``; a :class:`Domain` bundles the value
vocabularies one population of people draws from. The ``uncorrelated`` setting gives the forget people a second
domain with disjoint names, values and phrasing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Syllables:
    """A syllable inventory: a syllable is onset + vowel + coda; words are 2-3 syllables."""

    onsets: tuple[str, ...]
    vowels: tuple[str, ...]
    codas: tuple[str, ...]


# Two deliberately different sound systems, so names of the two domains never look alike.
PLAIN = Syllables(
    onsets=("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kr", "tr", "st", "pl"),
    vowels=("a", "e", "i", "o", "u", "ai", "ei", "ou"),
    codas=("", "", "", "n", "l", "r", "s", "m", "x"),
)
ARCHAIC = Syllables(
    onsets=("th", "sk", "gw", "hv", "kj", "y", "w", "q", "fj", "ss", "dh", "rh"),
    vowels=("ae", "y", "oa", "ea", "io", "yr"),
    codas=("", "", "", "th", "nd", "rk", "wn"),
)


class WordMaker:
    """Draws capitalised pseudo-words that are unique across every word this maker (and ``taken``) has produced.

    Args:
        rng: the seeded generator (the caller owns it, so streams stay independent).
        syllables: the inventory to draw from.
        taken: a set shared between makers to keep words unique across domains; updated in place.
    """

    def __init__(self, rng: random.Random, syllables: Syllables, taken: set[str] | None = None) -> None:
        self.rng = rng
        self.syl = syllables
        self.taken = taken if taken is not None else set()

    def syllable(self) -> str:
        s = self.syl
        return self.rng.choice(s.onsets) + self.rng.choice(s.vowels) + self.rng.choice(s.codas)

    def word(self, n_syllables: int | tuple[int, int] = (2, 3), suffix: str = "") -> str:
        """A new word of ``n_syllables`` (or a random count in the inclusive range) plus ``suffix``."""
        for _ in range(10_000):
            n = n_syllables if isinstance(n_syllables, int) else self.rng.randint(*n_syllables)
            w = ("".join(self.syllable() for _ in range(n)) + suffix).capitalize()
            if w not in self.taken and 4 <= len(w) <= 16:
                self.taken.add(w)
                return w
        raise RuntimeError("syllable inventory exhausted; use more syllables or fewer words")

    def words(self, n: int, n_syllables: int | tuple[int, int] = (2, 3), suffix: str = "") -> list[str]:
        return [self.word(n_syllables, suffix) for _ in range(n)]

    def name(self) -> str:
        """A full name: given name (2 syllables) + family name (2-3 syllables), unique as a whole."""
        for _ in range(10_000):
            first = "".join(self.syllable() for _ in range(2)).capitalize()
            last = "".join(self.syllable() for _ in range(self.rng.randint(2, 3))).capitalize()
            full = f"{first} {last}"
            if full not in self.taken and first not in self.taken and last not in self.taken:
                self.taken.add(full)
                return full
        raise RuntimeError("name space exhausted")


@dataclass
class Domain:
    """The value vocabularies one population of people draws attribute values from."""

    name: str
    syllables: Syllables
    years: tuple[int, int]  # inclusive birth-year range
    occupations: list[str]
    pets: list[str]
    colours: list[str]
    city_suffixes: list[str]
    employer_suffixes: list[str]
    cities: list[str] = field(default_factory=list)  # filled by make_domain (invented words)
    employers: list[str] = field(default_factory=list)


def _csv(text: str) -> list[str]:
    return [w.strip() for w in text.split(",")]


def _domain_templates() -> dict[str, Domain]:
    plain = Domain(
        name="plain",
        syllables=PLAIN,
        years=(1930, 2009),
        occupations=_csv(
            "baker, carpenter, librarian, pilot, nurse, architect, chemist, tailor, gardener, journalist, "
            "plumber, violinist, surveyor, potter, glassblower, cartographer, beekeeper, locksmith, "
            "translator, geologist, pharmacist, blacksmith, sculptor, economist, florist, astronomer, "
            "archivist, brewer, jeweller, veterinarian"
        ),
        pets=_csv(
            "cat, dog, parrot, hamster, rabbit, goldfish, tortoise, ferret, canary, iguana, guinea pig, "
            "hedgehog, gecko, cockatiel, chinchilla, axolotl, budgie, corn snake, pony, goat, duck, gerbil, "
            "tarantula, rat"
        ),
        colours=_csv(
            "red, blue, green, yellow, orange, purple, pink, brown, grey, black, white, teal, maroon, navy, "
            "olive, lilac, crimson, beige, turquoise, amber, indigo, silver, gold, coral"
        ),
        city_suffixes=["", "", "ora", "ith", "ane", "ton"],
        employer_suffixes=["Works", "Holdings", "Labs", "Foundry", "Group", "Mills", "Trading"],
    )
    archaic = Domain(
        name="archaic",
        syllables=ARCHAIC,
        years=(1720, 1799),
        occupations=_csv(
            "harpooner, navigator, lamplighter, shipwright, net mender, sailmaker, cooper, rope maker, "
            "tide reader, pearl diver, quartermaster, boatswain, herring gutter, salt boiler, wherryman, "
            "chandler, caulker, lighterman, oyster dredger, dock warden, signal keeper, whaler, ferryman, "
            "tar boiler, compass maker, mast carver, buoy tender, kelp burner, smuggler, harbour pilot"
        ),
        pets=_csv(
            "seahorse, hermit crab, otter, pelican, cuttlefish, starfish, puffin, seal pup, gull, cormorant, "
            "lobster, sea turtle, octopus, eel, albatross, walrus calf, sea urchin, pufferfish, manatee, "
            "tern, nautilus, petrel, sandpiper, moray"
        ),
        colours=_csv(
            "cinnabar, cerulean, viridian, vermilion, ochre, umber, sepia, saffron, mauve, cobalt, jade, "
            "opal, garnet, sapphire, topaz, pewter, ivory, ebony, russet, sable, celadon, fuchsia, magenta, "
            "cyan"
        ),
        city_suffixes=["", "wick", "holm", "fjord", "haven"],
        employer_suffixes=["Shipping Guild", "Harbour Company", "Fleet", "Trawler Union", "Salt Company"],
    )
    return {"plain": plain, "archaic": archaic}


def make_domain(kind: str, rng: random.Random, taken: set[str], n_cities: int = 30, n_employers: int = 30) -> Domain:
    """A value domain (``plain`` or ``archaic``) with freshly invented city and employer names."""
    dom = _domain_templates()[kind]
    maker = WordMaker(rng, dom.syllables, taken)
    dom.cities = [maker.word((2, 3), rng.choice(dom.city_suffixes)) for _ in range(n_cities)]
    dom.employers = [f"{maker.word((2, 3))} {rng.choice(dom.employer_suffixes)}" for _ in range(n_employers)]
    return dom


def article(word: str) -> str:
    """``a`` or ``an`` before ``word`` (by its first letter, which is enough for this vocabulary)."""
    return "an" if word[:1].lower() in "aeiou" else "a"
