"""Forgetting-MarI: unlearning by penalising marginal information (Xu, Ni, Bröcker, Strohmer, arXiv:2511.11914).

    L(θ) = ℓ_retain(θ; B_r) + γ · I(X; Z),    I(X; Z) = H(M) − π₀H(P̄₀) − π₁H(P̄₁),  M = π₀P̄₀ + π₁P̄₁

P̄_z is the model's next-token softmax averaged (probabilities, not logits) over the valid positions of group z
and π_z its share of positions. ``full_vs_retain`` (default, the authors' Z encoding from their earlier code,
xushizhou/Machine_Unlearn_via_Info_Reg): Z=0 = retain ∪ forget, Z=1 = retain; ``unlearn_vs_retain``: Z=0 =
forget, Z=1 = retain, π = ½. Both are zero exactly when the pooled forget and retain distributions match, so the
model may keep what the retain set also supports and loses only what the forget set adds. The retain term is
forward KL(p_θ₀ ‖ p_θ) on retain tokens (``retain.kind=nll``: NLL), a per-token mean.

Reconstructed (no official code; see docs/mari.md): the γ placement, pooling over answer positions, one forward
pass per group (P̄_r reused for both Z groups, identical to the paper's [retain, forget, retain] batch with dropout
off), and the ``stopgrad_retain`` ablation. Under data parallelism the pooled sums and position counts are summed
over processes (a differentiable all-reduce), so every process optimises the same global-batch MI; under gradient
accumulation each micro-batch's MI is its own (upward-biased) estimate, as the paper's batch estimator implies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.distributed as dist
from torch import nn

from obliviate import losses
from obliviate.methods.base import MethodDefaults, RetainTerm, forward_logits, register_method
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    from obliviate.reference import Reference


@dataclass
class MariConfig:
    gamma: float = field(default=20.0, metadata={"help": "weight of ℓ_MarI (~20x smaller for unlearn_vs_retain)"})
    construction: str = field(default="full_vs_retain", metadata={"help": "full_vs_retain | unlearn_vs_retain"})
    retain: RetainTerm = field(
        default_factory=lambda: RetainTerm(kind="kl"), metadata={"help": "retain term: kl (to p_ref) | nll | none"}
    )
    positions: str = field(default="labels", metadata={"help": "labels: predicting a labelled token | all"})
    stopgrad_retain: bool = field(default=False, metadata={"help": "ablation: freeze P̄_r inside ℓ_MarI"})
    chunk_size: int = field(default=0, metadata={"help": "0: fused softmax; >0: recompute, N positions per chunk"})
    sync_processes: bool = field(default=True, metadata={"help": "sum pooled sums over processes (DDP)"})

    def __post_init__(self) -> None:
        if self.construction not in losses.MARI_CONSTRUCTIONS:
            raise ValueError(f"construction must be one of {', '.join(losses.MARI_CONSTRUCTIONS)}")
        if self.positions not in ("labels", "all"):
            raise ValueError(f"positions must be labels or all (got {self.positions!r})")
        if self.gamma < 0 or self.chunk_size < 0:
            raise ValueError("gamma and chunk_size must be >= 0")


class _AllReduceSum(torch.autograd.Function):
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


def _global_sums(sums: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(2, V) pooled sums and (2,) position counts summed over processes (unchanged in a single process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return sums, counts
    counts = counts.clone()
    dist.all_reduce(counts)
    return _AllReduceSum.apply(sums), counts


@register_method("mari")
class Mari(MethodDefaults):
    """Forgetting-MarI (see the module docstring)."""

    Config: ClassVar[type] = MariConfig
    needs_retain = True
    needs_alt = False
    disable_dropout = True  # both groups must be deterministic for the one-pass Z construction

    def __init__(self, cfg: MariConfig) -> None:
        self.cfg = cfg
        self.needs_reference = cfg.retain.needs_reference

    def _positions(self, batch: Batch) -> torch.Tensor:
        if self.cfg.positions == "labels":
            return losses.next_token_positions(labels=batch.labels)
        return losses.next_token_positions(attention_mask=batch.attention_mask)

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        cfg = self.cfg
        if retain is None:
            raise RuntimeError("mari needs a retain batch (its MI compares forget with retain outputs)")
        mask_r, mask_u = self._positions(retain), self._positions(forget)
        chunk = cfg.chunk_size or None
        logits_r = forward_logits(model, retain)  # (B_r, T, V)
        if cfg.retain.needs_reference and chunk is None:  # the KL and P̄_r share one softmax of the retain logits
            if ref is None:
                raise RuntimeError("mari with retain.kind=kl needs the frozen reference model")
            kl, sum_r = losses.kl_and_pooled_softmax(logits_r, ref.logits(retain), retain.labels, mask_r)
            retain_term, retain_logs = cfg.retain.weight * kl, {"retain_kl": kl.item()}
        else:
            retain_term, retain_logs = cfg.retain.on_logits(logits_r, retain, ref)  # weighted; logits_r reused
            sum_r = losses.pooled_softmax(logits_r, mask_r, chunk)  # (V,) fp32
        del logits_r  # freed before the forget forward unless a loss term saved it
        sum_u = losses.pooled_softmax(forward_logits(model, forget), mask_u, chunk)  # (V,) from (B_u, T, V) logits
        if cfg.stopgrad_retain:
            sum_r = sum_r.detach()
        counts = torch.stack([mask_r.sum(), mask_u.sum()]).to(sum_r.dtype)  # (2,) positions N_r, N_u
        if cfg.sync_processes:
            sums, counts = _global_sums(torch.stack([sum_r, sum_u]), counts)
            sum_r, sum_u = sums[0], sums[1]

        mari = losses.marginal_information(sum_r, counts[0], sum_u, counts[1], cfg.construction)
        with torch.no_grad():  # the other construction is only logged
            values = {
                c: losses.marginal_information(sum_r, counts[0], sum_u, counts[1], c)
                for c in losses.MARI_CONSTRUCTIONS
            }
        loss = retain_term + cfg.gamma * mari
        logs = {
            **retain_logs,
            "mari": mari.item(),
            **{f"mari_{c}": v.item() for c, v in values.items()},
            "mari_n_retain": counts[0].item(),
            "mari_n_forget": counts[1].item(),
        }
        return LossOutput(loss=loss, logs=logs)
