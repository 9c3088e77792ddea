"""cached_dir builds a missing artefact once, atomically, and reuses it until asked to rebuild."""

from __future__ import annotations

import pytest

from obliviate.utils.cache import cache_root, cached_dir


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("OBLIVIATE_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"


def test_built_once_then_reused(tmp_path):
    calls = []

    def build(tmp):
        calls.append(tmp)
        (tmp / "weights.bin").write_text(str(len(calls)))

    final = tmp_path / "thing-abc123"
    assert cached_dir(final, build, marker="DONE") == final
    assert cached_dir(final, build, marker="DONE") == final
    assert len(calls) == 1 and (final / "DONE").read_text() == "ok\n" and (final / "weights.bin").read_text() == "1"
    cached_dir(final, build, marker="DONE", rebuild=True)
    assert len(calls) == 2 and (final / "weights.bin").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".thing-abc123.lock", "thing-abc123"]


def test_a_marker_written_by_the_build_is_kept(tmp_path):
    write = lambda tmp: (tmp / "tokenizer.json").write_text("{}")  # noqa: E731
    final = cached_dir(tmp_path / "tok", write, marker="tokenizer.json")
    assert (final / "tokenizer.json").read_text() == "{}"


def test_a_failed_build_leaves_nothing(tmp_path):
    def build(tmp):
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        cached_dir(tmp_path / "thing", build, marker="DONE")
    assert [p.name for p in tmp_path.iterdir()] == [".thing.lock"]
