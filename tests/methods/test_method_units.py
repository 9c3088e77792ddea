"""Method-level checks beyond the matrix: equality with OpenUnlearning's formulas (computed independently, with
HF's own loss and cross-entropy), task-vector arithmetic (full and LoRA), RMU's setup, and config-dependent needs."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from method_testkit import build_model

from obliviate.config import ConfigError, from_dict
from obliviate.errors import ObliviateError
from obliviate.methods import METHODS
from obliviate.reference import Reference
from obliviate.types import Batch


def make(name: str, **args):
    cls = METHODS.get(name)
    return cls(from_dict(cls.Config, args, "method.args"))


@pytest.fixture
def pair():
    """(model, ref): a tiny GPT-2 and a frozen reference that differs from it (so log-ratios are non-zero)."""
    model = build_model("gpt2")
    ref = Reference.copy_of(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return model, ref


def hf_nll(model, b: Batch) -> torch.Tensor:
    """HF's own mean token NLL (what OpenUnlearning's ``model(**inputs).loss`` is)."""
    return model(input_ids=b.input_ids, attention_mask=b.attention_mask, labels=b.labels).loss


def ou_batch_nll(model, b: Batch) -> torch.Tensor:
    """OpenUnlearning's compute_batch_nll: summed token NLL per sequence, (B,)."""
    logits = model(**b.model_inputs()).logits[:, :-1]
    return F.cross_entropy(logits.transpose(-1, -2), b.labels[:, 1:], ignore_index=-100, reduction="none").sum(-1)


def test_graddiff_matches_openunlearning(pair, batches) -> None:
    model, ref = pair
    f, r = batches["forget_plain"], batches["retain"]
    out = make("graddiff", gamma=0.7, retain={"weight": 2.0}).loss(model, f, r, None)
    torch.testing.assert_close(out.loss, -0.7 * hf_nll(model, f) + 2.0 * hf_nll(model, r))


def test_npo_matches_openunlearning(pair, batches) -> None:
    model, ref = pair
    f, r, beta = batches["forget_plain"], batches["retain"], 0.3
    out = make("npo", beta=beta).loss(model, f, r, ref)
    lose_log_ratio = -(ou_batch_nll(model, f) - ou_batch_nll(ref.model, f))
    expected = -2 / beta * F.logsigmoid(beta * (0.0 - lose_log_ratio)).mean() + hf_nll(model, r)
    torch.testing.assert_close(out.loss, expected)


def test_simnpo_matches_openunlearning(pair, batches) -> None:
    model, _ = pair
    f, r = batches["forget_plain"], batches["retain"]
    beta, delta, gamma = 4.5, 0.4, 0.125
    out = make("simnpo", beta=beta, delta=delta, gamma=gamma).loss(model, f, r, None)
    forget_loss = ou_batch_nll(model, f) / (f.labels != -100).sum(-1) - delta
    forget_loss = -F.logsigmoid(beta * forget_loss).mean() * 2 / beta
    torch.testing.assert_close(out.loss, gamma * forget_loss + hf_nll(model, r))


def test_idkdpo_matches_openunlearning(pair, batches) -> None:
    model, ref = pair
    f, r, beta = batches["forget"], batches["retain"], 0.1
    out = make("dpo").loss(model, f, r, ref)
    win = -(ou_batch_nll(model, f.alt) - ou_batch_nll(ref.model, f.alt))
    lose = -(ou_batch_nll(model, f) - ou_batch_nll(ref.model, f))
    expected = -2 / beta * F.logsigmoid(beta * (win - lose)).mean() + hf_nll(model, r)
    torch.testing.assert_close(out.loss, expected)


def test_idknll_is_refusal_nll_plus_retain(pair, batches) -> None:
    model, _ = pair
    f, r = batches["forget"], batches["retain"]
    out = make("idknll").loss(model, f, r, None)
    torch.testing.assert_close(out.loss, hf_nll(model, f.alt) + hf_nll(model, r))


@pytest.mark.parametrize("name", ["idknll", "dpo"])
def test_refusal_methods_need_alt(name: str, pair, batches) -> None:
    model, ref = pair
    with pytest.raises(RuntimeError, match="forget.alt"):
        make(name).loss(model, batches["forget_plain"], batches["retain"], ref)


