"""Fixtures for the evaluation tests: tiny QA splits with paraphrased and perturbed answers (TOFU / world row
format) and a helper that evaluates the tiny saved models on them."""

from __future__ import annotations

import pytest


def with_alternatives(rows: list[dict]) -> list[dict]:
    """Add a paraphrase and two perturbed answers to each fixture row (``... born in Lisbon.`` style answers)."""
    out = []
    for r in rows:
        head, _, last = r["answer"].rstrip(".").rpartition(" ")
        out.append(
            {
                **r,
                "paraphrased_answer": r["answer"].replace(" was ", " is ").replace(" has ", " owns "),
                "perturbed_answers": [f"{head} Nowhere.", f"{head} Elsewhere."],
            }
        )
    return out


@pytest.fixture(scope="session")
def qa_splits(tiny_rows) -> dict[str, list[dict]]:
    """forget / retain / holdout / general QA rows with paraphrased and perturbed answers."""
    splits = {k: with_alternatives(v) for k, v in tiny_rows.items()}
    splits["general"] = with_alternatives(tiny_rows["retain"][:4])
    return splits


@pytest.fixture
def make_ctx():
    """Factory: ``make_ctx(model, tok, data, refs=None, **options)`` -> an EvalContext without progress bars."""
    from obliviate.eval.context import EvalContext, EvalOptions, ModelHandle

    def build(model, tok, data, refs=None, **opts):
        options = EvalOptions(**{"progress": False, "max_new_tokens": 6, **opts})
        ctx = EvalContext(ModelHandle(model, tok, options=options), data, options)
        ctx.refs = refs or {}
        return ctx

    return build
