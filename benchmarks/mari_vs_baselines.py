"""MarI against the baselines GA, GradDiff, KL and NPO on the built-in world, side by side (a benchmark, not a test).

    python benchmarks/mari_vs_baselines.py                     # world:tiny, forget10, full grid (~30 min, 1 core)
    python benchmarks/mari_vs_baselines.py --quick             # one grid point per method (a few minutes)

Every run starts from the same original model (``world:<preset>``) on the same split, with the same budget (steps,
forget / retain batch sizes, AdamW, constant lr). γ (or the forget weight) and lr come from a small grid per method;
every grid run is reported, and per method the run kept for the summary is the one
:func:`obliviate.bench.select_run` picks (the demo's rule: retain and general-knowledge accuracy kept, then forget
accuracy closest to the gold model's). Runs, evaluation and certificates go through :mod:`obliviate.bench`, as in
``obliviate demo``.

Per run: forget / retain / holdout QA accuracy (``obliviate.eval.match.exact_match``), the gap to the gold model,
the certificate's pooled MarI (``unlearn_vs_retain``, nats) and sequence-level AUC (forget vs retain) next to the
gold model's. Per method: the training step time as a ratio to GradDiff's and the peak step memory (allocations
during one optimiser step) as a ratio to KL's, measured on identical batches. A second table measures the pooled
softmax alone (chunked custom autograd vs plain autograd) at a larger vocabulary.

Writes ``benchmarks/results/mari_vs_baselines.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from obliviate import losses
from obliviate.bench import SELECTION_RULE, Evaluator, WorldChoice, certify_run, reference_row, run_row, select_run
from obliviate.config import ModelConfig
from obliviate.demo_recipes import DemoRecipe
from obliviate.utils.io import atomic_write_json, atomic_write_text

GRID = {  # method -> list of (method.args, lr); GA has no weight to tune (Adam is invariant to scaling its loss)
    "ga": [({}, lr) for lr in (3e-5, 1e-4, 3e-4)],
    "graddiff": [({"gamma": g}, lr) for g in (0.5, 1.0) for lr in (3e-5, 1e-4, 3e-4)],
    "kl": [({"gamma": g}, lr) for g in (0.5, 1.0) for lr in (3e-5, 1e-4, 3e-4)],
    "npo": [({"gamma": g}, lr) for g in (0.5, 1.0) for lr in (3e-5, 1e-4, 3e-4)],
    "mari": [({"gamma": g}, lr) for g in (20.0, 50.0) for lr in (3e-4, 1e-3, 3e-3)],
}
# MarI ablations: reported, but not eligible for the summary table (they would give MarI a larger grid).
ABLATIONS = [
    ("mari", {"gamma": 50.0, "stopgrad_retain": True}, 1e-3),
    ("mari", {"gamma": 2.5, "construction": "unlearn_vs_retain"}, 1e-3),
    ("mari", {"gamma": 50.0, "retain": {"kind": "nll"}}, 1e-3),
]
QUICK = {"ga": [({}, 1e-4)], "graddiff": [({}, 1e-4)], "kl": [({}, 1e-4)], "npo": [({}, 1e-4)], "mari": [({}, 1e-3)]}
ACC = ("forget_acc", "retain_acc", "holdout_acc", "general_acc")  # retain: retain_eval


def _cert(entry: dict) -> dict[str, float]:
    """The certificate numbers this benchmark reports, from one model's entry of ``certificate.json``."""
    mi, seq = entry["mari"]["unlearn_vs_retain"], entry["sequence"]
    return {"mi": mi["value"], "mi_null_p95": mi["null_p95"], "auc": seq["auc_forget_vs_retain"],
            "auc_fh": seq["auc_forget_vs_holdout"]}  # fmt: skip


def one_run(name: str, args: dict, lr: float, a: argparse.Namespace, ev: Evaluator, tmp: Path) -> dict:
    recipe = DemoRecipe(lr=lr, args=args, batch_size=a.batch_size, retain_batch_size=a.retain_batch_size)
    run_dir = tmp / f"{name}_{len(list(tmp.iterdir()))}"
    r = run_row(name, recipe, a.steps, run_dir, ev, certify_resamples=100, seed=a.seed, progress=False)
    cert = json.loads((run_dir / "certificate.json").read_text())["models"]["model"]
    out = {"method": name, "args": args, "lr": lr, "train_s": r.get("train_time_s"), "status": r["status"]}
    return {**out, "metrics": {k: r["metrics"][k] for k in ACC}, **_cert(cert)}


