"""``obliviate verify-receipt``: recompute the SHA-256 hashes of a run's ``receipt.json`` and say whether the data,
the base model and the output still match what the run read and wrote."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  obliviate verify-receipt runs/smoke_tiny          # exit 0: every file matches; 1: the differing files are named

A receipt records the forget / retain / holdout files (or the rows of generated sources such as world:forget10),
the base model's and the output's weight files, the resolved config, library versions, the seed, whether the run
was resumed, and the evaluation / certificate found in the folder (docs/receipts.md).
"""


def run(args: argparse.Namespace) -> int:
    from obliviate.receipt import read_receipt, verify_receipt

    doc = read_receipt(args.run_dir)
    problems = verify_receipt(args.run_dir)
    counted = sum(len(e.get("files", {})) or 1 for es in doc["data"].values() for e in es)
    counted += len(doc["base_model"].get("files", {})) + len(doc["output"]["files"])
    if problems:
        print(f"mismatch: {args.run_dir} no longer matches its receipt ({len(problems)} of {counted} items):")
        for line in problems:
            print(f"  {line}")
        return 1
    cert = (doc.get("certificate") or {}).get("verdict")
    extra = f"; certificate verdict: {cert}" if cert else ""
    print(f"ok: {args.run_dir} matches its receipt ({counted} items checked{extra})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify-receipt",
        help="check that a run folder, its data and its base model still match the run's receipt.json",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN", help="a run folder written by `obliviate unlearn` (with receipt.json)")
    p.set_defaults(func=run)
