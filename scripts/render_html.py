"""Render an HTML file to PNG in headless Chromium and report console errors and network requests.

    python scripts/render_html.py runs/report/report.html --out runs/report/report.png
    python scripts/render_html.py report.html --out shot.png --width 1280 --json   # machine-readable result

How: Debian's ``chromium`` is started headless with networking features off and a fresh profile, and driven over
the DevTools protocol through ``--remote-debugging-pipe`` (NUL-separated JSON on file descriptors 3 and 4), so no
websocket client or other dependency is needed. The page is loaded from ``file://``; the script collects
``Runtime.exceptionThrown``, ``console.error`` / ``console.assert`` calls, ``Log`` entries of level error (failed
loads, CSP violations...) and every request whose scheme is not ``file:`` / ``data:``, then captures the full page
(``captureBeyondViewport``) at the given width.

Exit status: 0 = loaded with no console errors and no external requests; 1 = errors found (listed); 2 = Chromium
missing or it failed to load the page. Install Chromium with ``apt-get update && apt-get install -y chromium``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
]


class Browser:
    """A headless Chromium driven over the DevTools pipe (requests and events on one stream)."""

    def __init__(self, binary: str, profile: str) -> None:
        self.log_path = Path(profile) / "chromium-stderr.log"  # a file, not a pipe: an unread pipe can block it
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # move the child's ends above fd 9 so the dup2 onto 3 / 4 in the child cannot clobber one another
        hi_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)
        for fd in (to_child_r, from_child_w):
            os.close(fd)

        def wire() -> None:  # runs in the child: Chromium reads commands on fd 3 and writes replies on fd 4
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                pass_fds=(3, 4),
                preexec_fn=wire,
            )
        os.close(hi_r)
        os.close(hi_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"Chromium closed the DevTools pipe (it exited); its stderr ends with:\n{tail}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept in ``events``."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == name for e in self.events):
            self.events.append(self._read_message(deadline))

    def drain(self, seconds: float) -> None:
        """Collect events for ``seconds`` more (late console messages)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read_message(deadline))
        except TimeoutError:
            pass

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            os.close(fd)


def _problems(events: list[dict]) -> tuple[list[str], list[str]]:
    """(console / page errors, external request URLs) found in the DevTools events."""
    errors, external = [], []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(
                "console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
            )
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            entry = p["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            if not url.startswith(("file:", "data:", "about:")):
                external.append(url)
    return errors, external


def render(html: Path, png: Path, *, width: int = 1280, binary: str | None = None) -> dict:
    """Load ``html`` in headless Chromium, save a full-page PNG, return {"png", "height", "errors", "external"}."""
    binary = binary or shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise FileNotFoundError("chromium is not installed (apt-get update && apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="obliviate-chromium-") as profile:
        browser = Browser(binary, profile)
        try:
            target = next(t for t in browser.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
            sid = browser.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                browser.call(f"{domain}.enable", session=sid)
            metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
            browser.call("Emulation.setDeviceMetricsOverride", metrics, session=sid)
            nav = browser.call("Page.navigate", {"url": html.resolve().as_uri()}, session=sid)
            if nav.get("errorText"):
                raise RuntimeError(f"could not load {html}: {nav['errorText']}")
            browser.wait_event("Page.loadEventFired")
            browser.drain(0.5)
            height = int(browser.call("Page.getLayoutMetrics", session=sid)["cssContentSize"]["height"])
            clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
            shot = browser.call(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True, "clip": clip},
                session=sid,
                timeout=60,
            )
        finally:
            browser.close()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(base64.b64decode(shot["data"]))
    errors, external = _problems(browser.events)
    return {"png": str(png), "height": height, "errors": errors, "external": external}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("html", type=Path, help="the HTML file to render")
    ap.add_argument("--out", type=Path, default=None, help="PNG path (default: next to the HTML, .png)")
    ap.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels")
    ap.add_argument("--chromium", default=None, help="browser binary (default: chromium on PATH)")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args(argv)
    if not args.html.is_file():
        print(f"error: {args.html} does not exist", file=sys.stderr)
        return 2
    try:
        result = render(args.html, args.out or args.html.with_suffix(".png"), width=args.width, binary=args.chromium)
    except (FileNotFoundError, RuntimeError, TimeoutError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(f"screenshot: {result['png']} ({args.width} x {result['height']} px)")
        for line in result["errors"]:
            print(f"console error: {line}")
        for url in result["external"]:
            print(f"external request: {url}")
    return 1 if result["errors"] or result["external"] else 0


if __name__ == "__main__":
    sys.exit(main())
