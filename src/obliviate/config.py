"""Typed run configuration: dataclass defaults <- flat YAML preset <- ``key.sub=value`` overrides. Strict.

Unknown keys and type mismatches fail with one line naming the key and the fix; the resolved config is saved into
every run directory as its ``config.yaml`` (see :func:`obliviate.runs.start`).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from obliviate.errors import ObliviateError

log = logging.getLogger(__name__)


class ConfigError(ObliviateError):
    """A bad config value or key; the message names the key and how to fix it."""


@dataclass
class ModelConfig:
    path: str = "world:tiny"  # local dir, hub id, or world:<preset> for the built-in world's full model
    tokenizer: str | None = None  # defaults to `path`
    dtype: str = "fp32"  # fp32 | bf16 (weights); see train.bf16 for autocast
    trust_remote_code: bool = False  # off unless you trust the model repository's code
    gguf_file: str | None = None  # load a .gguf file inside `path` (dequantised to dtype)
    allow_pickle: bool = False  # load pickle weights (pytorch_model.bin): they can run code; safetensors otherwise


@dataclass
class LoraConfig:
    enabled: bool = False
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] | str = "all-linear"
    output: str = "merged"  # merged (plain model) | adapter (peft adapter dir)


@dataclass
class DataConfig:
    forget: list[str] = field(
        default_factory=list
    )  # one path per forget request (jsonl / txt / hf dataset dir / world:<split>)
    retain: str | None = None
    holdout: str | None = None
    column: str = "text"  # text column for HF datasets / jsonl raw text
    max_length: int = 256  # tokens; longer rows are truncated and counted in the log
    txt_window: int = 128  # token window for plain .txt files
    chat_template: bool = False  # wrap prompts with tokenizer.apply_chat_template
    refusals: str | None = None  # file with one refusal answer per line (idknll / dpo); built-in list otherwise
    split_requests: int = 1  # continual unlearning: cut each forget set into this many sequential requests


@dataclass
class TrainConfig:
    lr: float = 1e-5
    batch_size: int = 8  # forget sequences per micro-batch (per process)
    retain_batch_size: int | None = None  # defaults to batch_size
    grad_accum: int = 1
    max_steps: int | None = None  # optimiser steps; overrides epochs
    epochs: float = 1.0  # passes over the forget set
    warmup_steps: int = 0
    scheduler: str = "constant"  # constant | linear | cosine (all after warmup)
    weight_decay: float = 0.0
    clip_grad: float = 1.0  # max grad norm; 0 disables
    bf16: bool = False  # bf16 autocast
    save_every: int = 0  # checkpoint every N optimiser steps (0: only the final model)
    log_every: int = 1
    seed: int = 0


@dataclass
class MethodSpec:
    name: str = "graddiff"
    args: dict[str, Any] = field(default_factory=dict)  # validated into the method's own Config dataclass


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    method: MethodSpec = field(default_factory=MethodSpec)
    lora: LoraConfig = field(default_factory=LoraConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output_dir: str = "runs/unlearn"
    overwrite: bool = False
    resume: bool = False
    stop_retain_drop: float | None = (
        None  # continual unlearning: stop a request when retain accuracy drops more (0.03 = 3 %)
    )
    # (None: 0.03 when there are several requests (data.forget entries x data.split_requests), off for one; 0: off)
    stop_check_every: int = 0  # optimiser steps between retain-accuracy checks (0: about 10 checks per request)


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML/CLI value to the annotated type, or raise ConfigError naming the key."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and str in args:  # `list[str] | str` keeps a plain string a string
            return value
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: cannot use {value!r} ({'; '.join(errors)})")
    if origin is list:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v] if "," in value or not value else [value]
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_coerce(v, args[0] if args else Any, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if tp is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if tp is str:
        if value is None:
            raise ConfigError(f"{key}: expected a string, got null")
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict) and not isinstance(value, tp):
            names = [f.name for f in dataclasses.fields(tp)]
            shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
            raise ConfigError(f"{key}: expected a mapping of options ({shown}), got {value!r}; e.g. {key}.{names[0]}=")
        return from_dict(tp, value, key)
    return value


def _with_field_default(f: dataclasses.Field, value: Any) -> Any:
    """A partial mapping for a nested dataclass field keeps the field's own default values for the keys it does not
    set (``retain: {weight: 2}`` on a field defaulting to ``RetainTerm(kind="kl")`` stays ``kl``)."""
    if not isinstance(value, dict):
        return value
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    if dataclasses.is_dataclass(default) and not isinstance(default, type):
        return merge(dataclasses.asdict(default), value)
    return value


def _nested_spelling(key: str, hints: dict[str, Any]) -> list[str]:
    """``retain_weight`` -> ``["retain.weight"]`` when field ``retain`` is a dataclass with a ``weight`` field (an
    old flat key of an option that moved into a group)."""
    for name, tp in hints.items():
        rest = key[len(name) + 1 :] if key.startswith(f"{name}_") else ""
        if rest and dataclasses.is_dataclass(tp) and rest in {f.name for f in dataclasses.fields(tp)}:
            return [f"{name}.{rest}"]
    return []


def from_dict(cls: type, data: Any, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a (nested) mapping; unknown keys fail with a close-name suggestion."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in fields:
            close = _nested_spelling(str(k), hints) or difflib.get_close_matches(str(k), list(fields), n=1)
            known = f" Known keys: {', '.join(fields)}" if fields else f" {cls.__name__} takes no options."
            hint = f" Did you mean {close[0]!r}?" if close else known
            raise ConfigError(f"unknown config key {key!r}.{hint}")
        kwargs[k] = _coerce(_with_field_default(fields[k], v), hints[k], key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{prefix or cls.__name__}: {e}") from None


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """``["train.lr=1e-4", "method.args.beta=0.2"]`` -> nested dict; values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value (e.g. train.lr=1e-4)")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override {item!r} has an empty key part; write dotted keys like train.lr=1e-4")
        try:
            if any(isinstance(t, yaml.TagToken) for t in yaml.scan(raw)):  # !!python/..., !!binary: plain values only
                raise ConfigError(
                    f"override {item!r} carries a YAML tag; tags are not allowed in overrides: give a plain value "
                    "(quote it if it starts with '!')"
                )
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            first = str(e).splitlines()[0]
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({first}); quote it") from None
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with an earlier value for {p!r}")
        node[parts[-1]] = value
    return out


