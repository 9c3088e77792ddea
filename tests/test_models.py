"""Model loading: local folders, dtype, pad-token fallback, bad paths and options."""

from __future__ import annotations

import logging

import pytest
import torch

from obliviate.config import ModelConfig
from obliviate.errors import ObliviateError
from obliviate.models import describe_model, load_model_and_tokenizer


def test_loads_a_local_folder_in_the_requested_dtype(tiny_model_dirs):
    model, tok = load_model_and_tokenizer(ModelConfig(path=str(tiny_model_dirs["llama"]), dtype="bf16"))
    assert next(model.parameters()).dtype == torch.bfloat16
    assert model.config.pad_token_id == tok.pad_token_id is not None
    facts = describe_model(ModelConfig(path=str(tiny_model_dirs["gpt2"])))
    assert facts["architecture"] == "GPT2LMHeadModel" and facts["vocab_size"] == len(tok)


def test_missing_pad_token_falls_back_to_eos_and_is_logged(tiny_gpt2, tmp_path, caplog):
    model, tok = tiny_gpt2
    tok.pad_token = None
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with caplog.at_level(logging.INFO):
        model, tok = load_model_and_tokenizer(ModelConfig(path=str(tmp_path)))
    assert tok.pad_token == tok.eos_token and model.config.pad_token_id == tok.eos_token_id
    assert "no pad token" in caplog.text


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (ModelConfig(path="/no/such/model"), r"model path '/no/such/model' does not exist; pass an existing"),
        (ModelConfig(path="./relative/missing"), r"model path './relative/missing' does not exist"),
        (ModelConfig(path="gpt2", dtype="fp16"), r"model.dtype must be one of fp32, bf16"),
    ],
)
def test_bad_model_settings_name_the_problem(cfg, message):
    with pytest.raises(ObliviateError, match=message):
        load_model_and_tokenizer(cfg)


def test_an_unreachable_hub_id_fails_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ObliviateError, match=r"could not load .*'obliviate-test/no-such-model'"):
        load_model_and_tokenizer(ModelConfig(path="obliviate-test/no-such-model"))


def test_a_peft_adapter_folder_loads_merged_on_its_base(tiny_llama_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    peft_model = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    )
    adapter_dir = tmp_path / "adapter"
    peft_model.save_pretrained(adapter_dir)
    AutoTokenizer.from_pretrained(tiny_llama_dir).save_pretrained(adapter_dir)
    ids = torch.tensor([[1, 5, 7, 9]])
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits

    model, tok = load_model_and_tokenizer(ModelConfig(path=str(adapter_dir)))

    assert not hasattr(model, "peft_config")  # merged into a plain transformers model
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, expected, atol=1e-5, rtol=1e-5)
    assert tok.pad_token is not None


def test_plain_local_folders_load_light_and_match_the_auto_classes(tiny_model_dirs):
    """A TokenizersBackend folder is loaded by its class (AutoTokenizer imports torch through the model config) and
    config.json is read as JSON: both must agree exactly with what the Auto classes give."""
    from transformers import AutoConfig, AutoTokenizer

    from obliviate.models import load_tokenizer

    for arch, folder in tiny_model_dirs.items():
        light, auto = load_tokenizer(ModelConfig(path=str(folder))), AutoTokenizer.from_pretrained(folder)
        assert type(light) is type(auto) and light.get_vocab() == auto.get_vocab()
        assert light.special_tokens_map == auto.special_tokens_map and light.pad_token == auto.pad_token
        for text in ("Aria Venn was born in", " trailing space ", "ünïcode\n\ttabs"):
            assert light(text)["input_ids"] == auto(text)["input_ids"]
            assert (
                light(text, return_offsets_mapping=True)["offset_mapping"]
                == auto(text, return_offsets_mapping=True)["offset_mapping"]
            )
        facts, config = describe_model(ModelConfig(path=str(folder))), AutoConfig.from_pretrained(folder)
        assert (facts["architecture"], facts["vocab_size"]) == (config.architectures[0], config.vocab_size), arch
