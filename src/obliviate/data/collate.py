"""Tokenisation with label masking, and padding into :class:`obliviate.types.Batch`.

Prompt/answer boundary: prompt and answer are tokenised **jointly**, as the one string ``prompt + answer`` (with one
space between them unless either side already has whitespace there), and the prompt is masked by character offsets
(fast tokenizers' ``offset_mapping``): a token holding any answer character, or a space that ends the prompt, is an
answer token. So the tokens are exactly those of a model trained on the joined text, wherever the space falls
(``"Answer: "`` + ``"Paris"`` and ``"Answer:"`` + ``" Paris"`` both give ``... ':' | ' Paris'``), and
:func:`encode_prompt` (generation and likelihood prompts) drops a prompt's trailing spaces the same way, so a model
is never asked to continue after a lone space token it did not see in training. The prompt keeps the tokenizer's
special tokens (e.g. BOS); the answer is followed by EOS when the tokenizer has one. Slow (Python) tokenizers have
no offsets: their prompt and answer are tokenised separately.

Chat template (``chat_template=True``): the prompt is rendered as a user turn with the generation prompt, the full
conversation adds the answer as the assistant turn; the answer tokens are what the template adds after the prompt
(end-of-turn markers included, no extra EOS). Raw-text rows never get a template.

Truncation to ``max_length`` cuts from the right. If that would leave no answer token, the prompt is cut from the
left instead so that up to half of the window holds the answer. Every cut row counts in ``stats["truncated"]``.
Rows marked ``_chunk`` (plain ``.txt`` files) are split into consecutive windows of ``min(txt_window, max_length)``
tokens (no BOS, the last window may be shorter); windows are not counted as truncated.

Example dicts: ``input_ids``, ``labels`` (-100 on prompt), ``prompt_len``, ``row`` (source row), ``index`` (position
in the returned list) and, with ``refusals``, ``alt_input_ids`` / ``alt_labels`` (same prompt + a refusal answer;
for raw text the first half of the tokens is the prompt).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from obliviate.data.sources import is_qa
from obliviate.errors import ObliviateError
from obliviate.types import Batch

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)
IGNORE = -100


def ensure_pad_token(tokenizer: Any) -> bool:
    """Give ``tokenizer`` a pad token if it has none (EOS, else a new ``<pad>``). Returns True when it changed.

    A new ``<pad>`` grows the vocabulary: the caller must resize the model's embeddings (``len(tokenizer)``).
    """
    if tokenizer.pad_token is not None:
        return False
    if tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
        log.info("tokenizer has no pad token; using the EOS token %r for padding", tokenizer.eos_token)
    else:
        tokenizer.add_special_tokens({"pad_token": "<pad>"})
        log.warning(
            "tokenizer has no pad or EOS token; added '<pad>' (id %d): resize the embeddings", tokenizer.pad_token_id
        )
    return True


def _ids(tokenizer: Any, text: str, special: bool) -> list[int]:
    # verbose=False: long raw texts are windowed later, the "longer than model max" warning is noise here
    return list(tokenizer(text, add_special_tokens=special, verbose=False)["input_ids"])


def _check_template(tokenizer: Any) -> None:
    if not getattr(tokenizer, "chat_template", None):
        raise ObliviateError(
            "data.chat_template=true but the tokenizer has no chat template; set data.chat_template=false "
            "or use a chat model's tokenizer"
        )


def encode_prompt(prompt: str, tokenizer: Any, *, chat_template: bool = False) -> list[int]:
    """Token ids of a prompt as training sees it (for generation and likelihood metrics)."""
    if chat_template:
        _check_template(tokenizer)
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False
        )
        return _ids(tokenizer, text, special=False)  # the template writes its own BOS
    split = _joint(tokenizer, prompt, "")
    return split[0] if split is not None else _ids(tokenizer, prompt, special=True)


def _sep(prompt: str, answer: str) -> str:
    return " " if prompt and not prompt[-1].isspace() and not answer[:1].isspace() else ""


def _joint(tokenizer: Any, prompt: str, answer: str) -> tuple[list[int], list[int]] | None:
    """(prompt ids, answer ids) of ``prompt + answer`` tokenised as one string, cut before the first token that
    reaches past the prompt without its trailing spaces (BPE joins a space to the word after it); None for
    tokenizers without offsets."""
    if not getattr(tokenizer, "is_fast", False):
        return None
    enc = tokenizer(prompt + answer, add_special_tokens=True, return_offsets_mapping=True, verbose=False)
    ids, offsets, end = list(enc["input_ids"]), enc["offset_mapping"], len(prompt.rstrip(" "))
    # special tokens have (0, 0): a BOS stays in the prompt, an appended EOS (after the cut) in the answer
    cut = next((i for i, (_, stop) in enumerate(offsets) if stop > end), len(ids))
    return ids[:cut], ids[cut:]


def encode_pair(
    prompt: str, answer: str, tokenizer: Any, *, chat_template: bool = False
) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) tokenised jointly, see the module docstring for the exact rules."""
    if chat_template:
        _check_template(tokenizer)
        user = [{"role": "user", "content": prompt}]
        p_text = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": answer}], tokenize=False)
        if full.startswith(p_text):
            return _ids(tokenizer, p_text, special=False), _ids(tokenizer, full[len(p_text) :], special=False)
        # templates that rewrite earlier turns: fall back to the plain answer + EOS after the templated prompt
        return _ids(tokenizer, p_text, special=False), _answer_ids(tokenizer, answer, sep=False)
    sep = _sep(prompt, answer)
    split = _joint(tokenizer, prompt, sep + answer)
    if split is None:
        return _ids(tokenizer, prompt, special=True), _answer_ids(tokenizer, answer, sep=bool(sep))
    return split[0], _with_eos(tokenizer, split[1])


