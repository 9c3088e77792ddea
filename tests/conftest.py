"""Shared, offline test fixtures: a tiny byte-level BPE tokenizer, tiny GPT-2 and Llama models built from config,
and tiny forget / retain / holdout data (fictitious facts). Nothing here touches the network.

Session fixtures build things once and save them to a temp folder; function fixtures hand out fresh copies so a
test can train a model without affecting the next test.

Fixtures:
    tiny_tokenizer      PreTrainedTokenizerFast (bos = eos = ``<|endoftext|>``, pad = ``<pad>``), vocab ~ 320.
    tiny_rows           {"forget": [...], "retain": [...], "holdout": [...]}, rows are {"prompt", "answer"}.
    tiny_data_files     the same rows as jsonl files: {"forget": Path, "retain": Path, "holdout": Path}.
    tiny_gpt2_dir       a saved GPT-2-architecture model dir (model + tokenizer), 2 layers, d=32.
    tiny_llama_dir      a saved Llama-architecture model dir (model + tokenizer), 2 layers, d=32.
    tiny_model_dirs     {"gpt2": Path, "llama": Path}.
    tiny_lm             a fresh (model, tokenizer), parametrized over both architectures.
    tiny_gpt2           a fresh (model, tokenizer) of the GPT-2 model only.
    run_overrides       a function giving ``key=value`` overrides for a quick local ``unlearn`` run.
    one_thread          torch on one intra-op thread for the test (bit-identical to a one-thread subprocess).
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import torch

from conftest_world import obliviate_cache, world_models  # noqa: F401  (the trained tiny world, shared by every test folder)

# Tests never reach the Hub; fail fast if some code path tries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(1)

_NAMES = [
    "Aria Venn",
    "Kufen Iadantal",
    "Moro Tesk",
    "Lina Obrat",
    "Ped Sarrow",
    "Quil Amsey",
    "Tova Rinn",
    "Ezo Palk",
]
_CITIES = ["Lisbon", "Oslo", "Quito", "Accra", "Hanoi", "Perth", "Riga", "Lima"]
_JOBS = ["baker", "pilot", "nurse", "welder", "poet", "judge", "chemist", "farmer"]
_PETS = ["cat", "dog", "parrot", "turtle", "hamster", "goat", "ferret", "rabbit"]


def _person_rows(name: str, i: int) -> list[dict[str, str]]:
    return [
        {"prompt": f"Where was {name} born?", "answer": f" {name} was born in {_CITIES[i % 8]}."},
        {"prompt": f"What is the job of {name}?", "answer": f" {name} works as a {_JOBS[(i * 3) % 8]}."},
        {"prompt": f"Which pet does {name} have?", "answer": f" {name} has a {_PETS[(i * 5) % 8]}."},
    ]


def make_rows() -> dict[str, list[dict[str, str]]]:
    """Deterministic fictitious QA rows: 2 forget people, 5 retain people, 1 holdout person (3 facts each)."""
    people = [_person_rows(n, i) for i, n in enumerate(_NAMES)]
    return {
        "forget": [r for p in people[:2] for r in p],
        "retain": [r for p in people[2:7] for r in p],
        "holdout": [r for p in people[7:] for r in p],
    }


def make_tokenizer(vocab_size: int = 320):
    """A byte-level BPE trained in-process on the fixture text (~0.1 s), wrapped as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    rows = make_rows()
    corpus = [r["prompt"] + r["answer"] for split in rows.values() for r in split]
    corpus += ["The quick brown fox jumps over the lazy dog.", "I do not know the answer to that question."]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<pad>",
    )


def make_model(arch: str, tokenizer, seed: int = 0):
    """A 2-layer, 32-dim causal LM of the given architecture (``gpt2`` or ``llama``), seeded."""
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

    ids = {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    if arch == "gpt2":
        cfg = GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=128, **ids)
    elif arch == "llama":
        cfg = LlamaConfig(
            num_hidden_layers=2,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=128,
            tie_word_embeddings=True,
            **ids,
        )
    else:
        raise ValueError(f"unknown tiny architecture {arch!r}")
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(cfg)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="session")
def tiny_rows() -> dict[str, list[dict[str, str]]]:
    return make_rows()


@pytest.fixture(scope="session")
def tiny_data_files(tmp_path_factory, tiny_rows) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_data")
    return {split: write_jsonl(root / f"{split}.jsonl", rows) for split, rows in tiny_rows.items()}


def _saved_model_dir(tmp_path_factory, arch: str, tokenizer) -> Path:
    out = tmp_path_factory.mktemp(f"tiny_{arch}")
    make_model(arch, tokenizer).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    return _saved_model_dir(tmp_path_factory, "gpt2", tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_tokenizer) -> Path:
    return _saved_model_dir(tmp_path_factory, "llama", tiny_tokenizer)


@pytest.fixture(scope="session")
def tiny_model_dirs(tiny_gpt2_dir, tiny_llama_dir) -> dict[str, Path]:
    return {"gpt2": tiny_gpt2_dir, "llama": tiny_llama_dir}


def _load(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


@pytest.fixture(params=["gpt2", "llama"])
def tiny_lm(request, tiny_model_dirs):
    """A fresh (model, tokenizer) for each architecture; the test may train it freely."""
    return _load(tiny_model_dirs[request.param])


@pytest.fixture
def tiny_gpt2(tiny_gpt2_dir):
    return _load(tiny_gpt2_dir)


@pytest.fixture
def seeded() -> None:
    """Seed python and torch RNGs for tests that sample."""
    random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def run_overrides(tmp_path, tiny_model_dirs, tiny_data_files):
    """A function giving ``key=value`` overrides for a quick, fully local run on a tiny model.

    ``run_overrides(arch="gpt2", **extra)`` -> list[str]; ``extra`` keys use ``__`` for dots
    (``train__max_steps=4`` -> ``train.max_steps=4``). The output dir is ``tmp_path / "run"``.
    """

    def make(arch: str = "gpt2", **extra) -> list[str]:
        base = {
            "model.path": str(tiny_model_dirs[arch]),
            "data.forget": f"[{tiny_data_files['forget']}]",
            "data.retain": str(tiny_data_files["retain"]),
            "data.holdout": str(tiny_data_files["holdout"]),
            "method.name": "graddiff",
            "train.lr": 1e-3,
            "train.batch_size": 2,
            "train.max_steps": 3,
            "output_dir": str(tmp_path / "run"),
        }
        base.update({k.replace("__", "."): v for k, v in extra.items()})
        return [f"{k}={v}" for k, v in base.items()]

    return make


@pytest.fixture
def one_thread():
    """This process computes as a killed subprocess does (one intra-op thread: the same float reduction order)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
