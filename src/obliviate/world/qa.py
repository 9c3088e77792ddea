"""QA accuracy of a world model by batched greedy generation, and the most-common-value guessing baseline.

:func:`qa_accuracy` encodes prompts exactly as training does (:func:`obliviate.data.encode_prompt`), generates
greedily with the evaluator's generator (:func:`obliviate.eval.scoring.generate`: left padding, cut at EOS) and
scores each continuation with the toolkit's one exact-match rule, :func:`obliviate.eval.match.exact_match`; the
``*_acc`` metrics of ``obliviate eval`` therefore give the same numbers as the ``exact_match`` of world records.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class QAScore:
    """Accuracy plus per-row outcomes (in the order of the input rows)."""

    accuracy: float
    correct: list[bool] = field(default_factory=list)
    predictions: list[str] = field(default_factory=list)


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
    """Greedy exact-match accuracy (:func:`obliviate.eval.match.exact_match`) of ``model`` on QA ``rows``.

    Args:
        model: a causal LM (put in eval mode here; its training mode is restored after).
        tokenizer: its tokenizer (needs a pad token).
        rows: dicts with ``prompt_key`` and ``answer_key``.
        batch_size: prompts per ``generate`` call.
        max_new_tokens: generation budget; default the longest answer's token count + 2 (the match rule only
            needs the answer's own tokens, so a longer budget gives the same accuracy).
        prompt_key: which field holds the prompt (e.g. ``paraphrased_question``).
        answer_key: which field holds the reference answer.
        chat_template: encode prompts with the tokenizer's chat template (as training did).
        progress: show a progress bar.

    Returns:
        A :class:`QAScore` (predictions: the continuations, cut at EOS and stripped); accuracy is 0.0 for no rows.
    """
    from obliviate.data import encode_prompt
    from obliviate.eval.match import exact_match
    from obliviate.eval.scoring import generate

    if not rows:
        return QAScore(0.0)
    prompts = [encode_prompt(r[prompt_key], tokenizer, chat_template=chat_template) for r in rows]
    if max_new_tokens is None:
        max_new_tokens = max(len(tokenizer(r[answer_key], add_special_tokens=False)["input_ids"]) for r in rows) + 2
    order = sorted(range(len(rows)), key=lambda i: len(prompts[i]))  # similar lengths together: less padding
    texts = generate(
        model, tokenizer, [prompts[i] for i in order], batch_size=batch_size, max_new_tokens=max_new_tokens,
        desc="qa", progress=progress,
    )  # fmt: skip
    preds: list[str] = [""] * len(rows)
    for i, text in zip(order, texts):
        preds[i] = text
    correct = [exact_match(p, r[answer_key]) for p, r in zip(preds, rows)]
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
