"""``obliviate tune`` on several processes (``torchrun``, or ``accelerate launch`` with or without the FSDP config):
the main process drives the studies, every process trains every trial together.

The main process alone checks the settings, measures the original model, talks to the Optuna storage (sampler,
heartbeats, pruning), scores each trial and writes the outputs. Every message is a broadcast from it, received by
the others at the same point (waiting for the next message):

    ("trial", RunConfig)    every process runs ``unlearn`` on that config together (data parallel or sharded, as
                            launched); the main process passes its Optuna monitor as the callback, the others one
                            that never votes to stop — the loop stops a run when any process votes, so the
                            monitor's pruning stops all of them
    ("done", TuneResult)    outputs written: every process returns the same result
    ("error", message)      the main process failed while the others were waiting: they raise it too

An error the main process meets *inside* a trial's training (the others are then inside it as well) is not
broadcast: that process exits and the launcher stops the rest. While the main process scores a trial (and a gold
model, when given), the others wait in the next broadcast, within the process group's timeout (torch's defaults:
30 minutes for gloo, on CPU; 10 minutes for NCCL, on GPUs).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from obliviate.errors import ObliviateError

log = logging.getLogger(__name__)


class Group:
    """The launched processes, seen from ``tune``: the main process sends, the others :meth:`follow`."""

    def __init__(self, acc: Any) -> None:
        self.acc = acc
        self.main = acc.is_main_process
        self.training = False  # main process: a trial is being trained (the others are not waiting for a message)

    @classmethod
    def start(cls) -> Group | None:
        """Join the launched processes (the loop's accelerator starts the process group); None for one process."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return None
        from obliviate.train.loop import make_accelerator

        return cls(make_accelerator())

    def send(self, *message: Any) -> None:
        """Main process: broadcast ``message`` to the others."""
        self._broadcast(message)

    @contextlib.contextmanager
    def trial(self, cfg: Any) -> Iterator[None]:
        """Main process: send ``cfg``; the others train it while the body (the main process's ``unlearn``) runs.
        An ObliviateError is raised on every process alike (a config, a non-finite loss): all wait again."""
        self.send("trial", cfg)
        self.training = True
        try:
            yield
        except ObliviateError:
            self.training = False
            raise
        self.training = False

    def fail(self, error: Exception) -> None:
        """Main process: pass ``error`` on to the others if they are waiting for a message (not inside a trial)."""
        if not self.training:
            text = str(error) if isinstance(error, ObliviateError) else f"the main process stopped: {error!r}"
            self.send("error", text)

    def _broadcast(self, message: tuple | None) -> tuple:
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([message])[0]

    def follow(self) -> Any:
        """Other processes: train each trial the main process sends; return its result when it is done.

        Raises:
            ObliviateError: the main process failed (its message).
        """
        from obliviate.api import unlearn

        while True:
            kind, payload = self._broadcast(None)
            if kind == "done":
                return payload
            if kind == "error":
                raise ObliviateError(payload)
            try:
                unlearn(payload, progress=False, callback=_never_stop)
            except ObliviateError as e:  # raised on every process alike (a config or a non-finite loss)
                log.info("trial %s ended with an error (the main process records it): %s", payload.output_dir, e)


def together(procs: Group | None, cfg: Any) -> contextlib.AbstractContextManager:
    """``procs.trial(cfg)``, or nothing to do for a single process."""
    return procs.trial(cfg) if procs is not None else contextlib.nullcontext()


def _never_stop(info: Any) -> bool:
    return False
