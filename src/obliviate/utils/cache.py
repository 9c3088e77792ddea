"""The on-disk cache of built artefacts (the world's tokenizer and models, the Reveal tasks' models).

``$OBLIVIATE_CACHE`` (default ``~/.cache/obliviate``) holds one folder per artefact, named by a hash of everything
that determines it. :func:`cached_dir` builds a missing folder atomically under an exclusive file lock, so
concurrent builders (two CLI runs, pytest-xdist workers) wait for each other instead of duplicating the work, and a
half-built folder is never visible.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from obliviate.utils.io import atomic_dir


def cache_root() -> Path:
    """``$OBLIVIATE_CACHE``, else ``~/.cache/obliviate``."""
    return Path(os.environ.get("OBLIVIATE_CACHE") or Path.home() / ".cache" / "obliviate").expanduser()


@contextlib.contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """An exclusive lock on ``lock_file`` (POSIX ``flock``; no locking where fcntl is missing)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: single builder assumed
        yield
        return
    with open(lock_file, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cached_dir(final: Path, build: Callable[[Path], None], *, marker: str, rebuild: bool = False) -> Path:
    """``final``, built by ``build(tmp_dir)`` when its ``marker`` file is missing (or when ``rebuild``).

    Args:
        final: the artefact's folder (its name should hash what determines its content).
        build: fills a fresh temp folder beside ``final``; the folder replaces ``final`` only when it returns.
        marker: the file whose presence means "complete"; written as ``ok`` when ``build`` leaves it out.
        rebuild: build even when complete.

    The lock file is ``.<name>.lock`` beside ``final``.
    """
    final = Path(final)
    with locked(final.parent / f".{final.name}.lock"):
        if rebuild or not (final / marker).is_file():
            with atomic_dir(final) as tmp:
                build(tmp)
                if not (tmp / marker).exists():
                    (tmp / marker).write_text("ok\n")
    return final
