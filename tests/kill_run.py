"""Start an ``unlearn`` run in a fresh interpreter and SIGKILL it at a chosen moment (the resume tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

# A run in a fresh interpreter, as `obliviate unlearn` would do it (the library call, not the CLI parser).
_RUN = "import sys; from obliviate.api import unlearn; from obliviate.config import load_config; " \
       "unlearn(load_config(None, sys.argv[1:]), progress=False)"  # fmt: skip
_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # the same threads in every process


def kill_when(args: list[str], ready: Callable[[], bool], timeout: float = 300) -> int:
    """Run ``unlearn`` with ``key=value`` ``args``; SIGKILL it as soon as ``ready()`` is true (polled every 2 ms).
    Returns the exit code: ``-signal.SIGKILL`` when killed, 0 when the run ended first."""
    import signal

    proc = subprocess.Popen([sys.executable, "-c", _RUN, *args], env=_ENV, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while proc.poll() is None and time.time() < deadline:
        if ready():
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.002)
    return proc.wait(timeout=60)
