"""``obliviate unlearn`` / ``validate`` / ``methods``: run an unlearning job, check one, list the methods.

A run is a preset (flat YAML, see ``configs/``) plus ``key=value`` overrides of any config key, e.g.
``train.lr=1e-4``, ``method.name=npo``, ``method.args.beta=0.2``, ``data.forget=[a.jsonl,b.jsonl]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os

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
  obliviate methods            # every method with its options
  obliviate methods npo        # one method
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
            print(f"{split:8s} {s['rows']} rows, {s['examples']} examples, {s['truncated']} truncated")
    if report["lora"]:
        print(f"lora     {json.dumps(report['lora'])}")
    if report["stop_retain_drop"]:
        print(f"stop     a request stops when retain accuracy drops {100 * report['stop_retain_drop']:g} %")
    print(f"output   {report['output']['dir']} ({report['output']['status']})")
    print("ok: the config, model and data are valid")
    return 0


def run_methods(args: argparse.Namespace) -> int:
    from obliviate.api import describe_methods, method_class

    methods = describe_methods()
    if args.name:
        method_class(args.name)  # an unknown name fails here, with suggestions
        methods = [m for m in methods if m["name"] == args.name]
    for m in methods:
        print(f"{m['name']}: {m['doc']}")
        for o in m["options"]:
            help_ = f"  # {o['help']}" if o["help"] else ""
            print(f"    method.args.{o['name']}: {o['type']} = {o['default']}{help_}")
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
