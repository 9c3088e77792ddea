"""``obliviate prepare``: split your QA/text files, add perturbed answers, say what each metric has
(:mod:`obliviate.prepare`)."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  # forget 10 % of the entities, split off a holdout set of as many never-trained entities, 5 perturbed answers
  obliviate prepare --qa facts.jsonl --text bios.txt --general general.jsonl --out data/mine

  # name the entities to forget, or give the forget / holdout files yourself
  obliviate prepare --qa facts.jsonl --forget-entities "Acme Corp,Zentrix" --out data/mine
  obliviate prepare --qa facts.jsonl --forget forget.jsonl --holdout unseen.jsonl --out data/mine

Input rows: {"prompt" or "question", "answer", "entity"?, "type"?}; --entity-key / --type-key name other fields.
Next: obliviate finetune --data data/mine --fresh tiny --out runs/mine_ft   (see `obliviate finetune --help`)
"""


def run(args: argparse.Namespace) -> int:
    from obliviate.prepare import PrepareOptions, metric_needs, prepare

    opts = PrepareOptions(
        qa=args.qa, out=args.out, text=args.text or [], forget=args.forget,
        forget_entities=[e.strip() for e in (args.forget_entities or "").split(",") if e.strip()],
        forget_fraction=args.forget_fraction, holdout=args.holdout, general=args.general,
        entity_key=args.entity_key, type_key=args.type_key, perturbed=args.perturbed, seed=args.seed,
        overwrite=args.overwrite,
    )  # fmt: skip
    record = prepare(opts)
    counts = record["counts"]
    print(f"wrote {args.out}: " + ", ".join(f"{s} {n}" for s, n in counts.items()))
    for split, source in record["source"].items():
        print(f"  {split}: {source}")
    if record["perturbed_short"]:
        print(f"  note: {record['perturbed_short']} rows got fewer than {args.perturbed} perturbed answers")
    print("metrics:")
    for metrics, needs, ok in metric_needs(counts):
        print(f"  {'ok     ' if ok else 'MISSING'}  {metrics}: needs {needs}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="split your QA/text files (forget, retain, holdout), add perturbed answers",
        description="Split QA rows by entity into forget / retain / holdout (holdout: entities never trained on), "
        "route text rows to the split whose entity they name, and add seeded perturbed answers drawn from other "
        "rows' answers to the same question type. Prints what each metric needs and whether it has it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--qa", nargs="+", required=True, help="QA .jsonl/.json files")
    p.add_argument("--text", nargs="+", help="raw text: .txt (one row per line) or .jsonl with 'text'")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--forget", help="forget QA file (its rows are taken out of --qa)")
    p.add_argument("--forget-entities", help="comma list of entities to forget")
    p.add_argument("--forget-fraction", type=float, default=0.1, help="fraction of entities to forget (default 0.1)")
    p.add_argument("--holdout", help="holdout QA file (default: split off as many entities as the forget set)")
    p.add_argument("--general", help="general-knowledge QA file (model utility)")
    p.add_argument("--entity-key", help="row field naming the entity (default: entity/person/subject/author/name)")
    p.add_argument("--type-key", help="row field naming the question type (default: type/attribute/...)")
    p.add_argument("--perturbed", type=int, default=5, help="perturbed answers per row (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the splits and perturbed answers")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run)
