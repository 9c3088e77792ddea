"""memorise: model + tokenizer + rows -> a model that knows the rows, through the one loop, with its loss curve."""

from __future__ import annotations

import json

import pytest
import torch

from obliviate.config import TrainConfig
from obliviate.data import collate
from obliviate.errors import ObliviateError
from obliviate.methods.base import Method
from obliviate.models import new_causal_lm
from obliviate.reveal.tasks.base import build_word_tokenizer
from obliviate.train.memorise import Memorise, memorise, rows_to_data

ROWS = [{"prompt": f"q{i} is", "answer": f"a{i} b{i % 3}"} for i in range(12)] + [{"text": "some plain text here"}]


def _tok():
    return build_word_tokenizer([r.get("prompt", "") + " " + r.get("answer", r.get("text", "")) for r in ROWS])


def test_memorise_learns_the_rows_and_writes_its_curve(tmp_path):
    tok = _tok()
    model = new_causal_lm("gpt2", tok, layers=1, dim=32, heads=2, mlp=64, context=16, seed=0)
    cfg = TrainConfig(lr=1e-2, batch_size=13, max_steps=60, warmup_steps=0, log_every=1, seed=0)
    summary = memorise(model, tok, ROWS, cfg, tmp_path, max_length=16, progress=False)
    assert summary["steps"] == 60 and summary["examples"] == len(ROWS) and summary["tokens"] > 0
    curve = json.loads((tmp_path / "loss_curve.json").read_text())
    assert len(curve) == 60 and curve[-1]["loss"] < 0.25 * curve[0]["loss"]
    assert summary["final_loss"] == pytest.approx(curve[-1]["loss"])
    assert not model.training  # the loop leaves the model in eval mode


def test_memorise_method_is_the_plain_nll():
    tok = _tok()
    model = new_causal_lm("llama", tok, layers=1, dim=32, heads=2, mlp=64, context=16, seed=0)
    batch = collate(rows_to_data(ROWS, tok, 16).forget, tok.pad_token_id)
    method = Memorise()
    assert isinstance(method, Method) and not (method.needs_reference or method.needs_retain or method.needs_alt)
    out = method.loss(model, batch, None, None)
    assert torch.allclose(out.loss, model(**batch.model_inputs(), labels=batch.labels).loss)


def test_new_causal_lm_is_seeded_and_checks_the_architecture():
    tok = _tok()
    a, b = (new_causal_lm("gpt2", tok, layers=1, dim=16, heads=2, mlp=32, context=8, seed=5) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert a.config.vocab_size == len(tok) and a.config.pad_token_id == tok.pad_token_id
    with pytest.raises(ObliviateError, match="unknown architecture 'bert'"):
        new_causal_lm("bert", tok, layers=1, dim=16, heads=2, mlp=32, context=8)


def test_logged_time_sums_every_segment_of_a_resumed_log(tmp_path):
    from obliviate.train.memorise import logged_time

    log = tmp_path / "train_log.jsonl"
    # steps 1-3 in a first process (clock at 10, 20, 30 s), resumed from step 2: clock restarts at 4 s
    rows = [(1, 10.0), (2, 20.0), (3, 30.0), (3, 4.0), (4, 9.5)]
    log.write_text("".join(json.dumps({"step": s, "time_s": t}) + "\n" for s, t in rows))
    assert logged_time(log) == 39.5
    # killed early (2 s in), the resumed run's first logged time is later than that: the step tells
    rows = [(1, 1.0), (2, 2.0), (2, 5.0), (3, 8.0)]
    log.write_text("".join(json.dumps({"step": s, "time_s": t}) + "\n" for s, t in rows))
    assert logged_time(log) == 10.0
    log.write_text("")
    assert logged_time(log) is None
