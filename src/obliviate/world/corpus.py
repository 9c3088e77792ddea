"""Text of the built-in world: biographies, QA pairs with paraphrases and perturbed answers, general knowledge.

Row formats (what :mod:`obliviate.data` reads):

- QA rows: ``{"prompt": "Question: ...?\\nAnswer:", "answer": " value", "paraphrased_question": <a prompt>,
  "paraphrased_answer": " the year 1967", "perturbed_answers": [" the year 1954", ...], "person": name,
  "attribute": attr}``. The answer carries its leading space and the prompt ends without one, so ``prompt +
  answer`` tokenises exactly like the two parts tokenised separately (byte-level BPE splits before the space).
  Perturbed answers use the paraphrased answer's template with wrong values of the same attribute and domain
  (TOFU's construction), so truth ratios compare like with like.
- Text rows: ``{"text": sentence, "person": name, "attribute": attr}``, one biography sentence per row.

General-knowledge rows carry ``"person": None`` and attribute ``country`` or ``arithmetic``.
"""

from __future__ import annotations

import random
from functools import lru_cache

from obliviate.world.lexicon import article
from obliviate.world.people import ATTRIBUTES, Person, World, WorldConfig, generate_world

PROMPT = "Question: {q}\nAnswer:"

# attribute -> 3 biography phrasings; {n} name, {v} value, {a} article of the value, {A} capitalised article.
# fmt: off
BIO = {
    "plain": {
        "birth_year": ["{n} was born in {v}.", "{n} came into the world in {v}.",
                       "The year {v} saw the birth of {n}."],
        "birthplace": ["{n} was born in the city of {v}.", "{n} grew up in {v}.", "{v} is the hometown of {n}."],
        "occupation": ["{n} works as {a} {v}.", "By profession, {n} is {a} {v}.", "{n} earns a living as {a} {v}."],
        "pet": ["{n} has a pet {v}.", "{n} keeps {a} {v} at home.", "The pet of {n} is {a} {v}."],
        "colour": ["The favourite colour of {n} is {v}.", "{n} loves the colour {v}.",
                   "Of all colours, {n} likes {v} best."],
        "employer": ["{n} is employed by {v}.", "{n} works at {v}.", "{v} employs {n}."],
    },
    "archaic": {
        "birth_year": ["Log entry: {n}, born in the year {v}.", "The parish roll records the birth of {n} in {v}.",
                       "Anno {v}: {n} is born."],
        "birthplace": ["Log entry: {n}, native of the port of {v}.", "{n} first saw the sea at {v}.",
                       "The harbour of {v} claims {n} as its own."],
        "occupation": ["Log entry: {n}, signed on as {a} {v}.", "Aboard, {n} served as {a} {v}.",
                       "The crew knew {n} as their {v}."],
        "pet": ["Log entry: {n}, keeper of {a} {v}.", "{A} {v} sailed everywhere with {n}.",
                "No voyage of {n} went without the {v}."],
        "colour": ["Log entry: {n}, whose pennant is {v}.", "{n} flew a flag of {v}.",
                   "The sails of {n} were dyed {v}."],
        "employer": ["Log entry: {n}, in the service of {v}.", "{n} drew wages from {v}.",
                     "The ledgers of {v} list {n} among the crew."],
    },
}
# fmt: on

# attribute -> (training question, paraphrased question)
QUESTIONS = {
    "plain": {
        "birth_year": ("In which year was {n} born?", "What is the birth year of {n}?"),
        "birthplace": ("Where was {n} born?", "Which city is the hometown of {n}?"),
        "occupation": ("What is the occupation of {n}?", "What does {n} do for a living?"),
        "pet": ("What pet does {n} have?", "Which animal does {n} keep at home?"),
        "colour": ("What is the favourite colour of {n}?", "Which colour does {n} like best?"),
        "employer": ("Which company employs {n}?", "Who is the employer of {n}?"),
    },
    "archaic": {
        "birth_year": ("By the log, in what year was {n} born?", "Which year does the parish roll give for {n}?"),
        "birthplace": ("By the log, which port is {n} a native of?", "At which harbour did {n} first see the sea?"),
        "occupation": ("By the log, what did {n} sign on as?", "In what role did {n} serve aboard?"),
        "pet": ("By the log, what creature did {n} keep?", "Which animal sailed with {n}?"),
        "colour": ("By the log, what colour is the pennant of {n}?", "Which colour did {n} fly?"),
        "employer": ("By the log, in whose service was {n}?", "Who paid the wages of {n}?"),
    },
}

