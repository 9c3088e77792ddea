"""Fixtures for the report tests: fake run folders built by :mod:`report_fakes`."""

from __future__ import annotations

from pathlib import Path

import pytest
import report_fakes


@pytest.fixture
def make_run(tmp_path: Path):
    """Factory: ``make_run(name, method, ...)`` -> a run folder under tmp_path (see report_fakes.make_run)."""
    return lambda *a, **kw: report_fakes.make_run(tmp_path, *a, **kw)


@pytest.fixture
def bench(tmp_path: Path) -> dict[str, Path]:
    """Runs ga, mari (with certificate), npo (no eval.json) and the gold / original reference folders."""
    return report_fakes.bench(tmp_path / "runs")
