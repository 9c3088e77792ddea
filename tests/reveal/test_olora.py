"""Stacked round adapters: O-LoRA loss and geometry, negation of exactly one factor, rollback and merging."""

from __future__ import annotations

import pytest
import torch

from obliviate.config import TrainConfig, from_dict
from obliviate.errors import ObliviateError
from obliviate.reveal import olora
from obliviate.reveal.config import RevealReleaseConfig
from obliviate.reveal.objective import RevealRelease
from obliviate.train.loop import train
from obliviate.train.memorise import rows_to_data


def _adapted(model, names=("round1", "round2"), r=2, alpha=4):
    for n in names:
        model = olora.add_round_adapter(model, n, r=r, alpha=alpha)
    return model


def test_round_adapters_start_from_their_own_seeded_init(tiny_gpt2) -> None:
    model = tiny_gpt2[0]
    torch.manual_seed(0)
    model = olora.add_round_adapter(model, "round1", r=2, alpha=4, seed=1)
    torch.manual_seed(0)  # the global RNG in the same state again (as after the loop's set_seed)
    model = olora.add_round_adapter(model, "round2", r=2, alpha=4, seed=2)
    assert olora.max_abs_cos(model, ["round1"], "round2") < 0.99
    with pytest.raises(ObliviateError, match="already exists"):
        olora.add_round_adapter(model, "round2", r=2, alpha=4)


def test_rounds_stack_active_and_frozen(tiny_gpt2) -> None:
    model = _adapted(tiny_gpt2[0])
    assert olora.adapter_names(model) == ["round1", "round2"]
    assert set(model.base_model.active_adapters) == {"round1", "round2"}
    assert olora.split_adapters(model) == (["round1"], "round2")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".round2." in n for n in trainable)


def test_orth_loss_matches_hand_computation(tiny_lm) -> None:
    model = _adapted(tiny_lm[0])
    layers = olora.lora_layers(model)
    with torch.no_grad():
        for layer in layers:
            a1, a2 = layer.lora_A["round1"].weight, layer.lora_A["round2"].weight  # (2, d_in)
            a1.zero_()
            a2.zero_()
            a1[0, 0], a1[1, 1] = 1.0, -2.0
            a2[0, 0], a2[0, 1], a2[1, 1], a2[1, 2] = 3.0, 0.5, 1.0, 1.0
    # A1 A2^T = [[1*3, 0], [-2*0.5, -2*1]] -> entrywise L1 = 3 + 0 + 1 + 2 = 6 per adapted layer.
    loss = olora.orth_loss(model, ["round1"], "round2")
    assert loss.item() == pytest.approx(6.0 * len(layers))
    assert olora.orth_loss(model, [], "round2").item() == 0.0
    loss.backward()
    assert layers[0].lora_A["round2"].weight.grad is not None and layers[0].lora_A["round1"].weight.grad is None
    # largest |cos|: a1 row 0 = e0 against a2 row 0 = (3, .5): 3 / sqrt(9.25) (the e1 / (0, 1, 1) pair gives 0.71)
    assert olora.max_abs_cos(model, ["round1"], "round2") == pytest.approx(3 / 9.25**0.5, rel=1e-6)


def _train_round(model, tok, rows, lam_orth: float, steps: int = 25) -> None:
    method = RevealRelease(from_dict(RevealReleaseConfig, {"lam_orth": lam_orth, "mode": "negate"}))
    cfg = TrainConfig(lr=2e-2, batch_size=4, max_steps=steps, seed=0)
    train(model, tok, method, rows_to_data(rows, tok, 64), cfg, None, progress=False)


