"""Helpers of the reliability tests: run the CLI in-process and check for exactly one clear error line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def cli(capsys):
    """``cli(*argv) -> (exit code, stdout, stderr)`` of ``obliviate`` run in this process."""
    from obliviate.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def model_copy(tmp_path, tiny_gpt2_dir):
    """``model_copy(name) -> Path``: a private copy of the tiny GPT-2 folder the test may damage."""

    def make(name: str = "model") -> Path:
        dst = tmp_path / name
        shutil.copytree(tiny_gpt2_dir, dst)
        return dst

    return make
