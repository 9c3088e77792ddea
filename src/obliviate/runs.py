"""One run folder's life, for every command that writes a run (``unlearn``, pipelines such as Reveal-and-Release).

    out = resolve_output(cfg.output_dir)
    status = plan(out, overwrite=cfg.overwrite, resume=cfg.resume, inputs=[cfg.model.path, *cfg.data.forget])
    with lock(out):                     # a second run on the same folder fails here at once
        ...                             # load the model and data: anything that can fail on bad input
        work = start(out, status, config)   # .<name>.partial/ beside out, stamped with config.yaml
        ...                             # train; write model/, summary.json into work
        finish(work, out)               # one rename: out is complete or does not exist

Rules (docs/runs.md):

- A run works in ``.<name>.partial/`` beside ``output_dir`` and is renamed to ``output_dir`` only when complete.
  An interrupted run (killed, or stopped by the NaN guard) keeps its partial folder; ``resume`` continues it.
- The run marker is the ``config.yaml`` every run folder starts with, stamped with ``obliviate_version``.
  ``overwrite`` replaces only a folder that carries it (or an empty folder): the toolkit never deletes what it did
  not write. Inputs (model, data files) inside the output folder are refused.
- One run per output folder: ``.<name>.lock`` beside it is held (``filelock``) from the checks to the final rename
  and names its holder (pid, host) to a second run, which fails at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from obliviate.errors import ObliviateError
from obliviate.utils.io import atomic_write_text, provenance, replace_dir

log = logging.getLogger(__name__)

MARKER = "config.yaml"  # the file every run folder starts with ...
MARKER_KEY = "obliviate_version"  # ... stamped with this key (utils.io.provenance)
STATUSES = ("new", "resume", "done", "overwrite")


@dataclass
class RunResult:
    """What a run returns. ``model`` / ``tokenizer`` are the trained objects in memory (None when a completed run
    was found on ``resume``)."""

    run_dir: Path
    model_dir: Path  # run_dir / "model" (merged or full model) or run_dir / "adapter" (peft adapter)
    summary: dict[str, Any]
    model: Any = None
    tokenizer: Any = None


def resolve_output(output_dir: str | Path | None) -> Path:
    """``output_dir`` as a path (``~`` expanded); None or empty is refused."""
    if output_dir is None or not str(output_dir).strip() or str(output_dir) == "None":
        raise ObliviateError("output_dir is not set; set output_dir to a new folder, e.g. output_dir=runs/my-run")
    return Path(output_dir).expanduser()


def work_dir(output_dir: str | Path) -> Path:
    """Where a run in progress lives: ``.<name>.partial`` beside ``output_dir``."""
    out = Path(output_dir).expanduser()
    return out.parent / f".{out.name}.partial"


def lock_path(output_dir: str | Path) -> Path:
    out = Path(output_dir).expanduser()
    return out.parent / f".{out.name}.lock"


def is_run_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder a run of this toolkit wrote (its ``config.yaml`` carries the stamp)."""
    marker = Path(path) / MARKER
    try:
        if not marker.is_file() or marker.stat().st_size > 1 << 20:
            return False
        data = yaml.safe_load(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and MARKER_KEY in data


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _local_path(spec: str) -> Path | None:
    """The local file or folder an input spec names (``path`` or ``prefix:path``), or None (hub id, preset)."""
    for candidate in (spec, spec.split(":", 1)[-1]):
        p = Path(candidate).expanduser()
        if candidate and p.exists():
            return p.resolve()
    return None


def _writable_ancestor(path: Path) -> Path:
    """The nearest existing folder above ``path`` (the one a new folder would be created in)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


def plan(out: Path, *, overwrite: bool, resume: bool, inputs: Iterable[str | None] = (), held: bool = False) -> str:
    """Check the output folder before anything loads; returns ``new``, ``resume`` (a partial run to continue),
    ``done`` (resume of a complete run) or ``overwrite``. ``held``: the caller holds the folder's :func:`lock`
    (otherwise a run in progress there is reported as such, not as an interrupted one).

    Raises:
        ObliviateError: overwrite and resume both set; ``out`` is a file, the current folder or one above it, not
            writable, holds an input, is in use by another run, or exists (or has an interrupted run) without
            overwrite / resume; or overwrite would replace a folder this toolkit did not write.
    """
    work = work_dir(out)
    if not held and lock_path(out).exists():
        with lock(out):  # raises when another run holds it; a stale lock file is removed
            pass
    if overwrite and resume:
        raise ObliviateError("overwrite and resume are both set; choose one (--overwrite starts again)")
    if out.exists() and not out.is_dir():
        raise ObliviateError(f"output_dir {str(out)!r} is a file; choose a folder path")
    here = Path.cwd().resolve()
    if not out.name or out.resolve() in (here, *here.parents):
        raise ObliviateError(f"output_dir {str(out)!r} contains the current folder; choose a dedicated run folder")
    parent = _writable_ancestor(out)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ObliviateError(f"cannot write to {str(parent)!r} (output_dir {str(out)!r}); choose a writable folder")
    for spec in inputs:
        p = _local_path(str(spec)) if spec else None
        if p is not None and (p == out.resolve() or out.resolve() in p.parents):
            raise ObliviateError(
                f"input {spec!r} is inside output_dir {str(out)!r}; choose an output_dir outside your model and data"
            )
    for folder, what in ((out, "output_dir"), (work, "the interrupted run")):
        if overwrite and folder.is_dir() and not (_is_empty_dir(folder) or is_run_folder(folder)):
            raise ObliviateError(
                f"{what} {str(folder)!r} exists and was not written by obliviate (no stamped {MARKER}); --overwrite "
                "only replaces run folders. Move it away yourself or choose another output_dir"
            )
    if overwrite:
        return "overwrite"
    if resume:
        if work.is_dir():
            return "resume"
        return "done" if (out / "summary.json").is_file() and is_run_folder(out) else "new"
    if work.is_dir():
        raise ObliviateError(
            f"an interrupted run exists in {str(work)!r}; pass --resume to continue it or --overwrite to start again"
        )
    if out.exists() and any(out.iterdir()):
        raise ObliviateError(
            f"output_dir {str(out)!r} already exists; pass --overwrite to replace it, --resume to continue it, "
            "or set output_dir to a new folder"
        )
    return "new"


@contextlib.contextmanager
def lock(out: Path, enabled: bool = True) -> Iterator[None]:
    """Hold the output folder's lock; a second holder fails at once naming the first (pid, host, start time).

    ``enabled=False`` (the non-main processes of a data-parallel run) holds nothing. The lock file is removed on
    release, before the lock is let go: a process that opened it meanwhile finds it unlinked and fails too.
    """
    if not enabled:
        yield
        return
    from filelock import FileLock, Timeout

    path = lock_path(out)
    made = [d for d in (path.parent, *path.parent.parents) if not d.exists()]  # removed again if left empty
    path.parent.mkdir(parents=True, exist_ok=True)
    flock = FileLock(str(path), timeout=0)
    try:
        flock.acquire()
    except Timeout:
        _remove_empty(made)
        raise ObliviateError(
            f"output_dir {str(out)!r} is in use by another run ({_holder(path)}); wait for it to finish or choose "
            f"another output_dir (lock file {str(path)!r})"
        ) from None
    try:
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        path.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}) + "\n")
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        flock.release()
        _remove_empty(made)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed run created (deepest first) while they are empty."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:  # not empty (the run was written there) or already gone
            return


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text())
        return f"pid {info['pid']} on host {info['host']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


def _remove_stale_temps(folder: Path) -> None:
    """Temp folders and files an interrupted atomic write left (``.model.<random>.tmp`` etc.)."""
    for p in folder.glob(".*.tmp"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def start(out: Path, status: str, config: dict[str, Any]) -> Path:
    """Create (or, on resume, reuse) the work dir with its stamped ``config.yaml``; returns it. Main process only.

    ``config`` is the resolved run config; run flags (``overwrite`` / ``resume``) are not part of the experiment and
    are saved as false. A new work dir appears by one rename, so a ``.partial`` always carries its marker.
    """
    work = work_dir(out)
    resolved = {**config, "overwrite": False, "resume": False}
    if status == "resume" and work.is_dir():
        old = yaml.safe_load((work / MARKER).read_text()) if (work / MARKER).is_file() else None
        if isinstance(old, dict):
            _warn_changes(old, resolved)
        _remove_stale_temps(work)
        atomic_write_text(work / MARKER, yaml.safe_dump({**resolved, **provenance()}, sort_keys=False))
        return work
    if work.exists():  # overwrite: plan() checked that it is a run folder
        shutil.rmtree(work)
    work.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=work.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        (tmp / MARKER).write_text(yaml.safe_dump({**resolved, **provenance()}, sort_keys=False), encoding="utf-8")
        os.replace(tmp, work)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return work


def _warn_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> None:
    """Log the settings a resumed run changes (e.g. a lower train.lr after a non-finite loss)."""
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            _warn_changes(before, value, f"{prefix}{key}.")
        elif before != value:
            log.warning("resuming with %s%s=%r (was %r)", prefix, key, value, before)


def finish(work: Path, out: Path) -> None:
    """Move the complete work dir to ``out`` (replacing an old run there) in one rename; checkpoints and leftover
    temp files of interrupted writes are dropped first."""
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    _remove_stale_temps(work)
    replace_dir(work, out)


def read_done(out: Path) -> RunResult:
    """The result of a complete run found on resume (nothing in memory)."""
    summary = json.loads((out / "summary.json").read_text())
    return RunResult(out, out / summary.get("model_dir", "model"), summary)
