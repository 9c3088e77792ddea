"""Step time and peak memory of MarI against GradDiff, KL and NPO at a realistic vocabulary, and against an
OpenUnlearning-style HF-Trainer implementation of GradDiff / NPO / KL (side by side, interleaved, 1 thread).

    python benchmarks/step_speed.py            # GPT-2 4 layers, d 256, vocab 32 000, 8 + 8 sequences x 128 tokens
    python benchmarks/step_speed.py --quick    # tiny shapes, seconds (the CI smoke test runs this)

Timing: every method trains its own copy of the same randomly initialised GPT-2 (dropout 0, so train and eval mode
cost the same) on the same fixed forget / retain batches of raw text (every next token labelled) with AdamW; one
step = zero_grad, the method's loss, backward, optimiser step. After warm-up steps, each round runs every method
once, in a rotated order, and the ratios to GradDiff (and ours ÷ peer) are taken within the round, so load from
other processes on a shared machine cancels out; the table gives the median ratio over rounds and its range.
MI term: MarI's step minus KL's step (identical passes except the forget loss: KL's NLL vs MarI's pooled MI), and
the MI computation alone (pooled sums + MI, forward + backward) on fixed logits, both ÷ GradDiff's step.

Memory: each method in its own fresh process (``--memory-of``, all started at once), the allocations during one
step above what was allocated before it (CPU: profiler memory events), ÷ KL's.

Loss primitives: forward + backward of our NLL, sequence log-probability (NPO) and ``kl_to_ref`` on fixed logits of
the benchmark's shape, ÷ the previous formulation that sliced ``logits[:, :-1]`` before the softmax (copying the whole
(B, T, V) tensor) instead of shifting the targets; same values (tests/test_losses.py checks it).

Pooled softmax: forward + backward of the pooled softmax sum of (positions, V) fp32 logits, three implementations
(fused, probabilities saved in row blocks; chunked recompute, ``chunk_size`` set; plain autograd) per size, and which
one ``losses.pooled_softmax`` picks by default (the size threshold ``losses.FUSED_MIN_LOGITS`` comes from this table).

Writes ``benchmarks/results/step_speed{,_quick}.{json,md}``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

OURS = ("graddiff", "kl", "npo", "mari")
PEERS = ("peer_graddiff", "peer_kl", "peer_npo")
FULL = {"vocab": 32000, "layers": 4, "d": 256, "batch": 8, "seq": 128, "rounds": 5, "warmup": 1}
QUICK = {"vocab": 512, "layers": 1, "d": 32, "batch": 2, "seq": 16, "rounds": 2, "warmup": 1}


def make_model(a: argparse.Namespace):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=a.vocab, n_positions=a.seq, n_embd=a.d, n_layer=a.layers, n_head=4, bos_token_id=0, eos_token_id=0,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
    )  # fmt: skip
    return GPT2LMHeadModel(cfg)


def make_batches(a: argparse.Namespace):
    from obliviate.types import Batch

    g = torch.Generator().manual_seed(1)
    out = []
    for _ in ("forget", "retain"):
        ids = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)
        out.append(Batch(input_ids=ids, attention_mask=torch.ones_like(ids), labels=ids.clone()))
    return out


# --- the peer: OpenUnlearning's trainers (trainer/unlearn/{grad_diff,npo}.py, trainer/utils.py), re-implemented ---


def _batch_nll(model, inputs):
    """OpenUnlearning's ``compute_batch_nll``: summed token NLL per sequence, logits sliced before the loss."""
    logits = model(**inputs).logits
    shifted_labels = inputs["labels"][..., 1:].contiguous()
    logits = logits[..., :-1, :].contiguous()
    return F.cross_entropy(logits.transpose(-1, -2), shifted_labels, ignore_index=-100, reduction="none").sum(-1)


def _kl_divergence(model, ref_model, inputs):
    """OpenUnlearning's ``compute_kl_divergence`` (batchmean KL of the log-softmaxes, every position)."""
    with torch.no_grad():
        ref_logits = ref_model(**inputs).logits
    ref_logp = F.log_softmax(ref_logits, dim=-1).view(-1, ref_logits.shape[-1])
    logits = model(**inputs).logits
    logp = F.log_softmax(logits, dim=-1).view(-1, logits.shape[-1])
    return F.kl_div(logp, ref_logp, reduction="batchmean", log_target=True)


