"""Worker of test_fsdp.py, run on 2 gloo CPU processes: MarI's loss and gradients under FSDP2 (``fully_shard``),
each process holding half of the forget and retain batches, against the single-process full-batch values.

Writes {"loss_err", "grad_err", "grad_err_unsynced", "n_params", "mari"} to argv[1] (rank 0).
"""

from __future__ import annotations

import copy
import json
import sys

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from transformers import GPT2Config, GPT2LMHeadModel

from obliviate.methods.base import RetainTerm
from obliviate.methods.mari import Mari, MariConfig
from obliviate.reference import Reference
from obliviate.types import Batch


def batch(seed: int) -> Batch:
    """4 sequences of 12 tokens; every sequence has the same labelled positions, so each half has the same count."""
    ids = torch.randint(0, 96, (4, 12), generator=torch.Generator().manual_seed(seed))
    labels = ids.clone()
    labels[:, :5] = -100  # a prompt: pooled and KL positions are the answer positions only
    return Batch(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels)


def half(b: Batch, k: int) -> Batch:
    rows = slice(2 * k, 2 * k + 2)
    return Batch(input_ids=b.input_ids[rows], attention_mask=b.attention_mask[rows], labels=b.labels[rows])


def grads_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {}
    for name, p in model.named_parameters():
        g = p.grad
        out[name] = g.full_tensor() if hasattr(g, "full_tensor") else g  # DTensor shards gathered on every rank
    return out


def sharded_step(base, ref, forget, retain, mesh, sync: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model = copy.deepcopy(base)
    for block in model.transformer.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    cfg = MariConfig(gamma=5.0, retain=RetainTerm(kind="kl"), sync_processes=sync)
    out = Mari(cfg).loss(model, forget, retain, ref)
    out.loss.backward()  # FSDP2 reduce-scatters the mean gradient over processes, as DDP averages it
    loss = out.loss.detach().clone()
    dist.all_reduce(loss)
    return loss / dist.get_world_size(), grads_of(model)


def main() -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    mesh = init_device_mesh("cpu", (world,))
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=96, n_positions=12, n_embd=16, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    base = GPT2LMHeadModel(cfg).eval()  # MarI runs without dropout
    with torch.no_grad():  # move away from the reference so the KL term has a gradient too
        for p in base.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ref = Reference.copy_of(GPT2LMHeadModel(cfg).eval())
    forget, retain = batch(1), batch(2)

    single = copy.deepcopy(base)  # the full batches in one process (no all-reduce: sync off)
    cfg_single = MariConfig(gamma=5.0, retain=RetainTerm(kind="kl"), sync_processes=False)
    out = Mari(cfg_single).loss(single, forget, retain, ref)
    out.loss.backward()
    expected = grads_of(single)

    loss, got = sharded_step(base, ref, half(forget, rank), half(retain, rank), mesh, sync=True)
    _, unsynced = sharded_step(base, ref, half(forget, rank), half(retain, rank), mesh, sync=False)

    def err(g: dict[str, torch.Tensor]) -> float:
        return max(((g[n] - e).abs().max() / e.abs().max().clamp_min(1e-12)).item() for n, e in expected.items())

    res = {
        "loss_err": abs(loss.item() - out.loss.item()),
        "grad_err": err(got),
        "grad_err_unsynced": err(unsynced),
        "n_params": len(got),
        "mari": out.logs["mari"],
    }
    if rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(res, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