def test_needs_follow_the_config() -> None:
    assert make("graddiff").needs_reference is False
    assert make("graddiff", retain={"kind": "kl"}).needs_reference is True
    assert make("npo", retain={"kind": "none"}).needs_retain is False
    assert make("npo", retain={"kind": "none"}).needs_reference is True  # the NPO term itself needs it
    assert make("kl").needs_reference and make("kl").needs_retain
    assert not make("kl", retain={"weight": 0.0}).needs_reference
    assert not make("rmu", alpha=0.0).needs_retain


def test_task_vector_full_negates_the_weight_difference() -> None:
    model = build_model("llama")
    ref = Reference.copy_of(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    tuned = copy.deepcopy(model)
    make("task_vector", alpha=2.5).finalize(model, ref)
    for (name, p), t, r in zip(model.named_parameters(), tuned.parameters(), ref.model.parameters()):
        torch.testing.assert_close(p, r - 2.5 * (t - r), msg=name)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_task_vector_lora_negates_the_merged_delta(arch: str) -> None:
    from peft import LoraConfig, get_peft_model

    base = build_model(arch)
    w0 = {k: v.clone() for k, v in base.state_dict().items()}
    if arch == "gpt2":
        cfg = LoraConfig(r=2, lora_alpha=4, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True)
    else:
        cfg = LoraConfig(r=2, lora_alpha=4, target_modules="all-linear")
    model = get_peft_model(base, cfg)
    with torch.no_grad():  # a trained adapter: both A and B moved away from their initialisation
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.add_(0.1 * torch.randn_like(p))
    tuned = copy.deepcopy(model).merge_and_unload().state_dict()
    make("task_vector", alpha=3.0).finalize(model, Reference(model, via_disabled_adapter=True))
    negated = copy.deepcopy(model).merge_and_unload().state_dict()
    assert any(not torch.equal(tuned[k], w0[k]) for k in w0)
    for k in w0:
        torch.testing.assert_close(negated[k], w0[k] - 3.0 * (tuned[k] - w0[k]), msg=k)


def test_task_vector_lora_refuses_non_lora_trainables() -> None:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(
        build_model("llama"), LoraConfig(r=2, target_modules="all-linear", modules_to_save=["lm_head"])
    )
    with pytest.raises(ObliviateError, match="modules_to_save"):
        make("task_vector").finalize(model, None)


@pytest.mark.parametrize(("arch", "expected"), [
    ("gpt2", {"transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
              "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias"}),
    ("llama", {"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight",
               "model.layers.0.mlp.down_proj.weight"}),
])  # fmt: skip
def test_rmu_default_trains_the_mlps_up_to_the_layer(arch: str, expected: set[str]) -> None:
    model = build_model(arch)
    method = make("rmu")
    method.setup(model, None)
    assert method.layer == 0  # (n_layers - 1) // 2 for 2 layers
    assert {n for n, p in model.named_parameters() if p.requires_grad} == expected


def test_rmu_control_vector_is_seeded_and_scaled() -> None:
    a, b, c = make("rmu", steering_coeff=6.5), make("rmu", steering_coeff=6.5), make("rmu", steering_coeff=6.5, seed=1)
    for m in (a, b, c):
        m.setup(build_model("gpt2"), None)
    torch.testing.assert_close(a.control, b.control)
    assert not torch.equal(a.control, c.control)
    assert a.control.shape == (32,) and a.control.norm().item() == pytest.approx(6.5) and (a.control >= 0).all()


def test_rmu_retain_term_is_zero_at_the_reference(batches) -> None:
    model = build_model("llama")
    ref = Reference.copy_of(model)
    method = make("rmu", layer=1, train_layers=[1])
    method.setup(model, ref)
    out = method.loss(model, batches["forget_plain"], batches["retain"], ref)
    assert out.logs["rmu_retain"] == 0.0 and out.logs["rmu_forget"] > 0


def test_rmu_bad_options() -> None:
    with pytest.raises(ObliviateError, match="layer=5 but the model has 2 layers"):
        make("rmu", layer=5).setup(build_model("gpt2"), None)
    with pytest.raises(ObliviateError, match="no trainable parameter matches"):
        make("rmu", train_regex=r"\.no_such_module\.").setup(build_model("llama"), None)
    with pytest.raises(ConfigError, match="only one of train_layers and train_regex"):
        make("rmu", train_layers=[0], train_regex="mlp")
