"""The report in a real headless browser (Debian's chromium): loads with no console errors, no network requests.

Skipped when chromium is not installed; CI installs it (apt-get update && apt-get install -y chromium).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "render_html.py"
pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="chromium is not installed (apt-get update && apt-get install -y chromium): headless-browser check skipped",
)


def _render(html: Path, png: Path) -> tuple[int, dict | None, str]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(html), "--out", str(png), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    result = json.loads(proc.stdout) if proc.stdout.strip() else None
    return proc.returncode, result, proc.stderr


def test_report_loads_without_console_errors(bench_report, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    rc, result, err = _render(bench_report[1], png)
    assert rc == 0, (result, err)
    assert result["errors"] == [] and result["external"] == []
    width, height = struct.unpack(">II", png.read_bytes()[16:24])  # PNG IHDR
    assert width == 1280 and height == result["height"] > 2000


def test_console_errors_and_external_requests_are_caught(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body>'
        '<img src="http://example.invalid/x.png"><script>console.error("boom")</script></body></html>'
    )
    rc, result, err = _render(page, tmp_path / "bad.png")
    assert rc == 1, err
    assert any("boom" in e for e in result["errors"])
    assert result["external"] == ["http://example.invalid/x.png"]
