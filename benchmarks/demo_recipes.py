"""The demo's recipe grid: run it, record every run, and regenerate ``RECIPES`` in ``src/obliviate/demo_recipes.py``.

    python benchmarks/demo_recipes.py                       # the whole recorded grid (72 runs, about 25 min idle)
    python benchmarks/demo_recipes.py --size small          # 2 runs per default method, 1 for dpo and rmu (18 runs)
    python benchmarks/demo_recipes.py --from-results FILE   # only regenerate RECIPES from a results file

Every run starts from the world's ``full`` model (world:tiny, correlated, forget10, seed 0, 200 people) with the
demo's budget (``DEMO_STEPS`` optimiser steps, forget batch 16, constant lr, AdamW, train seed 0) and is evaluated
like the demo (:mod:`obliviate.bench`: greedy exact match on forget10 / retain_eval / general knowledge, forget
quality against the gold model), pinned to one thread. Per method the kept run is
:func:`obliviate.bench.select_run`'s (:data:`obliviate.bench.SELECTION_RULE`).

Writes ``benchmarks/results/demo_recipes.json`` (format ``obliviate-recipe-grid/1``: reference rows, every run with
its recipe and metrics, the kept run per method) and ``.md``, then rewrites the block between ``# BEGIN RECIPES`` and
``# END RECIPES`` of ``src/obliviate/demo_recipes.py`` (``--no-write`` leaves it alone).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, fields
from pathlib import Path

from transformers.utils import logging as hf_logging

from obliviate.bench import (
    SELECTION_RULE,
    Evaluator,
    WorldChoice,
    recipes_from_results,
    reference_row,
    run_row,
    selected_runs,
)
from obliviate.demo_recipes import DEMO_STEPS, DemoRecipe
from obliviate.utils.io import atomic_write_json, atomic_write_text, provenance
from obliviate.utils.repro import REPRO_THREADS, fixed_threads

ROOT = Path(__file__).resolve().parents[1]
RECIPES_FILE = ROOT / "src" / "obliviate" / "demo_recipes.py"
METRICS = ["forget_acc", "retain_acc", "general_acc", "forget_truth_ratio", "forget_quality"]


def R(lr: float, rb: int = 64, **args) -> DemoRecipe:
    """A grid point: learning rate, retain batch size (irrelevant to ga, rmu, task_vector), method args."""
    return DemoRecipe(lr=lr, args=args, retain_batch_size=rb)


def W(weight: float) -> dict:
    return {"retain": {"weight": weight}}


# The recorded grid (the one the first demo recipes came from): method -> grid points, in run order.
GRID: dict[str, list[DemoRecipe]] = {
    "ga": [R(lr) for lr in (3e-5, 5e-5, 7e-5, 1e-4, 3e-4)],
    "graddiff": [R(lr, 16, **W(1)) for lr in (1e-4, 3e-4, 1e-3)]
    + [R(2e-4, 64, **W(1)), R(2e-4, 32, **W(3)), R(3e-4, 32, **W(3)), R(2e-4, 64, **W(3))]
    + [R(lr, 64, **W(5)) for lr in (3e-4, 4e-4, 5e-4)],
    "kl": [R(lr, 16, **W(1)) for lr in (1e-4, 3e-4, 1e-3)]
    + [R(lr, 32, **W(3)) for lr in (2e-4, 3e-4)]
    + [R(lr, 64, **W(5)) for lr in (3e-4, 5e-4)],
    "npo": [R(lr, 16, **W(1)) for lr in (1e-4, 3e-4, 1e-3)]
    + [R(2e-4, 64, **W(1)), R(2e-4, 64, **W(3)), R(2e-4, 32, **W(3)), R(3e-4, 32, **W(3))]
    + [R(lr, 64, **W(5)) for lr in (3e-4, 5e-4)],
    "simnpo": [R(lr, 16, **W(1)) for lr in (1e-4, 3e-4, 1e-3)]
    + [R(lr, 32, **W(3)) for lr in (1e-3, 2e-3)]
    + [R(1e-3, 32, gamma=1.0, **W(3))]
    + [R(lr, 64, gamma=1.0, **W(5)) for lr in (1e-3, 2e-3)],
    "idknll": [R(lr, 64, **W(5)) for lr in (3e-4, 5e-4, 1e-3)],
    "dpo": [R(lr, 64, **W(5)) for lr in (3e-4, 1e-3, 2e-3, 3e-3)] + [R(2e-3, 64, beta=0.5, **W(5))],
    "rmu": [R(lr) for lr in (1e-3, 3e-3)]
    + [R(lr, alpha=10.0) for lr in (5e-3, 1e-2)]
    + [R(1e-2, alpha=10.0, steering_coeff=5.0)]
    + [R(lr, layer=1, alpha=a) for a in (10.0, 100.0) for lr in (3e-3, 1e-2)],
    "task_vector": [R(lr, alpha=0.5) for lr in (5e-4, 1e-3)] + [R(1e-3, alpha=a) for a in (0.75, 1.0, 5.0)],
    "mari": [R(lr, 16, **W(1)) for lr in (3e-4, 1e-3, 3e-3)]
    + [R(lr, 64, **W(3)) for lr in (5e-4, 1e-3)]
    + [R(2e-3, 32, **W(3))]
    + [R(lr, 64, **W(5)) for lr in (1e-3, 2e-3)]
    + [R(lr, 64, gamma=100.0, **W(5)) for lr in (1e-3, 1.5e-3)]
    + [R(1e-3, 64, gamma=200.0, **W(5))],
}
# The small grid: indices into GRID, each method's earlier pick plus one neighbour (one point for dpo and rmu, which
# are not in the default demo), for a shared 2-core machine
SMALL = {
    "ga": [1, 2], "graddiff": [7, 8], "kl": [5, 6], "npo": [7, 8], "simnpo": [6, 7], "idknll": [1, 2], "dpo": [1],
    "rmu": [5], "task_vector": [1, 2], "mari": [6, 8],
}  # fmt: skip


def run_grid(a: argparse.Namespace) -> dict:
    from obliviate.eval import EvalOptions

    world = WorldChoice(people=a.people)
    chosen = {m: [GRID[m][i] for i in SMALL[m]] if a.size == "small" else GRID[m] for m in a.methods.split(",")}
    t0 = time.time()
    with fixed_threads(), tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        full, gold = world.build(progress=False)
        options = EvalOptions(batch_size=64, max_length=64, progress=False)
        ev = Evaluator(world, gold, full, tmp / "eval_cache", options, metrics=METRICS)
        refs = {r: reference_row(r, p, tmp, ev) for r, p in (("original", full), ("gold", gold))}
        runs = []
        for name, points in chosen.items():
            for i, recipe in enumerate(points):
                r = run_row(name, recipe, a.steps, tmp / "runs" / f"{name}_{i}", ev, progress=False)
                runs.append({k: v for k, v in r.items() if k != "run_dir"})
                m = r["metrics"]
                print(name, recipe, {k: m.get(k) for k in ("forget_acc", "retain_acc", "general_acc")}, flush=True)
    for r in refs.values():
        r.pop("run_dir")
    doc = {
        "format": "obliviate-recipe-grid/1",
        "world": asdict(world),
        "steps": a.steps,
        "size": a.size,
        "threads": REPRO_THREADS,
        "metrics": METRICS,
        "selection_rule": SELECTION_RULE,
        "references": refs,
        "runs": runs,
        "time_s": round(time.time() - t0, 1),
        **provenance(),
    }
    doc["selected"] = selected_runs(doc)
    return doc


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _fq(v: float | None) -> str:
    return "–" if v is None else f"{v:.2g}"


def _recipe(r: dict) -> str:
    args = json.dumps(r["args"], separators=(",", ":")) if r["args"] else "–"
    return f"{r['lr']:g} | {args} | {r['batch_size']} | {r['retain_batch_size']}"


def render(doc: dict) -> str:
    w, refs = doc["world"], doc["references"]
    cols = ("forget_acc", "retain_acc", "general_acc")
    head = "| forget acc % | retain acc % | general acc % | forget quality |"

    def cells(r: dict) -> str:
        m = r["metrics"]
        return " | ".join([*(_pct(m.get(c)) for c in cols), _fq(m.get("forget_quality"))])

    lines = [
        f"# The demo's recipe grid ({doc['size']}: {len(doc['runs'])} runs)",
        "",
        f"world:{w['preset']}, {w['setting']}, {w['forget_split']}, seed {w['seed']}, {w['people']} people; "
        f"{doc['steps']} steps per run, AdamW, constant lr, {doc['threads']} thread; {doc['time_s']:.0f} s in all. "
        "Accuracy: greedy exact match (`obliviate.eval.match.exact_match`) on forget10 / retain_eval / general "
        "knowledge; forget quality: KS-test p-value of the forget truth ratios against the gold model's.",
        "",
        f"Kept run per method (**bold**, written to `RECIPES`): {doc['selection_rule']}.",
        "",
        f"| model | lr | args | forget batch | retain batch {head}",
        "|---|---|---|---|---" + "|---" * 4 + "|",
        *(f"| *{n}* | | | | | {cells(refs[n])} |" for n in ("original", "gold")),
    ]
    kept = {v["run"]: v["meets_rule"] for v in doc["selected"].values()}
    for i, r in enumerate(doc["runs"]):
        name = r["name"] if i not in kept else f"**{r['name']}**" + ("" if kept[i] else " (no run meets the rule)")
        body = "failed: " + r.get("error", "") if r.get("status") == "failed" else cells(r)
        lines.append(f"| {name} | {_recipe(r['recipe'])} | {body} |")
    return "\n".join(lines) + "\n"


def recipes_source(recipes: dict[str, DemoRecipe]) -> str:
    """The ``RECIPES = {...}`` block (ruff-formatted), fields left at their defaults omitted."""
    defaults = {f.name: f.default for f in fields(DemoRecipe) if f.name not in ("lr", "args")}
    lines = ["RECIPES: dict[str, DemoRecipe] = {"]
    for name, r in recipes.items():
        parts = [f"lr={r.lr!r}"] + ([f"args={r.args!r}"] if r.args else [])
        parts += [f"{k}={getattr(r, k)!r}" for k, v in defaults.items() if getattr(r, k) != v]
        lines.append(f'    "{name}": DemoRecipe({", ".join(parts)}),'.replace("'", '"'))
    return "\n".join([*lines, "}"]) + "\n"


def write_recipes(doc: dict, path: Path = RECIPES_FILE) -> None:
    text = path.read_text()
    begin = text.index("\n", text.index("# BEGIN RECIPES")) + 1
    end = text.index("# END RECIPES")
    atomic_write_text(path, text[:begin] + recipes_source(recipes_from_results(doc)) + text[end:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["full", "small"], default="full", help="the whole grid or SMALL")
    ap.add_argument("--methods", default=",".join(GRID), help="comma-separated methods of the grid")
    ap.add_argument("--steps", type=int, default=DEMO_STEPS)
    ap.add_argument("--people", type=int, default=200, help="trained people in the world (smaller: a smoke test)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--from-results", help="skip the grid: regenerate RECIPES from this results file")
    ap.add_argument("--no-write", action="store_true", help="do not rewrite RECIPES in src/obliviate/demo_recipes.py")
    a = ap.parse_args()
    hf_logging.disable_progress_bar()  # a bar per model load would bury the results
    if a.from_results:
        doc = json.loads(Path(a.from_results).read_text())
    else:
        doc = run_grid(a)
        atomic_write_json(Path(a.out) / "demo_recipes.json", doc)
        atomic_write_text(Path(a.out) / "demo_recipes.md", render(doc))
        print(render(doc))
    if not a.no_write:
        write_recipes(doc)
        print(f"rewrote RECIPES in {RECIPES_FILE}")


if __name__ == "__main__":
    main()
