"""obliviate world: build, export or describe the built-in fictitious world.

obliviate world build                         # tokenizer + tiny full and gold models (a few minutes on 2 cores)
obliviate world export --out world_data/      # every split as JSONL (QA rows and biography sentences)
obliviate world info                          # splits, guessing baselines, cached models and their exact match
"""

from __future__ import annotations

import argparse
import json

from obliviate.errors import ObliviateError

EXAMPLES = """examples:
  obliviate world build                                   # tiny full + gold (forget10), correlated, seed 0
  obliviate world build --people 100 --variants full      # CPU-sized: a 100-person world, full model only
  obliviate world build --preset small --setting uncorrelated --variants full,gold-forget05
  obliviate world export --out world_data/                # then train on world_data/train_full.jsonl yourself
  obliviate world info --setting uncorrelated
"""


def _world_prefix(args: argparse.Namespace) -> str:
    return f"{args.setting}/seed={args.seed}/people={args.people}/"


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _build(args: argparse.Namespace) -> int:
    import time

    from obliviate.world.build import build_world, read_record

    if "smol" in _names(args.preset):  # a fine-tuned pretrained model with its own record (obliviate.world.smol)
        raise ObliviateError(
            "--preset smol is not built by `obliviate world build`: world:smol is fine-tuned on first use of the "
            "spec (e.g. obliviate eval --model world:smol ...); see docs/smol.md"
        )
    t0 = time.time()
    paths = build_world(
        _world_prefix(args),
        _names(args.preset),
        _names(args.variants),
        rebuild=args.rebuild,
        progress=not args.no_progress,
    )
    for name, path in paths.items():
        rec = read_record(path)
        em = " ".join(f"{k}={v:.3f}" for k, v in rec["exact_match"].items())
        print(f"{name}: {path}\n  exact match: {em}  (built in {rec['build_time_s']} s)")
    print(f"done in {time.time() - t0:.1f} s")
    return 0


def _export(args: argparse.Namespace) -> int:
    from obliviate.world import parse_options
    from obliviate.world.export import export_world

    cfg, _ = parse_options(_world_prefix(args) + "general")
    out = export_world(cfg, args.out, overwrite=args.overwrite)
    print(f"wrote the {cfg.setting} world (seed {cfg.seed}, {cfg.people} trained people) to {out}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from obliviate.world import parse_options
    from obliviate.world.build import cache_root, world_dir
    from obliviate.world.export import describe_world

    cfg, _ = parse_options(_world_prefix(args) + "general")
    info = describe_world(cfg)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"world {cfg.setting}, seed {cfg.seed}, {cfg.people} trained people (+ holdout), key {cfg.key()}")
    for split, c in info["counts"].items():
        print(f"  {split:12s} people={c['people']:4d} qa={c['qa']:5d} bio={c['bio']:5d}")
    for split, b in info["baselines"].items():
        print(
            f"  guessing on {split}: most common forget value {b['forget_mode']['all']:.3f}, most common retain "
            f"value {b['retain_mode']['all']:.3f}, uniform chance {b['uniform_chance']:.3f}"
        )
    folder = world_dir(cfg)
    models = sorted(folder.glob("*/world_model.json")) if folder.is_dir() else []
    print(f"cache: {cache_root()}" + ("" if models else " (no models built yet: run `obliviate world build`)"))
    for rec_path in models:
        rec = json.loads(rec_path.read_text())
        em = " ".join(f"{k}={v:.3f}" for k, v in rec["exact_match"].items())
        print(f"  {rec['preset']['name']}/{rec['variant']}: {em}\n    {rec_path.parent}")
    return 0


def _add_world_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--setting",
        default="correlated",
        choices=["correlated", "uncorrelated"],
        help="correlated: forget people share values and phrasing with retain people; uncorrelated: they do not",
    )
    p.add_argument("--seed", type=int, default=0, help="world seed (people, values, splits, model init)")
    p.add_argument("--people", type=int, default=200, help="trained people (holdout people come on top)")


def _action(actions: argparse._SubParsersAction, name: str, text: str) -> argparse.ArgumentParser:
    return actions.add_parser(
        name, help=text, description=text, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "world",
        help="build, export or describe the built-in fictitious world",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="world_command", metavar="ACTION")
    build = _action(actions, "build", "train (or reuse) the world's tokenizer and models")
    _add_world_options(build)
    build.add_argument("--preset", default="tiny", help="comma-separated presets: tiny, small (default tiny)")
    build.add_argument(
        "--variants",
        default="full,gold",
        help="comma-separated: full, gold (= gold-forget10), gold-forget01/05/10 (default: full,gold)",
    )
    build.add_argument("--rebuild", action="store_true", help="retrain even when the cache has the models")
    build.add_argument("--no-progress", action="store_true", help="no progress bars")
    build.set_defaults(func=_build)
    export = _action(actions, "export", "write every split as JSONL")
    _add_world_options(export)
    export.add_argument("--out", required=True, help="output folder (created; must be new or empty)")
    export.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    export.set_defaults(func=_export)
    info = _action(actions, "info", "splits, guessing baselines and cached models")
    _add_world_options(info)
    info.add_argument("--json", action="store_true", help="print the full description as JSON")
    info.set_defaults(func=_info)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(p: argparse.ArgumentParser) -> int:
    p.print_help()
    raise ObliviateError("give an action: obliviate world build | export | info")
