"""The unlearning pipeline: config -> model, data, method -> training (one or several forget requests) -> run dir.

    from obliviate import load_config, unlearn
    result = unlearn(load_config("configs/smoke_tiny.yaml", ["train.max_steps=10"]))
    print(result.summary["status"], result.model_dir)

The run folder's life (``.partial`` work dir, marker, lock, resume, overwrite, the final rename) is
:mod:`obliviate.runs`. A ``method.name`` that names a whole-run pipeline (:mod:`obliviate.pipelines`, e.g.
``reveal_release``) hands the run to that pipeline; any other names a method trained by the loop.

Continual unlearning: ``data.forget`` lists several forget sets; request ``r`` starts from request ``r-1``'s result
and the frozen reference (when the method needs one) stays the original model throughout. With
``stop_retain_drop`` a request stops early when retain accuracy falls too far (:mod:`obliviate.train.continual`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from obliviate import runs
from obliviate.config import RunConfig, from_dict, to_dict
from obliviate.errors import ObliviateError
from obliviate.methods import METHODS, Method
from obliviate.pipelines import PIPELINES, Pipeline, find_pipeline
from obliviate.receipt import write_receipt
from obliviate.runs import RunResult, work_dir
from obliviate.utils.io import atomic_dir, atomic_write_json

__all__ = ["RunResult", "check_config", "method_class", "unlearn", "validate", "work_dir"]

log = logging.getLogger(__name__)

DEFAULT_STOP_DROP = 0.03  # continual runs stop a request at a 3 % relative drop of retain accuracy


def method_class(name: str) -> type:
    """The registered method class ``name``.

    Raises:
        ObliviateError: unknown name, with close-name suggestions and the known names.
    """
    try:
        return METHODS.get(name)
    except KeyError as e:
        pipelines = f" (whole-run pipelines: {', '.join(PIPELINES.names())})" if len(PIPELINES) else ""
        raise ObliviateError(
            f"{e.args[0]}{pipelines}. Set method.name to one of them (`obliviate methods` lists them)"
        ) from None


def build_method(cfg: RunConfig) -> Method:
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


def run_inputs(cfg: RunConfig) -> list[str | None]:
    """Every input path of a run (model, tokenizer, data files): none may sit inside the output folder."""
    d = cfg.data
    return [cfg.model.path, cfg.model.tokenizer, *d.forget, d.retain, d.holdout, d.refusals]


def check_config(cfg: RunConfig) -> Method | Pipeline:
    """Every check that needs neither the model nor the data (output folder included); returns the method, or the
    pipeline when ``method.name`` names one (its options validated)."""
    from obliviate.train.plan import check_lora_config, check_train_config

    name = cfg.method.name  # a registered method needs no plugin loaded; any other name may come from one
    pipeline = PIPELINES.get(name) if name in PIPELINES else None if name in METHODS else find_pipeline(name)
    runner = None if pipeline else build_method(cfg)
    if pipeline:
        from_dict(pipeline.config, cfg.method.args, "method.args")
    check_train_config(cfg.train)
    stop_threshold(cfg)
    if cfg.lora.enabled:
        check_lora_config(cfg.lora)
    if cfg.stop_check_every < 0:
        raise ObliviateError(f"stop_check_every must be >= 0 (got {cfg.stop_check_every})")
    out = runs.resolve_output(cfg.output_dir)
    runs.plan(out, overwrite=cfg.overwrite, resume=cfg.resume, inputs=run_inputs(cfg))
    if runner is None:
        return pipeline
    # A pipeline (reveal_release) generates its forget data; every method needs data.forget.
    if not cfg.data.forget:
        raise ObliviateError("no forget set given; set data.forget to a file, dataset or world:<split>")
    if runner.needs_retain and not cfg.data.retain:
        raise ObliviateError(f"method {cfg.method.name!r} needs retain data; set data.retain")
    if getattr(runner, "needs_holdout", False) and not cfg.data.holdout:
        raise ObliviateError(
            f"method {cfg.method.name!r} with these options needs holdout data (rows of the forget set's kind that "
            "the model never saw, for its MI target); set data.holdout"
        )
    return runner


def build_all_data(cfg: RunConfig, tokenizer: Any, method: Method) -> list[Any]:
    """Tokenised data of every forget request (retain / holdout loaded once and shared)."""
    from obliviate.data import build_data, num_requests

    return [
        build_data(cfg.data, tokenizer, need_alt=method.needs_alt, request=r, seed=cfg.train.seed)
        for r in range(num_requests(cfg.data))
    ]


def _reference(method: Method, model: Any, lora: bool) -> Any:
    from obliviate.reference import Reference

    if not method.needs_reference:
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


def _train_requests(cfg, model, tokenizer, method, datas, ref, acc, work: Path, progress: bool, callback=None):
    """Train every request; on a non-finite loss, record the failure in the partial run and re-raise."""
    from functools import partial

    from obliviate.eval.certificate import request_check
    from obliviate.train.continual import run_requests
    from obliviate.train.loop import NonFiniteLossError

    check = partial(request_check, pad_id=tokenizer.pad_token_id)  # per-request MarI check of a continual run
    try:
        return run_requests(
            cfg, model, tokenizer, method, datas, ref, acc, work, threshold=stop_threshold(cfg), progress=progress,
            callback=callback, check=check,
        )  # fmt: skip
    except NonFiniteLossError as e:
        if acc.is_main_process:
            atomic_write_json(work / "summary.json", {"method": cfg.method.name, "status": "failed", "error": str(e)})
        raise


def unlearn(cfg: RunConfig, *, progress: bool = True, callback: Any = None) -> RunResult:
    """Run one unlearning job as ``cfg`` describes and save the result (see the module docstring).

    Args:
        cfg: the run config (see :mod:`obliviate.config`); ``cfg.method.args`` is validated into the method's Config.
        progress: show progress bars.
        callback: an extra :func:`obliviate.train.loop.train` callback, called every ``cfg.stop_check_every``
            steps (0: about 10 calls per request); returning True ends the request early (``obliviate tune``
            prunes trials with it).

    Returns:
        A :class:`RunResult` with the run dir, the saved model (or adapter) dir, the summary and the model itself.

    Raises:
        ObliviateError: bad config, data, model path or output dir (nothing is written), another run holding the
            output folder, or a non-finite loss (the partial run keeps its last good checkpoint; resume it after
            lowering the lr).
    """
    from obliviate.advice import run_warnings
    from obliviate.models import check_fits, load_model_and_tokenizer
    from obliviate.train.checkpoint import checkpoint_dir, read_meta
    from obliviate.train.loop import make_accelerator
    from obliviate.train.lora import attach_lora, trainable_report

    runner = check_config(cfg)
    if isinstance(runner, Pipeline):  # a whole-run recipe (reveal_release) owns its run folder
        return runner.run(cfg, progress=progress)
    method = runner
    out = runs.resolve_output(cfg.output_dir)
    status = runs.plan(out, overwrite=cfg.overwrite, resume=cfg.resume, inputs=run_inputs(cfg))
    if status == "done":
        log.info("%s is already complete; nothing to resume", out)
        return runs.read_done(out)
    acc = make_accelerator(work_dir(out))
    # Every process passes the checks above before the main one locks the folder. Starting the process group is
    # such a meeting point only the first time (tune trains many runs in one group), hence the barrier.
    acc.wait_for_everyone()
    main = acc.is_main_process
    with runs.lock(out, enabled=main):
        if main:  # again under the lock: another run may have written the folder meanwhile
            status = runs.plan(out, overwrite=cfg.overwrite, resume=cfg.resume, inputs=run_inputs(cfg), held=True)
        if status == "done":
            return runs.read_done(out)
        # Everything that can fail on bad input (model, data, LoRA targets) runs before the work dir exists.
        model, tokenizer = load_model_and_tokenizer(cfg.model)
        datas = build_all_data(cfg, tokenizer, method)
        check_fits(model, datas, cfg.data.max_length, cfg.train.batch_size)
        for line in run_warnings(cfg, datas, getattr(model, "name_or_path", None)):  # obliviate.advice
            log.warning("warning: %s", line)
        if cfg.lora.enabled:
            model = attach_lora(model, cfg.lora, seed=cfg.train.seed)
        ref = _reference(method, model, cfg.lora.enabled)
        work = runs.start(out, status, {**to_dict(cfg), "output_dir": str(out)}) if main else work_dir(out)
        acc.wait_for_everyone()
        resumed_at = read_meta(checkpoint_dir(work)) if status == "resume" else None  # for the receipt
        t0 = time.time()
        requests = _train_requests(cfg, model, tokenizer, method, datas, ref, acc, work, progress, callback)
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
        if main:
            model, _ = _save_model(cfg, model, tokenizer, work)
            atomic_write_json(work / "summary.json", summary)
            write_receipt(work, cfg, resumed=status == "resume", resumed_at=resumed_at)
            runs.finish(work, out)
        acc.wait_for_everyone()
    return RunResult(out, out / summary["model_dir"], summary, model, tokenizer)


def validate(cfg: RunConfig) -> dict[str, Any]:
    """Check a config, its model path and its data without training; return what was found.

    Returns:
        ``{"method", "options", "model", "output", "requests": [...], "retain", "holdout", "lora",
        "stop_retain_drop"}`` (a pipeline makes its own data: no requests).

    Raises:
        ObliviateError: the first problem found (the same checks :func:`unlearn` makes).
    """
    from obliviate.advice import run_warnings
    from obliviate.models import describe_model, load_tokenizer
    from obliviate.train.plan import total_steps

    runner = check_config(cfg)
    out = runs.resolve_output(cfg.output_dir)
    status = runs.plan(out, overwrite=cfg.overwrite, resume=cfg.resume, inputs=run_inputs(cfg))
    model = describe_model(cfg.model)
    tokenizer = load_tokenizer(cfg.model)
    pipeline = isinstance(runner, Pipeline)
    datas = [] if pipeline else build_all_data(cfg, tokenizer, runner)
    requests = [
        {
            "forget": d.stats.get("forget_spec"),
            **{k: d.stats["forget"][k] for k in ("rows", "examples", "truncated")},
            "overlap_with_retain": d.stats.get("overlap", 0),
            "steps": total_steps(cfg.train, len(d.forget)),
        }
        for d in datas
    ]
    split = {k: {"spec": getattr(cfg.data, k), **{s: datas[0].stats[k][s] for s in ("rows", "examples", "truncated")}}
             for k in ("retain", "holdout") if datas and k in datas[0].stats}  # fmt: skip
    config_cls = runner.config if pipeline else type(runner).Config
    return {
        "method": cfg.method.name,
        "options": asdict(from_dict(config_cls, cfg.method.args, "method.args")),
        "model": {**model, "pad_token": tokenizer.pad_token},
        "output": {"dir": str(out), "status": status},
        "requests": requests,
        **split,
        "lora": asdict(cfg.lora) if cfg.lora.enabled else None,
        "stop_retain_drop": stop_threshold(cfg),
        "warnings": run_warnings(cfg, datas, model.get("resolved")),
    }
