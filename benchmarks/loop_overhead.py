"""Time per optimiser step of obliviate's training loop against a minimal hand-written PyTorch loop.

Same model (GPT-2, 2 layers, d=128, vocab 2048 ~ the world's ``tiny``), same batches (50 sequences of 24 tokens),
same AdamW + clipping; both run in this process, interleaved, and the ratio is printed side by side.

    OMP_NUM_THREADS=2 python benchmarks/loop_overhead.py            # ~1 minute on 2 CPU cores
    python benchmarks/loop_overhead.py --steps 100 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

from obliviate import losses
from obliviate.config import TrainConfig
from obliviate.data import UnlearnData, collate
from obliviate.methods.base import MethodDefaults
from obliviate.train.loop import train
from obliviate.types import LossOutput


class NLL(MethodDefaults):
    Config = dict

    def loss(self, model, forget, retain, ref):
        nll = losses.masked_mean_nll(model(**forget.model_inputs()).logits, forget.labels)
        return LossOutput(nll, {"nll": nll.item()})


def _model(seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    cfg = GPT2Config(n_layer=2, n_embd=128, n_head=4, vocab_size=2048, n_positions=64, bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg)


def _examples(n: int, length: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 2048, (n, length), generator=g).tolist()
    return [{"input_ids": x, "labels": x, "index": i} for i, x in enumerate(ids)]


def hand_loop(examples: list[dict], steps: int, batch: int) -> float:
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    t0 = time.perf_counter()
    for s in range(steps):
        i = (s * batch) % len(examples)
        b = collate(examples[i : i + batch], 0)
        loss = losses.masked_mean_nll(model(**b.model_inputs()).logits, b.labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return (time.perf_counter() - t0) / steps


def obliviate_loop(examples: list[dict], steps: int, batch: int) -> float:
    data = UnlearnData(forget=examples, retain=None, holdout=None, forget_rows=[], retain_rows=None, holdout_rows=None)
    tok = type("Tok", (), {"pad_token_id": 0})()
    cfg = TrainConfig(lr=1e-3, batch_size=batch, max_steps=steps, clip_grad=1.0)
    res = train(_model(), tok, NLL(), data, cfg, progress=False)
    return res.time_s / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=50)
    args = ap.parse_args()
    examples = _examples(1000, 24)
    hand_loop(examples, 5, args.batch)  # warm up allocator and kernels
    hand, ours = [], []
    for _ in range(args.repeats):
        hand.append(hand_loop(examples, args.steps, args.batch))
        ours.append(obliviate_loop(examples, args.steps, args.batch))
    h, o = statistics.median(hand), statistics.median(ours)
    print(f"threads {torch.get_num_threads()}, batch {args.batch}x24 tokens, {args.steps} steps x {args.repeats}")
    print(f"{'loop':<22}{'s/step':>10}{'ratio':>8}")
    print(f"{'hand-written PyTorch':<22}{h:>10.4f}{1.0:>8.2f}")
    print(f"{'obliviate.train.loop':<22}{o:>10.4f}{o / h:>8.2f}")


if __name__ == "__main__":
    main()
