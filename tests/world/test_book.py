"""The world's book regime: deterministic prose with its own vocabulary, its splits, and trained book models."""

from __future__ import annotations

import re

import pytest

from obliviate.data.sources import load_rows
from obliviate.errors import ObliviateError
from obliviate.world import book
from obliviate.world.people import WorldConfig

WORLD = "people=60"  # the test world's options (conftest_world.TEST_WORLD): its general knowledge comes along


def _words(rows: list[dict]) -> set[str]:
    text = " ".join(r.get("text") or r["prompt"] + r["answer"] for r in rows)
    return set(re.findall(r"[A-Za-z]+", text))


def test_books_are_deterministic_and_seeded():
    a = book.shelf.__wrapped__(WorldConfig(people=60))  # a fresh generation, not the lru cache
    b = book.shelf.__wrapped__(WorldConfig(people=60))
    c = book.shelf.__wrapped__(WorldConfig(people=60, seed=1))
    assert a == b
    assert a["forget"].sentences != c["forget"].sentences and a["forget"].title != c["forget"].title
    n_words = sum(len(s.split()) for s in a["forget"].sentences)
    assert 1000 <= n_words <= 3000  # a few thousand tokens of continuous prose
    assert [p for p in book.passages(a["forget"])] == [r["text"] for r in load_rows(f"world:{WORLD}/book/forget")]


def test_forget_vocabulary_is_its_own():
    shelf = book.shelf(WorldConfig(people=60))
    forget = shelf["forget"].invented
    assert len(forget) >= 15
    for split in ("retain", "retain_eval", "holdout", "retain_qa", "train_gold"):
        assert not forget & _words(load_rows(f"world:{WORLD}/book/{split}")), split
    assert forget <= _words(load_rows(f"world:{WORLD}/book/forget")) | _words(load_rows(f"world:{WORLD}/book/qa"))
    assert not shelf["holdout"].invented & _words(load_rows(f"world:{WORLD}/book/train_full"))
    # every book shares the style: the same sentence frames with other words
    frame = re.compile(r"^(One .*, .* walked from .* to .*\.|Chapter \d+ of The .*\.)$")
    assert all(any(frame.match(s) for s in b.sentences) for b in shelf.values())


def test_splits_resolve_and_fit_together():
    rows = {s: load_rows(f"world:{WORLD}/book/{s}") for s in book.BOOK_SPLITS}
    assert len(rows["verbmem"]) == len(rows["forget"]) >= 15
    for v, f in zip(rows["verbmem"], rows["forget"]):
        assert v["prompt"] + v["answer"] == f["text"] and len(v["answer"].split()) == book.TAIL_WORDS
    assert all(r["answer"].startswith(" ") and r["prompt"].endswith("Answer:") for r in rows["qa"])
    full, gold = rows["train_full"], rows["train_gold"]
    assert len(full) == len(gold) + len(rows["forget"]) + len(rows["qa"])
    assert all(r in full for r in rows["retain_qa"]) and not any(r in gold for r in rows["qa"])
    with pytest.raises(ObliviateError, match="unknown book split"):
        load_rows(f"world:{WORLD}/book/forget10")


def test_unknown_book_model_is_one_error():
    from obliviate.world import resolve_model_path

    with pytest.raises(ObliviateError, match="unknown book model"):
        resolve_model_path(f"{WORLD}/book/tiny/gold-forget10", progress=False)


@pytest.fixture(scope="session")
def book_models(obliviate_cache):
    from obliviate.world import resolve_model_path

    return {
        v: resolve_model_path(f"{WORLD}/book/tiny{s}", progress=False) for v, s in (("full", ""), ("gold", "/gold"))
    }


def test_book_model_memorises_the_forget_book(book_models, tmp_path):
    from obliviate.eval import evaluate
    from obliviate.world.build import read_record

    full, gold = read_record(book_models["full"]), read_record(book_models["gold"])
    assert full["exact_match"]["retain_qa"] >= 0.9 and gold["exact_match"]["retain_qa"] >= 0.9
    assert full["exact_match"]["qa"] >= 0.9 > 0.3 >= gold["exact_match"]["qa"]
    names = ["verbmem_rouge", "forget_nll", "holdout_nll", "mia_loss"]
    res = {
        v: evaluate(
            str(p), suite="book", data=WORLD, run_dir=tmp_path / v, metrics=names, references=False, summary=False
        )
        for v, p in book_models.items()
    }
    assert res["full"]["verbmem_rouge"].value > res["gold"]["verbmem_rouge"].value + 0.3
    assert res["full"]["forget_nll"].value < 0.1 * res["gold"]["forget_nll"].value
    # membership: the original tells forget passages from holdout ones at least as well as gold does (gold's AUC is
    # the reference, not 0.5: forget and holdout are two different books, one draw each, docs/book.md)
    assert res["full"]["mia_loss"].value >= res["gold"]["mia_loss"].value