def peer_trainer(kind: str, model, tmp: str):
    """A ``transformers.Trainer`` whose ``compute_loss`` is OpenUnlearning's GradDiff (NLL or KL retain) or NPO."""
    from transformers import Trainer, TrainingArguments

    ref_model = copy.deepcopy(model).eval() if kind in ("kl", "npo") else None

    class UnlearnTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            forget, retain = inputs["forget"], inputs["retain"]
            if kind == "npo":  # compute_dpo_loss(lose_inputs=forget), beta 0.1
                with torch.no_grad():
                    ref_nll = _batch_nll(ref_model, forget)
                log_ratio = -(_batch_nll(model, forget) - ref_nll)
                forget_loss = -2 / 0.1 * F.logsigmoid(-0.1 * log_ratio).mean()
            else:
                forget_loss = -model(**forget).loss
            retain_loss = _kl_divergence(model, ref_model, retain) if kind == "kl" else model(**retain).loss
            return forget_loss + retain_loss

    args = TrainingArguments(
        output_dir=tmp, learning_rate=1e-5, weight_decay=0.0, report_to=[], use_cpu=not torch.cuda.is_available(),
        logging_strategy="no", save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    trainer = UnlearnTrainer(model=model, args=args)
    trainer.create_optimizer_and_scheduler(num_training_steps=10**6)
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train's loop, which we drive step by step
    return trainer


# --- one step per method ----------------------------------------------------------------------------------------


def make_step(name: str, a: argparse.Namespace, batches, tmp: str):
    """A zero-argument function running one optimiser step of ``name`` on its own model copy."""
    forget, retain = batches
    model = make_model(a)
    if name.startswith("peer_"):
        trainer = peer_trainer(name[5:], model, tmp)
        inputs = {b: {**x.model_inputs(), "labels": x.labels} for b, x in (("forget", forget), ("retain", retain))}

        def peer_step() -> None:
            trainer.optimizer.zero_grad(set_to_none=True)
            trainer.training_step(trainer.model, inputs)
            trainer.optimizer.step()

        return peer_step
    from obliviate.api import method_class
    from obliviate.config import from_dict
    from obliviate.reference import Reference

    cls = method_class(name)
    method = cls(from_dict(cls.Config, {}, "method.args"))
    ref = Reference.copy_of(model) if method.needs_reference else None
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        method.loss(model, forget, retain if method.needs_retain else None, ref).loss.backward()
        opt.step()

    return step


def mi_only(a: argparse.Namespace, batches):
    """MarI's MI computation alone (pooled sums of both groups, MI, forward + backward) on fixed logits."""
    from obliviate import losses

    model = make_model(a)
    with torch.no_grad():
        lr, lu = (model(**b.model_inputs()).logits for b in batches)
    masks = [losses.next_token_positions(labels=b.labels) for b in batches]

    def fn() -> None:
        x_r, x_u = lr.clone().requires_grad_(True), lu.clone().requires_grad_(True)
        s_r, s_u = losses.pooled_softmax(x_r, masks[1]), losses.pooled_softmax(x_u, masks[0])
        losses.marginal_information(s_r, masks[1].sum(), s_u, masks[0].sum(), "full_vs_retain").backward()

    return fn


def timed(fn) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) of ``fn()``. With one thread the CPU time hardly depends on how
    much of the machine other processes take, so it is the primary measure; the wall time is kept beside it."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - t0


def interleaved(a: argparse.Namespace, names: list[str]) -> dict:
    """Per round and name, CPU and wall seconds of one step; names rotate their order every round."""
    batches = make_batches(a)
    with tempfile.TemporaryDirectory() as tmp:
        steps = {n: make_step(n, a, batches, tmp) for n in names}
        steps["mi_only"] = mi_only(a, batches)
        for fn in steps.values():
            for _ in range(a.warmup):
                fn()
        cpu, wall = [], []
        keys = list(steps)
        for r in range(a.rounds):
            order = keys[r % len(keys) :] + keys[: r % len(keys)]
            both = {k: timed(steps[k]) for k in order}
            cpu.append({k: v[0] for k, v in both.items()})
            wall.append({k: v[1] for k, v in both.items()})
            print(f"round {r + 1}/{a.rounds} (cpu s, wall s): {both}", flush=True)
    return {"cpu": cpu, "wall": wall}


def ratio_stats(rounds: list[dict], num: str, den: str) -> dict:
    vals = sorted(r[num] / r[den] for r in rounds)
    return {"median": statistics.median(vals), "min": vals[0], "max": vals[-1]}


# --- memory, each method in a fresh process ---------------------------------------------------------------------


def peak_bytes(fn) -> float:
    """Bytes allocated while ``fn`` runs above what was allocated before (CUDA peak stats, or CPU profiler)."""
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


