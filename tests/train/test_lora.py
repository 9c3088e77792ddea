"""LoRA through peft: attach, what trains, reference via disabled adapters, adapter / merged saving."""

from __future__ import annotations

import pytest
import torch
from loop_methods import Ascent
from transformers import AutoModelForCausalLM

from obliviate.config import DataConfig, LoraConfig, TrainConfig
from obliviate.data import build_data
from obliviate.errors import ObliviateError
from obliviate.reference import Reference
from obliviate.train.loop import train
from obliviate.train.lora import attach_lora, is_lora, merge, save_adapter, trainable_report
from obliviate.types import Batch

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 11]])


def _logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_lora_trains_only_adapters_and_saves_both_ways(
    arch, tiny_model_dirs, tiny_tokenizer, tiny_data_files, tmp_path
):
    from peft import PeftModel

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dirs[arch])
    original = _logits(model)
    lora = attach_lora(model, LoraConfig(enabled=True, r=4, alpha=8, target_modules="all-linear"))
    report = trainable_report(lora)
    assert is_lora(lora) and 0 < report.trainable < report.total and "trainable" in str(report)
    data = build_data(DataConfig(forget=[str(tiny_data_files["forget"])]), tiny_tokenizer)
    ref = Reference(lora, via_disabled_adapter=True)
    cfg = TrainConfig(lr=1e-2, batch_size=2, max_steps=3)
    train(lora, tiny_tokenizer, Ascent(), data, cfg, ref=ref, progress=False)
    trained = _logits(lora)
    assert not torch.allclose(trained, original)  # the adapters moved the model
    batch = Batch(input_ids=IDS, attention_mask=torch.ones_like(IDS), labels=IDS)
    assert torch.equal(ref.logits(batch), original)  # adapters disabled = the original model
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dirs[arch])
    merged_base = lora.get_base_model()
    for name, p in merged_base.named_parameters():  # only adapter weights trained
        assert p.requires_grad == ("lora_" in name), name

    save_adapter(lora, tmp_path / "adapter")
    assert torch.equal(_logits(PeftModel.from_pretrained(base, tmp_path / "adapter")), trained)
    merged = merge(lora)
    assert not is_lora(merged)
    merged.save_pretrained(tmp_path / "merged")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert torch.allclose(_logits(reloaded), trained, atol=1e-5)


def test_gpt2_conv1d_gets_fan_in_fan_out(tiny_gpt2):
    model, _ = tiny_gpt2
    lora = attach_lora(model, LoraConfig(enabled=True, target_modules=["c_attn"]))
    assert lora.peft_config["default"].fan_in_fan_out is True


def test_bad_target_modules_name_the_fix(tiny_gpt2):
    model, _ = tiny_gpt2
    with pytest.raises(ObliviateError, match=r"lora.target_modules=.*use 'all-linear' or module names such as"):
        attach_lora(model, LoraConfig(enabled=True, target_modules=["q_proj_nope"]))


def test_all_linear_from_a_yaml_list(tiny_gpt2):
    model, _ = tiny_gpt2
    lora = attach_lora(model, LoraConfig(enabled=True, target_modules=["all-linear"]))  # as the loader builds it
    assert trainable_report(lora).trainable > 0
