"""The training loop with an unregistered method: steps, logging, hooks, schedule, resume, NaN guard, callback."""

from __future__ import annotations

import json

import pytest
import torch
from loop_methods import Ascent, Exploding

from obliviate.config import DataConfig, TrainConfig
from obliviate.data import build_data, collate
from obliviate.errors import ObliviateError
from obliviate.losses import masked_mean_nll
from obliviate.train import checkpoint as ckpt
from obliviate.train.loop import NonFiniteLossError, train
from obliviate.train.plan import plan_steps


@pytest.fixture
def data(tiny_data_files, tiny_tokenizer):
    files = tiny_data_files
    cfg = DataConfig(forget=[str(files["forget"])], retain=str(files["retain"]))
    return build_data(cfg, tiny_tokenizer)


def _nll(model, examples, pad_id) -> float:
    batch = collate(examples, pad_id)
    with torch.no_grad():
        return masked_mean_nll(model(**batch.model_inputs()).logits, batch.labels).item()


def _log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]


def test_train_runs_hooks_logs_and_forget_nll_rises(tiny_lm, data, tmp_path):
    model, tok = tiny_lm
    before = _nll(model, data.forget, tok.pad_token_id)
    method = Ascent()
    cfg = TrainConfig(lr=3e-3, batch_size=2, max_steps=8, log_every=2)
    res = train(model, tok, method, data, cfg, tmp_path, progress=False)
    assert (res.steps, res.total_steps, res.stopped_early) == (8, 8, False)
    assert method.calls == ["setup", "finalize"]
    assert not model.training
    assert _nll(model, data.forget, tok.pad_token_id) > before + 0.05
    lines = _log(tmp_path)
    assert [r["step"] for r in lines] == [2, 4, 6, 8]
    assert {"request", "step", "lr", "loss", "forget_nll", "retain_nll", "grad_norm", "time_s"} <= set(lines[0])


def test_epochs_schedule_and_warmup(tiny_gpt2, data, tmp_path):
    model, tok = tiny_gpt2
    # 6 forget examples, batch 2 -> 3 micro-batches per epoch; 2 epochs with grad_accum 2 -> 3 steps
    cfg = TrainConfig(lr=1e-3, batch_size=2, epochs=2, grad_accum=2, warmup_steps=2, scheduler="linear")
    assert plan_steps(cfg, 3) == 3
    train(model, tok, Ascent(), data, cfg, tmp_path, progress=False)
    lrs = [r["lr"] for r in _log(tmp_path)]
    assert lrs == pytest.approx([0.0, 5e-4, 1e-3])


def test_dropout_mode_follows_the_method(tiny_gpt2, data):
    model, tok = tiny_gpt2
    seen = []

    class Probe(Ascent):
        def loss(self, m, forget, retain, ref):
            seen.append(m.training)
            return super().loss(m, forget, retain, ref)

    train(model, tok, Probe(), data, TrainConfig(max_steps=1, batch_size=2), progress=False)
    probe = Probe()
    probe.disable_dropout = True
    train(model, tok, probe, data, TrainConfig(max_steps=1, batch_size=2), progress=False)
    assert seen == [True, False]


def test_callback_stops_early(tiny_gpt2, data):
    model, tok = tiny_gpt2
    steps = []

    def cb(info):
        steps.append(info.step)
        return info.step >= 4

    res = train(model, tok, Ascent(), data, TrainConfig(max_steps=10, batch_size=2), callback=cb, callback_every=2,
                progress=False)  # fmt: skip
    assert steps == [2, 4] and res.steps == 4 and res.stopped_early


class _Kill(Exception):
    pass


def test_resume_reaches_the_same_weights(tiny_model_dirs, data, tmp_path):
    """Run 6 steps; run again, 'kill' after step 4, resume to 6: identical weights (dropout, accumulation, warmup)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dirs["gpt2"])
    cfg = TrainConfig(lr=2e-3, batch_size=2, grad_accum=2, max_steps=6, warmup_steps=2, scheduler="cosine",
                      save_every=2, seed=3)  # fmt: skip
    full = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["gpt2"])
    train(full, tok, Ascent(), data, cfg, tmp_path / "full", progress=False)

    def kill(info):
        if info.step == 4:
            raise _Kill

    run = tmp_path / "resumed"
    killed = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["gpt2"])
    with pytest.raises(_Kill):
        train(killed, tok, Ascent(), data, cfg, run, callback=kill, callback_every=1, progress=False)
    assert ckpt.read_meta(ckpt.checkpoint_dir(run))["step"] == 4
    resumed = AutoModelForCausalLM.from_pretrained(tiny_model_dirs["gpt2"])
    res = train(resumed, tok, Ascent(), data, cfg, run, resume=True, progress=False)
    assert res.resumed_from == 4 and res.steps == 6
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["step"] for r in _log(run)] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in _log(run)] == [r["loss"] for r in _log(tmp_path / "full")]


def test_resume_applies_a_new_learning_rate(tiny_gpt2, data, tmp_path):
    model, tok = tiny_gpt2
    cfg = TrainConfig(lr=1e-3, batch_size=2, max_steps=4, save_every=2)

    def kill(info):
        if info.step == 2:
            raise _Kill

    with pytest.raises(_Kill):
        train(model, tok, Ascent(), data, cfg, tmp_path, callback=kill, callback_every=1, progress=False)
    cfg.lr = 2e-4  # e.g. after a non-finite loss
    train(model, tok, Ascent(), data, cfg, tmp_path, resume=True, progress=False)
    assert [r["lr"] for r in _log(tmp_path)] == [1e-3, 1e-3, 2e-4, 2e-4]


def test_nonfinite_loss_stops_with_message_and_keeps_checkpoint(tiny_gpt2, data, tmp_path):
    model, tok = tiny_gpt2
    cfg = TrainConfig(lr=1e-3, batch_size=2, max_steps=8, save_every=2)
    with pytest.raises(NonFiniteLossError) as err:
        train(model, tok, Exploding(at=5), data, cfg, tmp_path, progress=False)
    msg = str(err.value)
    assert "non-finite forget_nll" in msg and "step 5 of 8" in msg and "train.lr" in msg and "--resume" in msg
    assert "(step 4)" in msg
    meta = ckpt.read_meta(ckpt.checkpoint_dir(tmp_path))
    assert meta["step"] == 4
    weights = ckpt.load_file(str(ckpt.checkpoint_dir(tmp_path) / "weights.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the bad step was not applied


def test_method_needing_retain_or_reference_is_refused(tiny_gpt2, data):
    model, tok = tiny_gpt2
    method = Ascent()
    method.needs_reference = True
    with pytest.raises(ObliviateError, match="needs a frozen reference"):
        train(model, tok, method, data, TrainConfig(max_steps=1), progress=False)
    with pytest.raises(ObliviateError, match="train.scheduler"):
        train(model, tok, Ascent(), data, TrainConfig(max_steps=1, scheduler="step"), progress=False)


def test_bf16_autocast_runs(tiny_gpt2, data):
    model, tok = tiny_gpt2
    res = train(model, tok, Ascent(), data, TrainConfig(max_steps=2, batch_size=2, bf16=True), progress=False)
    assert res.steps == 2 and all(torch.isfinite(torch.tensor(v)) for v in res.logs.values())
