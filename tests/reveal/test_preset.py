"""configs/reveal_release.yaml: the pipeline's preset validates on the small task, and (slow) runs as is."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from obliviate.api import unlearn, validate
from obliviate.config import load_config
from obliviate.reveal.config import RevealReleaseConfig

PRESET = Path(__file__).resolve().parents[2] / "configs" / "reveal_release.yaml"
SHRUNK = ["method.args.rounds=1", "method.args.steps=2", "method.args.reveal.budget=4", "method.args.reveal.n_init=2",
          "method.args.final_attack=false"]  # fmt: skip


def test_preset_spells_out_the_pipeline_defaults_and_validates(toxicity_task, tmp_path):
    cfg = load_config(PRESET, ["model.path=task:toxicity/test", f"output_dir={tmp_path / 'rr'}"])
    report = validate(cfg)
    assert report["method"] == "reveal_release" and report["requests"] == []
    defaults = dataclasses.asdict(RevealReleaseConfig())
    for key, value in cfg.method.args.items():
        expected = defaults[key] if key != "reveal" else {k: defaults["reveal"][k] for k in value}
        assert value == expected, key


@pytest.mark.slow  # trains task:toxicity (default size) on a fresh machine; test_toxicity_e2e covers the pipeline
def test_preset_runs_as_is(tmp_path):
    cfg = load_config(PRESET, [f"output_dir={tmp_path / 'rr'}", *SHRUNK])
    result = unlearn(cfg, progress=False)
    assert result.summary["rounds_kept"] or result.summary["stop_reason"]
