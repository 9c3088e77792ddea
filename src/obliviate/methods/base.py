"""The method contract: a small object with a ``loss`` (a Protocol, not a base class), plus shared components.

A method module holds ``<Name>Config`` (a dataclass whose fields carry ``field(metadata={"help": ...})``) and
``<Name>(MethodDefaults)`` decorated with ``@register_method("<name>")``. What methods share (the retain term)
comes by composition through :class:`RetainTerm`.

Method modules import torch and :mod:`obliviate.losses` inside the functions that compute (``nn`` only for
annotations, under ``TYPE_CHECKING``): listing the methods and their options (``obliviate methods``, config checks)
then never loads torch. ``tests/test_startup.py`` fails when a module-level torch import comes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from obliviate.registry import Registry
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    import torch
    from torch import nn

    from obliviate.reference import Reference


@runtime_checkable
class Method(Protocol):
    """Everything the training loop reads from a method (:class:`MethodDefaults` supplies the defaults).

    Attributes:
        Config: the method's own config dataclass; its fields are the method's options.
        needs_reference: the loop must provide a frozen :class:`Reference` (set per instance: it can depend on cfg).
        needs_retain: the method cannot run without retain data.
        needs_alt: forget batches must carry ``alt`` (the same prompts with a refusal answer).
        needs_holdout: the loop passes ``loss(..., holdout=batch)``, a micro-batch of ``data.holdout`` (unseen rows
            of the forget set's kind; the flag may depend on cfg); without it ``loss`` gets no ``holdout`` argument.
        disable_dropout: forward passes run in eval mode (dropout off; gradients still flow).
    """

    Config: ClassVar[type]
    needs_reference: bool
    needs_retain: bool
    needs_alt: bool
    needs_holdout: bool
    disable_dropout: bool

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        """The training loss of one micro-batch pair and its log entries."""
        ...

    def setup(self, model: nn.Module, ref: Reference | None) -> None:
        """Called once before the first step, after the model is prepared (e.g. rmu picks its layers)."""
        ...

    def finalize(self, model: nn.Module, ref: Reference | None) -> None:
        """Called once after the last step (e.g. task-vector negation)."""
        ...


class MethodDefaults:
    """The defaults of :class:`Method`'s flags and hooks: no reference, retain or holdout data or refusals needed,
    dropout as the model has it, no setup or finalize step. A method inherits it and overrides what differs."""

    needs_reference: bool = False
    needs_retain: bool = False
    needs_alt: bool = False
    needs_holdout: bool = False
    disable_dropout: bool = False

    def setup(self, model: nn.Module, ref: Reference | None) -> None:
        return None

    def finalize(self, model: nn.Module, ref: Reference | None) -> None:
        return None


METHODS: Registry[Any] = Registry("method")
register_method = METHODS.register


def forward_logits(model: nn.Module, batch: Batch) -> torch.Tensor:
    """(B, T, V) logits of ``model`` on ``batch`` (labels are not passed: the loss is ours, not the model's)."""
    return model(**batch.model_inputs()).logits


@dataclass
class RetainTerm:
    """The retain-side regulariser every method with a retain term uses (``method.args.retain.kind`` / ``.weight``).

    kind: ``nll`` (mean token NLL on retain, keeps the model fitting D_r), ``kl`` (forward KL(p_ref || p_theta) on
    retain tokens against the frozen reference) or ``none``. weight: its coefficient in the total loss.
    """

    kind: str = field(default="nll", metadata={"help": "nll | kl (to the frozen reference) | none"})
    weight: float = field(default=1.0, metadata={"help": "weight of the retain term in the loss"})

    def __post_init__(self) -> None:
        if self.kind not in ("nll", "kl", "none"):
            old = " (the old retain=ce is kind=nll)" if self.kind == "ce" else ""
            raise ValueError(f"retain.kind must be one of nll, kl, none (got {self.kind!r}){old}")

    @property
    def active(self) -> bool:
        return self.kind != "none" and self.weight != 0.0

    @property
    def needs_reference(self) -> bool:
        return self.active and self.kind == "kl"

    def __call__(self, model: nn.Module, retain: Batch | None, ref: Reference | None) -> tuple[torch.Tensor, dict]:
        """Weighted retain loss and its log entry; a zero tensor when inactive or when there is no retain batch."""
        import torch

        if not self.active or retain is None:
            return torch.zeros((), device=retain.input_ids.device if retain is not None else "cpu"), {}
        return self.on_logits(forward_logits(model, retain), retain, ref)

    def on_logits(self, logits: torch.Tensor, retain: Batch, ref: Reference | None) -> tuple[torch.Tensor, dict]:
        """The weighted term from the model's (B, T, V) retain logits (for a method that needs them anyway)."""
        from obliviate import losses

        if not self.active:
            return logits.new_zeros(()), {}
        if self.kind == "nll":
            term = losses.masked_mean_nll(logits, retain.labels)
            return self.weight * term, {"retain_nll": term.item()}
        if ref is None:
            raise RuntimeError("retain.kind=kl needs the frozen reference model")
        term = losses.kl_to_ref(logits, ref.logits(retain), retain.labels)
        return self.weight * term, {"retain_kl": term.item()}
