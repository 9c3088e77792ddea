"""Task-vector negation: fine-tune on the forget set, then subtract the scaled weight difference.

Paper: "Editing Models with Task Arithmetic" (Ilharco et al., 2023), https://arxiv.org/abs/2212.04089; the ``tv``
baseline of "MUSE: Machine Unlearning Six-Way Evaluation for Language Models" (Shi et al., 2024),
https://arxiv.org/abs/2407.06460 (argparse default alpha 1.0; its scripts use 5.0).

Objective (training):  L(θ) = NLL_θ(D_f)                      (plain fine-tuning: θ_ft)
Finalize:               θ ← θ_ref − α · (θ_ft − θ_ref)

Under LoRA the weight difference is the adapter's ΔW = s · B · A, which is linear in B, so ``finalize`` sets
B ← −α · B and keeps A: the merged weights are then W_ref − α · ΔW, exactly the full-weight rule (negating A and B
element-wise would not negate ΔW). Trainable parameters other than LoRA A/B matrices under LoRA (DoRA magnitudes,
modules_to_save, biases) are not linear in the delta and are refused.

Deviations: the forget NLL falls during training (this is fine-tuning); the forgetting happens in ``finalize``.
MUSE fine-tunes a separate copy and subtracts offline; here it is one run, with θ_ref the frozen reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from obliviate.errors import ObliviateError
from obliviate.methods.base import MethodDefaults, forward_logits, register_method
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    from torch import nn

    from obliviate.reference import Reference


@dataclass
class TaskVectorConfig:
    alpha: float = field(
        default=1.0, metadata={"help": "scale of the subtracted task vector (MUSE's scripts use 5.0)"}
    )


@register_method("task_vector")
class TaskVector(MethodDefaults):
    """Fine-tune on forget, then negate the task vector in ``finalize`` (see the module docstring)."""

    Config: ClassVar[type] = TaskVectorConfig

    def __init__(self, cfg: TaskVectorConfig) -> None:
        self.cfg = cfg
        self.needs_reference = True  # θ_ref for finalize (free under LoRA: the base weights with adapters disabled)
        self.needs_retain = False
        self.needs_alt = False

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        from obliviate import losses

        nll = losses.masked_mean_nll(forward_logits(model, forget), forget.labels)
        return LossOutput(loss=nll, logs={"forget_nll": nll.item()})

    def finalize(self, model: nn.Module, ref: Reference | None) -> None:
        """Replace the fine-tuned weights by θ_ref − α · (θ − θ_ref) (LoRA: B ← −α · B)."""
        import torch

        with torch.no_grad():
            self._negate(model, ref)

    def _negate(self, model: nn.Module, ref: Reference | None) -> None:
        alpha = self.cfg.alpha
        params = list(model.named_parameters())
        if any("lora_" in name for name, _ in params):
            trainable = [(n, p) for n, p in params if p.requires_grad]
            other = [n for n, _ in trainable if not any(k in n for k in ("lora_A", "lora_B", "lora_embedding_"))]
            if other:  # checked before touching anything: never leave a half-negated model
                raise ObliviateError(
                    f"task_vector under LoRA can only negate LoRA A/B adapters, but {other[0]} is trainable; "
                    "drop modules_to_save / bias / DoRA from the LoRA config"
                )
            for name, p in trainable:
                if "lora_B" in name or "lora_embedding_B" in name:
                    p.mul_(-alpha)
            return
        if ref is None:
            raise RuntimeError("task_vector.finalize needs the frozen reference model (θ_ref)")
        ref_params = list(ref.model.parameters())
        if len(ref_params) != len(params):
            raise RuntimeError("task_vector: the reference and the model have different parameter lists")
        for (name, p), r in zip(params, ref_params):
            if p.shape != r.shape:
                raise RuntimeError(f"task_vector: shape mismatch for {name} between the model and the reference")
            p.copy_(r - alpha * (p - r))
