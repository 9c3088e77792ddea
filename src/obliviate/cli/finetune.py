"""``obliviate finetune``: train the original and the gold model on your own corpus (:mod:`obliviate.finetune`)."""

from __future__ import annotations

import argparse
import os

EXAMPLES = """examples:
  # your own data from raw files (examples/own_data in the repository): split + perturbed answers, then
  # original + gold from scratch (a tiny GPT-2 and a tokenizer trained on the corpus; CPU, minutes)
  obliviate prepare --qa examples/own_data/facts.jsonl --text examples/own_data/catalogue.txt \\
      --general examples/own_data/general.jsonl --entity-key company --out data/mine
  obliviate finetune --data data/mine --fresh tiny --out runs/mine_ft
  #   -> runs/mine_ft/original/ and runs/mine_ft/gold/ (save_pretrained folders), runs/mine_ft/finetune.json

  # then unlearn the forget set from the original and compare with the gold model
  obliviate unlearn --config configs/npo.yaml model.path=runs/mine_ft/original data.forget=data/mine/forget.jsonl \\
      data.retain=data/mine/retain.jsonl data.holdout=data/mine/holdout.jsonl output_dir=runs/mine_npo
  obliviate eval --model runs/mine_npo --gold runs/mine_ft/gold --original runs/mine_ft/original --suite custom \\
      --forget data/mine/forget.jsonl --retain data/mine/retain.jsonl --holdout data/mine/holdout.jsonl \\
      --general data/mine/general.jsonl

  # start from a local or hub model instead, LoRA, a step budget
  obliviate finetune --data data/mine --model ./my-gpt2 --lora --lr 1e-4 --max-steps 500 --out runs/mine_ft

  # plain files without prepare: the forget rows are left out of the gold model's training
  obliviate finetune --data corpus.jsonl bios.txt --forget forget.jsonl --fresh tiny --out runs/ft

  # continue an interrupted run
  obliviate finetune --data data/mine --fresh tiny --out runs/mine_ft --resume
"""


def run(args: argparse.Namespace) -> int:
    from obliviate.cli.unlearn import _setup_logging
    from obliviate.finetune import FinetuneOptions, finetune

    _setup_logging(args.no_progress)  # under torchrun / accelerate launch only rank 0 speaks

    data = args.data[0] if len(args.data) == 1 else args.data
    opts = FinetuneOptions(
        data=data, out=args.out, forget=args.forget or [], model=args.model, fresh=args.fresh,
        vocab_size=args.vocab_size, target=args.target, max_steps=args.max_steps, check_every=args.check_every,
        lr=args.lr, batch_size=args.batch_size, warmup_steps=args.warmup_steps, max_length=args.max_length,
        lora=args.lora, seed=args.seed, models=tuple(args.models.split(",")), resume=args.resume,
        overwrite=args.overwrite, progress=not args.no_progress,
    )  # fmt: skip
    summary = finetune(opts)
    if os.environ.get("RANK", "0") != "0":
        return 0
    for name, rec in summary["models"].items():
        em = ", ".join(f"{s} {v:.0%}" for s, v in rec["exact_match"].items() if v is not None)
        status = "reached" if rec["reached_target"] else "did NOT reach"
        print(f"{name:8s} {rec['steps']:5d} steps {rec['time_s']:7.1f} s  {status} target {args.target:.0%}  ({em})")
    print(f"wrote {args.out}/original, {args.out}/gold and {args.out}/finetune.json")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="train the original and the gold model (without the forget set) on your own corpus",
        description="Train the ORIGINAL model on every training row and the GOLD model on the same rows minus the "
        "forget set, with one recipe and seed, until greedy exact match on the QA rows reaches --target or "
        "--max-steps is spent. Writes OUT/original, OUT/gold (save_pretrained folders) and OUT/finetune.json.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", nargs="+", required=True, help="a folder from `obliviate prepare`, or corpus files")
    p.add_argument("--forget", action="append", help="forget file(s) when --data lists files")
    p.add_argument("--out", required=True, help="run folder (original/, gold/, finetune.json)")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--model", help="local folder or hub id of a causal LM to fine-tune")
    start.add_argument("--fresh", choices=["tiny", "small"], help="a fresh model with a tokenizer trained on the data")
    p.add_argument("--vocab-size", type=int, default=2048, help="tokenizer size with --fresh (default 2048)")
    p.add_argument("--target", type=float, default=0.95, help="exact match on the QA rows to stop at (default 0.95)")
    p.add_argument("--max-steps", type=int, default=3000, help="step budget per model (default 3000)")
    p.add_argument("--check-every", type=int, default=0, help="steps between target checks (default: 5 epochs)")
    p.add_argument(
        "--lr", type=float, default=3e-3, help="learning rate (default 3e-3: from scratch; ~1e-4 with LoRA)"
    )
    p.add_argument("--batch-size", type=int, default=32, help="rows per step (default 32)")
    p.add_argument("--warmup-steps", type=int, default=20, help="linear warm-up steps (default 20)")
    p.add_argument("--max-length", type=int, default=128, help="tokens per row (default 128)")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (merged into the saved models)")
    p.add_argument("--seed", type=int, default=0, help="init and data-order seed, shared by both models")
    p.add_argument("--models", default="original,gold", help="which to train (default original,gold)")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the models in --out")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=run)
