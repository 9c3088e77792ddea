"""``obliviate tune`` end to end on a tiny memorised GPT-2: trials, outputs, pruning, resume after kill -9, and two
processes sharing one SQLite study."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from obliviate.cli import main

RUN_CLI = "import sys; from obliviate.cli import main; sys.exit(main(sys.argv[1:]))"


def _doc(out: Path) -> dict:
    return json.loads((out / "tune.json").read_text())


def _finished(trials: list[dict]) -> list[dict]:
    return [t for t in trials if t["state"] in ("COMPLETE", "PRUNED")]


def _trials_in_db(out: Path) -> list:
    """The npo study's trials as stored now ([] while the database, its tables or the study do not exist yet).

    Only a database whose schema the tune process has finished creating is opened: optuna's storage creates missing
    tables itself, and this poller must not race the process under test doing the same (an alembic_version clash)."""
    import sqlite3

    import optuna
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    db = out / "study.db"
    if not db.is_file():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
            if not con.execute("SELECT count(*) FROM alembic_version").fetchone()[0]:
                return []
    except sqlite3.Error:  # no schema yet
        return []
    try:
        return optuna.load_study(study_name="obliviate-npo", storage=f"sqlite:///{db}").get_trials()
    except (KeyError, sqlalchemy.exc.SQLAlchemyError):  # the study does not exist yet, or the database is busy
        return []


def _complete_in_db(out: Path) -> dict[int, float]:
    return {t.number: t.value for t in _trials_in_db(out) if t.state.name == "COMPLETE"}


def _spawn(argv: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # as the test process (conftest): one thread each
    return subprocess.Popen(
        [sys.executable, "-c", RUN_CLI, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )


def _wait_for(cond, timeout: float = 600.0) -> None:
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise TimeoutError("condition not reached")
        time.sleep(0.5)


def test_tune_writes_every_trial_and_the_selected_run(tmp_path, tune_argv):
    out = tmp_path / "tune"
    assert main(tune_argv(out, "--methods", "npo", "--trials", "3", "--retain-budget", "0.5")) == 0
    d = _doc(out)["studies"]["npo"]
    assert len(_finished(d["trials"])) == 3
    complete = [t for t in d["trials"] if t["state"] == "COMPLETE"]
    assert complete, "no trial completed"
    feasible = [t for t in complete if t["scores"]["feasible"]]
    best = min(feasible, key=lambda t: (t["distance"], t["scores"]["retain_drop"]))
    assert d["selected"] == best["number"]
    selected = out / "npo" / "selected"
    summary = json.loads((selected / "summary.json").read_text())
    assert summary["tune"]["trial"] == best["number"] and summary["status"] == "ok"
    assert (selected / "model" / "config.json").is_file()
    assert summary["steps"] == best["point"]["steps"]
    assert (out / "report" / "tune.md").is_file() and (out / "report" / "front_npo.png").is_file()
    # the same command again resumes the finished study: no new trial
    assert main(tune_argv(out, "--methods", "npo", "--trials", "3", "--retain-budget", "0.5")) == 0
    assert len(_doc(out)["studies"]["npo"]["trials"]) == len(d["trials"])


def test_hopeless_trial_is_pruned(tmp_path, tune_argv):
    out = tmp_path / "tune"
    # gradient ascent at lr 0.05 wrecks the tiny model within the first check (step 2 of 6)
    assert main(tune_argv(out, "--methods", "ga", "--trials", "1", "--lr", "0.05:0.05", "--steps", "6:6")) == 0
    d = _doc(out)["studies"]["ga"]
    (t,) = d["trials"]
    assert t["state"] == "PRUNED" and t["pruned_reason"], t
    assert list(t["intermediate"]) == ["2"]
    run = Path(t["run_dir"])
    assert json.loads((run / "summary.json").read_text())["steps"] == 2
    assert not (run / "model").exists()  # a pruned trial keeps its log, not its weights
    assert d["selected"] is None and not (out / "ga" / "selected").exists()


def test_output_folder_of_something_else_is_refused(tmp_path, tune_argv, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(tune_argv(out, "--methods", "npo", "--trials", "1")) == 2
    assert "holds no earlier tune" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "keep me"


def test_resume_after_kill_keeps_finished_trials(tmp_path, tune_argv):
    out = tmp_path / "tune"
    argv = tune_argv(out, "--methods", "npo", "--trials", "3", "--steps", "12:12", "--check-every", "4",
                     "--heartbeat", "1", "--retain-budget", "0.5")  # fmt: skip
    proc = _spawn(argv)
    try:
        _wait_for(lambda: len(_complete_in_db(out)) >= 1 or proc.poll() is not None)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = _complete_in_db(out)
    assert before, proc.stderr.read().decode()[-2000:]
    time.sleep(2.5)  # the killed trial's heartbeat goes stale (2 x --heartbeat)
    assert main(argv) == 0
    trials = _doc(out)["studies"]["npo"]["trials"]
    after = {t["number"]: t["distance"] for t in trials if t["state"] == "COMPLETE"}
    assert all(after[n] == pytest.approx(v) for n, v in before.items())  # finished trials kept, not rerun
    assert len(_finished(trials)) == 3
    assert all(t["state"] != "RUNNING" for t in trials)


def test_two_processes_share_one_sqlite_study(tmp_path, tune_argv):
    out = tmp_path / "tune"
    argv = tune_argv(out, "--methods", "npo", "--trials", "4", "--steps", "4:4", "--check-every", "2",
                     "--retain-budget", "0.5", "--heartbeat", "600")  # fmt: skip
    first = _spawn(argv)
    # Hold the first process inside a trial's training (it has written the trial's last attribute, so it holds no
    # database lock) until the second has started a trial: startup time under load must not decide who gets work.
    training = lambda: any(t.state.name == "RUNNING" and "violation" in t.user_attrs for t in _trials_in_db(out))  # noqa: E731
    _wait_for(lambda: training() or first.poll() is not None)
    os.kill(first.pid, signal.SIGSTOP)
    second = _spawn(argv)
    try:
        started = lambda: any(t.user_attrs.get("worker", "").endswith(f":{second.pid}") for t in _trials_in_db(out))  # noqa: E731
        _wait_for(lambda: started() or second.poll() is not None)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    for p in (first, second):
        assert p.wait(timeout=900) == 0, p.stderr.read().decode()[-2000:]
    trials = _finished(_doc(out)["studies"]["npo"]["trials"])
    assert len(trials) >= 4
    workers = {t["worker"] for t in trials}
    assert workers == {w for w in workers if w.endswith((f":{first.pid}", f":{second.pid}"))}
    assert len(workers) == 2, workers  # both processes finished trials


def test_orphaned_running_trials_are_failed_when_the_study_opens(tmp_path):
    """A trial left RUNNING by a process that died before its first heartbeat is never failed by optuna's heartbeat
    check; opening the study again fails it when its pid on this host is gone, or it never named its worker."""
    import socket
    import subprocess
    import sys

    import optuna
    from optuna.storages import RDBStorage
    from optuna.trial import TrialState

    from obliviate.tune.study import fail_orphans

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    for worker in (f"{host}:{dead.stdout.strip()}", f"{host}:{os.getpid()}", f"elsewhere:{dead.stdout.strip()}", None):
        trial = study.ask()
        if worker:
            trial.set_user_attr("worker", worker)
    assert fail_orphans(study, storage, grace=3600) == [0]  # the dead pid here; live or remote ones stay
    assert fail_orphans(study, storage, grace=0) == [3]  # no worker recorded, older than the grace period
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING, TrialState.FAIL]