def measure_step(name: str, args: dict, a: argparse.Namespace, reps: int = 6) -> tuple[float, float]:
    """Median seconds per optimiser step and peak bytes allocated during one step, on fixed batches."""
    from obliviate.train.reference import Reference

    from obliviate.api import method_class
    from obliviate.config import from_dict
    from obliviate.data import collate, tokenize_rows
    from obliviate.data.sources import load_rows
    from obliviate.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(ModelConfig(path=f"world:{a.world}{a.preset}"))
    cls = method_class(name)
    method = cls(from_dict(cls.Config, args, "method.args"))
    ref = Reference.copy_of(model) if method.needs_reference else None
    batch = {}
    for split, n in (("forget10", a.batch_size), ("retain90", a.retain_batch_size)):
        examples, _ = tokenize_rows(load_rows(f"world:{a.world}{split}")[:n], tok, max_length=64)
        batch[split] = collate(examples, tok.pad_token_id)
    model.train(not getattr(method, "disable_dropout", False))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        retain = batch["retain90"] if method.needs_retain else None
        method.loss(model, batch["forget10"], retain, ref).loss.backward()
        opt.step()

    step(), step()  # optimiser state allocated before measuring
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), peak_bytes(step)


def peak_bytes(fn) -> float:
    """Peak bytes allocated while ``fn`` runs, above what was allocated before (CPU: profiler memory events)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - base)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        prof.export_chrome_trace(f.name)
        events = json.loads(Path(f.name).read_text())["traceEvents"]
    totals = [e["args"]["Total Allocated"] for e in events if e.get("name") == "[memory]"]
    return float(max(totals, default=0))


def pooled_softmax_table(vocab: int, positions: int, reps: int = 3) -> list[dict]:
    """Forward + backward of the pooled softmax of (positions, vocab) logits: plain autograd vs chunked, for fp32
    logits and for bf16 logits (what a bf16-autocast LM head returns)."""
    rows = []
    mask = torch.ones(1, positions, dtype=torch.bool)
    for dtype in (torch.float32, torch.bfloat16):
        for impl in ("autograd softmax(logits.float())[mask].sum(0)", "losses.pooled_softmax (chunked)"):
            logits = torch.randn(1, positions, vocab).to(dtype).requires_grad_(True)
            w = torch.randn(vocab)

            def fn(impl=impl, logits=logits, w=w) -> None:
                if impl.startswith("autograd"):
                    pooled = torch.softmax(logits.float(), -1)[mask].sum(0)
                else:
                    pooled = losses.pooled_softmax(logits, mask)
                (pooled * w).sum().backward()
                logits.grad = None

            fn()
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            peak = peak_bytes(fn) / 2**20
            rows.append({"logits": str(dtype).split(".")[-1], "impl": impl, "peak_mb": peak, "time_s": min(times)})
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _args(r: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in r["args"].items()) or "–"


def _cells(r: dict, gold: dict) -> str:
    """forget | retain | holdout | gap to gold | MI | AUC f-r | AUC f-h"""
    m, g = r["metrics"], gold["metrics"]
    accs = " | ".join(_pct(m[k]) for k in ACC[:3])
    return f"{accs} | {_pct(m['forget_acc'] - g['forget_acc'])} | {r['mi']:.4f} | {r['auc']:.3f} | {r['auc_fh']:.3f}"


def render(res: dict) -> str:
    gold, a = res["gold"], res["settings"]
    head = "| forget | retain | holdout | gap to gold | MI | AUC f-r | AUC f-h |"
    lines = [
        f"# MarI vs baselines on world:{a['world']}{a['preset']} (forget10)",
        "",
        f"{a['steps']} steps, batch {a['batch_size']} forget + {a['retain_batch_size']} retain sequences, AdamW, "
        f"constant lr; {res['device']}, {a['threads']} thread(s). QA accuracy = greedy exact match (%); "
        "retain = retain_eval; gap = forget accuracy minus the gold model's. MI = the certificate's pooled MarI, "
        "unlearn_vs_retain (nats); AUC f-r = P(NLL_forget > NLL_retain), AUC f-h = P(NLL_holdout > NLL_forget).",
        f"Kept run per method: {SELECTION_RULE}.",
        "",
        f"| method | args | lr {head} step time ÷ GradDiff | peak memory ÷ KL |",
        "|---|---|---" + "|---" * 9 + "|",
    ]
    for name in ("original", "gold"):
        lines.append(f"| *{name}* | | | {_cells(res[name], gold)} | | |")
    for m, info in res["methods"].items():
        r, mark = info["kept"], "" if info["kept_ok"] else " (no run meets the rule)"
        lines.append(
            f"| **{m}**{mark} | {_args(r)} | {r['lr']:g} | {_cells(r, gold)} "
            f"| {info['step_ratio']:.2f} | {info['mem_ratio']:.2f} |"
        )
    lines += ["", "## Every grid run", "", f"| method | args | lr {head}", "|---|---|---" + "|---" * 7 + "|"]
    for m, info in res["methods"].items():
        lines += [f"| {m} | {_args(r)} | {r['lr']:g} | {_cells(r, gold)} |" for r in info["runs"]]
    if res["ablations"]:
        lines += ["", "## MarI ablations (not eligible for the summary)", ""]
        lines += [f"| method | args | lr {head}", "|---|---|---" + "|---" * 7 + "|"]
        lines += [f"| mari | {_args(r)} | {r['lr']:g} | {_cells(r, gold)} |" for r in res["ablations"]]
    p = res["pooled_softmax"]
    lines += [
        "",
        f"## Pooled softmax alone: {p['positions']} positions × V = {p['vocab']} (forward + backward)",
        "",
        f"Logits ({p['positions'] * p['vocab'] * 4 / 2**20:.0f} MiB in fp32) exist before the measurement; the peak "
        "is what forward + backward allocate on top (the logits' gradient included). Default chunk size.",
        "",
        "| logits | implementation | peak memory (MiB) | time (s) |",
        "|---|---|---|---|",
        *(f"| {r['logits']} | {r['impl']} | {r['peak_mb']:.1f} | {r['time_s']:.3f} |" for r in p["rows"]),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--world", default="", help="world setting: correlated (default) or uncorrelated")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=16, help="forget sequences per step")
    ap.add_argument("--retain-batch-size", type=int, default=64, help="retain sequences per step")
    ap.add_argument("--methods", default="ga,graddiff,kl,npo,mari")
    ap.add_argument("--quick", action="store_true", help="one grid point per method")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=32768, help="vocabulary of the pooled-softmax table")
    ap.add_argument("--positions", type=int, default=1024, help="positions of the pooled-softmax table")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from obliviate.eval import EvalOptions
    from obliviate.models import load_model_and_tokenizer

    world = WorldChoice(preset=a.preset, setting=a.world.strip("/") or "correlated")
    world.check()
    res: dict = {"settings": vars(a), "device": "cuda" if torch.cuda.is_available() else "cpu", "methods": {}}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        full, gold = world.build(progress=False)
        ev = Evaluator(world, gold, full, tmp / "eval_cache", EvalOptions(progress=False), metrics=list(ACC))
        model, tok = load_model_and_tokenizer(ModelConfig(path=str(gold)))
        refs = certify_run(model, tok, tmp / "gold", ev, resamples=100, progress=False)["models"]
        for ref, path in (("original", full), ("gold", gold)):
            row = reference_row(ref, path, tmp, ev)
            res[ref] = {"metrics": {k: row["metrics"][k] for k in ACC}, **_cert(refs[ref])}
            print(ref, res[ref], flush=True)
        grid = QUICK if a.quick else GRID
        for name in a.methods.split(","):
            runs = []
            for args, lr in grid[name]:
                runs.append(one_run(name, args, lr, a, ev, tmp))
                print(runs[-1], flush=True)
            k, ok = select_run(runs, res["original"], res["gold"])
            res["methods"][name] = {"runs": runs, "kept": runs[k], "kept_ok": ok}
        res["ablations"] = [] if a.quick else [one_run(n, args, lr, a, ev, tmp) for n, args, lr in ABLATIONS]
    timing = {m: measure_step(m, info["kept"]["args"], a) for m, info in res["methods"].items()}
    for m, info in res["methods"].items():
        info["step_s"], info["peak_bytes"] = timing[m]
        info["step_ratio"] = timing[m][0] / timing["graddiff"][0] if "graddiff" in timing else float("nan")
        info["mem_ratio"] = timing[m][1] / timing["kl"][1] if "kl" in timing else float("nan")
    res["pooled_softmax"] = {
        "vocab": a.vocab,
        "positions": a.positions,
        "rows": pooled_softmax_table(a.vocab, a.positions),
    }
    out = Path(a.out)
    atomic_write_json(out / "mari_vs_baselines.json", res)
    atomic_write_text(out / "mari_vs_baselines.md", render(res))
    print(render(res))


if __name__ == "__main__":
    main()
