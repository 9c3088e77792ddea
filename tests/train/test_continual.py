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


def test_five_requests_keep_per_request_tracking_against_the_original(run_overrides, tiny_rows, tmp_path):
    from conftest import write_jsonl
    from obliviate import load_config, unlearn

    pool = tiny_rows["forget"] + tiny_rows["holdout"]  # 9 rows: five requests of two
    files = [write_jsonl(tmp_path / f"request{i}.jsonl", [pool[2 * i % 9], pool[(2 * i + 1) % 9]]) for i in range(5)]
    threshold = 0.05
    overrides = run_overrides(
        data__forget="[" + ",".join(map(str, files)) + "]", train__max_steps=3, train__lr=1e-2, stop_check_every=1,
        stop_retain_drop=threshold,
    )  # fmt: skip
    reqs = unlearn(load_config(None, overrides), progress=False).summary["requests"]
    assert [r["request"] for r in reqs] == [0, 1, 2, 3, 4]
    original = reqs[0]["retain_acc_original"]
    assert reqs[0]["retain_acc_start"] == original  # request 0 starts from the original model
    for prev, rec in zip([None, *reqs], reqs):
        assert rec["retain_acc_original"] == original  # one reference for every request: total drift
        assert rec["retain_drift_total"] == pytest.approx(1 - rec["retain_acc_end"] / original)
        if prev is not None:
            assert rec["retain_acc_start"] == pytest.approx(prev["retain_acc_end"])
        # the stop rule compares with the ORIGINAL's accuracy, not with the request's own start
        assert rec["stopped_early"] == any(acc < (1 - threshold) * original for _, acc in rec["retain_acc_checks"])
        assert len(rec["forget_acc"]) == 5 and rec["forget_acc_original"] == reqs[0]["forget_acc_original"]
        assert rec["check"]["verdict"]["status"] in ("informative", "uninformative")
        assert 0 < rec["check"]["mari"]["unlearn_vs_retain"]["p_value"] <= 1
    print([(r["retain_acc_start"], r["retain_acc_end"], r["retain_acc_checks"], r["forget_acc"]) for r in reqs], original)
    assert any(r["stopped_early"] for r in reqs)  # lr 1e-2 drifts: the rule must have fired at least once
