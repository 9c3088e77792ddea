"""Tiny offline models and hand-built batches for the method tests (no data layer, no training loop).

Imported by tests/methods/conftest.py (fixtures) and the test modules; a plain module with a unique name, so that
it never collides with another test folder's conftest.

Two architectures (GPT-2, Llama) are built from config, 2 layers, d=32, vocab 64, seeded, then briefly trained to
memorise the forget and retain answers, so unlearning starts from a model that knows them (as in practice) and
"forget NLL rises / retain NLL stays low" are meaningful rather than moves around the uniform guess ln 64.
"""

from __future__ import annotations

import torch
from torch import nn

from obliviate import losses
from obliviate.types import Batch

VOCAB, PAD, BOS, EOS = 64, 0, 1, 2
PROMPT_TOKENS = (3, 20)  # prompt ("question") token ids
FORGET_ANSWER_TOKENS = (20, 38)  # forget answers: their own "topic" vocabulary, as a forget set usually has
RETAIN_ANSWER_TOKENS = (38, 56)  # retain answers
REFUSALS = ([56, 57, 58, EOS], [59, 60, 61, 62, EOS])  # two fixed "I don't know" answers
ARCHS = ("gpt2", "llama")
N_ROWS = 8  # forget and retain rows each (with 4 the tiny models entangle them and results swing with the seed)
MEMORISE_NLL = 0.3  # train until the mean answer NLL is below this: the model "knows" the answers (p ~ 0.75)
MEMORISE_MAX_STEPS = 100


def build_model(arch: str) -> nn.Module:
    """A seeded 2-layer, d=32 causal LM of the given architecture (dropout off: eval == train forward)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    ids = {"bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD}
    if arch == "gpt2":
        cfg = GPT2Config(
            vocab_size=VOCAB, n_positions=32, n_embd=32, n_layer=2, n_head=2,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **ids,
        )  # fmt: skip
        return GPT2LMHeadModel(cfg)
    cfg = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=32, tie_word_embeddings=False, **ids,
    )  # fmt: skip
    return LlamaForCausalLM(cfg)


def make_batch(prompts: list[list[int]], answers: list[list[int]]) -> Batch:
    """Right-padded ``[BOS] prompt answer`` rows with labels only on the answer tokens (-100 on prompt/pad)."""
    rows = [([BOS, *p, *a], 1 + len(p)) for p, a in zip(prompts, answers)]
    t = max(len(r) for r, _ in rows)
    ids = torch.full((len(rows), t), PAD, dtype=torch.long)
    labels = torch.full((len(rows), t), losses.IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    for i, (r, n_prompt) in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        labels[i, n_prompt : len(r)] = torch.tensor(r[n_prompt:])
    return Batch(input_ids=ids, attention_mask=mask, labels=labels, index=torch.arange(len(rows)))


def rows(gen: torch.Generator, n: int, answer_tokens: tuple[int, int]) -> tuple[list[list[int]], list[list[int]]]:
    """``n`` random (prompt, answer) token lists of varying lengths (3-5 prompt, 4-7 answer tokens incl. EOS)."""

    def seq(lo_hi: tuple[int, int], length: int) -> list[int]:
        return torch.randint(*lo_hi, (length,), generator=gen).tolist()

    prompts = [seq(PROMPT_TOKENS, 3 + i % 3) for i in range(n)]
    answers = [seq(answer_tokens, 3 + (i * 2) % 4) + [EOS] for i in range(n)]
    return prompts, answers


@torch.no_grad()
def answer_nll(model: nn.Module, batch: Batch) -> float:
    """Mean answer-token NLL of ``model`` on ``batch`` in eval mode."""
    was = model.training
    model.eval()
    out = losses.masked_mean_nll(model(**batch.model_inputs()).logits, batch.labels).item()
    model.train(was)
    return out


def cat_batches(a: Batch, b: Batch) -> Batch:
    """Stack two right-padded batches (padding the shorter one)."""
    t = max(a.input_ids.shape[1], b.input_ids.shape[1])

    def pad(x: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, t - x.shape[1]), value=value)

    return Batch(
        torch.cat([pad(a.input_ids, PAD), pad(b.input_ids, PAD)]),
        torch.cat([pad(a.attention_mask, 0), pad(b.attention_mask, 0)]),
        torch.cat([pad(a.labels, losses.IGNORE), pad(b.labels, losses.IGNORE)]),
    )


def memorise(arch: str, data: Batch) -> nn.Module:
    """A fresh ``arch`` model trained (full batch, AdamW 1e-2) until its answer NLL on ``data`` < MEMORISE_NLL."""
    model = build_model(arch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(MEMORISE_MAX_STEPS):
        loss = losses.masked_mean_nll(model(**data.model_inputs()).logits, data.labels)
        if loss.item() < MEMORISE_NLL:
            return model
        opt.zero_grad()
        loss.backward()
        opt.step()
    raise RuntimeError(f"{arch}: answer NLL still {loss.item():.3f} after {MEMORISE_MAX_STEPS} steps")
