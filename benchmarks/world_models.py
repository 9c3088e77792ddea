"""The built-in world's models and what they know, from their ``world_model.json`` records (the README's table).

    python benchmarks/world_models.py       # builds what the cache lacks (about 2 min of CPU per model), then reads

For world:tiny full and gold (forget10), correlated and uncorrelated (seed 0, 200 people): greedy exact match
(:func:`obliviate.eval.match.exact_match`) on forget10 / retain90 / general / holdout10 as recorded when each model was
built, and the guessing baselines of forget10. Writes ``benchmarks/results/world_models.{json,md}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from obliviate.utils.io import atomic_write_json, atomic_write_text
from obliviate.world import resolve_model_path
from obliviate.world.build import read_record

SPLITS = ("forget10", "retain90", "general", "holdout10")


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def render(doc: dict) -> str:
    lines = [
        "# The built-in world's models (tiny preset)",
        "",
        "Greedy exact match (`obliviate.eval.match.exact_match`) recorded when each model was built (one thread). "
        f"Regenerate: `python benchmarks/world_models.py --settings {doc['settings']}`.",
        "",
        "| model | " + " | ".join(SPLITS) + " | forget10: guess the commonest value | uniform chance |",
        "|---|" + "---|" * (len(SPLITS) + 2),
    ]
    for r in doc["models"]:
        base = r["baselines"]
        cells = [_pct(r["exact_match"][s]) for s in SPLITS]
        guess = _pct(base["forget_mode"]["all"]) if "forget_mode" in base else "–"
        chance = _pct(base["uniform_chance"]) if "uniform_chance" in base else "–"
        lines.append(f"| {r['variant']}, {r['setting']} | " + " | ".join(cells) + f" | {guess} | {chance} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--settings", default="correlated,uncorrelated")
    a = ap.parse_args()
    models = []
    for setting in a.settings.split(","):
        for variant in ("full", "gold"):
            rec = read_record(resolve_model_path(f"{setting}/tiny/{variant}", progress=False))
            models.append({"setting": setting, **{k: rec[k] for k in ("variant", "exact_match", "baselines")}})
    doc = {"settings": a.settings, "models": models}
    atomic_write_json(Path(a.out) / "world_models.json", doc)
    atomic_write_text(Path(a.out) / "world_models.md", render(doc))
    print(render(doc))


if __name__ == "__main__":
    main()
