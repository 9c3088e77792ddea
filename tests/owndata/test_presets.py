"""Presets for every method, ``method.name`` switching, and the run warnings ``validate`` prints."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from obliviate.advice import run_warnings
from obliviate.api import build_method, unlearn
from obliviate.config import ConfigError, load_config
from obliviate.demo_recipes import RECIPES
from obliviate.methods import METHODS

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PIPELINES = {"reveal_release"}  # its own pipeline and preset (instruction pool + scorer, not forget data)


def test_every_method_has_a_preset_that_follows_the_demo_recipe():
    for name in set(METHODS.names()) - PIPELINES:
        cfg = load_config(CONFIGS / f"{name}.yaml")
        assert cfg.method.name == name
        build_method(cfg)  # the preset's args are valid options of the method
        if name in RECIPES:
            r = RECIPES[name]
            assert cfg.train.lr == r.lr and cfg.method.args == r.args and cfg.train.max_steps == r.steps
            assert (cfg.train.batch_size, cfg.train.retain_batch_size) == (r.batch_size, r.retain_batch_size)


def _on_test_world(world: str) -> list[str]:
    """Overrides that point a preset at the session's test world (60 people) instead of world:tiny (200 people,
    about two minutes to train on a fresh machine); the preset's method, recipe and batch sizes stay."""
    return [f"model.path=world:{world}/tiny", f"data.forget=[world:{world}/forget10]",
            f"data.retain=world:{world}/retain90", f"data.holdout=world:{world}/holdout10"]  # fmt: skip


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_preset_runs_with_its_method_and_recipe(name, tmp_path, world_models):
    over = [f"output_dir={tmp_path / name}", "train.max_steps=2", *_on_test_world(world_models["data"])]
    cfg = load_config(CONFIGS / f"{name}.yaml", over)
    result = unlearn(cfg, progress=False)
    assert result.summary["status"] == "ok" and result.summary["steps"] == 2


@pytest.mark.slow  # trains world:tiny on a fresh machine; the test above runs every preset's method and recipe
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_preset_runs_as_is(name, tmp_path):
    cfg = load_config(CONFIGS / f"{name}.yaml", [f"output_dir={tmp_path / name}", "train.max_steps=2"])
    result = unlearn(cfg, progress=False)
    assert result.summary["status"] == "ok" and result.summary["steps"] == 2


@pytest.mark.parametrize("name", sorted(set(RECIPES) - {"graddiff"}))
def test_method_name_switches_to_the_methods_own_defaults(name, caplog):
    with caplog.at_level(logging.INFO, logger="obliviate.config"):
        cfg = load_config(CONFIGS / "smoke_tiny.yaml", [f"method.name={name}"])
    assert cfg.method.args == {}
    build_method(cfg)  # graddiff's gamma / retain no longer leak into the new method
    assert sum("dropped graddiff's arguments (gamma, retain)" in r.getMessage() for r in caplog.records) == 1


def test_simnpo_keeps_its_gamma_and_args_can_be_cleared_or_given():
    cfg = load_config(CONFIGS / "smoke_tiny.yaml", ["method.name=simnpo"])
    assert build_method(cfg).cfg.gamma == 0.125
    cfg = load_config(CONFIGS / "smoke_tiny.yaml", ["method.name=simnpo", "method.args.beta=2.0"])
    assert cfg.method.args == {"beta": 2.0}
    assert load_config(CONFIGS / "smoke_tiny.yaml", ["method.args={}"]).method.args == {}
    kept = load_config(CONFIGS / "smoke_tiny.yaml", ["method.name=graddiff", "method.args.gamma=2.0"])
    assert kept.method.args == {"gamma": 2.0, "retain": {"kind": "nll", "weight": 1.0}}  # same method: merged


def test_a_method_without_options_says_so():
    cfg = load_config(CONFIGS / "smoke_tiny.yaml", ["method.name=ga", "method.args.zeta=1"])
    with pytest.raises(ConfigError, match="takes no options") as e:
        build_method(cfg)
    assert "Known keys: " not in str(e.value)


def _data(n_forget: int):
    return SimpleNamespace(forget=[{}] * n_forget)


def test_warmup_longer_than_the_run_is_warned():
    # configs/npo_lora.yaml on 16 forget rows: before the fix 5 steps under 10 warm-up steps and "ok"
    cfg = load_config(CONFIGS / "npo_lora.yaml", ["train.warmup_steps=10"])
    lines = run_warnings(cfg, [_data(16)], None)
    assert any("train.warmup_steps=10 >=" in line for line in lines)
    assert not [w for w in run_warnings(load_config(CONFIGS / "npo_lora.yaml"), [_data(16)]) if "warmup" in w]


def test_fewer_steps_than_forget_batches_is_warned():
    cfg = load_config(CONFIGS / "npo.yaml", ["train.max_steps=3"])
    assert any("see only 3 of the forget set's 25 batches" in w for w in run_warnings(cfg, [_data(400)], None))
    assert not run_warnings(load_config(CONFIGS / "npo.yaml"), [_data(400)], None)


def test_world_data_with_a_non_world_model_is_warned(tmp_path):
    cfg = load_config(CONFIGS / "npo.yaml", ["model.path=./my-gpt2"])
    (line,) = run_warnings(cfg, [], str(tmp_path))
    assert "data.forget, data.retain, data.holdout come from the built-in world" in line
    assert not run_warnings(load_config(CONFIGS / "npo.yaml"), [], None)


def test_validate_says_where_holdout_rows_come_from_and_warns(run_overrides, tiny_data_files, capsys):
    from obliviate.cli import main

    assert main(["validate", *run_overrides(train__warmup_steps=5)]) == 0
    out = capsys.readouterr().out
    assert f"holdout  3 rows, 3 examples, 0 truncated (from {tiny_data_files['holdout']})" in out
    assert "warning  request 0: train.warmup_steps=5 >= its 3 steps" in out
    assert "valid (1 warning(s))" in out