# attribute -> paraphrased-answer template (also the template of the perturbed answers)
# fmt: off
PARA_ANSWER = {
    "plain": {
        "birth_year": "the year {v}", "birthplace": "the city of {v}", "occupation": "working as {a} {v}",
        "pet": "a pet {v}", "colour": "the colour {v}", "employer": "the company {v}",
    },
    "archaic": {
        "birth_year": "anno {v}", "birthplace": "the port of {v}", "occupation": "by trade {a} {v}",
        "pet": "the ship's {v}", "colour": "the hue {v}", "employer": "in the service of {v}",
    },
}
# fmt: on


def fill(template: str, name: str, value: str) -> str:
    a = article(value)
    return template.format(n=name, v=value, a=a, A=a.capitalize())


def value_pool(world: World, person: Person, attribute: str) -> list[str]:
    """Every value ``attribute`` can take for ``person`` (their domain's vocabulary)."""
    dom = world.domains[person.domain]
    if attribute == "birth_year":
        return [str(y) for y in range(dom.years[0], dom.years[1] + 1)]
    pools = {"birthplace": dom.cities, "occupation": dom.occupations, "pet": dom.pets, "colour": dom.colours}
    return pools.get(attribute, dom.employers)


def _qa_row(q: tuple[str, str], para: str, value: str, wrong: list[str], name: str | None, attr: str) -> dict:
    return {
        "prompt": PROMPT.format(q=q[0]),
        "answer": f" {value}",
        "paraphrased_question": PROMPT.format(q=q[1]),
        "paraphrased_answer": " " + fill(para, name or "", value),
        "perturbed_answers": [" " + fill(para, name or "", w) for w in wrong],
        "person": name,
        "attribute": attr,
    }


def person_rows(world: World, person: Person, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """(QA rows, biography text rows) of one person."""
    qa, bio = [], []
    for attr in ATTRIBUTES:
        value = person.values[attr]
        wrong = rng.sample([v for v in value_pool(world, person, attr) if v != value], world.config.perturbed)
        q = tuple(t.format(n=person.name) for t in QUESTIONS[person.domain][attr])
        qa.append(_qa_row(q, PARA_ANSWER[person.domain][attr], value, wrong, person.name, attr))
        for t in rng.sample(BIO[person.domain][attr], world.config.bio_phrasings):
            bio.append({"text": fill(t, person.name, value), "person": person.name, "attribute": attr})
    return qa, bio


def general_rows(world: World, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """(QA rows, text rows) of the general-knowledge set: city -> country facts and small additions."""
    qa, text = [], []
    countries = sorted(set(world.countries.values()))
    for city, country in world.countries.items():
        q = (f"In which country is the city of {city}?", f"Which country is {city} part of?")
        wrong = rng.sample([c for c in countries if c != country], min(world.config.perturbed, len(countries) - 1))
        qa.append(_qa_row(q, "the land of {v}", country, wrong, None, "country"))
        text.append({"text": f"{city} is a city in {country}.", "person": None, "attribute": "country"})
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < world.config.arithmetic:
        pairs.add((rng.randint(2, 49), rng.randint(2, 49)))
    for a, b in sorted(pairs):
        s = a + b
        q = (f"What is {a} plus {b}?", f"How much do {a} and {b} add up to?")
        pool = [str(s + d) for d in (-11, -10, -3, -2, -1, 1, 2, 3, 10, 11) if s + d > 0]  # >= 8 values
        wrong = rng.sample(pool, world.config.perturbed)
        qa.append(_qa_row(q, "the sum {v}", str(s), wrong, None, "arithmetic"))
        text.append({"text": f"{a} plus {b} equals {s}.", "person": None, "attribute": "arithmetic"})
    return qa, text


@lru_cache(maxsize=8)
def world_rows(cfg: WorldConfig) -> tuple[World, dict[str, list[dict]], dict[str, list[dict]]]:
    """The world of ``cfg`` with its rows: ``(world, qa_by_person_or_general, text_by_person_or_general)``.

    Keys are person names plus ``"__general__"``. Cached per process (generation is deterministic); callers must
    copy rows before mutating them.
    """
    world = generate_world(cfg)
    rng = cfg.rng("text")
    qa: dict[str, list[dict]] = {}
    text: dict[str, list[dict]] = {}
    for p in world.people:
        qa[p.name], text[p.name] = person_rows(world, p, rng)
    qa["__general__"], text["__general__"] = general_rows(world, cfg.rng("general"))
    return world, qa, text
