"""Assertions shared by the reliability tests."""

from __future__ import annotations


def assert_one_error(code: int, err: str, *words: str) -> str:
    """Exit 2, one ``error:`` line naming ``words``, no traceback; returns the line."""
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2, err[-2000:]
    assert "Traceback" not in err and len(lines) == 1, err[-2000:]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]
