"""The multi-process tune protocol (obliviate.tune.group) with the broadcast replaced by a recorder: what the main
process sends when, and what the other processes do with each message (the real 2-process launches are in
test_tune_launched.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from obliviate.errors import ObliviateError
from obliviate.tune.group import Group, together


class Recorded(Group):
    """Main process: records what it sends. Other process: receives ``inbox`` in order."""

    def __init__(self, main: bool, inbox: list | None = None) -> None:
        super().__init__(SimpleNamespace(is_main_process=main))
        self.sent: list[tuple] = []
        self.inbox = list(inbox or [])

    def _broadcast(self, message):
        if self.main:
            self.sent.append(message)
            return message
        return self.inbox.pop(0)


def test_errors_reach_the_others_only_while_they_wait_for_a_message():
    procs = Recorded(main=True)
    procs.fail(ObliviateError("tune needs data.holdout"))  # set-up: the others wait for the first message
    with together(procs, "cfg"):
        pass
    with pytest.raises(ObliviateError), together(procs, "cfg2"):  # raised on every process alike: all wait again
        raise ObliviateError("non-finite loss")
    procs.fail(ValueError("bad tune.json"))  # after the trials (say, writing the outputs)
    with pytest.raises(RuntimeError), together(procs, "cfg3"):  # inside the training: the others are in it too
        raise RuntimeError("gloo connection closed")
    procs.fail(RuntimeError("gloo connection closed"))
    assert procs.sent == [
        ("error", "tune needs data.holdout"), ("trial", "cfg"), ("trial", "cfg2"),
        ("error", "the main process stopped: ValueError('bad tune.json')"), ("trial", "cfg3"),
    ]  # fmt: skip


def test_the_others_return_the_result_or_raise_the_main_process_error():
    assert Recorded(main=False, inbox=[("done", "result")]).follow() == "result"
    with pytest.raises(ObliviateError, match="^tune needs data.holdout$"):
        Recorded(main=False, inbox=[("error", "tune needs data.holdout")]).follow()
