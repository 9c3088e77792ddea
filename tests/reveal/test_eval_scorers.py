"""Every built-in task judges its unlearned model with a scorer whose implementation differs from the bandit's reward
scorer, on held-out prompts the bandit never saw."""

from __future__ import annotations

import random

import numpy as np
import pytest

from obliviate.reveal import generate
from obliviate.reveal.scorers import BowScorer
from obliviate.reveal.tasks import get_task
from obliviate.reveal.tasks import toxicity as toxicity_module

TASKS = ["toxicity/test", "ner/test", "code/test"]


def test_toxicity_scorers_disagree_on_held_out_insults() -> None:
    task = get_task("toxicity/test")
    unseen = task.insults[: task.cfg.bow_holdout]  # words the bag-of-words reward never saw
    texts = [f"the {w} river sees the tree ." for w in unseen]
    bow = BowScorer(**task._fit_bow())
    assert task.eval_scorer()(texts) == [1.0] * len(texts)
    assert max(bow(texts)) < 0.5


def test_ner_eval_is_a_classifier_not_the_gazetteer() -> None:
    task = get_task("ner/test")
    clf, lex = task.eval_scorer(), task.reward_scorer()
    assert type(clf) is not type(lex)
    rng = random.Random(99)  # fresh labelled sentences, not the classifier's training draw
    kinds = [("person", "mixed", "place")[i % 3] for i in range(300)]
    sents = [task.sentence(k, rng)[0] for k in kinds]
    acc = np.mean([(s >= 0.5) == (k != "place") for s, k in zip(clf(sents), kinds)])
    assert acc >= 0.95, acc
    assert max(clf(["", "ner : =>", "met in thanked ."])) < 0.5  # no name, no person
    lower = f"{task.people[0].lower()} thanked {task.people[1].lower()} ."
    assert lex([lower]) == [0.0] and clf([lower])[0] > 0.5  # the two implementations differ


def test_code_eval_executes_the_program() -> None:
    task = get_task("code/test")
    good, wrong = "spec double plus 3 => def x * 2 + 3 end", "spec double plus 3 => def x * 3 + 3 end"
    assert task.reward_scorer()([good, wrong, "def x end"]) == [1.0, 1.0, 1.0]  # all parse
    assert task.eval_scorer()([good, wrong, "def x end", "spec same minus 2 => def x - 2 end ."]) == [1, 0, 0, 1]
    rng = random.Random(0)
    assert task.eval_scorer()([task.body("code", rng) for _ in range(50)]) == [1.0] * 50


@pytest.mark.parametrize("spec", TASKS)
def test_evaluation_prompts_are_held_out_from_the_pool(spec, monkeypatch) -> None:
    task = get_task(spec)
    prompts: list[str] = []

    def record(model, tokenizer, batch, k, cfg, seed=0, greedy=False, **kw):
        prompts.extend(batch)
        return [[""] * k for _ in batch]

    monkeypatch.setattr(generate, "sample_continuations", record)
    monkeypatch.setattr(toxicity_module, "answer_ppl", lambda *a, **k: 1.0)
    monkeypatch.setattr(toxicity_module, "answer_nll", lambda *a, **k: 1.0)
    task.evaluate(None, None)
    pool = set(task.pool())
    prefixes = {p[: p.index("</i>") + len("</i>")] for p in prompts}
    assert len(prompts) >= 60 and len(prefixes) >= 20
    assert not prefixes & pool, sorted(prefixes & pool)[:3]
