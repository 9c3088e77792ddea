"""Fixtures for the Reveal-and-Release tests: a private task cache and the small toxicity task's trained model.

The task model is trained once per session (the ``test`` size: 6,000 documents, 320 steps) into a temporary
``OBLIVIATE_CACHE``, so tests never read or write the user's cache.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def task_cache(tmp_path_factory):
    old = os.environ.get("OBLIVIATE_CACHE")
    os.environ["OBLIVIATE_CACHE"] = str(tmp_path_factory.mktemp("obliviate_cache"))
    yield os.environ["OBLIVIATE_CACHE"]
    if old is None:
        os.environ.pop("OBLIVIATE_CACHE", None)
    else:
        os.environ["OBLIVIATE_CACHE"] = old


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
