"""Batched forward passes (teacher-forced token statistics) and batched greedy generation with left padding."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from obliviate.eval.context import TokenStats, progress_bar
from obliviate.losses import IGNORE, next_token_targets
from obliviate.utils.modes import eval_mode


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return int(pad if pad is not None else 0)


@torch.no_grad()
def score_examples(
    model: Any, tokenizer: Any, examples: list[dict[str, Any]], *, batch_size: int, desc: str, progress: bool
) -> list[TokenStats]:
    """Teacher-forced statistics of the labelled tokens of each example (see :class:`TokenStats`).

    Args:
        model: a causal LM (left in eval mode; its training flag is restored).
        tokenizer: its tokenizer (pad id and special ids).
        examples: ``{"input_ids", "labels"}`` dicts from :func:`obliviate.data.collate.tokenize_rows`.
        batch_size: examples per forward pass (right padding).
        desc: progress-bar label.
        progress: show the progress bar.
    """
    from obliviate.data.collate import collate

    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    device = next(model.parameters()).device
    out: list[TokenStats] = []
    with eval_mode(model), progress_bar(len(examples), desc, progress) as bar:
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            batch = collate(chunk, _pad_id(tokenizer)).to(device)
            logits = model(**batch.model_inputs()).logits  # (B, T, V)
            tgt = next_token_targets(batch.labels)  # (B, T): the targets are shifted, never the logits
            mask = tgt != IGNORE
            for b in range(len(chunk)):
                sel = mask[b]
                logp_all = torch.log_softmax(logits[b][sel].float(), dim=-1)  # (n, V): labelled positions only
                t = tgt[b][sel]  # (n,)
                p = logp_all.exp()
                mu = (p * logp_all).sum(-1)  # (n,)
                var = (p * logp_all.square()).sum(-1) - mu.square()  # (n,)
                target = t.cpu().numpy()
                trim = int(target.size > 0 and int(target[-1]) in special)
                out.append(
                    TokenStats(
                        logp=logp_all.gather(-1, t[:, None]).squeeze(-1).cpu().numpy().astype(np.float64),
                        mu=mu.cpu().numpy().astype(np.float64),
                        var=var.cpu().numpy().astype(np.float64),
                        pred=logp_all.argmax(-1).cpu().numpy(),
                        target=target,
                        trim=trim,
                    )
                )
            bar.update(len(chunk))
    return out


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[list[int]],
    *,
    batch_size: int,
    max_new_tokens: int,
    desc: str,
    progress: bool,
) -> list[str]:
    """Greedy continuations of token-id prompts (left padding), cut at the first EOS and decoded without special
    tokens, stripped (OpenUnlearning's ``eval_text_similarity`` post-processing)."""
    from obliviate.data.collate import collate_prompts

    device = next(model.parameters()).device
    pad, eos = _pad_id(tokenizer), tokenizer.eos_token_id
    texts: list[str] = []
    with eval_mode(model), progress_bar(len(prompts), desc, progress) as bar:
        for start in range(0, len(prompts), batch_size):
            chunk = [p if p else [pad] for p in prompts[start : start + batch_size]]
            ids, attn = collate_prompts(chunk, pad)  # (B, T) left-padded
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=attn.to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
                eos_token_id=eos,
            )
            for row in out[:, ids.shape[1] :].tolist():  # new tokens only
                if eos is not None and eos in row:
                    row = row[: row.index(eos)]
                texts.append(tokenizer.decode(row, skip_special_tokens=True).strip())
            bar.update(len(chunk))
    return texts
