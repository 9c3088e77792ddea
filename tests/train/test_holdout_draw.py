"""The loop's holdout draw for methods with ``needs_holdout`` (mari target=holdout): what is drawn, that other
methods get no ``holdout`` argument, the refusal without holdout data, and exact resume."""

from __future__ import annotations

import json

import pytest
import torch
from loop_methods import Ascent

from obliviate.config import DataConfig, TrainConfig
from obliviate.data import PairedSampler, build_data
from obliviate.errors import ObliviateError
from obliviate.methods.base import RetainTerm
from obliviate.methods.mari import Mari, MariConfig
from obliviate.train import checkpoint as ckpt
from obliviate.train.loop import train


@pytest.fixture
def data(tiny_data_files, tiny_tokenizer):
    files = tiny_data_files
    cfg = DataConfig(forget=[str(files["forget"])], retain=str(files["retain"]), holdout=str(files["holdout"]))
    return build_data(cfg, tiny_tokenizer)


def test_holdout_batches_are_seeded_permutation_slices_and_leave_forget_retain_alone():
    s = PairedSampler(10, 7, batch_size=4, retain_batch_size=3, seed=5)
    h = s.holdout_batches(0, 6)
    assert [len(b) for b in h] == [4, 4, 4]  # one per forget batch, forget batch size (the last one too)
    flat = [i for b in h for i in b]
    assert sorted(flat[:6]) == list(range(6)) and sorted(flat[6:]) == sorted(set(flat[6:]))  # permutation, cycled
    assert h == PairedSampler(10, 7, batch_size=4, retain_batch_size=3, seed=5).holdout_batches(0, 6)
    assert h != s.holdout_batches(1, 6) and h != PairedSampler(10, 7, batch_size=4, seed=6).holdout_batches(0, 6)
    # two shards: each gets its half of every step's rows, disjoint within a step
    s0, s1 = (PairedSampler(10, 7, batch_size=2, seed=5, num_shards=2, shard_index=i) for i in (0, 1))
    for a, b in zip(s0.holdout_batches(0, 6), s1.holdout_batches(0, 6)):
        assert len(a) == len(b) == 2 and not set(a) & set(b)


class _Recording(Ascent):
    """Ascent that records the holdout batches it is given."""

    needs_holdout = True

    def __init__(self) -> None:
        super().__init__()
        self.holdouts: list[torch.Tensor] = []

    def loss(self, model, forget, retain, ref, holdout=None):
        self.holdouts.append(holdout.input_ids)
        return super().loss(model, forget, retain, ref)


def test_holdout_passed_only_when_asked_and_refused_when_missing(tiny_gpt2, data, tiny_data_files, tiny_tokenizer):
    model, tok = tiny_gpt2
    method = _Recording()
    train(model, tok, method, data, TrainConfig(batch_size=2, max_steps=3), progress=False)
    assert len(method.holdouts) == 3 and all(h.shape[0] == 2 for h in method.holdouts)
    train(model, tok, Ascent(), data, TrainConfig(batch_size=2, max_steps=1), progress=False)  # loss(4 args)
    no_holdout = build_data(
        DataConfig(forget=[str(tiny_data_files["forget"])], retain=str(tiny_data_files["retain"])), tiny_tokenizer
    )
    with pytest.raises(ObliviateError, match="needs holdout data"):
        train(model, tok, _Recording(), no_holdout, TrainConfig(max_steps=1), progress=False)


class _Kill(Exception):
    pass


def test_resume_with_the_holdout_target_reaches_the_same_weights(tiny_model_dirs, data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dirs["gpt2"])
    method = Mari(MariConfig(gamma=50.0, retain=RetainTerm("nll"), target="holdout"))
    cfg = TrainConfig(lr=2e-3, batch_size=2, retain_batch_size=3, grad_accum=2, max_steps=5, save_every=1, seed=3)
    full = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["gpt2"])
    train(full, tok, method, data, cfg, tmp_path / "full", progress=False)

    def kill(info):
        if info.step == 3:
            raise _Kill

    run = tmp_path / "resumed"
    with pytest.raises(_Kill):
        killed = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["gpt2"])
        train(killed, tok, method, data, cfg, run, callback=kill, callback_every=1, progress=False)
    assert ckpt.read_meta(ckpt.checkpoint_dir(run))["step"] == 3
    resumed = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["gpt2"])
    train(resumed, tok, method, data, cfg, run, resume=True, progress=False)
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    logs = [
        [json.loads(x) for x in (tmp_path / d / "train_log.jsonl").read_text().splitlines()]
        for d in ("full", "resumed")
    ]
    assert [r["step"] for r in logs[1]] == [1, 2, 3, 4, 5]
    assert [(r["loss"], r["mari_target"]) for r in logs[0]] == [(r["loss"], r["mari_target"]) for r in logs[1]]