def memory_of(name: str, a: argparse.Namespace) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        step = make_step(name, a, make_batches(a), tmp)
        step(), step()  # optimiser state exists before the measured step
        return peak_bytes(step)


def memory_in_fresh_processes(a: argparse.Namespace, names: list[str]) -> dict[str, float]:
    """Peak bytes of one step per method, each in its own process (all at once: allocations do not depend on load)."""
    shape = [f"--{k}={getattr(a, k)}" for k in ("vocab", "layers", "d", "batch", "seq", "threads")]
    procs = {
        n: subprocess.Popen(
            [sys.executable, __file__, f"--memory-of={n}", *shape], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        for n in names
    }
    out = {}
    for n, proc in procs.items():
        stdout, _ = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"the memory measurement of {n} failed (exit {proc.returncode})")
        out[n] = json.loads(stdout.decode().strip().splitlines()[-1])["peak_bytes"]
        print(f"memory {n}: {out[n] / 2**20:.1f} MiB", flush=True)
    return out


# --- loss primitives: shifted targets (ours) against the previous sliced logits ---------------------------------


def sliced_token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The previous ``losses.token_logprobs``: log_softmax of ``logits[:, :-1]`` (a (B, T-1, V) copy), then gather."""
    tgt = labels[:, 1:]  # (B, T-1)
    mask = tgt != -100
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, tgt.masked_fill(~mask, 0).unsqueeze(-1))
    return logp.squeeze(-1) * mask, mask


def sliced_kl_to_ref(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The previous ``losses.kl_to_ref``: KL(p_ref ‖ p_θ) on sliced (B, T-1, V) logits, labelled-position mean."""
    mask = labels[:, 1:] != -100  # (B, T-1)
    logq = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    logp = torch.log_softmax(ref_logits[:, :-1].float(), dim=-1)
    kl = (logp.exp() * (logp - logq)).sum(-1)  # (B, T-1)
    return (kl * mask).sum() / mask.sum().clamp(min=1)


def primitive_pairs() -> dict[str, tuple]:
    """name -> (ours, previous sliced formulation), each ``f(logits, ref_logits, labels) -> scalar loss``."""
    from obliviate import losses

    def sliced_nll(x, r, y):
        logp, mask = sliced_token_logprobs(x, y)
        return -logp.sum() / mask.sum().clamp(min=1)

    return {
        "NLL (graddiff, kl)": (lambda x, r, y: losses.masked_mean_nll(x, y), sliced_nll),
        "sequence log-prob (npo)": (
            lambda x, r, y: losses.sequence_logprob(x, y).sum(),
            lambda x, r, y: sliced_token_logprobs(x, y)[0].sum(),
        ),
        "kl_to_ref (kl retain)": (losses.kl_to_ref, sliced_kl_to_ref),
    }


def primitive_speed(a: argparse.Namespace, reps: int) -> list[dict]:
    """CPU seconds of forward + backward of each loss primitive, ours and sliced, interleaved; ratio per rep."""
    g = torch.Generator().manual_seed(2)
    base = torch.randn(a.batch, a.seq, a.vocab, generator=g)  # (B, T, V) fixed logits
    ref = base + 0.1 * torch.randn(base.shape, generator=g)
    labels = torch.randint(0, a.vocab, (a.batch, a.seq), generator=g)

    def run(fn):  # the logits are copied outside the timed call
        x = base.clone().requires_grad_(True)
        return lambda: fn(x, ref, labels).backward()

    rows = []
    for name, (ours, sliced) in primitive_pairs().items():
        run(ours)(), run(sliced)()
        t_o, t_s = [], []
        for _ in range(reps):
            t_o.append(timed(run(ours))[0])
            t_s.append(timed(run(sliced))[0])
        ratios = sorted(s / o for o, s in zip(t_o, t_s))
        stats = {"median": statistics.median(ratios), "min": ratios[0], "max": ratios[-1]}
        rows.append({"loss": name, "ours_s": statistics.median(t_o), "sliced_s": statistics.median(t_s), **stats})
        print(f"primitive {name}: ours {rows[-1]['ours_s']:.4f}s, sliced ÷ ours {_r(stats)}", flush=True)
    return rows


# --- pooled softmax implementations -----------------------------------------------------------------------------


