"""The frozen reference model that NPO, DPO, KL-retain, RMU and MarI compare against.

Either a separate frozen copy of the starting model, or, under LoRA, the very same model with its adapters
disabled (peft's ``disable_adapter`` context): the base weights are frozen anyway, so no second copy is needed.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from obliviate.types import Batch
from obliviate.utils.modes import eval_mode


class Reference:
    """Frozen θ₀. ``logits(batch)`` runs it without gradients in eval mode (no dropout)."""

    def __init__(self, model: nn.Module, *, via_disabled_adapter: bool = False) -> None:
        self.model = model
        self.via_disabled_adapter = via_disabled_adapter
        if not via_disabled_adapter:
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)

    @classmethod
    def copy_of(cls, model: nn.Module) -> Reference:
        """A deep, frozen copy of ``model`` (its current weights)."""
        return cls(copy.deepcopy(model))

    def _context(self):
        return self.model.disable_adapter() if self.via_disabled_adapter else contextlib.nullcontext()

    @torch.no_grad()
    def outputs(self, batch: Batch, **kwargs):
        """The reference's full model output (e.g. ``output_hidden_states=True`` for RMU)."""
        with eval_mode(self.model), self._context():
            return self.model(**batch.model_inputs(), **kwargs)

    def logits(self, batch: Batch) -> torch.Tensor:
        """(B, T, V) reference logits, detached."""
        return self.outputs(batch).logits.detach()
