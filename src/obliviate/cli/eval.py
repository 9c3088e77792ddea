"""``obliviate eval``: evaluate a model on a suite against the gold (and original) model; writes eval.json."""

from __future__ import annotations

import argparse
from typing import Any

from obliviate.cli._run_folder import resolve

EXAMPLES = """examples:
  # CPU-sized, offline: the built-in world's tiny model against its gold twin (trained on first use)
  obliviate eval --model world:tiny --gold world:tiny/gold --suite world

  # an unlearning run (its folder holds model/ and config.yaml): eval.json goes into that folder; the run's
  # model.path is the original (a reference row), its world setting (world suite) or data.* (custom suite) are used
  obliviate eval --model runs/npo --gold world:tiny/gold --original world:tiny --suite world

  # TOFU from its published files (forget10_perturbed.json, retain_perturbed.json, holdout10.json, ...)
  obliviate eval --model runs/npo --gold models/tofu_retain90 --suite tofu --data data/tofu

  # MUSE News (data/news/{privleak,verbmem,knowmem}/...), your own files, lm-eval-harness on top
  obliviate eval --model runs/ga --gold models/news_retrain --suite muse --data data/news
  obliviate eval --model runs/ga --suite custom --forget f.jsonl --retain r.jsonl --holdout h.jsonl
  obliviate eval --model runs/ga --suite world --metrics +lmeval --lm-eval-limit 200

  obliviate eval --list                        # every metric with its split and definition

A rerun reuses each metric's cached result (RUN/eval_cache/) and computes only what is missing. Metrics whose
inputs are missing (no --gold, no holdout set) are reported as skipped, with the reason.
"""


def _world_root(spec: Any) -> str | None:
    """The world options of a ``world:`` forget spec (``world:uncorrelated/people=60/forget10`` -> the part before
    the split), so the world suite evaluates the world the run unlearned on."""
    spec = spec[0] if isinstance(spec, list) and len(spec) == 1 else spec
    if not isinstance(spec, str) or not spec.startswith("world:"):
        return None
    return spec.removeprefix("world:").rpartition("/")[0].removesuffix("book").strip("/") or None


def _list_metrics() -> int:
    from obliviate.eval.metrics import METRICS, metric_spec

    for name in METRICS.names():
        spec = metric_spec(name)
        print(f"{name:28s} {spec.split:32s} {spec.description}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_metrics()
    if not args.model:
        from obliviate.errors import ObliviateError

        raise ObliviateError("--model is required (a model folder, a run folder, a hub id or world:tiny)")
    from obliviate.eval import EvalOptions, evaluate
    from obliviate.receipt import refresh_results

    target = resolve(args.model, args.out, "eval")
    model, out = target.model, target.out
    options = EvalOptions(
        batch_size=args.batch_size,
        max_length=args.max_length,
        max_new_tokens=args.max_new_tokens,
        mink_k=args.mink_k,
        chat_template=args.chat_template,
        dtype=args.dtype,
        device=args.device,
        lm_eval_limit=args.lm_eval_limit,
        progress=not args.no_progress,
    )
    splits = {s: getattr(args, s) for s in ("forget", "retain", "holdout", "general") if getattr(args, s)}
    if args.suite == "custom":  # a run folder's own data fills the splits not given
        forget = target.data("forget")
        run_splits = {"forget": forget[0] if isinstance(forget, list) and len(forget) == 1 else forget}
        run_splits |= {s: target.data(s) for s in ("retain", "holdout")}
        splits = {k: v for k, v in run_splits.items() if isinstance(v, str) and v} | splits
    metrics = [m for part in (args.metrics or []) for m in part.split(",") if m]
    evaluate(
        model,
        suite=args.suite,
        run_dir=out,
        gold=args.gold,
        original=args.original or target.original,
        data=args.data or (_world_root(target.data("forget")) if args.suite in ("world", "book") else None),
        splits=splits,
        metrics=metrics or None,
        options=options,
        cache_dir=args.cache_dir,
        references=not args.no_references,
    )
    refresh_results(out)  # a run folder's receipt.json records its evaluation (no-op elsewhere)
    print(f"wrote {out / 'eval.json'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a model: forget quality vs the gold model, utility, membership attacks",
        description="Evaluate a model on a suite (world | book | tofu | muse | custom) against the gold model "
        "retrained without the forget set; writes RUN/eval.json (per-sample values + aggregates) and prints a "
        "summary.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", help="model folder, run folder (with model/), hub id, or world:tiny")
    p.add_argument("--gold", help="gold model retrained without the forget set (forget quality, PrivLeak)")
    p.add_argument("--original", help="the model before unlearning (a reference row; default: a run's model.path)")
    p.add_argument("--suite", default="world", choices=["world", "book", "tofu", "muse", "custom"],
                   help="default: world")  # fmt: skip
    p.add_argument("--data", help="world: setting prefix (uncorrelated); tofu / muse: folder of the published files")
    for split in ("forget", "retain", "holdout", "general"):
        p.add_argument(f"--{split}", help=f"{split} split spec (.jsonl / .json / .txt / dataset dir / world:...)")
    p.add_argument("--out", help="output folder for eval.json (default: the run folder, else runs/eval/<model>)")
    p.add_argument("--metrics", action="append", help="comma list replacing the suite's metrics; +name adds one")
    p.add_argument("--list", action="store_true", help="list every metric and exit")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per forward / generate call (default 8)")
    p.add_argument("--max-length", type=int, default=256, help="tokens per prompt + answer (default 256)")
    p.add_argument("--max-new-tokens", type=int, default=32, help="greedy generation budget (default 32)")
    p.add_argument("--mink-k", type=float, default=0.4, help="Min-k %% fraction (default 0.4, as OpenUnlearning)")
    p.add_argument("--chat-template", action="store_true", help="wrap prompts with the tokenizer's chat template")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="model weights dtype (default fp32)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--lm-eval-limit", type=int, help="lm-eval-harness: documents per task (default all)")
    p.add_argument("--cache-dir", help="per-metric result cache (default OUT/eval_cache)")
    p.add_argument("--no-references", action="store_true", help="do not evaluate the gold/original on the whole suite")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)