@pytest.mark.parametrize("arch", ["gpt2"])
def test_orthogonality_loss_lowers_max_cos(arch, tiny_model_dirs, tiny_rows) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cos = {}
    for lam in (0.0, 2.0):
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dirs[arch])
        tok = AutoTokenizer.from_pretrained(tiny_model_dirs[arch])
        model = olora.add_round_adapter(model, "round1", r=4, alpha=8, seed=1)  # same inits in both runs
        _train_round(model, tok, tiny_rows["forget"], lam)
        model = olora.add_round_adapter(model, "round2", r=4, alpha=8, seed=2)
        _train_round(model, tok, tiny_rows["retain"], lam)
        cos[lam] = olora.max_abs_cos(model, ["round1"], "round2")
    assert cos[2.0] < 0.5 * cos[0.0], cos


def test_negation_flips_exactly_one_factor(tiny_lm) -> None:
    from transformers.pytorch_utils import Conv1D

    model = _adapted(tiny_lm[0], names=("round1",), r=2, alpha=6)
    layers = olora.lora_layers(model)
    with torch.no_grad():
        for layer in layers:
            layer.lora_B["round1"].weight.normal_()  # B starts at 0; give the adapter an effect
    before = {id(layer): (layer.lora_A["round1"].weight.clone(), layer.lora_B["round1"].weight.clone(),
                          layer.get_base_layer().weight.clone()) for layer in layers}  # fmt: skip
    method = RevealRelease(RevealReleaseConfig(mode="negate", lam_neg=0.7, r=2, alpha=6))
    method.setup(model, None)
    method.finalize(model, None)
    merged = dict(olora.merged_copy(model).named_parameters())
    for name, module in model.named_modules():
        if module not in layers:
            continue
        a, b, w0 = before[id(module)]
        assert torch.equal(module.lora_A["round1"].weight, a)  # A untouched
        assert torch.allclose(module.lora_B["round1"].weight, -0.7 * b)  # B flipped and scaled
        delta = -0.7 * (6 / 2) * (b @ a)  # (d_out, d_in)
        if isinstance(module.get_base_layer(), Conv1D):
            delta = delta.T  # GPT-2 stores (in, out)
        key = name.replace("base_model.model.", "", 1) + ".weight"
        assert torch.allclose(merged[key] - w0, delta, atol=1e-5), name


def test_full_weight_negation_without_lora(tiny_gpt2) -> None:
    model = tiny_gpt2[0]
    method = RevealRelease(RevealReleaseConfig(mode="negate", lam_neg=0.5))
    method.setup(model, None)
    w = model.lm_head.weight
    w0 = w.detach().clone()
    with torch.no_grad():
        w.add_(1.0)
    method.finalize(model, None)
    assert torch.allclose(w, w0 - 0.5)


def test_rollback_and_merge(tiny_gpt2) -> None:
    model = _adapted(tiny_gpt2[0], names=("round1", "round2", "round3"))
    with torch.no_grad():
        for layer in olora.lora_layers(model):
            for n in ("round1", "round2", "round3"):
                layer.lora_B[n].weight.normal_(std=0.1)
    ids = torch.tensor([[5, 6, 7, 8]])
    assert olora.delete_round(model, "round3") is model
    assert olora.adapter_names(model) == ["round1", "round2"]
    assert not any(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)
    with torch.no_grad():
        stacked = model(input_ids=ids).logits
        merged = olora.merged_copy(model)(input_ids=ids).logits
        only1 = olora.merged_copy(model, ["round1"])(input_ids=ids).logits
    assert torch.allclose(stacked, merged, atol=1e-5)
    assert not torch.allclose(stacked, only1, atol=1e-4)  # per-round ablation differs
    assert olora.adapter_names(model) == ["round1", "round2"]  # merging worked on a copy


def test_rolling_back_the_only_round_gives_the_base_model(tiny_gpt2) -> None:
    model, _ = tiny_gpt2
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
    wrapped = _adapted(model, names=("round1",))
    with torch.no_grad():
        olora.lora_layers(wrapped)[0].lora_B["round1"].weight.normal_()
    plain = olora.delete_round(wrapped, "round1")
    assert not olora.lora_layers(plain)
    with torch.no_grad():
        assert torch.equal(plain(input_ids=ids).logits, before)
