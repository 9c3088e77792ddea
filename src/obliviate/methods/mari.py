"""Forgetting-MarI: unlearning by penalising marginal information (Xu, Ni, Bröcker, Strohmer, arXiv:2511.11914).

    L(θ) = ℓ_retain(θ; B_r) + γ · I(X; Z),    I(X; Z) = H(M) − π₀H(P̄₀) − π₁H(P̄₁),  M = π₀P̄₀ + π₁P̄₁

P̄_z is the model's next-token softmax averaged (probabilities, not logits) over the valid positions of group z
and π_z its share of positions. ``full_vs_retain`` (default, the authors' Z encoding from their earlier code,
xushizhou/Machine_Unlearn_via_Info_Reg): Z=0 = retain ∪ forget, Z=1 = retain; ``unlearn_vs_retain``: Z=0 =
forget, Z=1 = retain, π = ½. Both are zero exactly when the pooled forget and retain distributions match, so the
model may keep what the retain set also supports and loses only what the forget set adds. The retain term is
forward KL(p_θ₀ ‖ p_θ) on retain tokens (``retain.kind=nll``: NLL), a per-token mean. ``target=holdout`` (ours, not
the paper's) replaces the target 0 by I_h = I(holdout; retain), computed without gradient on a ``data.holdout``
batch: the loss is γ·relu(I − I_h), so only the forget set's excess over data the model never saw is penalised.

Reconstructed (no official code; see docs/mari.md): the γ placement, pooling over answer positions, one forward
pass per group (P̄_r reused for both Z groups, identical to the paper's [retain, forget, retain] batch with dropout
off), and the ``stopgrad_retain`` ablation. Under data parallelism the pooled sums and position counts are summed
over processes (a differentiable all-reduce), so every process optimises the same global-batch MI; under gradient
accumulation each micro-batch's MI is its own (upward-biased) estimate, as the paper's batch estimator implies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from obliviate.methods.base import MethodDefaults, RetainTerm, forward_logits, register_method
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    import torch
    from torch import nn

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
    chunk_size: int = field(default=0, metadata={"help": "0: fused or autograd by size; >0: recompute, N per chunk"})
    sync_processes: bool = field(default=True, metadata={"help": "sum pooled sums over processes (DDP)"})
    target: str = field(
        default="zero", metadata={"help": "zero: I -> 0 (paper) | holdout: only I above I(holdout; retain) (ours)"}
    )

    def __post_init__(self) -> None:
        from obliviate.losses import MARI_CONSTRUCTIONS

        if self.construction not in MARI_CONSTRUCTIONS:
            raise ValueError(f"construction must be one of {', '.join(MARI_CONSTRUCTIONS)}")
        if self.positions not in ("labels", "all"):
            raise ValueError(f"positions must be labels or all (got {self.positions!r})")
        if self.target not in ("zero", "holdout"):
            raise ValueError(f"target must be zero or holdout (got {self.target!r})")
        if self.gamma < 0 or self.chunk_size < 0:
            raise ValueError("gamma and chunk_size must be >= 0")


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
        self.needs_holdout = cfg.target == "holdout"

    def _positions(self, batch: Batch) -> torch.Tensor:
        from obliviate import losses

        if self.cfg.positions == "labels":
            return losses.next_token_positions(labels=batch.labels)
        return losses.next_token_positions(attention_mask=batch.attention_mask)

    def _holdout_mi(self, model: nn.Module, holdout: Batch | None, sum_r: torch.Tensor, n_r: torch.Tensor):
        """I(holdout; retain) under the current model, no gradient: the MI level of rows of the forget set's kind that
        were never trained on (its batch has the forget batch's size, so both carry the same batch-size bias)."""
        import torch

        from obliviate import losses
        from obliviate.utils.dist import global_sums

        if holdout is None:
            raise RuntimeError("mari with target=holdout needs a holdout batch (data.holdout)")
        with torch.no_grad():
            mask_h = self._positions(holdout)
            sum_h = losses.pooled_softmax(forward_logits(model, holdout), mask_h, self.cfg.chunk_size or None)[None]
            n_h = mask_h.sum().to(sum_h.dtype)[None]  # (1, V) pooled sum, (1,) position count
            if self.cfg.sync_processes:
                sum_h, n_h = global_sums(sum_h, n_h)
            return losses.marginal_information(sum_r.detach(), n_r, sum_h[0], n_h[0], self.cfg.construction)

    def loss(
        self,
        model: nn.Module,
        forget: Batch,
        retain: Batch | None,
        ref: Reference | None,
        holdout: Batch | None = None,
    ) -> LossOutput:
        import torch

        from obliviate import losses
        from obliviate.utils.dist import global_sums

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
        sum_r = sum_r.detach() if cfg.stopgrad_retain else sum_r
        counts = torch.stack([mask_r.sum(), mask_u.sum()]).to(sum_r.dtype)  # (2,) positions N_r, N_u
        if cfg.sync_processes:
            sums, counts = global_sums(torch.stack([sum_r, sum_u]), counts)
            sum_r, sum_u = sums[0], sums[1]

        mari = losses.marginal_information(sum_r, counts[0], sum_u, counts[1], cfg.construction)
        with torch.no_grad():  # the other construction is only logged
            values = {c: losses.marginal_information(sum_r, counts[0], sum_u, counts[1], c)
                      for c in losses.MARI_CONSTRUCTIONS}  # fmt: skip
        target = self._holdout_mi(model, holdout, sum_r, counts[0]) if self.needs_holdout else None
        # ours (target=holdout): penalise only the forget set's excess over unseen data, γ·relu(I_u − I_h)
        loss = retain_term + cfg.gamma * (mari if target is None else torch.relu(mari - target))
        logs = {**({} if target is None else {"mari_target": target.item()}), **retain_logs, "mari": mari.item(),
                **{f"mari_{c}": v.item() for c, v in values.items()},
                "mari_n_retain": counts[0].item(), "mari_n_forget": counts[1].item()}  # fmt: skip
        return LossOutput(loss=loss, logs=logs)
