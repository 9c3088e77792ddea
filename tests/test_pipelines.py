"""Whole-run pipelines live in their own registry, provided by the applications through the plugin entry points;
methods follow one declared contract; `obliviate methods` lists both and survives a closed pipe."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from obliviate.cli import main
from obliviate.config import load_config

_MAIN = "import sys; from obliviate.cli import main; sys.exit(main())"


def test_methods_package_imports_no_application():
    code = (
        "import json, sys, obliviate.methods, obliviate.api; "
        "print(json.dumps([m for m in sys.modules if m.startswith(('obliviate.reveal', 'obliviate.world'))]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert json.loads(proc.stdout) == []


def test_reveal_release_is_a_pipeline_found_through_the_plugin():
    from obliviate.api import check_config
    from obliviate.methods import METHODS
    from obliviate.pipelines import Pipeline, find_pipeline
    from obliviate.reveal.config import RevealReleaseConfig

    assert "reveal_release" not in METHODS and find_pipeline("npo") is None
    pipeline = find_pipeline("reveal_release")
    assert isinstance(pipeline, Pipeline) and pipeline.config is RevealReleaseConfig
    # no data.forget needed: the pipeline reveals its own
    cfg = load_config(None, ["method.name=reveal_release", "model.path=task:toxicity/test", "output_dir=/tmp/x/rr"])
    assert check_config(cfg) is pipeline


def test_every_method_declares_the_whole_protocol():
    import inspect

    from obliviate.methods import METHODS, Method
    from obliviate.train import loop

    for name in METHODS.names():
        cls = METHODS.get(name)
        method = cls(cls.Config())
        assert isinstance(method, Method), name
        assert isinstance(method.disable_dropout, bool), name
    assert "getattr(method" not in inspect.getsource(loop)  # the loop reads the declared hooks only


def test_methods_lists_pipelines_and_their_options(capsys):
    assert main(["methods", "reveal_release"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("reveal_release: Reveal-and-Release") and "(whole-run pipeline)" in out
    assert "method.args.rounds: int = 3  # rounds at most" in out
    assert "method.args.ascent.retain.kind: str = 'nll'  # " in out


@pytest.mark.parametrize("old", ["method.args.retain_weight=2", "method.args.retain=ce"])
def test_old_retain_keys_name_the_new_one(old, capsys):
    assert main(["validate", "method.name=mari", old]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("'retain.weight'" in err or "method.args.retain.kind=" in err), err


def test_methods_into_a_closed_pipe_exits_quietly():
    proc = subprocess.Popen([sys.executable, "-c", _MAIN, "methods"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written (`obliviate methods | head -0`)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and err.decode().strip() == ""
