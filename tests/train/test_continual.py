"""The continual-unlearning stop rule: next-token accuracy and the relative-drop callback."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from obliviate.train.continual import RetainDropStop, next_token_accuracy


class Oracle(nn.Module):
    """Predicts the true next token at every position, except that token ids in ``wrong`` are always missed."""

    def __init__(self, vocab: int = 16, wrong: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.vocab, self.wrong = vocab, wrong

    def forward(self, input_ids, attention_mask=None):
        nxt = torch.roll(input_ids, -1, dims=1)  # (B, T): the token each position should predict
        for w in self.wrong:
            nxt = torch.where(nxt == w, (nxt + 1) % self.vocab, nxt)
        return SimpleNamespace(logits=torch.nn.functional.one_hot(nxt, self.vocab).float())  # (B, T, V)


EXAMPLES = [
    {"input_ids": [1, 2, 3, 4], "labels": [-100, -100, 3, 4]},  # 2 labelled targets: 3, 4
    {"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},  # 2 labelled targets: 6, 7
]


def test_accuracy_counts_labelled_next_tokens_only():
    assert next_token_accuracy(Oracle(), EXAMPLES, pad_id=0) == 1.0
    assert next_token_accuracy(Oracle(wrong=(4,)), EXAMPLES, pad_id=0, batch_size=1) == pytest.approx(0.75)
    assert next_token_accuracy(Oracle(wrong=(1, 2, 5)), EXAMPLES, pad_id=0) == 1.0  # unlabelled misses ignored


def test_stop_rule_is_a_relative_drop_from_the_start():
    stop = RetainDropStop(EXAMPLES, pad_id=0, threshold=0.2)
    assert stop.measure_start(Oracle()) == 1.0
    info = SimpleNamespace(step=5, model=Oracle(wrong=(4,)))  # accuracy 0.75 < 0.8 * 1.0
    assert stop(info) is True and stop.history == [(5, 0.75)]
    lenient = RetainDropStop(EXAMPLES, pad_id=0, threshold=0.3, start=1.0)
    assert lenient(info) is False  # 0.75 >= 0.7
    with pytest.raises(RuntimeError, match="measure_start"):
        RetainDropStop(EXAMPLES, pad_id=0, threshold=0.1)(info)


def test_five_requests_keep_per_request_tracking_against_the_original(world_models, tmp_path):
    """The paper's sequential setting on the tiny test world: forget10 cut into five requests, gradient ascent at a
    high lr so retain accuracy falls. Every request is tracked, and the stop rule measures the drift from the
    ORIGINAL model: once it has fired, every later request stops at its first check (re-baselining at each request
    would let them train on and the drift add up)."""
    from obliviate import load_config, unlearn

    data, threshold = world_models["data"], 0.05
    overrides = {
        "model.path": str(world_models["full"]), "data.forget": f"[world:{data}/forget10]", "data.split_requests": 5,
        "data.retain": f"world:{data}/retain90", "data.max_length": 64, "method.name": "ga", "train.lr": 3e-3,
        "train.batch_size": 4, "train.max_steps": 4, "stop_check_every": 1, "stop_retain_drop": threshold,
        "output_dir": str(tmp_path / "run"),
    }  # fmt: skip
    reqs = unlearn(load_config(None, [f"{k}={v}" for k, v in overrides.items()]), progress=False).summary["requests"]
    assert [r["request"] for r in reqs] == [0, 1, 2, 3, 4]
    original = reqs[0]["retain_acc_original"]
    assert original > 0.5 and reqs[0]["retain_acc_start"] == original  # request 0 starts from the original
    for prev, rec in zip([None, *reqs], reqs):
        assert rec["retain_acc_original"] == original  # one reference for every request: total drift
        assert rec["retain_drift_total"] == pytest.approx(1 - rec["retain_acc_end"] / original)
        if prev is not None:
            assert rec["retain_acc_start"] == pytest.approx(prev["retain_acc_end"])
        assert rec["stopped_early"] == any(acc < (1 - threshold) * original for _, acc in rec["retain_acc_checks"])
        assert len(rec["forget_acc"]) == 5 and rec["forget_acc_original"] == reqs[0]["forget_acc_original"]
        assert rec["check"]["verdict"]["status"] in ("informative", "uninformative")
        assert 0 < rec["check"]["mari"]["unlearn_vs_retain"]["p_value"] <= 1
    fired = next(i for i, r in enumerate(reqs) if r["stopped_early"])  # ga at 3e-3 drifts: the rule fires
    assert all(r["steps"] == 1 for r in reqs[fired + 1 :])
    assert reqs[fired]["forget_acc"][fired] < reqs[0]["forget_acc_original"][fired]
