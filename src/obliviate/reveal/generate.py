"""Generation for Reveal: sampled continuations of instructions, instruction features, and the filtered forget set.

    outs = sample_continuations(model, tok, ["<i> ka lo mi </i>"], n=8, cfg=SampleConfig(max_new_tokens=20))
    feats = instruction_features(model, tok, pool, pooling="mean")             # (N, d) numpy
    rows, stats = collect_rows(model, tok, top_instructions, scorer, ForgetSetConfig(), SampleConfig())

Sampling is seeded locally (``torch.random.fork_rng``), so a call never disturbs the caller's random state and the
same seed gives the same generations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from obliviate.data.collate import collate_prompts, encode_prompt
from obliviate.errors import ObliviateError
from obliviate.reveal.config import ForgetSetConfig, RetainGenConfig, SampleConfig
from obliviate.reveal.scorers import Scorer
from obliviate.utils.modes import eval_mode


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _context(model: Any) -> int | None:
    cfg = getattr(model, "config", None)
    return getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)


@torch.no_grad()
def sample_continuations(
    model: Any, tokenizer: Any, prompts: Sequence[str], n: int, cfg: SampleConfig, seed: int = 0, greedy: bool = False
) -> list[list[str]]:
    """``n`` sampled continuations (generated text only, special tokens dropped) for each prompt.

    Returns:
        A list with one list of ``n`` strings per prompt, in prompt order.
    """
    ids = [encode_prompt(p, tokenizer, chat_template=cfg.chat_template) for p in prompts]
    ctx, max_new = _context(model), cfg.max_new_tokens
    if ctx:  # stay inside the position table: keep the prompt's end, shorten the continuation if needed
        ids = [i[-(ctx - 1) :] for i in ids]
        max_new = max(1, min(max_new, ctx - max(len(i) for i in ids)))
    flat = [i for i in range(len(prompts)) for _ in range(n)]
    out: list[list[str]] = [[] for _ in prompts]
    with eval_mode(model), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for s in range(0, len(flat), cfg.batch_size):
            chunk = flat[s : s + cfg.batch_size]
            input_ids, mask = collate_prompts([ids[i] for i in chunk], tokenizer.pad_token_id)
            gen = model.generate(
                input_ids=input_ids.to(_device(model)),
                attention_mask=mask.to(_device(model)),
                do_sample=not greedy,
                temperature=None if greedy else cfg.temperature,
                top_p=None if greedy else cfg.top_p,
                top_k=None,
                max_new_tokens=max_new,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )  # (B, T + new)
            texts = tokenizer.batch_decode(gen[:, input_ids.shape[1] :], skip_special_tokens=True)
            for i, t in zip(chunk, texts):
                out[i].append(t.strip())
    return out


@torch.no_grad()
def instruction_features(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    pooling: str = "last",
    batch_size: int = 64,
    chat_template: bool = False,
    progress: bool = False,
) -> np.ndarray:
    """Final-layer hidden state of each instruction under ``model``: the last token's, or the mean over tokens.

    Returns:
        (N, d) float32 array (raw: the bandit surrogate standardises it).
    """
    if pooling not in ("last", "mean"):
        raise ObliviateError(f"reveal.pooling must be 'last' or 'mean' (got {pooling!r})")
    feats = []
    with eval_mode(model):
        for s in tqdm(range(0, len(prompts), batch_size), desc="features", disable=not progress, leave=False):
            ids = [encode_prompt(p, tokenizer, chat_template=chat_template) for p in prompts[s : s + batch_size]]
            ids = [i[-ctx:] for i in ids] if (ctx := _context(model)) else ids  # the instruction's end matters most
            width = max(len(i) for i in ids)
            x = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)  # (B, T) right-padded
            mask = torch.zeros_like(x)
            for b, i in enumerate(ids):
                x[b, : len(i)], mask[b, : len(i)] = torch.tensor(i), 1
            dev = _device(model)
            hidden = model(input_ids=x.to(dev), attention_mask=mask.to(dev), output_hidden_states=True)
            h = hidden.hidden_states[-1].float()  # (B, T, d)
            m = mask.to(dev).unsqueeze(-1).float()  # (B, T, 1)
            if pooling == "mean":
                feats.append((h * m).sum(1) / m.sum(1).clamp(min=1))
            else:
                feats.append(h[torch.arange(len(ids)), mask.sum(1).to(dev) - 1])
    return torch.cat(feats).cpu().numpy().astype(np.float32)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _shingles(text: str, n: int = 3) -> frozenset[tuple[str, ...]]:
    words = _norm(text).split()
    return frozenset(tuple(words[i : i + n]) for i in range(max(1, len(words) - n + 1)))


def dedupe_rows(rows: list[dict[str, Any]], near_dup: float = 1.0) -> list[dict[str, Any]]:
    """Drop rows whose answer repeats a kept one: exactly (after whitespace / case folding) or, with ``near_dup < 1``,
    with word-3-gram Jaccard similarity >= ``near_dup``. Keeps the first occurrence (callers sort by score first)."""
    kept, exact, shingles = [], set(), []
    for row in rows:
        key = _norm(row["answer"])
        if not key or key in exact:
            continue
        sh = _shingles(key)
        if near_dup < 1.0 and any(len(sh & o) / max(len(sh | o), 1) >= near_dup for o in shingles):
            continue
        exact.add(key)
        shingles.append(sh)
        kept.append(row)
    return kept


def collect_rows(
    model: Any,
    tokenizer: Any,
    instructions: Sequence[str],
    scorer: Scorer,
    cfg: ForgetSetConfig | RetainGenConfig,
    sample_cfg: SampleConfig,
    *,
    keep_high: bool = True,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Generate ``cfg.samples`` continuations per instruction; filter by score, dedupe, cap per instruction and total.

    Args:
        keep_high: forget rows (score >= threshold, best first) if True, retain rows (score < threshold) if False.

    Returns:
        ``(rows, stats)``: rows ``{"prompt": instruction, "answer": generation, "score": s}``; stats count generated,
        passing the threshold, kept, and the pass rate.
    """
    gens = sample_continuations(model, tokenizer, list(instructions), cfg.samples, sample_cfg, seed=seed)
    cand = []
    for inst, texts in zip(instructions, gens):
        for text, s in zip(texts, scorer(texts)):
            if (s >= cfg.threshold) if keep_high else (s < cfg.threshold):
                cand.append({"prompt": inst, "answer": text, "score": float(s)})
    generated = sum(len(t) for t in gens)
    if keep_high:
        cand.sort(key=lambda r: -r["score"])  # stable: within a score, generation order
    near = getattr(cfg, "near_dup", 1.0)
    per: dict[str, int] = {}
    rows = []
    for row in dedupe_rows(cand, near):
        if per.get(row["prompt"], 0) < cfg.cap_per_instruction and len(rows) < cfg.max_rows:
            per[row["prompt"]] = per.get(row["prompt"], 0) + 1
            rows.append(row)
    stats = {
        "generated": generated,
        "passed": len(cand),
        "kept": len(rows),
        "pass_rate": len(cand) / max(generated, 1),
    }
    return rows, stats
