"""Differentiable sums over data-parallel processes (Forgetting-MarI sums its pooled probability sums and position
counts so every process computes, and differentiates, the same global-batch MI)."""

from __future__ import annotations

import torch
import torch.distributed as dist


class AllReduceSum(torch.autograd.Function):
    """Sum a tensor over processes; backward sums the (identical) per-process gradients, so after DDP averages
    the parameter gradients each process holds exactly d(global-batch MI)/dθ."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def global_sums(sums: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(k, V) pooled sums and (k,) position counts summed over processes (unchanged in a single process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return sums, counts
    counts = counts.clone()
    dist.all_reduce(counts)
    return AllReduceSum.apply(sums), counts
