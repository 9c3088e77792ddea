"""``obliviate tune`` on several processes (``torchrun``, or ``accelerate launch`` with or without the FSDP config):
the main process drives the studies, every process trains every trial together.

The main process alone checks the settings, measures the original model, talks to the Optuna storage (sampler,
heartbeats, pruning), scores each trial and writes the outputs. Every message is a broadcast from it, received by
the others at the same point:

    ("ready",) | ("error", message)   after its set-up: the others start following, or raise the same error
    ("trial", RunConfig)              every process runs ``unlearn`` on that config together (data parallel or
                                      sharded, as launched); the main process passes its Optuna monitor as the
                                      callback, the others one that never votes to stop — the loop stops a run
                                      when any process votes, so the monitor's pruning stops all of them
    ("done", TuneResult)              outputs written: every process returns the same result

While the main process measures a trial (and a gold model, when given), the others wait in the next broadcast:
that wait is bounded by the process group's timeout (torch's default: 30 minutes).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from obliviate.errors import ObliviateError

log = logging.getLogger(__name__)


class Group:
    """The launched processes, seen from ``tune``: :meth:`send` (main process) and :meth:`follow` (the others)."""

    def __init__(self, acc: Any) -> None:
        self.acc = acc
        self.main = acc.is_main_process

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

    def _broadcast(self, message: tuple | None) -> tuple:
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([message])[0]

    def follow(self) -> Any:
        """Other processes: train each trial the main process sends; return its result when it is done.

        Raises:
            ObliviateError: the main process's set-up failed (the same message).
        """
        from obliviate.api import unlearn

        message = self._broadcast(None)
        if message[0] == "error":
            raise ObliviateError(message[1])
        while True:
            message = self._broadcast(None)
            if message[0] == "done":
                return message[1]
            cfg = message[1]
            try:
                unlearn(cfg, progress=False, callback=_never_stop)
            except ObliviateError as e:  # raised on every process alike (a config or a non-finite loss)
                log.info("trial %s ended with an error (the main process records it): %s", cfg.output_dir, e)


def _never_stop(info: Any) -> bool:
    return False
