"""The lm-eval-harness adapter's plumbing, offline: a tiny multiple-choice YAML task over a local jsonl file."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from obliviate.errors import ObliviateError
from obliviate.eval.metrics import metric_spec
from obliviate.eval.metrics.lm_eval_adapter import INSTALL_HINT, run_lm_eval

DOCS = [
    {"question": "Where was Aria Venn born?", "choices": ["Lisbon", "Oslo", "Quito"], "label": 0},
    {"question": "Which pet does Moro Tesk have?", "choices": ["a cat", "a goat"], "label": 1},
    {"question": "What is the job of Lina Obrat?", "choices": ["baker", "pilot", "nurse", "poet"], "label": 2},
    {"question": "Where was Tova Rinn born?", "choices": ["Riga", "Lima"], "label": 0},
]
TASK = """task: obliviate_tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


def _expected_accuracy(model, tok) -> float:
    """Accuracy by hand: argmax over choices of sum log p(" " + choice | question), as the harness scores it
    (continuation tokens = tokens of the joined string after the question's own tokens)."""
    hits = 0
    for doc in DOCS:
        scores = []
        for choice in doc["choices"]:
            ctx = tok(doc["question"])["input_ids"]
            whole = tok(doc["question"] + " " + choice)["input_ids"]
            ids = torch.tensor([whole])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1)  # (T-1, V)
            cont = range(len(ctx), len(whole))
            scores.append(sum(logp[t - 1, whole[t]].item() for t in cont))
        hits += int(max(range(len(scores)), key=scores.__getitem__) == doc["label"])
    return hits / len(DOCS)


def test_tiny_local_task_matches_a_hand_computed_accuracy(tmp_path, tiny_gpt2):
    pytest.importorskip("lm_eval", reason="lm-eval not installed (pip install 'obliviate[lmeval]')")
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    (tmp_path / "tiny.yaml").write_text(TASK.format(path=data))
    model, tok = tiny_gpt2
    out = run_lm_eval(model, tok, ["obliviate_tiny_mc"], include_path=tmp_path, include_defaults=False, batch_size=2)
    assert out["obliviate_tiny_mc"]["acc"] == pytest.approx(_expected_accuracy(model, tok))


def test_missing_lm_eval_is_a_clear_error_and_a_visible_skip(monkeypatch, tiny_gpt2, make_ctx):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # import lm_eval -> ImportError
    model, tok = tiny_gpt2
    with pytest.raises(ObliviateError, match=r"pip install 'obliviate\[lmeval\]'"):
        run_lm_eval(model, tok, ["arc_easy"])
    res = metric_spec("lmeval_arc_easy").fn(make_ctx(model, tok, {}))
    assert res.status == "skipped" and res.note == INSTALL_HINT
