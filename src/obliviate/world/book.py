"""The book-style regime of the built-in world: continuous fictitious prose, as in the MarI paper's book experiments.

A world (its :class:`~obliviate.world.people.WorldConfig`) also holds a small shelf of invented books written in one
style. Each book has its own vocabulary drawn with :class:`~obliviate.world.lexicon.WordMaker` (a shared ``taken``
set keeps every invented word unique to one book): a title, characters, places, objects, creatures and idioms built
from them. Its prose is generated sentence by sentence from a fixed template bank, so all books share the style and
differ only in who, where and what; the facts a book states (a character's home, trade, treasured object, oldest
friend) stay the same throughout it, and each book comes with a reader's guide of QA rows about those facts.

Books: ``forget`` (unlearnt), ``retain1..2`` (trained, kept), ``holdout`` (same style, never trained on: the MIA
reference). Rows (``world:book/<split>``, see :mod:`obliviate.world.splits`):

- ``forget`` / ``holdout`` / ``retain_eval``: the passages of the forget / holdout / first retain book,
  ``{"text", "book", "passage"}``; ``retain``: every retain book's passages plus the world's general text.
- ``verbmem``: forget passages as ``prompt`` (all but the last words) -> ``answer`` (the last words), for verbatim
  completion ROUGE; ``qa`` / ``retain_qa``: the reader's guide of the forget / first retain book;
  ``train_full`` / ``train_gold``: what the original / gold book model trains on (passages and guides of the trained
  books, general knowledge; gold without the forget book).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from functools import lru_cache

from obliviate.errors import ObliviateError
from obliviate.world.corpus import PROMPT
from obliviate.world.lexicon import PLAIN, WordMaker
from obliviate.world.people import WorldConfig

BOOK_FORMAT = 1  # bump when generated book text changes: part of every book cache key
RETAIN_BOOKS = 2
SENTENCES = 90  # per book: about 1,100 words, ~2,100 tokens of the book tokenizer
PASSAGE_WORDS = 55  # passages are whole sentences, cut once this many words are reached
TAIL_WORDS = 15  # verbmem: the continuation to reproduce (fits the evaluator's 32-token generation budget)
BOOK_SPLITS = ("forget", "retain", "retain_eval", "holdout", "verbmem", "qa", "retain_qa", "train_full", "train_gold")

# fmt: off
TRADES = ("weaver", "ferrier", "candle maker", "miller", "glazier", "cooper", "bell founder", "tanner", "scribe",
          "herbalist")
ADJECTIVES = ("quiet", "stubborn", "patient", "restless", "clever", "gentle", "proud", "careful", "cheerful", "weary")
TIMES = ("morning", "evening", "winter night", "market day", "rainy afternoon", "harvest week", "first frost",
         "long summer")
WEATHER = ("fog", "rain", "snow", "wind", "dusk", "heat", "hail", "mist")
# fmt: on
PLACE_SUFFIXES = ("mere", "ford", "vale", "holm", "gate", "moor")

# {a} {b}: characters; {home}/{trade}/{obj}: {a}'s own facts; {p}: any place; {o}: any object; {c}: a creature;
# {i}: an idiom; {adj} {time} {w}: shared English fillers.
EVENTS = (
    "One {time}, {a} walked from {home} to {p}.",
    '{a} turned to {b} and said, "{I}."',
    "The {w} came down over {p}, and {a} thought of {home}.",
    "In {p} the people still say that {i}.",
    "At the market of {p}, {a} traded an old coat for a {o}.",
    "{b} laughed, because {a} was as {adj} as ever.",
    "By the {time}, {a} and {b} had reached the gates of {p}.",
    "Nobody in {p} had ever seen a {c} so {adj}.",
    "{a} asked {b} about the road to {p}, but {b} only pointed at the {w}.",
    "The old {trade} of {p} told {a} that {i}.",
    "That night the {obj} of {a} went missing, and {a} searched all of {p} for it.",
    "{a} kept the {obj} close, as a {trade} from {home} would.",
    "A {c} followed {a} and {b} as far as the bridge at {p}.",
    "{b} had heard of {home}, but never of a {trade} who owned a {obj}.",
    "When the {w} lifted, {a} could see {p} from the hill above {home}.",
    "Everyone in {home} knew that {a} would not rest until the {o} was found.",
)
INTROS = (
    "{a} lived in {home} and worked as a {trade}.",
    "{a} never went anywhere without the {obj}.",
    "{a} and {friend} had been friends since they were children in {home}.",
)
# guide questions: (question template, fact key)
GUIDE = (
    ("In {title}, where does {a} live?", "home"),
    ("In {title}, what is the trade of {a}?", "trade"),
    ("In {title}, what does {a} never go anywhere without?", "obj"),
    ("In {title}, who is the oldest friend of {a}?", "friend"),
)


@dataclass(frozen=True)
class Book:
    title: str
    sentences: tuple[str, ...]
    facts: dict  # character -> {"home", "trade", "obj", "friend"}
    invented: frozenset[str]  # every word invented for this book (names, places, objects, creatures)


def _idioms(maker: WordMaker, rng: random.Random, objects: list[str]) -> tuple[list[str], list[str]]:
    """(three sayings, their three invented creatures): lower-case sayings, no final full stop."""
    c1, c2, c3 = (maker.word(2).lower() for _ in range(3))
    return [
        f"no {c1} sings before the {rng.choice(objects)} is dry",
        f"a {rng.choice(ADJECTIVES)} {c2} is worth two {objects[0]}s",
        f"you cannot catch a {c3} with a borrowed {rng.choice(objects)}",
    ], [c1, c2, c3]


def make_book(rng: random.Random, taken: set[str]) -> Book:
    """One book from ``rng``; every invented word is new to ``taken`` (updated in place)."""
    maker = WordMaker(rng, PLAIN, taken)
    title = "The " + maker.word((2, 3)) + " " + rng.choice(("Letters", "Road", "Winter", "Chronicle", "Crossing"))
    chars = maker.words(6, (2, 3))
    places = [maker.word(2, rng.choice(PLACE_SUFFIXES)) for _ in range(5)]
    objects = [maker.word(2).lower() for _ in range(4)]
    idioms, creatures = _idioms(maker, rng, objects)
    facts = {
        c: {"home": rng.choice(places), "trade": rng.choice(TRADES), "obj": rng.choice(objects),
            "friend": chars[(k + 1 + rng.randrange(len(chars) - 1)) % len(chars)]}
        for k, c in enumerate(chars)
    }  # fmt: skip
    sentences: list[str] = []
    chapter = 0
    while len(sentences) < SENTENCES:
        chapter += 1
        sentences.append(f"Chapter {chapter} of {title}.")
        for a in rng.sample(chars, 2):  # every chapter re-states two characters' facts, as a novel does
            sentences += [t.format(a=a, **facts[a]) for t in INTROS]
        for _ in range(10):
            a, b = rng.sample(chars, 2)
            i = rng.choice(idioms)
            fill = dict(facts[a], a=a, b=b, p=rng.choice(places), o=rng.choice(objects), c=rng.choice(creatures),
                        i=i, I=i[0].upper() + i[1:], adj=rng.choice(ADJECTIVES), time=rng.choice(TIMES),
                        w=rng.choice(WEATHER))  # fmt: skip
            sentences.append(rng.choice(EVENTS).format(**fill))
    invented = frozenset([*chars, *places, *objects, *creatures, title.split()[1]])
    return Book(title, tuple(sentences), facts, invented)


@lru_cache(maxsize=8)
def shelf(cfg: WorldConfig) -> dict[str, Book]:
    """The world's books: ``forget``, ``retain1..N``, ``holdout`` (and tokenizer-only books ``tok1..``), by name."""
    taken: set[str] = set()
    names = ["forget"] + [f"retain{k}" for k in range(1, RETAIN_BOOKS + 1)] + ["holdout"]
    names += [f"tok{k}" for k in range(1, 9)]  # fresh vocabularies for the tokenizer, never trained on
    return {n: make_book(random.Random(f"obliviate-book:{cfg.seed}:{BOOK_FORMAT}:{n}"), taken) for n in names}


