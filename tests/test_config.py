"""The config loader: defaults <- preset <- overrides, strict keys with suggestions, type errors, presets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from obliviate.config import ConfigError, RunConfig, from_dict, load_config, parse_overrides
from obliviate.errors import ObliviateError
from obliviate.methods.base import RetainTerm

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_defaults_preset_and_overrides_in_order(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("train:\n  lr: 0.001\n  batch_size: 4\nmethod:\n  name: npo\n  args: {beta: 0.5}\n")
    cfg = load_config(preset, ["train.lr=2e-4", "method.args.gamma=2", "data.forget=[a.jsonl,b.jsonl]"])
    assert cfg.train.lr == 2e-4 and cfg.train.batch_size == 4 and cfg.train.epochs == RunConfig().train.epochs
    assert cfg.method.name == "npo" and cfg.method.args == {"beta": 0.5, "gamma": 2}
    assert cfg.data.forget == ["a.jsonl", "b.jsonl"]
    assert load_config(None, ["data.forget=one.jsonl"]).data.forget == ["one.jsonl"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.lrr=1"], r"unknown config key 'train.lrr'. Did you mean 'lr'\?"),
        (["trian.lr=1"], r"unknown config key 'trian'. Did you mean 'train'\?"),
        (["train.lr=fast"], r"train.lr: expected a number, got 'fast'"),
        (["train.max_steps=2.5"], r"train.max_steps: .*expected an integer"),
        (["lora.enabled=maybe"], r"lora.enabled: expected true/false, got 'maybe'"),
        (["train.lr"], r"override 'train.lr' must look like key=value"),
        (["train=3"], r"train: expected a mapping"),
    ],
)
def test_bad_keys_and_types_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_errors_are_obliviate_errors_and_missing_preset_is_named(tmp_path):
    assert issubclass(ConfigError, ObliviateError)
    with pytest.raises(ConfigError, match=r"config file '.*nope.yaml' does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)


@dataclass
class _MethodCfg:
    beta: float = 0.1
    retain: RetainTerm = field(default_factory=RetainTerm)


def test_nested_method_options_validate_into_the_method_config():
    args = parse_overrides(["method.args.retain.kind=kl", "method.args.beta=0.3"])["method"]["args"]
    cfg = from_dict(_MethodCfg, args, "method.args")
    assert cfg.beta == 0.3 and cfg.retain.kind == "kl" and cfg.retain.weight == 1.0
    with pytest.raises(ConfigError, match=r"unknown config key 'method.args.retain.knd'. Did you mean 'kind'"):
        from_dict(_MethodCfg, {"retain": {"knd": "kl"}}, "method.args")
    with pytest.raises(ConfigError, match="retain.kind must be one of"):
        from_dict(_MethodCfg, {"retain": {"kind": "mse"}}, "method.args")


@pytest.mark.parametrize("preset", CONFIGS, ids=lambda p: p.name)
def test_presets_are_flat_short_and_valid(preset):
    from obliviate.api import check_config
    from obliviate.pipelines import Pipeline

    assert len(preset.read_text().splitlines()) <= 60
    cfg = load_config(preset)
    runner = check_config(cfg)  # the method (or pipeline) and its options exist
    assert isinstance(runner, Pipeline) or cfg.data.forget  # a pipeline makes its own forget data
