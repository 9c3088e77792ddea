"""The unlearning pipeline: config -> model, data, method -> training (one or several forget requests) -> run dir.

    from obliviate import load_config, unlearn
    result = unlearn(load_config("configs/smoke_tiny.yaml", ["train.max_steps=10"]))
    print(result.summary["status"], result.model_dir)

A run works in ``<parent>/.<name>.partial/`` next to ``output_dir`` and is renamed to ``output_dir`` only when it
is complete, so ``output_dir`` never holds a half-written run. An interrupted run (killed, or stopped by the NaN
guard) keeps its partial folder with ``train_log.jsonl`` and ``checkpoints/``; ``resume=True`` continues it.

Continual unlearning: ``data.forget`` lists several forget sets; request ``r`` starts from request ``r-1``'s result
and the frozen reference (when the method needs one) stays the original model throughout. With
``stop_retain_drop`` a request stops early when retain accuracy falls too far (:mod:`obliviate.train.continual`).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import re
import shutil
import time
import typing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from obliviate.config import RunConfig, from_dict, to_dict
from obliviate.errors import ObliviateError
from obliviate.utils.io import atomic_dir, atomic_write_json, atomic_write_text, provenance, replace_dir

log = logging.getLogger(__name__)

DEFAULT_STOP_DROP = 0.03  # continual runs stop a request at a 3 % relative drop of retain accuracy


@dataclass
class RunResult:
    """What :func:`unlearn` returns. ``model`` / ``tokenizer`` are the trained objects in memory (None when a
    completed run was found on ``resume``)."""

    run_dir: Path
    model_dir: Path  # run_dir / "model" (merged or full model) or run_dir / "adapter" (peft adapter)
    summary: dict[str, Any]
    model: Any = None
    tokenizer: Any = None


def method_class(name: str) -> type:
    """The registered method class ``name``.

    Raises:
        ObliviateError: unknown name, with close-name suggestions and the known names.
    """
    from obliviate.methods import METHODS

    try:
        return METHODS.get(name)
    except KeyError as e:
        raise ObliviateError(f"{e.args[0]}. Set method.name to one of them (`obliviate methods` lists them)") from None


def build_method(cfg: RunConfig) -> Any:
    """Instantiate method ``cfg.method.name`` with ``cfg.method.args`` validated into its Config dataclass.

    Raises:
        ObliviateError: unknown method name or option (with a close-name suggestion), or a bad option value.
    """
    cls = method_class(cfg.method.name)
    return cls(from_dict(cls.Config, cfg.method.args, "method.args"))


def stop_threshold(cfg: RunConfig) -> float:
    """The effective ``stop_retain_drop``: None means 3 % for several requests and off for one; 0 is off.

    The rule measures retain accuracy, so without ``data.retain`` it is off (and an explicit value is an error).
    """
    drop = cfg.stop_retain_drop
    if drop is not None and not 0.0 <= drop < 1.0:
        raise ObliviateError(f"stop_retain_drop must be in [0, 1) (got {drop}); e.g. 0.03 for 3 %")
    if drop and not cfg.data.retain:
        raise ObliviateError("stop_retain_drop needs retain data to measure accuracy on; set data.retain")
    if drop is None:
        from obliviate.data import num_requests

        return DEFAULT_STOP_DROP if num_requests(cfg.data) > 1 and cfg.data.retain else 0.0
    return drop


def work_dir(output_dir: str | Path) -> Path:
    """Where a run in progress lives: ``.<name>.partial`` beside ``output_dir``."""
    out = Path(output_dir)
    return out.parent / f".{out.name}.partial"


def output_status(cfg: RunConfig) -> str:
    """``new``, ``resume`` (a partial run to continue), ``done`` (resume of a complete run) or ``overwrite``.

    Raises:
        ObliviateError: the output dir (or an interrupted run) exists and neither overwrite nor resume is set.
    """
    out, work = Path(cfg.output_dir), work_dir(cfg.output_dir)
    if cfg.overwrite and cfg.resume:
        raise ObliviateError("overwrite and resume are both set; choose one (--overwrite starts again)")
    if out.exists() and not out.is_dir():
        raise ObliviateError(f"output_dir {str(out)!r} is a file; choose a folder path")
    here = Path.cwd().resolve()
    if not out.name or out.resolve() in (here, *here.parents):
        raise ObliviateError(f"output_dir {str(out)!r} contains the current folder; choose a dedicated run folder")
    if cfg.overwrite:
        return "overwrite"
    if cfg.resume:
        return "resume" if work.is_dir() else ("done" if (out / "summary.json").is_file() else "new")
    if work.is_dir():
        raise ObliviateError(
            f"an interrupted run exists in {str(work)!r}; pass --resume to continue it or --overwrite to start again"
        )
    if out.exists() and any(out.iterdir()):
        raise ObliviateError(
            f"output_dir {str(out)!r} already exists; pass --overwrite to replace it, --resume to continue it, "
            "or set output_dir to a new folder"
        )
    return "new"


def check_config(cfg: RunConfig) -> Any:
    """All checks that need neither the model nor the data; returns the method object."""
    from obliviate.train.loop import check_train_config
    from obliviate.train.lora import OUTPUTS

    method = build_method(cfg)
    check_train_config(cfg.train)
    stop_threshold(cfg)
    if cfg.lora.enabled and cfg.lora.output not in OUTPUTS:
        raise ObliviateError(f"lora.output must be one of {', '.join(OUTPUTS)} (got {cfg.lora.output!r})")
    # A method with its own pipeline (reveal_release) generates its forget data; every other one needs data.forget.
    if not cfg.data.forget and getattr(type(method), "pipeline", None) is None:
        raise ObliviateError("no forget set given; set data.forget to a file, dataset or world:<split>")
    if getattr(method, "needs_retain", False) and not cfg.data.retain:
        raise ObliviateError(f"method {cfg.method.name!r} needs retain data; set data.retain")
    if cfg.stop_check_every < 0:
        raise ObliviateError(f"stop_check_every must be >= 0 (got {cfg.stop_check_every})")
    return method


def build_all_data(cfg: RunConfig, tokenizer: Any, method: Any) -> list[Any]:
    """Tokenised data of every forget request (retain / holdout loaded once and shared)."""
    from obliviate.data import build_data, num_requests

    datas = []
    for r in range(num_requests(cfg.data)):
        need_alt = bool(getattr(method, "needs_alt", False))
        datas.append(build_data(cfg.data, tokenizer, need_alt=need_alt, request=r, seed=cfg.train.seed))
    return datas


def _start_work_dir(cfg: RunConfig, status: str, main: bool) -> Path:
    """Create (or reuse, on resume) the work dir and write the resolved config. Main process only."""
    work = work_dir(cfg.output_dir)
    if not main:
        return work
    if status in ("new", "overwrite"):
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    resolved = {**to_dict(cfg), "overwrite": False, "resume": False}  # run flags are not part of the experiment
    if status == "resume" and (work / "config.yaml").is_file():
        _warn_changes(yaml.safe_load((work / "config.yaml").read_text()), resolved)
    atomic_write_text(work / "config.yaml", yaml.safe_dump({**resolved, **provenance()}, sort_keys=False))
    return work


def _warn_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> None:
    """Log the settings a resumed run changes (e.g. a lower train.lr after a non-finite loss)."""
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            _warn_changes(before, value, f"{prefix}{key}.")
        elif before != value:
            log.warning("resuming with %s%s=%r (was %r)", prefix, key, value, before)


def _reference(method: Any, model: Any, lora: bool) -> Any:
    from obliviate.train.reference import Reference

    if not getattr(method, "needs_reference", False):
        return None
    # Under LoRA the base weights are frozen: the same model with adapters disabled *is* the original.
    return Reference(model, via_disabled_adapter=True) if lora else Reference.copy_of(model)


def _save_model(cfg: RunConfig, model: Any, tokenizer: Any, work: Path) -> tuple[Any, Path]:
    """Write ``model/`` (safetensors + tokenizer) or ``adapter/`` atomically; returns (model, its folder)."""
    from obliviate.train.lora import merge, save_adapter

    if cfg.lora.enabled and cfg.lora.output == "adapter":
        with atomic_dir(work / "adapter") as tmp:
            save_adapter(model, tmp)
            tokenizer.save_pretrained(tmp)
        return model, work / "adapter"
    if cfg.lora.enabled:
        model = merge(model)
    with atomic_dir(work / "model") as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return model, work / "model"


def _finish(work: Path, out: Path) -> None:
    """Move the complete work dir to ``out`` (replacing an old run there); its checkpoints are no longer needed."""
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    replace_dir(work, out)


def _train_requests(cfg, model, tokenizer, method, datas, ref, acc, work: Path, progress: bool) -> list[dict]:
    """Train every request; on a non-finite loss, record the failure in the partial run and re-raise."""
    from obliviate.train.continual import run_requests
    from obliviate.train.loop import NonFiniteLossError

    try:
        return run_requests(
            cfg, model, tokenizer, method, datas, ref, acc, work, threshold=stop_threshold(cfg), progress=progress
        )
    except NonFiniteLossError as e:
        if acc.is_main_process:
            atomic_write_json(work / "summary.json", {"method": cfg.method.name, "status": "failed", "error": str(e)})
        raise


def unlearn(cfg: RunConfig, *, progress: bool = True) -> RunResult:
    """Run one unlearning job as ``cfg`` describes and save the result (see the module docstring).

    Args:
        cfg: the run config (see :mod:`obliviate.config`); ``cfg.method.args`` is validated into the method's Config.
        progress: show progress bars.

    Returns:
        A :class:`RunResult` with the run dir, the saved model (or adapter) dir, the summary and the model itself.

    Raises:
        ObliviateError: bad config, data, model path or output dir (nothing is written), or a non-finite loss
            (the partial run keeps its last good checkpoint; resume it after lowering the lr).
    """
    from obliviate.models import load_model_and_tokenizer
    from obliviate.train.loop import make_accelerator
    from obliviate.train.lora import attach_lora, trainable_report

    pipeline = getattr(method_class(cfg.method.name), "pipeline", None)
    if pipeline is not None:  # a method with its own multi-stage run (reveal_release: Reveal + Release rounds)
        return pipeline(cfg, progress=progress)
    method = check_config(cfg)
    status = output_status(cfg)
    out = Path(cfg.output_dir)
    if status == "done":
        log.info("%s is already complete; nothing to resume", out)
        summary = json.loads((out / "summary.json").read_text())
        return RunResult(out, out / summary.get("model_dir", "model"), summary)
    model, tokenizer = load_model_and_tokenizer(cfg.model)
    datas = build_all_data(cfg, tokenizer, method)
    acc = make_accelerator(work_dir(out))
    work = _start_work_dir(cfg, status, acc.is_main_process)
    acc.wait_for_everyone()
    if cfg.lora.enabled:
        model = attach_lora(model, cfg.lora)
    ref = _reference(method, model, cfg.lora.enabled)
    t0 = time.time()
    requests = _train_requests(cfg, model, tokenizer, method, datas, ref, acc, work, progress)
    report = trainable_report(model)  # after training: a method's setup may narrow what trains (rmu)
    summary = {
        "method": cfg.method.name,
        "steps": sum(r["steps"] for r in requests),
        "time_s": round(time.time() - t0, 3),
        "requests": requests,
        "status": "ok",
        "model_dir": "adapter" if cfg.lora.enabled and cfg.lora.output == "adapter" else "model",
        "trainable_parameters": asdict(report),
        "num_processes": acc.num_processes,
    }
    if acc.is_main_process:
        model, _ = _save_model(cfg, model, tokenizer, work)
        atomic_write_json(work / "summary.json", summary)
        _finish(work, out)
    acc.wait_for_everyone()
    return RunResult(out, out / summary["model_dir"], summary, model, tokenizer)


def validate(cfg: RunConfig) -> dict[str, Any]:
    """Check a config, its model path and its data without training; return what was found.

    Returns:
        ``{"method", "options", "model", "output", "requests": [...], "retain", "holdout", "steps"}``.

    Raises:
        ObliviateError: the first problem found (the same checks :func:`unlearn` makes).
    """
    from obliviate.models import describe_model, load_tokenizer
    from obliviate.train.loop import total_steps

    method = check_config(cfg)
    status = output_status(cfg)
    model = describe_model(cfg.model)
    tokenizer = load_tokenizer(cfg.model)
    datas = build_all_data(cfg, tokenizer, method) if cfg.data.forget else []  # none: the method reveals its own
    requests = [
        {
            "forget": d.stats.get("forget_spec"),
            **{k: d.stats["forget"][k] for k in ("rows", "examples", "truncated")},
            "overlap_with_retain": d.stats.get("overlap", 0),
            "steps": total_steps(cfg.train, len(d.forget)),
        }
        for d in datas
    ]
    split = {k: {s: datas[0].stats[k][s] for s in ("rows", "examples", "truncated")} for k in ("retain", "holdout")
             if datas and k in datas[0].stats}  # fmt: skip
    return {
        "method": cfg.method.name,
        "options": asdict(from_dict(type(method).Config, cfg.method.args, "method.args")),
        "model": {**model, "pad_token": tokenizer.pad_token},
        "output": {"dir": cfg.output_dir, "status": status},
        "requests": requests,
        **split,
        "lora": asdict(cfg.lora) if cfg.lora.enabled else None,
        "stop_retain_drop": stop_threshold(cfg),
    }


def _field_comments(cls: type) -> dict[str, str]:
    """Inline ``# comments`` of a dataclass's field lines (``name: type = default  # help``)."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    out = {}
    for line in lines:
        m = _FIELD_LINE.match(line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$")


def method_options(config_cls: type, prefix: str = "", instance: Any = None) -> list[dict[str, str]]:
    """The options of a method Config dataclass: ``{"name", "type", "default", "help"}``, nested ones flattened
    (``retain.kind``). Help comes from ``field(metadata={"help": ...})`` or the field line's ``# comment``.
    ``instance`` supplies the defaults of a nested config (its parent field's default, which may differ from the
    nested class's own defaults)."""
    comments = _field_comments(config_cls)
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if instance is not None:
            default = getattr(instance, f.name)
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = f.default if f.default is not dataclasses.MISSING else None
        help_ = f.metadata.get("help") or comments.get(f.name, "")
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            nested = method_options(type(default), f"{prefix}{f.name}.", default)
            for opt in nested:
                opt["help"] = opt["help"] or help_
            out += nested
            continue
        tp = getattr(hints[f.name], "__name__", str(hints[f.name]))
        out.append({"name": prefix + f.name, "type": tp, "default": repr(default), "help": help_})
    return out


def describe_methods() -> list[dict[str, Any]]:
    """Every registered method: ``{"name", "doc" (first docstring line), "options": method_options(...)}``."""
    from obliviate.methods import METHODS

    out = []
    for name in METHODS.names():
        cls = METHODS.get(name)
        doc = (inspect.getdoc(inspect.getmodule(cls)) or inspect.getdoc(cls) or "").strip().splitlines()
        out.append({"name": name, "doc": doc[0] if doc else "", "options": method_options(cls.Config)})
    return out