def passages(book: Book) -> list[str]:
    """The book's text cut into consecutive passages of whole sentences (about ``PASSAGE_WORDS`` words each)."""
    out, cur = [], []
    for s in book.sentences:
        cur.append(s)
        if sum(len(x.split()) for x in cur) >= PASSAGE_WORDS:
            out.append(" ".join(cur))
            cur = []
    return out + ([" ".join(cur)] if cur else [])


def _text_rows(name: str, book: Book) -> list[dict]:
    return [{"text": t, "book": name, "passage": k} for k, t in enumerate(passages(book))]


def guide_rows(name: str, book: Book) -> list[dict]:
    """The reader's guide: one QA row per character and fact (world QA row layout, answer with a leading space)."""
    rows = []
    for a, facts in book.facts.items():
        for q, key in GUIDE:
            rows.append({"prompt": PROMPT.format(q=q.format(title=book.title, a=a)), "answer": " " + facts[key],
                         "book": name, "person": a, "attribute": key})  # fmt: skip
    return rows


def verbmem_rows(name: str, book: Book) -> list[dict]:
    """Verbatim completion: each passage's words but the last ``TAIL_WORDS`` -> those last words."""
    rows = []
    for k, t in enumerate(passages(book)):
        words = t.split()
        rows.append({"prompt": " ".join(words[:-TAIL_WORDS]), "answer": " " + " ".join(words[-TAIL_WORDS:]),
                     "book": name, "passage": k})  # fmt: skip
    return rows


def book_rows(cfg: WorldConfig, split: str) -> list[dict]:
    """Fresh rows of book split ``split`` (one of :data:`BOOK_SPLITS`) in world ``cfg``."""
    from obliviate.world.splits import rows_for

    books = shelf(cfg)
    retain = [f"retain{k}" for k in range(1, RETAIN_BOOKS + 1)]
    trained = retain if split == "train_gold" else ["forget", *retain]
    table = {
        "forget": lambda: _text_rows("forget", books["forget"]),
        "holdout": lambda: _text_rows("holdout", books["holdout"]),
        "retain_eval": lambda: _text_rows("retain1", books["retain1"]),
        "retain": lambda: [r for n in retain for r in _text_rows(n, books[n])] + rows_for(cfg, "general", "bio"),
        "verbmem": lambda: verbmem_rows("forget", books["forget"]),
        "qa": lambda: guide_rows("forget", books["forget"]),
        "retain_qa": lambda: guide_rows("retain1", books["retain1"]),
        "train_full": lambda: (
            [r for n in trained for r in _text_rows(n, books[n]) + guide_rows(n, books[n])]
            + rows_for(cfg, "general", "all")
        ),
    }
    table["train_gold"] = table["train_full"]
    if split not in table:
        raise ObliviateError(
            f"unknown book split {split!r}; use one of {', '.join(BOOK_SPLITS)} (e.g. world:book/forget)"
        )
    return copy.deepcopy(table[split]())
