"""``obliviate unlearn`` / ``validate`` / ``methods``: run an unlearning job, check one, list the methods.

A run is a preset (flat YAML, see ``configs/``) plus ``key=value`` overrides of any config key, e.g.
``train.lr=1e-4``, ``method.name=npo``, ``method.args.beta=0.2``, ``data.forget=[a.jsonl,b.jsonl]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import logging
import os
import sys
import typing
from typing import Any

from obliviate.config import load_config

UNLEARN_EXAMPLES = """examples:
  # CPU-sized smoke run (built-in world, a few seconds of training):
  obliviate unlearn --config configs/smoke_tiny.yaml output_dir=runs/smoke --overwrite

  # your own model and data, NPO with LoRA, merged model written to runs/npo/model:
  obliviate unlearn --config configs/npo_lora.yaml model.path=HuggingFaceTB/SmolLM2-135M-Instruct \\
      data.forget=forget.jsonl data.retain=retain.jsonl method.args.beta=0.2 output_dir=runs/npo

  # continual unlearning: three forget requests, each starting from the previous result:
  obliviate unlearn --config configs/smoke_tiny.yaml "data.forget=[a.jsonl,b.jsonl,c.jsonl]" output_dir=runs/seq
  obliviate unlearn --config configs/mari_tiny.yaml data.split_requests=3 output_dir=runs/seq3   # world split in 3

  # continue an interrupted run (same output_dir):
  obliviate unlearn --config configs/smoke_tiny.yaml output_dir=runs/smoke --resume

  # two CPU processes, data parallel:
  ACCELERATE_USE_CPU=true OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node 2 \\
      $(which obliviate) unlearn --config configs/smoke_tiny.yaml output_dir=runs/ddp --overwrite
"""

VALIDATE_EXAMPLES = """examples:
  obliviate validate --config configs/smoke_tiny.yaml
  obliviate validate --config configs/npo_lora.yaml model.path=./my-model data.forget=forget.jsonl
"""

METHODS_EXAMPLES = """examples:
  obliviate methods                  # every method and pipeline with its options
  obliviate methods npo              # one method
  obliviate methods reveal_release   # a whole-run pipeline
"""


def _setup_logging(quiet: bool) -> None:
    # Under torchrun only rank 0 speaks; the others would print the same lines.
    main = os.environ.get("RANK", "0") == "0"
    level = logging.WARNING if quiet or not main else logging.INFO
    logging.basicConfig(level=level, format="%(message)s")
    if quiet or not main:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def run_unlearn(args: argparse.Namespace) -> int:
    from obliviate.api import unlearn

    _setup_logging(args.quiet)
    flags = [f"overwrite={args.overwrite}", f"resume={args.resume}"]
    cfg = load_config(args.config, [*args.overrides, *flags])
    result = unlearn(cfg, progress=not args.quiet)
    if os.environ.get("RANK", "0") == "0":
        s = result.summary
        print(f"{s['status']}: {s['method']}, {s['steps']} steps in {s['time_s']:.1f} s -> {result.model_dir}")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from obliviate.api import validate

    _setup_logging(quiet=True)
    report = validate(load_config(args.config, args.overrides))
    m = report["model"]
    facts = f"{m['architecture']}, vocab {m['vocab_size']}, pad token {m['pad_token']!r}"
    print(f"model    {m['path']} -> {m['resolved']} ({facts})")
    print(f"method   {report['method']}  {json.dumps(report['options'])}")
    for i, r in enumerate(report["requests"]):
        print(
            f"forget   [{i}] {r['forget']}: {r['rows']} rows, {r['examples']} examples, {r['truncated']} truncated, "
            f"{r['overlap_with_retain']} also in retain; {r['steps']} steps"
        )
    for split in ("retain", "holdout"):
        if split in report:
            s = report[split]
            facts = f"{s['rows']} rows, {s['examples']} examples, {s['truncated']} truncated"
            print(f"{split:8s} {facts} (from {s['spec']})")
    if report["lora"]:
        print(f"lora     {json.dumps(report['lora'])}")
    if report["stop_retain_drop"]:
        print(f"stop     a request stops when retain accuracy drops {100 * report['stop_retain_drop']:g} %")
    print(f"output   {report['output']['dir']} ({report['output']['status']})")
    for line in report["warnings"]:
        print(f"warning  {line}")
    print(f"ok: the config, model and data are valid ({len(report['warnings'])} warning(s))")
    return 0


def method_options(config_cls: type, prefix: str = "", instance: Any = None) -> list[dict[str, str]]:
    """The options of a method Config dataclass: ``{"name", "type", "default", "help"}``, nested ones flattened
    (``retain.kind``). Help comes from ``field(metadata={"help": ...})``; a nested option without its own help takes
    its parent field's. ``instance`` supplies the defaults of a nested config (its parent field's default, which may
    differ from the nested class's own defaults)."""
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        if instance is not None:
            default = getattr(instance, f.name)
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = f.default if f.default is not dataclasses.MISSING else None
        help_ = f.metadata.get("help", "")
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


def describe_pipelines() -> list[dict[str, Any]]:
    """Every whole-run pipeline the installed plugins provide, in :func:`describe_methods`'s shape."""
    from obliviate.pipelines import PIPELINES, pipeline_names

    return [
        {"name": n, "doc": PIPELINES.get(n).doc, "options": method_options(PIPELINES.get(n).config)}
        for n in pipeline_names()
    ]


def run_methods(args: argparse.Namespace) -> int:
    from obliviate.api import method_class
    from obliviate.pipelines import find_pipeline

    methods = describe_methods()
    pipelines = describe_pipelines()
    if args.name:
        if find_pipeline(args.name) is None:
            method_class(args.name)  # an unknown name fails here, with suggestions
        methods = [m for m in methods if m["name"] == args.name]
        pipelines = [p for p in pipelines if p["name"] == args.name]
    try:
        for m in methods + pipelines:
            kind = " (whole-run pipeline)" if m in pipelines else ""
            print(f"{m['name']}: {m['doc']}{kind}")
            for o in m["options"]:
                help_ = f"  # {o['help']}" if o["help"] else ""
                print(f"    method.args.{o['name']}: {o['type']} = {o['default']}{help_}")
        sys.stdout.flush()
    except BrokenPipeError:  # `obliviate methods | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
    return 0


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="preset YAML (see configs/); omitted: the built-in defaults")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.lr=1e-4")


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser(
        "unlearn", help="unlearn a forget set from a model", description=__doc__, epilog=UNLEARN_EXAMPLES,
        formatter_class=fmt,
    )  # fmt: skip
    _config_args(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output_dir (or interrupted run)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in output_dir")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or info logs")
    p.set_defaults(func=run_unlearn)

    p = sub.add_parser(
        "validate", help="check a config, its model path and data without training",
        description="Load the config, the tokenizer, the model's config and every data set; print what was found.",
        epilog=VALIDATE_EXAMPLES, formatter_class=fmt,
    )  # fmt: skip
    _config_args(p)
    p.set_defaults(func=run_validate)

    p = sub.add_parser(
        "methods", help="list the unlearning methods and their options",
        description="Registered methods with their options (method.args.*), defaults and help.",
        epilog=METHODS_EXAMPLES, formatter_class=fmt,
    )  # fmt: skip
    p.add_argument("name", nargs="?", help="show only this method")
    p.set_defaults(func=run_methods)
