"""The run folder (obliviate.runs): marker-only overwrite, inputs outside the output, one run per folder (a lock
held across processes), checks before the model loads, and stale temp files of an interrupted write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from obliviate import runs
from obliviate.api import unlearn
from obliviate.config import load_config
from obliviate.errors import ObliviateError


def _cfg(run_overrides, **kw):
    return load_config(None, run_overrides(**kw))


def test_overwrite_refuses_a_folder_obliviate_did_not_write(run_overrides, tmp_path):
    data = tmp_path / "run"
    data.mkdir()
    (data / "precious.jsonl").write_text('{"text": "mine"}\n')
    with pytest.raises(ObliviateError, match=r"was not written by obliviate .* --overwrite only replaces run folders"):
        unlearn(_cfg(run_overrides, overwrite=True), progress=False)
    assert (data / "precious.jsonl").read_text() == '{"text": "mine"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no partial, no lock file left


def test_overwrite_replaces_an_empty_folder_and_a_run_folder(run_overrides, tmp_path):
    (tmp_path / "run").mkdir()
    first = unlearn(_cfg(run_overrides, train__max_steps=1, overwrite=True), progress=False)
    assert runs.is_run_folder(first.run_dir) and first.summary["steps"] == 1
    second = unlearn(_cfg(run_overrides, train__max_steps=2, overwrite=True), progress=False)
    assert second.summary["steps"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_inputs_inside_the_output_folder_are_refused(run_overrides, tmp_path, tiny_rows):
    out = tmp_path / "run"
    out.mkdir()
    forget = out / "forget.jsonl"
    forget.write_text("".join(json.dumps(r) + "\n" for r in tiny_rows["forget"]))
    with pytest.raises(ObliviateError, match=r"input '.*forget.jsonl' is inside output_dir"):
        unlearn(_cfg(run_overrides, data__forget=f"[{forget}]", overwrite=True), progress=False)
    assert forget.is_file()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"train__seed": -1}, r"train.seed must be in 0..4294967295 \(got -1\)"),
        ({"train__seed": 2**32}, r"train.seed must be in 0..4294967295"),
        ({"train__max_steps": 10**12}, r"train.max_steps=1000000000000 is above the sanity limit"),
        ({"train__batch_size": 10**12}, r"train.batch_size=1000000000000 is above the sanity limit"),
        ({"lora__enabled": True, "lora__r": 0}, r"lora.r must be a positive integer"),
        ({"output_dir": "null"}, r"output_dir: expected a string, got null"),
    ],
)
def test_checks_run_before_the_model_loads_and_leave_nothing(run_overrides, tmp_path, extra, message):
    # The model path does not exist: each error must come before anything tries to load it.
    kw = {"model__path": str(tmp_path / "no-model"), **extra}
    with pytest.raises(ObliviateError, match=message):
        unlearn(_cfg(run_overrides, **kw), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_run_leaves_no_folder_it_created(run_overrides, tmp_path):
    with pytest.raises(ObliviateError, match="does not exist"):
        unlearn(_cfg(run_overrides, model__path="/no/model", output_dir=tmp_path / "a" / "b" / "run"), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_lora_error_after_loading_leaves_no_partial(run_overrides, tmp_path):
    with pytest.raises(ObliviateError, match="lora.target_modules"):
        unlearn(_cfg(run_overrides, lora__enabled=True, lora__target_modules="[no_such_module]"), progress=False)
    assert list(tmp_path.iterdir()) == []
    assert unlearn(_cfg(run_overrides, train__max_steps=1), progress=False).summary["status"] == "ok"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_parent_is_refused_before_loading(run_overrides, tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir(mode=0o500)
    try:
        with pytest.raises(ObliviateError, match=r"cannot write to .*ro'"):
            unlearn(_cfg(run_overrides, output_dir=parent / "run", model__path="/no/model"), progress=False)
    finally:
        parent.chmod(0o700)


def test_output_dir_expands_home(run_overrides, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    res = unlearn(_cfg(run_overrides, train__max_steps=1, output_dir="~/runs/x"), progress=False)
    assert res.run_dir == tmp_path / "home" / "runs" / "x" and (res.run_dir / "summary.json").is_file()
    assert runs.resolve_output("~/a") == tmp_path / "home" / "a"
    with pytest.raises(ObliviateError, match="output_dir is not set"):
        runs.resolve_output(None)


def test_resume_drops_temp_files_an_interrupted_write_left(run_overrides, tmp_path):
    out = tmp_path / "run"
    work = runs.start(out, "new", {"note": "interrupted"})
    stale = work / ".model.abc123.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    res = unlearn(_cfg(run_overrides, train__max_steps=1, resume=True), progress=False)
    assert not any(p.name.endswith(".tmp") for p in res.run_dir.iterdir())
    assert not work.exists() and res.summary["status"] == "ok"


_HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from obliviate import runs
    with runs.lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_a_second_run_on_a_locked_folder_fails_at_once_naming_the_holder(run_overrides, tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out), "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.time()
        with pytest.raises(ObliviateError, match=rf"is in use by another run \(pid {holder.pid} on host "):
            unlearn(_cfg(run_overrides), progress=False)
        assert time.time() - t0 < 10  # at once: no waiting, no model loaded
        assert not out.exists() and not runs.work_dir(out).exists()
        runs.start(out, "new", {})  # the holder's run in progress is not an interrupted one
        for cfg in (_cfg(run_overrides), _cfg(run_overrides, resume=True), _cfg(run_overrides, overwrite=True)):
            with pytest.raises(ObliviateError, match=rf"is in use by another run \(pid {holder.pid} "):
                unlearn(cfg, progress=False)
    finally:
        holder.kill()
        holder.wait()


def test_two_concurrent_cli_runs_one_completes_the_other_fails(run_overrides, tmp_path):
    """Two `obliviate unlearn` processes on one output_dir: exactly one writes the run; the other exits 2 with one
    error line (in use, or already exists if it started after the first finished); the run is consistent."""
    args = run_overrides(train__max_steps=30, train__log_every=1)
    cmd = [
        sys.executable,
        "-c",
        "import sys; from obliviate.cli import main; sys.exit(main())",
        "unlearn",
        "-q",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2], results
    err = next(e for rc, e in results if rc == 2).strip().splitlines()[-1]
    assert err.startswith("error: output_dir ") and ("in use by another run" in err or "already exists" in err), err
    out = tmp_path / "run"
    summary = json.loads((out / "summary.json").read_text())
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert summary["steps"] == 30 and steps == list(range(1, 31))  # one run's log, not two interleaved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


class _Kill(Exception):
    pass


def test_interrupted_final_write_resumes_to_the_same_run(run_overrides, tmp_path, monkeypatch):
    import obliviate.api as api

    kw = {"train__max_steps": 3, "train__save_every": 1}
    ref = unlearn(_cfg(run_overrides, **kw, output_dir=tmp_path / "ref"), progress=False)
    real = api.atomic_write_json

    def dies_on_summary(path, obj):  # the process dies after the weights, before the summary
        if path.name == "summary.json":
            raise _Kill
        real(path, obj)

    monkeypatch.setattr(api, "atomic_write_json", dies_on_summary)
    with pytest.raises(_Kill):
        unlearn(_cfg(run_overrides, **kw), progress=False)
    out, work = tmp_path / "run", runs.work_dir(tmp_path / "run")
    assert not out.exists() and (work / "model").is_dir() and not (work / "summary.json").exists()
    monkeypatch.setattr(api, "atomic_write_json", real)
    res = unlearn(_cfg(run_overrides, **kw, resume=True), progress=False)
    assert (out / "model" / "model.safetensors").read_bytes() == (
        ref.run_dir / "model" / "model.safetensors"
    ).read_bytes()
    assert [r["final"] for r in res.summary["requests"]] == [r["final"] for r in ref.summary["requests"]]
    assert not work.exists() and not any(p.name.endswith(".tmp") for p in out.iterdir())