def merge(base: dict[str, Any], upd: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``upd`` wins; nested mappings merge."""
    out = dict(base)
    for k, v in upd.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist; pass an existing YAML preset (see configs/)")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping at the top level")
    return data


PROVENANCE_KEYS = ("obliviate_version", "git_sha")  # stamped into saved configs by utils.io.provenance()


def _switch_method(data: dict[str, Any], upd: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the preset's ``method.args`` when ``upd`` names another method (its own defaults apply) or
    sets ``method.args={}`` (clear them); the overrides' own ``method.args`` are merged afterwards."""
    method, new = data.get("method") or {}, upd.get("method") or {}
    if not isinstance(method, dict) or not isinstance(new, dict) or not method.get("args"):
        return data
    switched = "name" in new and new["name"] != method.get("name", MethodSpec.name)
    if not switched and new.get("args") != {}:
        return data
    if switched:
        old = method.get("name", MethodSpec.name)
        log.info("method.name=%s: dropped %s's arguments (%s)", new["name"], old, ", ".join(map(str, method["args"])))
    return {**data, "method": {**method, "args": {}}}


def load_config(preset: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Defaults <- preset YAML <- dotlist overrides, validated into a :class:`RunConfig`."""
    data = load_yaml(preset) if preset else {}
    for key in PROVENANCE_KEYS:  # a run's saved config.yaml works as a preset
        data.pop(key, None)
    upd = parse_overrides(list(overrides or []))
    data = merge(_switch_method(data, upd), upd)
    if isinstance(data.get("data", {}).get("forget"), str):
        data["data"]["forget"] = [data["data"]["forget"]]
    return from_dict(RunConfig, data)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