def _answer_ids(tokenizer: Any, answer: str, *, sep: bool) -> list[int]:
    return _with_eos(tokenizer, _ids(tokenizer, (" " + answer) if sep else answer, special=False))


def _with_eos(tokenizer: Any, ids: list[int]) -> list[int]:
    eos = tokenizer.eos_token_id
    return ids + [int(eos)] if eos is not None and ids[-1:] != [eos] else ids


def _fit(p: list[int], a: list[int], max_length: int) -> tuple[list[int], list[int], bool]:
    """Truncate prompt ``p`` + answer ``a`` to ``max_length`` tokens, keeping at least one answer token."""
    if len(p) + len(a) <= max_length:
        return p, a, False
    if len(p) < max_length or not a:
        return p[:max_length], a[: max(0, max_length - len(p))], True
    keep_a = min(len(a), max(1, max_length // 2))
    return p[len(p) - (max_length - keep_a) :], a[:keep_a], True


def _example(p: list[int], a: list[int], row: int) -> dict[str, Any]:
    return {"input_ids": p + a, "labels": [IGNORE] * len(p) + a, "prompt_len": len(p), "row": row}


def tokenize_rows(
    rows: list[dict[str, Any]],
    tokenizer: Any,
    *,
    max_length: int,
    chat_template: bool = False,
    txt_window: int = 128,
    refusals: list[str] | None = None,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Tokenise uniform rows into training examples with label masking.

    Args:
        rows: ``{"text"}`` / ``{"prompt", "answer"}`` rows from :func:`obliviate.data.sources.load_rows`.
        tokenizer: a Hugging Face tokenizer.
        max_length: maximum tokens per example (longer rows are truncated and counted).
        chat_template: wrap prompt/answer rows with ``tokenizer.apply_chat_template``.
        txt_window: window length for ``_chunk`` rows (plain ``.txt`` files).
        refusals: when given, attach ``alt_input_ids`` / ``alt_labels`` with a refusal answer to every example,
            chosen by a ``torch.Generator`` seeded with ``seed``.
        seed: seed of the refusal choice.

    Returns:
        (examples, stats) with stats keys ``rows``, ``examples``, ``truncated``, ``windows``, ``tokens``,
        ``answer_tokens``.
    """
    if max_length < 2:
        raise ObliviateError(f"data.max_length={max_length} is too small; use at least 2 tokens (e.g. 256)")
    window = max(1, min(txt_window, max_length))
    examples: list[dict[str, Any]] = []
    stats = {"rows": len(rows), "examples": 0, "truncated": 0, "windows": 0, "tokens": 0, "answer_tokens": 0}
    for r, row in enumerate(rows):
        if not is_qa(row) and row.get("_chunk"):
            ids = _ids(tokenizer, row["text"], special=False)
            for start in range(0, len(ids), window):
                examples.append(_example([], ids[start : start + window], r))
                stats["windows"] += 1
            continue
        if is_qa(row):
            p, a = encode_pair(row["prompt"], row["answer"], tokenizer, chat_template=chat_template)
        else:
            p, a = [], _ids(tokenizer, row["text"], special=True)
        p, a, cut = _fit(p, a, max_length)
        stats["truncated"] += int(cut)
        examples.append(_example(p, a, r))
    if refusals:
        _attach_refusals(examples, rows, tokenizer, refusals, seed, max_length, chat_template)
    for i, ex in enumerate(examples):
        ex["index"] = i
        stats["tokens"] += len(ex["input_ids"])
        stats["answer_tokens"] += sum(1 for t in ex["labels"] if t != IGNORE)
    stats["examples"] = len(examples)
    return examples, stats


def _attach_refusals(
    examples: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    tokenizer: Any,
    refusals: list[str],
    seed: int,
    max_length: int,
    chat_template: bool,
) -> None:
    """alt = the example's prompt + a seeded-random refusal (raw text: first half of its tokens as the prompt)."""
    import torch  # here, not at module level: tokenising (validate, prepare) needs no torch

    gen = torch.Generator().manual_seed(seed)
    choice = torch.randint(len(refusals), (len(examples),), generator=gen).tolist()
    for ex, c in zip(examples, choice):
        row = rows[ex["row"]]
        if is_qa(row):
            p, a = encode_pair(row["prompt"], refusals[c], tokenizer, chat_template=chat_template)
        else:
            ids = ex["input_ids"]
            p, a = ids[: max(1, len(ids) // 2)], _answer_ids(tokenizer, refusals[c], sep=True)
        p, a, _ = _fit(p, a, max_length)
        ex["alt_input_ids"], ex["alt_labels"] = p + a, [IGNORE] * len(p) + a
        ex["refusal"] = c


def _pad(seqs: list[list[int]], value: int, *, left: bool = False) -> torch.Tensor:
    import torch

    width = max(len(s) for s in seqs)
    out = torch.full((len(seqs), width), value, dtype=torch.long)  # (B, T)
    for b, s in enumerate(seqs):
        if not s:
            continue
        if left:
            out[b, width - len(s) :] = torch.tensor(s, dtype=torch.long)
        else:
            out[b, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def _batch(ids: list[list[int]], labels: list[list[int]], pad_id: int, index: torch.Tensor) -> Batch:
    input_ids = _pad(ids, pad_id)
    mask = _pad([[1] * len(s) for s in ids], 0)
    return Batch(input_ids=input_ids, attention_mask=mask, labels=_pad(labels, IGNORE), index=index)


def collate(examples: list[dict[str, Any]], pad_id: int) -> Batch:
    """Right-pad examples into a :class:`Batch` (labels -100 on padding); ``alt`` when every example has one.

    Args:
        examples: dicts from :func:`tokenize_rows` (``index`` optional: defaults to the position in ``examples``).
        pad_id: the tokenizer's pad token id (see :func:`ensure_pad_token`).
    """
    if not examples:
        raise ValueError("collate() needs at least one example")
    import torch

    index = torch.tensor([ex.get("index", i) for i, ex in enumerate(examples)], dtype=torch.long)  # (B,)
    batch = _batch([ex["input_ids"] for ex in examples], [ex["labels"] for ex in examples], pad_id, index)
    has_alt = ["alt_input_ids" in ex for ex in examples]
    if any(has_alt) and not all(has_alt):
        raise ValueError("collate(): some examples carry alt_input_ids and some do not")
    if all(has_alt):
        alt = _batch([ex["alt_input_ids"] for ex in examples], [ex["alt_labels"] for ex in examples], pad_id, index)
        batch = Batch(batch.input_ids, batch.attention_mask, batch.labels, alt=alt, index=index)
    return batch


def collate_prompts(prompts_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad prompt ids for batched generation. Returns (input_ids, attention_mask), both (B, T) long."""
    if not prompts_ids:
        raise ValueError("collate_prompts() needs at least one prompt")
    return _pad(prompts_ids, pad_id, left=True), _pad([[1] * len(s) for s in prompts_ids], 0, left=True)
