"""``obliviate certify``: the Forgetting-MarI undetectability certificate of a model (certificate.json + .md)."""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

EXAMPLES = """examples:
  # CPU-sized, offline: the built-in world's tiny model against its gold twin (both trained on first use)
  obliviate certify --model world:tiny --gold world:tiny/gold --forget world:forget10 --retain world:retain_eval \\
      --holdout world:holdout10 --out runs/cert_tiny

  # an unlearning run folder (holds model/): the certificate goes into that folder
  obliviate certify --model runs/mari --original world:tiny --gold world:tiny/gold \\
      --forget world:forget10 --retain world:retain_eval --holdout world:holdout10

  # your own data and models; a larger model on a GPU with fewer resampling replicates
  obliviate certify --model runs/npo --original meta-llama/Llama-3.2-1B --forget f.jsonl --retain r.jsonl \\
      --max-rows 400 --n-boot 200 --n-perm 200 --device cuda --dtype bf16

The pooled-MarI bounds it prints hold for token-level (word-level) detectors only; the sequence-level membership
check (per-sequence NLL ROC-AUC) is reported next to the gold model's, which is its reference point.
"""


def _model_and_out(model: str, out: str | None) -> tuple[str, Path]:
    from obliviate.errors import ObliviateError

    p = Path(model)
    if (p / "model").is_dir():
        return str(p / "model"), Path(out) if out else p
    if (p / "adapter").is_dir():
        raise ObliviateError(
            f"{model} holds only a LoRA adapter; certify needs a full model: rerun with lora.output=merged"
        )
    return model, Path(out) if out else Path("runs") / "certify" / re.sub(r"[^\w.-]+", "_", model).strip("_")


def _rows(spec: str | None, column: str, max_rows: int | None, seed: int) -> list[dict] | None:
    if not spec:
        return None
    from obliviate.data.sources import load_rows

    rows = load_rows(spec, column=column)
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
    from obliviate.eval.certificate import certify, render_markdown, write_certificate

    model_spec, out = _model_and_out(args.model, args.out)
    model, tok = _load(model_spec, args.dtype, args.device)
    rows = {s: _rows(getattr(args, s), args.column, args.max_rows, args.seed) for s in ("forget", "retain", "holdout")}
    cert = certify(
        model,
        tok,
        rows["forget"],
        rows["retain"],
        holdout_rows=rows["holdout"],
        original=_load(args.original, args.dtype, args.device),
        gold=_load(args.gold, args.dtype, args.device),
        max_length=args.max_length,
        chat_template=args.chat_template,
        batch_size=args.batch_size,
        positions=args.positions,
        n_boot=args.n_boot,
        n_perm=args.n_perm,
        seed=args.seed,
        progress=not args.no_progress,
        names={k: v for k, v in (("model", args.model), ("original", args.original), ("gold", args.gold)) if v},
    )
    path = write_certificate(cert, out)
    print(render_markdown(cert))
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "certify",
        help="MarI undetectability certificate: pooled marginal information, bounds, sequence-level MIA check",
        description="Compute the Forgetting-MarI certificate of a model on forget vs retain data: pooled MI under "
        "both Z constructions with a bootstrap CI and a permutation null, the token-level bounds it implies, and "
        "the sequence-level membership check, for the model and (when given) the original and gold models. "
        "Writes OUT/certificate.json and OUT/certificate.md.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="model folder, run folder (with model/), hub id, or world:tiny")
    p.add_argument("--forget", required=True, help="forget split (.jsonl / .json / .txt / dataset dir / world:...)")
    p.add_argument("--retain", required=True, help="retain split, ideally rows held out from training")
    p.add_argument("--holdout", help="never-trained rows of the forget distribution (forget-vs-holdout AUC)")
    p.add_argument("--original", help="the model before unlearning (same analysis, for comparison)")
    p.add_argument("--gold", help="the model retrained without the forget set (the reference AUC)")
    p.add_argument("--out", help="output folder (default: the run folder, else runs/certify/<model>)")
    p.add_argument("--column", default="text", help="text column of HF datasets / jsonl raw text (default text)")
    p.add_argument("--max-rows", type=int, help="seeded subsample of at most this many rows per split")
    p.add_argument("--max-length", type=int, default=256, help="tokens per row (default 256)")
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
