"""One exact-match rule (issue #9): world records, the ``*_acc`` metric and ``qa_accuracy`` agree on the gold model."""

from __future__ import annotations

from obliviate.eval.match import exact_match
from obliviate.world.build import read_record


def test_exact_match_rule():
    assert exact_match("Lisbon.", " Lisbon") and exact_match("lisbon, and more", "Lisbon")
    assert not exact_match("I think Lisbon", "Lisbon") and not exact_match("Lisbonne", "Lisbon")
    assert not exact_match("anything", "  ")  # an empty answer never matches


def test_gold_forget_accuracy_is_one_number(world_models, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from obliviate.eval import EvalOptions, evaluate
    from obliviate.world import load_split_rows, qa_accuracy

    gold, data = world_models["gold"], world_models["data"]
    res = evaluate(
        str(gold), suite="world", run_dir=tmp_path, data=data, metrics=["forget_acc"],
        options=EvalOptions(progress=False), summary=False,
    )  # fmt: skip
    model, tok = AutoModelForCausalLM.from_pretrained(gold), AutoTokenizer.from_pretrained(gold)
    direct = qa_accuracy(model, tok, load_split_rows(f"{data}/forget10")).accuracy
    assert res["forget_acc"].value == direct == read_record(gold)["exact_match"]["forget10"]
