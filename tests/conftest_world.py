"""Session fixture with a trained tiny world: full and gold models, built once per test run (a pytest plugin module).

Register it in tests/conftest.py with ``from conftest_world import world_models  # noqa: F401``.

``world_models`` is a dict::

    {"full": Path, "gold": Path, "data": "people=60", "cache": Path}

``full`` / ``gold`` are saved HF model folders (model + tokenizer) of the ``tiny`` preset on a reduced world of
60 trained people (forget10 = 6 people, 36 QA rows); ``gold`` is trained on retain90 + general knowledge only.
``data`` is the world options prefix for specs: ``f"world:{data}/forget10"``, ``f"world:{data}/tiny/gold"``;
the fixture points ``$OBLIVIATE_CACHE`` at ``cache`` for the whole session so those specs resolve to the same
models. Building takes about a minute or two on 2 cores; set ``OBLIVIATE_TEST_CACHE=/some/dir`` to keep the models
across runs (the cache key covers the world, preset and recipe, so stale models are never reused). Under
pytest-xdist the workers share one cache folder and a file lock, so the world is trained once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_WORLD = "people=60"


def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("OBLIVIATE_TEST_CACHE"):
        return Path(os.environ["OBLIVIATE_TEST_CACHE"])
    base = tmp_path_factory.getbasetemp()
    # xdist workers get sibling basetemps (popen-gw0, popen-gw1, ...): share their parent
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "obliviate-cache"


@pytest.fixture(scope="session", autouse=True)
def obliviate_cache(tmp_path_factory):
    """One ``$OBLIVIATE_CACHE`` for the whole test run (world and reveal-task models), never the user's cache.

    Set once here, before any other fixture, so session fixtures that build models can never disagree on it.
    """
    cache = _cache_dir(tmp_path_factory)
    mp = pytest.MonkeyPatch()
    mp.setenv("OBLIVIATE_CACHE", str(cache))
    yield cache
    mp.undo()


@pytest.fixture(scope="session")
def world_models(obliviate_cache):
    from obliviate.world import resolve_model_path

    specs = {"full": f"{TEST_WORLD}/tiny", "gold": f"{TEST_WORLD}/tiny/gold"}
    names = list(specs)
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        # Each model has its own build lock: with the second worker asking for gold first, a fresh cache's two
        # models train side by side instead of one worker waiting for the other's lock (~1 min of the suite).
        names.reverse()
    paths = {name: resolve_model_path(specs[name], progress=False) for name in names}
    return {**paths, "data": TEST_WORLD, "cache": obliviate_cache}
