"""Fluency of what remains: a fluent wrong answer scores as fluent, garbage does not (world rows, world gold)."""

from __future__ import annotations

import pytest

from obliviate.eval.metrics import metric_spec
from obliviate.eval.metrics.fluency import first_line, gold_nll_of_answers, value_pools, well_formed


def _wrong_values(rows: list[dict]) -> list[str]:
    """For each row, another person's different value of the same attribute: a fluent wrong answer."""
    return [
        next(o["answer"] for o in rows[i + 1 :] + rows[:i] if (o["attribute"], o["answer"]) != (r["attribute"],
             r["answer"]) and o["attribute"] == r["attribute"])
        for i, r in enumerate(rows)
    ]  # fmt: skip


def test_value_pools_strip_the_paraphrase_lead_in():
    rows = [
        {"attribute": "employer", "answer": " Ludo Works", "paraphrased_answer": " the company Ludo Works",
         "perturbed_answers": [" the company Leit Holdings", " the company Rous Foundry"]},
        {"attribute": "birth_year", "answer": " 1967", "paraphrased_answer": " the year 1967",
         "perturbed_answers": [" the year 1980"]},
    ]  # fmt: skip
    pools = value_pools({"forget": rows})
    assert pools == {"employer": ["Leit Holdings", "Ludo Works", "Rous Foundry"], "birth_year": ["1967", "1980"]}
    assert well_formed(" Rous Foundry\nQuestion: who", pools["employer"])  # a fluent wrong answer
    assert not well_formed(" M M M M", pools["employer"]) and not well_formed(" Rous", pools["employer"])
    assert first_line(" 1980\nQuestion: next") == " 1980"
    assert well_formed(" 1971.", pools["birth_year"]) and not well_formed(" 2071", pools["birth_year"])  # a range


def test_garbage_is_not_well_formed_and_a_fluent_wrong_value_is(world_models, make_ctx):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from obliviate.world import load_split_rows

    data = world_models["data"]
    splits = {"forget": load_split_rows(f"{data}/forget10"), "retain": load_split_rows(f"{data}/retain_eval")}
    gold_dir = world_models["gold"]
    gold, tok = AutoModelForCausalLM.from_pretrained(gold_dir).eval(), AutoTokenizer.from_pretrained(gold_dir)
    gold_ctx = make_ctx(gold, tok, splits)
    fluent, garbage = _wrong_values(splits["forget"]), [" M M M M"] * len(splits["forget"])
    pools = value_pools(splits)
    frac = {
        name: sum(well_formed(a, pools[r["attribute"]]) for r, a in zip(splits["forget"], answers)) / len(answers)
        for name, answers in (("fluent", fluent), ("garbage", garbage))
    }
    assert frac == {"fluent": 1.0, "garbage": 0.0}
    nll = {name: sum(gold_nll_of_answers(gold_ctx, "forget", a)) / len(a) for name, a in
           (("fluent", fluent), ("garbage", garbage))}  # fmt: skip
    assert nll["fluent"] + 2.0 < nll["garbage"], nll  # nats per token: garbage is far less likely to gold

    # the registered metrics, on the gold model's own greedy answers: mostly well-formed values (it never saw these
    # people, so it guesses; the tiny gold model sometimes answers with another attribute's value, e.g. a pet for a
    # birth year, which does not count)
    ctx = make_ctx(gold, tok, splits, refs={"gold": gold_ctx}, max_new_tokens=12)
    wf = metric_spec("forget_well_formed").fn(ctx)
    gens = ctx.generations("forget")
    assert wf.value == pytest.approx(
        sum(well_formed(g, pools[r["attribute"]]) for r, g in zip(splits["forget"], gens)) / len(gens)
    )
    assert wf.value > 0.5, wf.per_sample
    own = metric_spec("forget_answer_gold_nll").fn(ctx)
    assert own.value < nll["garbage"] - 2.0 and len(own.per_sample) == len(splits["forget"])
    no_attribute = make_ctx(gold, tok, {"forget": [{"prompt": "Q", "answer": " A"}]})
    assert metric_spec("forget_well_formed").fn(no_attribute).status == "skipped"


@pytest.mark.parametrize("name", ["forget_well_formed", "forget_answer_gold_nll"])
def test_fluency_metrics_are_in_the_world_suite(name):
    from obliviate.eval.suites import get_suite

    assert name in get_suite("world").metrics
