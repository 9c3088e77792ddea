"""Refusal answers for ``idknll`` / ``dpo``: the built-in list (``refusals.txt``) or a user file, one per line."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from obliviate.errors import ObliviateError


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def builtin_refusals() -> list[str]:
    """The packaged refusal answers (24 short "I don't know" variants)."""
    return _lines(resources.files("obliviate.data").joinpath("refusals.txt").read_text(encoding="utf-8"))


def load_refusals(path: str | Path | None = None) -> list[str]:
    """Refusals from ``path`` (one per line; blank lines and ``#`` comments skipped), or the built-in list.

    Raises:
        ObliviateError: the file does not exist or holds no refusal.
    """
    if path is None:
        return builtin_refusals()
    p = Path(path).expanduser()
    if not p.is_file():
        raise ObliviateError(
            f"refusals file {str(p)!r} does not exist; fix data.refusals or unset it for the built-ins"
        )
    out = _lines(p.read_text(encoding="utf-8"))
    if not out:
        raise ObliviateError(f"refusals file {str(p)!r} is empty; write one refusal answer per line")
    return out
