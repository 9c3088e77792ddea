"""Fixtures for the Reveal-and-Release tests: a private task cache and the small toxicity task's trained model.

The task model is trained once per test run (the ``test`` size: 6,000 documents, 320 steps; ~30 s on 2 idle cores)
into the test run's temporary ``OBLIVIATE_CACHE`` (tests/conftest_world.py), so tests never read or write the
user's cache. Set ``OBLIVIATE_TEST_CACHE=/some/dir`` to keep the model across runs (the cache key covers the task
config, so a stale model is never reused).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def task_cache(obliviate_cache):
    """The test run's private ``$OBLIVIATE_CACHE`` (set once for the session in tests/conftest_world.py)."""
    return obliviate_cache


@pytest.fixture(scope="session")
def toxicity_task(task_cache):
    """The small toxicity task with its model trained and cached."""
    from obliviate.reveal.tasks import get_task

    task = get_task("toxicity/test")
    task.model_dir(progress=False)
    return task


@pytest.fixture
def toxicity_lm(toxicity_task):
    """A fresh (model, tokenizer) of the small toxicity task."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = toxicity_task.model_dir(progress=False)
    return AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
