"""``obliviate certify``: the MarI marginal-information check of a model (certificate.json + .md).

The command keeps its name; what it proves is less than undetectability (see :mod:`obliviate.eval.certificate`).
"""

from __future__ import annotations

import argparse
import random

from obliviate.cli._run_folder import resolve

EXAMPLES = """examples:
  # CPU-sized, offline: the built-in world's tiny model against its gold twin (both trained on first use)
  obliviate certify --model world:tiny --gold world:tiny/gold --forget world:forget10 --retain world:retain_eval \\
      --holdout world:holdout10 --out runs/cert_tiny

  # an unlearning run folder (holds model/ and config.yaml): forget, retain, holdout and the original model
  # come from its config unless given; the check goes into that folder
  obliviate certify --model runs/mari --gold world:tiny/gold --retain world:retain_eval

  # your own data and models; a larger model on a GPU with fewer resampling replicates
  obliviate certify --model runs/npo --original meta-llama/Llama-3.2-1B --forget f.jsonl --retain r.jsonl \\
      --max-rows 400 --n-boot 200 --n-perm 200 --device cuda --dtype bf16

It first says whether the pooled check is informative on this data at all: when the ORIGINAL model sits inside
its own permutation null, it prints "UNINFORMATIVE HERE". The pooled-MarI bounds hold for token-level (word-level)
detectors only; the sequence-level membership check (per-sequence NLL ROC-AUC) is reported next to the gold
model's, which is its reference point.
"""


def _rows(spec: str | list[str] | None, column: str, max_rows: int | None, seed: int) -> list[dict] | None:
    """The rows of one spec, or of every forget request of a run (a list), seeded-subsampled to ``max_rows``."""
    if not spec:
        return None
    from obliviate.data.sources import load_rows

    rows = [r for one in ([spec] if isinstance(spec, str) else spec) for r in load_rows(one, column=column)]
    if max_rows and len(rows) > max_rows:
        rows = random.Random(seed).sample(rows, max_rows)  # a seeded subsample keeps the (n, V) sums small
    return rows


def _load(spec: str | None, dtype: str, device: str):
    if not spec:
        return None
    import torch

    from obliviate.config import ModelConfig
    from obliviate.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(ModelConfig(path=spec, dtype=dtype))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device), tok


def run(args: argparse.Namespace) -> int:
    from obliviate.errors import ObliviateError
    from obliviate.eval.certificate import certify, render_markdown, write_certificate
    from obliviate.receipt import refresh_results

    target = resolve(args.model, args.out, "certify")
    specs = {s: getattr(args, s) or target.data(s) for s in ("forget", "retain", "holdout")}
    for split in ("forget", "retain"):
        if not specs[split]:
            raise ObliviateError(f"--{split} is required (or give a run folder whose config.yaml has data.{split})")
    original = args.original or target.original
    max_length = args.max_length or target.data("max_length") or 256
    chat_template = args.chat_template or bool(target.data("chat_template"))
    model, tok = _load(target.model, args.dtype, args.device)
    rows = {s: _rows(spec, args.column, args.max_rows, args.seed) for s, spec in specs.items()}
    cert = certify(
        model,
        tok,
        rows["forget"],
        rows["retain"],
        holdout_rows=rows["holdout"],
        original=_load(original, args.dtype, args.device),
        gold=_load(args.gold, args.dtype, args.device),
        max_length=max_length,
        chat_template=chat_template,
        batch_size=args.batch_size,
        positions=args.positions,
        n_boot=args.n_boot,
        n_perm=args.n_perm,
        seed=args.seed,
        progress=not args.no_progress,
        names={k: v for k, v in (("model", args.model), ("original", original), ("gold", args.gold)) if v},
    )
    path = write_certificate(cert, target.out)
    refresh_results(target.out)  # a run folder's receipt.json records the verdict (no-op elsewhere)
    print(render_markdown(cert))
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "certify",
        help="MarI marginal-information check: pooled MI against a permutation null, bounds, sequence-level MIA",
        description="Compute the MarI marginal-information check of a model on forget vs retain data: whether it "
        "is informative here (the original model's position against its permutation null), pooled MI under both "
        "Z constructions with a BCa bootstrap interval and a permutation null, the token-level bounds it implies, "
        "and the sequence-level membership check, for the model and (when given) the original and gold models. "
        "Writes OUT/certificate.json and OUT/certificate.md.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="model folder, run folder (with model/), hub id, or world:tiny")
    p.add_argument("--forget", help="forget split (.jsonl / .json / .txt / dataset dir / world:...; default: a run's)")
    p.add_argument("--retain", help="retain split (default: a run's data.retain)")
    p.add_argument("--holdout", help="never-trained rows of the forget distribution (forget-vs-holdout AUC)")
    p.add_argument(
        "--original",
        help="the model before unlearning: decides whether the check is informative here "
        "(default: a run's model.path)",
    )
    p.add_argument("--gold", help="the model retrained without the forget set (the reference AUC)")
    p.add_argument("--out", help="output folder (default: the run folder, else runs/certify/<model>)")
    p.add_argument("--column", default="text", help="text column of HF datasets / jsonl raw text (default text)")
    p.add_argument("--max-rows", type=int, help="seeded subsample of at most this many rows per split")
    p.add_argument("--max-length", type=int, help="tokens per row (default: a run's data.max_length, else 256)")
    p.add_argument("--chat-template", action="store_true", help="wrap prompts with the tokenizer's chat template")
    p.add_argument(
        "--positions", default="labels", choices=["labels", "all"], help="pooled positions (default labels)"
    )
    p.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass (default 16)")
    p.add_argument("--n-boot", type=int, default=500, help="bootstrap replicates, 0 = none (default 500)")
    p.add_argument("--n-perm", type=int, default=500, help="permutation replicates, 0 = none (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling and --max-rows (default 0)")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"], help="model weights dtype (default fp32)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)
