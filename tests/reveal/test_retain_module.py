"""The retain module: a LoRA fitted on retain data, frozen and active during the rounds, inside every round's O-LoRA
penalty (both modes); ``retain_module=false`` gives the rounds-only behaviour."""

from __future__ import annotations

import pytest
import torch

from obliviate.config import TrainConfig
from obliviate.data.collate import collate
from obliviate.reveal import olora
from obliviate.reveal.config import AscentConfig, ForgetSetConfig, RevealConfig, RevealReleaseConfig, SampleConfig
from obliviate.reveal.objective import RevealRelease
from obliviate.reveal.release import RETAIN, reveal_and_release
from obliviate.train.memorise import rows_to_data


def test_round_penalty_includes_the_retain_rows(tiny_lm) -> None:
    model = tiny_lm[0]
    for name in (RETAIN, "round1", "round2"):
        model = olora.add_round_adapter(model, name, r=2, alpha=4)
    layers = olora.lora_layers(model)
    with torch.no_grad():
        for layer in layers:
            ar, a1, a2 = (layer.lora_A[n].weight for n in (RETAIN, "round1", "round2"))  # each (2, d_in)
            for a in (ar, a1, a2):
                a.zero_()
            ar[0, 0], ar[1, 2] = 2.0, 1.0
            a1[0, 1] = 1.0
            a2[0, 0], a2[0, 1], a2[1, 2] = 1.0, 3.0, -1.0
    # [A_R; A_1] A_2^T = [[2, 0], [0, -1], [3, 0], [0, 0]] -> L1 = 6 per layer, of which 3 from the retain rows.
    method = RevealRelease(RevealReleaseConfig(lam_orth=0.5))
    method.setup(model, None)
    assert method.prev == [RETAIN, "round1"] and method.new == "round2"
    assert olora.orth_loss(model, method.prev, "round2").item() == pytest.approx(6.0 * len(layers))
    assert olora.orth_loss(model, ["round1"], "round2").item() == pytest.approx(3.0 * len(layers))
    # The logged penalty of a training batch is the same number; ascent mode reads the same prev list.
    tok = tiny_lm[1]
    data = rows_to_data([{"prompt": "a b", "answer": "c d"}] * 2, tok, 16)
    out = method.loss(model, collate(data.forget, tok.pad_token_id), None, None)
    assert out.logs["orth"] == pytest.approx(6.0 * len(layers))
    ascent = RevealRelease(RevealReleaseConfig(mode="ascent", ascent=AscentConfig(loss="ga")))
    ascent.setup(model, None)
    assert ascent.prev == [RETAIN, "round1"]


def _small_cfg(**over) -> RevealReleaseConfig:
    # stop_reward 0 and a low threshold: the test needs two rounds to run, not good forgetting
    forget = ForgetSetConfig(top_m=4, samples=16, threshold=0.2, max_rows=20, cap_per_instruction=20)
    reveal = RevealConfig(budget=12, n_init=4, sample=SampleConfig(k=4, max_new_tokens=16), forget=forget)
    return RevealReleaseConfig(rounds=2, steps=6, utility_budget=10.0, stop_reward=0.0, final_attack=False,
                               reveal=reveal, **over)  # fmt: skip


def test_retain_adapter_stays_frozen_and_active_during_rounds(toxicity_task, toxicity_lm, monkeypatch) -> None:
    model, tok = toxicity_lm
    cfg = _small_cfg(retain_source="given")
    seen = []
    setup = RevealRelease.setup

    def spy(self, model, ref):  # what every round's objective sees when its training starts
        layer = olora.lora_layers(model)[0]
        retain = {n: p.detach().clone() for n, p in model.named_parameters() if f".{RETAIN}." in n}
        seen.append((set(model.base_model.active_adapters), layer.lora_A[RETAIN].weight.requires_grad, retain))
        setup(self, model, ref)

    monkeypatch.setattr(RevealRelease, "setup", spy)
    pool, retain = toxicity_task.pool(400), toxicity_task.retain_rows(40)
    res = reveal_and_release(model, tok, pool, toxicity_task.reward_scorer(), cfg, TrainConfig(batch_size=8),
                             retain_rows=retain, progress=False)  # fmt: skip
    assert len(res.kept) == 2 and len(seen) == 2
    assert res.retain["status"] == "fitted" and res.retain["steps"] == 6
    final = dict(res.model.named_parameters())
    for k, (active, grad, retain) in enumerate(seen, start=1):
        assert active == {RETAIN, *res.kept[:k]} and not grad
        assert all(torch.equal(final[n], p) for n, p in retain.items())  # untouched by every round
    assert any(p.abs().sum() > 0 for n, p in seen[0][2].items() if "lora_B" in n)  # the fit moved B off 0
    assert set(res.model.base_model.active_adapters) == {RETAIN, *res.kept}
    assert res.rounds[0]["orth_loss"] > 0.0 and res.rounds[1]["orth_loss"] > 0.0


def test_retain_module_switch(toxicity_task, toxicity_lm) -> None:
    from transformers import AutoModelForCausalLM

    model, tok = toxicity_lm
    path = toxicity_task.model_dir(progress=False)
    pool, scorer, retain = toxicity_task.pool(400), toxicity_task.reward_scorer(), toxicity_task.retain_rows(40)
    run = {}
    for key, over in {"on": {}, "off": {"retain_module": False}, "none": {"retain_source": "none"}}.items():
        m = AutoModelForCausalLM.from_pretrained(path)
        cfg = _small_cfg(retain_source=over.get("retain_source", "given"), **{k: v for k, v in over.items()
                                                                              if k == "retain_module"})  # fmt: skip
        run[key] = reveal_and_release(m, tok, pool, scorer, cfg, TrainConfig(batch_size=8, seed=0),
                                      retain_rows=retain, progress=False)  # fmt: skip
    on, off, none = run["on"], run["off"], run["none"]
    assert on.retain["status"] == "fitted" and on.retain["rows"] == 40
    assert olora.adapter_names(on.model) == [RETAIN, *on.kept] and on.rounds[0]["orth_loss"] > 0
    # Off: no retain adapter, round 1 has nothing to be orthogonal to (the rounds-only behaviour).
    assert off.retain is None and olora.adapter_names(off.model) == off.kept and off.rounds[0]["orth_loss"] == 0.0
    # With no retain rows the module is skipped and the run is the same as with the switch off, to the bit.
    assert none.retain["status"].startswith("skipped")
    assert [r["orth_loss"] for r in none.rounds] == [r["orth_loss"] for r in off.rounds]
    for (n1, p1), (n2, p2) in zip(off.model.named_parameters(), none.model.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2), n1
    # The retain module changes what round 1 learns.
    b_on = olora.lora_layers(on.model)[0].lora_B["round1"].weight
    b_off = olora.lora_layers(off.model)[0].lora_B["round1"].weight
    assert not torch.allclose(b_on, b_off)
