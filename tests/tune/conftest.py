"""A tiny GPT-2 that has memorised the fixture's forget and retain rows (not the holdout ones), so retain accuracy
and forget-vs-holdout membership mean something, plus a helper that builds ``obliviate tune`` arguments."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def memorised_dir(tmp_path_factory, tiny_gpt2_dir, tiny_tokenizer, tiny_rows) -> Path:
    from transformers import AutoModelForCausalLM

    from obliviate.data import collate, tokenize_rows

    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir)
    examples, _ = tokenize_rows(tiny_rows["forget"] + tiny_rows["retain"], tiny_tokenizer, max_length=64)
    batch = collate(examples, tiny_tokenizer.pad_token_id)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):  # full batch: ~2 s on one core; retain next-token accuracy ends well above 0.5
        loss = model(**batch.model_inputs(), labels=batch.labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    out = tmp_path_factory.mktemp("memorised")
    model.save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def tune_argv(memorised_dir, tiny_data_files):
    """``tune_argv(out, *flags)`` -> argv for ``obliviate.cli.main`` on the memorised model and fixture data."""

    def make(out: Path, *flags: str) -> list[str]:
        return [
            "tune", f"model.path={memorised_dir}", f"data.forget=[{tiny_data_files['forget']}]",
            f"data.retain={tiny_data_files['retain']}", f"data.holdout={tiny_data_files['holdout']}",
            "train.batch_size=2", "--out", str(out), "--quiet", "--check-every", "2", "--steps", "2:6", *flags,
        ]  # fmt: skip

    return make
