"""Exact-match QA accuracy by batched greedy generation, and the most-common-value guessing baseline.

:func:`qa_accuracy` encodes prompts exactly as training does (:func:`obliviate.data.encode_prompt`), left-pads
them, generates greedily and compares the completion (cut at EOS or a newline, stripped) with the stripped answer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tqdm.auto import tqdm


@dataclass
class QAScore:
    """Accuracy plus per-row outcomes (in the order of the input rows)."""

    accuracy: float
    correct: list[bool] = field(default_factory=list)
    predictions: list[str] = field(default_factory=list)


def _clean(text: str) -> str:
    return text.split("\n", 1)[0].strip()


def _greedy(model: Any, tokenizer: Any, prompts: list[list[int]], max_new_tokens: int) -> list[str]:
    """Greedy completions (decoded, special tokens dropped) of one batch of prompt ids."""
    import torch

    from obliviate.data import collate_prompts

    device = next(model.parameters()).device
    ids, mask = collate_prompts(prompts, tokenizer.pad_token_id)  # (B, T) left-padded
    with torch.no_grad():
        out = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    return tokenizer.batch_decode(out[:, ids.shape[1] :], skip_special_tokens=True)


def qa_accuracy(
    model: Any,
    tokenizer: Any,
    rows: list[dict],
    *,
    batch_size: int = 64,
    max_new_tokens: int | None = None,
    prompt_key: str = "prompt",
    answer_key: str = "answer",
    chat_template: bool = False,
    progress: bool = False,
) -> QAScore:
    """Greedy exact-match accuracy of ``model`` on QA ``rows``.

    Args:
        model: a causal LM (put in eval mode here; its training mode is restored after).
        tokenizer: its tokenizer (needs a pad token).
        rows: dicts with ``prompt_key`` and ``answer_key``.
        batch_size: prompts per ``generate`` call.
        max_new_tokens: generation budget; default the longest answer's token count + 2.
        prompt_key: which field holds the prompt (e.g. ``paraphrased_question``).
        answer_key: which field holds the reference answer.
        chat_template: encode prompts with the tokenizer's chat template (as training did).
        progress: show a progress bar.

    Returns:
        A :class:`QAScore`; accuracy is 0.0 for no rows.
    """
    from obliviate.data import encode_prompt

    if not rows:
        return QAScore(0.0)
    prompts = [encode_prompt(r[prompt_key], tokenizer, chat_template=chat_template) for r in rows]
    if max_new_tokens is None:
        max_new_tokens = max(len(tokenizer(r[answer_key], add_special_tokens=False)["input_ids"]) for r in rows) + 2
    order = sorted(range(len(rows)), key=lambda i: len(prompts[i]))  # similar lengths together: less padding
    preds: list[str] = [""] * len(rows)
    was_training = model.training
    model.eval()
    try:
        for start in tqdm(range(0, len(order), batch_size), desc="qa", disable=not progress, leave=False):
            idx = order[start : start + batch_size]
            texts = _greedy(model, tokenizer, [prompts[i] for i in idx], max_new_tokens)
            for i, text in zip(idx, texts):
                preds[i] = _clean(text)
    finally:
        model.train(was_training)
    correct = [p == str(r[answer_key]).strip() for p, r in zip(preds, rows)]
    return QAScore(sum(correct) / len(rows), correct, preds)


def guess_rates(rows: list[dict], reference_rows: list[dict]) -> dict[str, float]:
    """Accuracy of always answering an attribute's most common answer in ``reference_rows``, on ``rows``.

    Returns ``{attribute: rate}`` plus ``"all"`` (over every row). With ``reference_rows=rows`` this is the best
    any constant-per-attribute guesser can score (the oracle rate).
    """
    by_attr: dict[str, Counter] = {}
    for r in reference_rows:
        by_attr.setdefault(r["attribute"], Counter())[r["answer"].strip()] += 1
    # ties broken by the answer text, so the rate is deterministic
    guess = {a: max(sorted(c), key=lambda v: c[v]) for a, c in by_attr.items()}
    hits: dict[str, list[bool]] = {}
    for r in rows:
        hits.setdefault(r["attribute"], []).append(guess.get(r["attribute"]) == r["answer"].strip())
    out = {a: sum(h) / len(h) for a, h in sorted(hits.items())}
    out["all"] = sum(sum(h) for h in hits.values()) / max(1, len(rows))
    return out