def pooled_crossover(sizes: list[tuple[int, int]], reps: int) -> list[dict]:
    """Per (positions, V): CPU seconds and peak MiB of each pooled softmax implementation, and the default's pick."""
    from obliviate import losses

    impls = {
        "fused (probabilities saved)": lambda x, m: losses.pooled_softmax(x, m, fused=True),
        "chunked recompute": lambda x, m: losses.pooled_softmax(x, m, chunk_size=max(1, (1 << 22) // x.shape[-1])),
        "plain autograd": lambda x, m: losses.pooled_softmax(x, m, fused=False),
    }
    rows = []
    for positions, v in sizes:
        g = torch.Generator().manual_seed(v)
        base = torch.randn(1, positions, v, generator=g)
        mask = torch.ones(1, positions, dtype=torch.bool)
        w = torch.randn(v, generator=g)

        def run(impl, base=base, mask=mask, w=w) -> None:
            x = base.clone().requires_grad_(True)
            (impl(x, mask) * w).sum().backward()

        times: dict[str, list[float]] = {k: [] for k in impls}
        for impl in impls.values():
            run(impl)
        for _ in range(reps):
            for k, impl in impls.items():
                times[k].append(timed(lambda impl=impl: run(impl))[0])
        base_t = [timed(lambda base=base: base.clone().requires_grad_(True))[0] for _ in range(reps)]
        default = "fused (probabilities saved)" if base.numel() >= losses.FUSED_MIN_LOGITS else "plain autograd"
        for k, impl in impls.items():
            mem = peak_bytes(lambda impl=impl: run(impl)) / 2**20
            t = statistics.median(times[k]) - statistics.median(base_t)
            rows.append({"positions": positions, "vocab": v, "impl": k, "time_s": t, "peak_mib": mem,
                         "default": k == default})  # fmt: skip
            print(f"pooled N={positions} V={v} {k}: {t:.4f}s {mem:.1f} MiB", flush=True)
    return rows


# --- report -----------------------------------------------------------------------------------------------------


def _r(s: dict) -> str:
    return f"{s['median']:.2f} [{s['min']:.2f}–{s['max']:.2f}]"


def render(res: dict) -> str:
    a, t, mem = res["settings"], res["timing"], res.get("memory", {})
    lines = [
        f"# Step speed: GPT-2 {a['layers']} layers, d {a['d']}, vocab {a['vocab']}, "
        f"{a['batch']} forget + {a['batch']} retain sequences × {a['seq']} tokens",
        "",
        f"{res['device']}, {a['threads']} thread(s), torch {res['torch']}; {a['rounds']} interleaved rounds after "
        f"{a['warmup']} warm-up steps; ratios of CPU time (1 thread: robust to other load) taken within each round: "
        "median [min–max] over rounds; the wall-time ratio to GradDiff is given beside it. Memory: one "
        "step's allocations in a fresh process per method. 5-minute load average "
        f"{res['load_average'][0]:.1f} before, {res['load_average'][1]:.1f} after, on {os.cpu_count()} cores. "
        "Regenerate: `" + res["command"] + "`.",
        "",
        "| method | step ÷ GradDiff | step ÷ peer | peak memory ÷ KL | median step CPU (s) | wall ÷ GradDiff |",
        "|---|---|---|---|---|---|",
    ]
    for m in res["names"]:
        peer = t["vs_peer"].get(m)
        mr = f"{mem[m] / mem['kl']:.2f}" if m in mem and "kl" in mem else ""
        lines.append(
            f"| {m} | {_r(t['vs_graddiff'][m])} | {_r(peer) if peer else ''} | {mr} | {t['median_s'][m]:.3f} "
            f"| {_r(t['vs_graddiff_wall'][m])} |"
        )
    lines += [
        "",
        f"MarI ÷ GradDiff: **{t['vs_graddiff']['mari']['median']:.2f}** (goal ≤ 1.35). MI term's share of a "
        f"GradDiff step: {_r(t['mi_share_step_diff'])} as (MarI − KL) ÷ GradDiff, "
        f"{_r(t['vs_graddiff']['mi_only'])} for the MI computation alone on fixed logits.",
        "",
        "Peer = a `transformers.Trainer` subclass whose `compute_loss` re-implements OpenUnlearning's GradDiff "
        "(NLL retain), GradDiff with KL retain, and NPO (β 0.1), same model, batches and AdamW; written inside this "
        "script, not part of the library.",
    ]
    if res.get("primitives"):
        lines += [
            "",
            f"## Loss primitives: shifted targets vs sliced logits, {a['batch']} × {a['seq']} × {a['vocab']} fp32 "
            "logits",
            "",
            "Forward + backward on fixed logits; CPU seconds (median) and the previous formulation's time ÷ ours "
            "per rep, median [min–max]: the losses now shift the targets and run the softmax on the unsliced logits "
            "(same values); before, `logits[:, :-1]` was sliced first, copying the whole (B, T, V) tensor.",
            "",
            "| loss | ours (s) | sliced (s) | sliced ÷ ours |",
            "|---|---|---|---|",
            *(f"| {r['loss']} | {r['ours_s']:.4f} | {r['sliced_s']:.4f} | {_r(r)} |" for r in res["primitives"]),
        ]
    if res.get("pooled"):
        lines += [
            "",
            "## Pooled softmax alone: positions × V fp32 logits (forward + backward)",
            "",
            "CPU seconds (median); the peak includes the fp32 copy of the logits made inside the measurement. "
            f"Default: the implementation `pooled_softmax` picks at that size (fused from {res['fused_min_logits']:,} "
            "logits on, plain autograd below; `chunk_size` selects the chunked recompute).",
            "",
            "| positions | vocab | implementation | CPU time (s) | peak memory (MiB) | default |",
            "|---|---|---|---|---|---|",
            *(
                f"| {r['positions']} | {r['vocab']} | {r['impl']} | {r['time_s']:.4f} | {r['peak_mib']:.1f} "
                f"| {'✓' if r['default'] else ''} |"
                for r in res["pooled"]
            ),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny shapes (seconds): the CI smoke test")
    for k, v in FULL.items():
        ap.add_argument(f"--{k}", type=int, default=None, help=f"default {v} ({QUICK[k]} with --quick)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-peer", action="store_true", help="skip the HF-Trainer peer rows")
    ap.add_argument("--no-memory", action="store_true", help="skip the fresh-process memory measurements")
    ap.add_argument("--pooled-vocabs", default=None, help="comma list (default 1024,2048,4096,8192,32000; quick: 512)")
    ap.add_argument("--pooled-positions", default=None, help="comma list (default 256,1024,4096; quick: batch x seq)")
    ap.add_argument("--memory-of", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    for k, v in (QUICK if a.quick else FULL).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    torch.set_num_threads(a.threads)
    if a.memory_of:
        print(json.dumps({"peak_bytes": memory_of(a.memory_of, a)}))
        return
    from obliviate import losses
    from obliviate.utils.io import atomic_write_json, atomic_write_text

    names = list(OURS) + ([] if a.no_peer else list(PEERS))
    load = [os.getloadavg()[1]]  # 5-minute load average before and after: how shared the machine was
    measured = interleaved(a, names)
    rounds = measured["cpu"]
    timing = {
        "vs_graddiff_wall": {k: ratio_stats(measured["wall"], k, "graddiff") for k in rounds[0]},
        "median_s": {k: statistics.median(r[k] for r in rounds) for k in rounds[0]},
        "vs_graddiff": {k: ratio_stats(rounds, k, "graddiff") for k in rounds[0]},
        "vs_peer": {m: ratio_stats(rounds, m, f"peer_{m}") for m in OURS if f"peer_{m}" in rounds[0]},
    }
    diffs = sorted((r["mari"] - r["kl"]) / r["graddiff"] for r in rounds)
    timing["mi_share_step_diff"] = {"median": statistics.median(diffs), "min": diffs[0], "max": diffs[-1]}
    vocabs = [int(v) for v in (a.pooled_vocabs or ("512" if a.quick else "1024,2048,4096,8192,32000")).split(",")]
    positions = [
        int(n) for n in (a.pooled_positions or str(a.batch * a.seq if a.quick else "256,1024,4096")).split(",")
    ]
    sizes = [(n, v) for n in positions for v in vocabs if n * v <= 1 << 25]  # up to 128 MiB of fp32 logits
    res = {
        "settings": {k: v for k, v in vars(a).items() if k != "memory_of"},
        "command": "python benchmarks/step_speed.py" + (" --quick" if a.quick else ""),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "names": names,
        "timing": timing,
        "rounds": measured,
        "memory": {} if a.no_memory else memory_in_fresh_processes(a, ["kl", "mari"] if a.quick else names),
        "primitives": primitive_speed(a, reps=3 * a.rounds),
        "fused_min_logits": losses.FUSED_MIN_LOGITS,
        "pooled": pooled_crossover(sizes, reps=max(3, a.rounds)),
    }
    res["load_average"] = [*load, os.getloadavg()[1]]
    out, stem = Path(a.out), "step_speed_quick" if a.quick else "step_speed"
    atomic_write_json(out / f"{stem}.json", res)
    atomic_write_text(out / f"{stem}.md", render(res))
    print(render(res))


if __name__ == "__main__":
    main()
