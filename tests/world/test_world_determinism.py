"""A world model comes out bit-for-bit the same whatever ``torch.set_num_threads`` the caller chose (issue #9: the
demo's numbers differed between machines). Without :func:`obliviate.utils.repro.fixed_threads` in the build, the
weight gradients reduce in a thread-count-dependent order and the weights differ after the first step."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import torch

from obliviate.model_presets import get_preset
from obliviate.world.build import build_model, read_record
from obliviate.world.people import WorldConfig

# the record fields that legitimately differ between two builds (wall times)
_VOLATILE = {"build_time_s", "time_s", "train_time_s"}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def test_world_build_is_identical_across_thread_counts(tmp_path, monkeypatch):
    from safetensors.torch import load_file

    monkeypatch.setenv("OBLIVIATE_CACHE", str(tmp_path / "cache"))
    tiny = get_preset("tiny")
    preset = replace(tiny, recipe=replace(tiny.recipe, epochs=1))  # 17 optimiser steps: a few seconds
    cfg = WorldConfig(people=20)
    before = torch.get_num_threads()
    builds = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            path = build_model(cfg, preset, "full", progress=False)
            weights = load_file(str(path / "model.safetensors"))
            curve = json.loads((path / "loss_curve.json").read_text())
            builds.append((weights, _stable(read_record(path)), [p["loss"] for p in curve]))
            assert torch.get_num_threads() == threads  # the build restores the caller's setting
            shutil.rmtree(path)  # the second build trains again (the tokenizer is reused)
    finally:
        torch.set_num_threads(before)
    (w1, rec1, loss1), (w2, rec2, loss2) = builds
    assert w1.keys() == w2.keys()
    assert all(torch.equal(w1[k], w2[k]) for k in w1), "weights differ between thread counts"
    assert loss1 == loss2 and rec1 == rec2
    assert rec1["training"]["steps"] > 1
