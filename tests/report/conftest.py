"""Fixtures for the report tests: fake run folders built by :mod:`report_fakes`."""

from __future__ import annotations

from pathlib import Path

import pytest
import report_fakes

from obliviate.report import write_report


@pytest.fixture
def make_run(tmp_path: Path):
    """Factory: ``make_run(name, method, ...)`` -> a run folder under tmp_path (see report_fakes.make_run)."""
    return lambda *a, **kw: report_fakes.make_run(tmp_path, *a, **kw)


@pytest.fixture(scope="module")
def bench_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    """(run folders, report.html) for runs ga, mari (with certificate), npo (no eval.json) + gold / original refs.

    Built once per module: rendering the figures is the slow part of the report tests."""
    root = tmp_path_factory.mktemp("bench")
    runs = report_fakes.bench(root / "runs")
    html = write_report(
        [runs["ga"], runs["mari"], runs["npo"]], root / "report", gold=runs["gold"], original=runs["original"]
    )
    return runs, html
