"""``obliviate reveal`` and ``obliviate reveal-release``: find what a model reveals, then release it in rounds.

``reveal`` searches an instruction pool with a bandit (NeuralUCB by default) for the instructions whose generations
score highest under a scorer, and writes the ranked instructions, the reward curve and a self-generated forget set
(``forget.jsonl``, prompt/answer rows the data layer reads). ``reveal-release`` runs the full method: K rounds of
Reveal + one orthogonal LoRA adapter each (see docs/reveal_release.md); it is ``obliviate unlearn`` with
``method.name=reveal_release``.
"""

from __future__ import annotations

import argparse

REVEAL_EXAMPLES = """examples:
  # CPU-sized: the built-in toxicity task (its tiny model is trained and cached on first use, ~1 min)
  obliviate reveal --model task:toxicity/test --budget 30 --out runs/reveal_tox

  # your model, your instructions, a lexicon reward, random search for comparison
  obliviate reveal --model ./my-model --pool prompts.txt --scorer lexicon:file=words.txt \\
      --policy random --budget 60 --out runs/reveal_random

  # a local toxicity classifier as the reward, options of the run as key=value
  obliviate reveal --model ./my-model --pool prompts.txt \\
      --scorer "hf_classifier:path=./toxic-clf;label=toxic" sample.k=4 forget.threshold=0.7 --out runs/r
"""

RELEASE_EXAMPLES = """examples:
  # CPU-sized: two rounds on the built-in toxicity task (a few minutes); after an interrupt, --resume goes on
  obliviate reveal-release model.path=task:toxicity/test method.args.rounds=2 output_dir=runs/rr_tox --overwrite
  obliviate reveal-release model.path=task:toxicity/test method.args.rounds=2 output_dir=runs/rr_tox --resume

  # ascent mode (NPO + retain), no orthogonality loss (ablation)
  obliviate reveal-release model.path=task:toxicity/test method.args.mode=ascent method.args.lam_orth=0 \\
      train.lr=5e-4 output_dir=runs/rr_ascent --overwrite

  # your model: pool, reward scorer, independent eval scorer and held-out prompts, retain data for utility
  obliviate reveal-release --config configs/reveal_release.yaml model.path=./my-model \\
      method.args.pool=prompts.txt method.args.scorer=lexicon:file=words.txt \\
      method.args.heldout=heldout.txt data.retain=retain.jsonl output_dir=runs/rr
"""


def run_reveal_cmd(args: argparse.Namespace) -> int:
    from obliviate.config import from_dict, merge, parse_overrides
    from obliviate.reveal.config import RevealConfig
    from obliviate.reveal.pipeline import reveal_to_dir

    flags = {"budget": args.budget, "n_init": args.n_init, "seed": args.seed, "policy": {"name": args.policy}}
    cfg = from_dict(RevealConfig, merge(flags, parse_overrides(args.overrides)), "reveal")
    res = reveal_to_dir(args.model, args.pool or "", args.scorer or "", cfg, args.out, pool_size=args.pool_size,
                        overwrite=args.overwrite, progress=not args.quiet)  # fmt: skip
    s = res.stats
    print(
        f"best reward {s['best_reward']:.3f} after {s['evaluations']} evaluations of {s['pool_size']} ({s['policy']})"
    )
    for e in res.ranked()[:5]:
        print(f"  {e['reward']:.3f}  {e['instruction']}")
    print(
        f"forget set: {s['forget']['kept']} rows (pass rate {s['forget']['pass_rate']:.2f}) -> {args.out}/forget.jsonl"
    )
    return 0


def run_release_cmd(args: argparse.Namespace) -> int:
    from obliviate.config import load_config
    from obliviate.reveal.pipeline import run_reveal_release

    flags = ["method.name=reveal_release", f"overwrite={args.overwrite}", f"resume={args.resume}"]
    result = run_reveal_release(load_config(args.config, [*args.overrides, *flags]), progress=not args.quiet)
    s = result.summary
    for r in s["requests"]:
        extra = {k: round(v, 4) for k, v in r.items() if isinstance(v, float)}
        print(f"round {r['round']} ({r['status']}): {extra}")
    if s["attack"]:
        print(f"fresh Reveal attack on the final model: best reward {s['attack']['best_reward']:.3f}")
    print(f"{s['stop_reason']}; merged model -> {result.model_dir}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("reveal", help="find the instructions that make a model reveal a concept",
                       description=__doc__, epilog=REVEAL_EXAMPLES, formatter_class=fmt)  # fmt: skip
    p.add_argument("--model", required=True, help="model dir, hub id or task:<name>[/<size>] (built-in task)")
    p.add_argument("--pool", help="instructions: .txt/.jsonl file, task:<name> or world:<split> (task default)")
    p.add_argument("--pool-size", type=int, default=0, help="search a seeded random subset of this size (0: all)")
    p.add_argument("--scorer", help="reward scorer spec, e.g. lexicon:file=words.txt (task default)")
    p.add_argument("--policy", default="neural_ucb", choices=["neural_ucb", "greedy", "random"])
    p.add_argument("--budget", type=int, default=60, help="instructions evaluated in total")
    p.add_argument("--n-init", type=int, default=10, help="random evaluations before the policy takes over")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="RevealConfig options, e.g. sample.k=4 policy.nu=1.0 forget.threshold=0.7")  # fmt: skip
    p.set_defaults(func=run_reveal_cmd)

    q = sub.add_parser("reveal-release", help="Reveal-and-Release unlearning (self-generated forget data)",
                       description=__doc__, epilog=RELEASE_EXAMPLES, formatter_class=fmt)  # fmt: skip
    q.add_argument("--config", "-c", help="preset YAML; omitted: the built-in defaults")
    q.add_argument("--overwrite", action="store_true", help="replace an existing output_dir")
    q.add_argument("--resume", action="store_true", help="continue an interrupted run: finished rounds are kept")
    q.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    q.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. method.args.rounds=2")
    q.set_defaults(func=run_release_cmd)
