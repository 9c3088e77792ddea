"""The offline general-ability probes: the shipped look-alike task files, their lm-eval tasks and the general-text
perplexity, each checked against a hand computation on the tiny model."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from obliviate.eval.local_tasks import TASKS, general_paragraphs, local_task_dir, task_rows
from obliviate.eval.metrics import metric_spec
from obliviate.eval.metrics.lm_eval_adapter import run_lm_eval, text_perplexity

FIELDS = {
    "obliviate_arc_easy_local": ({"id", "question", "choices", "label"}, 4),
    "obliviate_piqa_local": ({"id", "goal", "sol1", "sol2", "label"}, 2),
    "obliviate_hellaswag_local": ({"id", "activity_label", "ctx", "endings", "label"}, 4),
}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_task_files_have_40_well_formed_rows_with_balanced_answer_positions(task):
    rows = task_rows(task)
    fields, n_choices = FIELDS[task]
    assert len(rows) == 40 and all(set(r) == fields for r in rows)
    assert len({r["id"] for r in rows}) == 40
    for r in rows:
        options = [r["sol1"], r["sol2"]] if "sol1" in r else r.get("choices") or r["endings"]
        assert len(options) == n_choices and len(set(options)) == n_choices and all(o.strip() for o in options)
    assert Counter(r["label"] for r in rows) == {k: 40 // n_choices for k in range(n_choices)}


def test_general_text_is_about_thirty_paragraphs_of_a_few_thousand_words():
    paragraphs = general_paragraphs()
    words = sum(len(p.split()) for p in paragraphs)
    assert len(paragraphs) == 30 and 3000 <= words <= 4500 and min(len(p.split()) for p in paragraphs) >= 60


def test_materialised_yamls_point_at_the_shipped_data_by_absolute_path(tmp_path):
    folder = local_task_dir(tmp_path / "tasks")
    for task, (data, _) in TASKS.items():
        text = (folder / f"{task}.yaml").read_text()
        path = Path(next(line.split(": ", 1)[1].strip('"') for line in text.splitlines() if "test: " in line))
        assert path.is_absolute() and path.name == data and path.is_file()
    assert local_task_dir() == local_task_dir()  # the cached folder is built once and reused


def _hand_piqa_accuracy(model, tok, rows) -> float:
    """argmax over the two solutions of sum log p(" " + sol | "Question: goal\\nAnswer:"), the harness's scoring
    (continuation tokens = tokens of the joined string after the context's own tokens)."""
    hits = 0
    for doc in rows:
        context = f"Question: {doc['goal']}\nAnswer:"
        scores = []
        for sol in (doc["sol1"], doc["sol2"]):
            ctx_ids, whole = tok(context)["input_ids"], tok(context + " " + sol)["input_ids"]
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([whole])).logits[0, :-1].float(), -1)  # (T-1, V)
            scores.append(sum(logp[t - 1, whole[t]].item() for t in range(len(ctx_ids), len(whole))))
        hits += int(scores.index(max(scores)) == doc["label"])
    return hits / len(rows)


def test_local_piqa_through_the_harness_matches_a_hand_computed_accuracy(tiny_gpt2, make_ctx):
    pytest.importorskip("lm_eval", reason="lm-eval not installed (pip install 'obliviate[lmeval]')")
    model, tok = tiny_gpt2
    limit = 6
    res = metric_spec("lmeval_piqa_local").fn(make_ctx(model, tok, {}, lm_eval_limit=limit, batch_size=4))
    assert res.status == "ok", res.note
    expected = _hand_piqa_accuracy(model, tok, task_rows("obliviate_piqa_local")[:limit])
    assert res.value == pytest.approx(expected) and res.extra["task"] == "obliviate_piqa_local"
    # the other two local tasks run too (the harness returns a value in [0, 1] for each)
    tasks = ["obliviate_arc_easy_local", "obliviate_hellaswag_local"]
    out = run_lm_eval(model, tok, tasks, include_path=local_task_dir(), include_defaults=False, limit=2)
    assert all(0.0 <= out[t]["acc"] <= 1.0 for t in tasks)


def test_text_perplexity_is_exp_of_the_token_weighted_mean_nll(tiny_gpt2):
    model, tok = tiny_gpt2
    paragraphs = ["The Nile flows north into the Mediterranean Sea.", "Bread is made from flour, water and yeast."]
    nll, n = 0.0, 0
    for p in paragraphs:  # each paragraph alone: the first token has no context and is not scored
        ids = tok(p, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, :-1].float(), -1)  # (T-1, V)
        nll -= sum(logp[t - 1, ids[t]].item() for t in range(1, len(ids)))
        n += len(ids) - 1
    ppl, scored = text_perplexity(model, tok, paragraphs, batch_size=2)  # one right-padded batch of both
    assert scored == n and ppl == pytest.approx(math.exp(nll / n), rel=1e-5)


def test_general_text_ppl_metric_scores_the_shipped_text(tiny_gpt2, make_ctx):
    model, tok = tiny_gpt2
    res = metric_spec("general_text_ppl").fn(make_ctx(model, tok, {}, batch_size=16))
    ppl, n = text_perplexity(model, tok, general_paragraphs(), batch_size=3)
    assert res.value == pytest.approx(ppl, rel=1e-5) and res.extra["n_tokens"] == n > 3000
    assert metric_spec("general_text_ppl").higher_is_better is False
