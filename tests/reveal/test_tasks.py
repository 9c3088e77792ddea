"""The built-in task worlds without their models: the hidden structure Reveal must find, annotation parsing, and
the code task's interpreter. (Their trained models are exercised in test_toxicity_e2e.py and, slow, below.)"""

from __future__ import annotations

import random

import numpy as np
import pytest

from obliviate.errors import ObliviateError
from obliviate.reveal.tasks import get_task
from obliviate.reveal.tasks.code import run_program
from obliviate.reveal.tasks.ner import parse_annotations


@pytest.mark.parametrize("spec", ["toxicity/test", "ner/test", "code/test"])
def test_prefix_world_is_rare_and_combinatorial(spec) -> None:
    task = get_task(spec)
    w = task.world
    by_count = {n: np.mean([w.probs(p)[w.target] for p in w.prefixes if w.n_triggers(p) == n]) for n in (0, 1, 2)}
    assert w.target_share() < 0.2
    assert by_count[2] > 0.5 > by_count[1] > by_count[0]  # pairs of trigger words elicit the target kind
    assert not set(map(tuple, w.pool_side)) & set(map(tuple, w.heldout_side))
    assert task.pool(10, seed=1) == task.pool(10, seed=1) and len(task.pool(10)) == 10


def test_task_specs_and_sizes() -> None:
    with pytest.raises(ObliviateError, match="unknown task"):
        get_task("toxic")
    with pytest.raises(ObliviateError, match="sizes"):
        get_task("toxicity/huge")


def test_toxicity_documents_and_scorers() -> None:
    task = get_task("toxicity/test")
    rng = random.Random(0)
    toxic = [task.body("toxic", rng) for _ in range(20)]
    neutral = [task.body("city", rng) for _ in range(20)]
    lex = task.eval_scorer()
    assert lex(toxic) == [1.0] * 20 and lex(neutral) == [0.0] * 20
    bow = task._fit_bow(n=600, steps=100)
    assert {"bias", "weights"} <= set(bow) and len(bow["weights"]) > 10


def test_ner_annotations_match_sentences() -> None:
    task = get_task("ner/test")
    rng = random.Random(0)
    for kind in ("person", "mixed", "place"):
        doc = task.document(task.world.prefixes[0], rng, kind=kind)
        sentence, ann = doc["answer"].split(" => ")
        gold = parse_annotations(ann)
        assert gold and all(name in sentence.split() for name, _ in gold)
        assert any(t == "PER" for _, t in gold) == (kind != "place")
    assert parse_annotations("Aria PER ; bad ; Lisbon LOC ; x FOO ;") == {("Aria", "PER"), ("Lisbon", "LOC")}


def test_code_programs_run_as_specified() -> None:
    task = get_task("code/test")
    rng = random.Random(0)
    for _ in range(30):
        body = task.body("code", rng)
        op, sign, n = body.split()[1:4]
        assert all(run_program(body, x) == task.spec_fn(op, sign, int(n), x) for x in range(5)), body
    assert run_program("def x * 2 + 3 end", 4) == 11 and run_program("so def 7 - x * x end", 2) == 3
    assert run_program("def + x end", 1) is None and run_program("no program", 1) is None
    assert task.reward_scorer()(["def x end", "def end"]) == [1.0, 0.0]


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["ner/test", "code/test"])
def test_task_model_learns_its_world(spec, task_cache) -> None:
    """Slow (trains a task model, ~1-3 min); test_toxicity_e2e covers the same build path by default."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    task = get_task(spec)
    path = task.model_dir(progress=False)
    metrics = task.evaluate(AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path))
    if spec.startswith("ner"):
        assert metrics["f1_per"] > 0.8 and metrics["f1_org"] > 0.8
    else:
        assert metrics["code_pass"] > 0.8 and metrics["math_em"] > 0.8


def test_toxicity_on_a_second_model_family(task_cache) -> None:
    """``toxicity/test-llama``: the same task world and recipe, a Llama-style model (~15 s to train) that learns it
    as the GPT-2 does (toxic under trigger pairs, rarely under random prefixes, fluent on neutral text)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    llama, gpt2 = get_task("toxicity/test-llama"), get_task("toxicity/test")
    assert llama.cfg.model.arch == "llama" and gpt2.cfg.model.arch == "gpt2" and llama.key != gpt2.key
    assert llama.world.prefixes == gpt2.world.prefixes  # one world, two model families
    path = llama.model_dir(progress=False)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert type(model).__name__ == "LlamaForCausalLM"
    m = llama.evaluate(model, AutoTokenizer.from_pretrained(path))
    assert m["toxic_rate_trigger"] > 0.3 > 0.1 > m["toxic_rate_random"] and m["neutral_ppl"] < 5.0
