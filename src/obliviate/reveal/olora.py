"""Stacked per-round LoRA adapters (peft) with O-LoRA orthogonality, negation, rollback and merging.

Mechanism (peft multi-adapter API): round k adds a new named adapter ``round{k}`` with ``add_adapter`` (the first
round wraps the model with ``get_peft_model(..., adapter_name="round1")``), then ``base_model.set_adapter([round1,
..., roundk])`` makes *all* of them active (a LoRA layer's forward adds ``scaling * B_i A_i x`` for every active
adapter) and we switch ``requires_grad`` off on every adapter but the new one (``set_adapter`` would otherwise make
all active adapters trainable). Earlier rounds therefore stay in the forward pass, frozen. Adapters are never
concatenated into one tensor: keeping them separate is what makes rollback (``delete_adapter``) and per-round
ablation (activate a subset) possible; the O-LoRA loss concatenates their A matrices on the fly instead.

O-LoRA (Wang et al. 2023, official trainer): ``L_orth = sum over adapted layers of || A_prev A_new^T ||_1``
(entrywise L1; A_prev = all earlier rounds' A stacked along the rank axis, shape (r_sum, d_in); A_new (r, d_in)).
Negation (PEM arithmetic, Zhang et al. 2023): multiply exactly one factor, ``B``, by ``-lam_neg``, so the merged
update is ``-lam_neg * (alpha / r) * B A``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from obliviate.errors import ObliviateError


def _peft_config(model: nn.Module, r: int, alpha: int, dropout: float, target_modules: Any) -> Any:
    import peft
    from transformers.pytorch_utils import Conv1D

    return peft.LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        fan_in_fan_out=any(isinstance(m, Conv1D) for m in model.modules()),  # GPT-2 stores (in, out) weights
        task_type="CAUSAL_LM",
    )


def lora_layers(model: nn.Module) -> list[nn.Module]:
    """Every peft LoRA layer of ``model``."""
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


def adapter_names(model: nn.Module) -> list[str]:
    """Round adapters present, in round order ([] for a model without LoRA layers)."""
    names = {n for layer in lora_layers(model) for n in layer.lora_A}
    return sorted(names, key=lambda n: (len(n), n))


def split_adapters(model: nn.Module) -> tuple[list[str], str | None]:
    """``(frozen adapters, the trainable one)`` as the model stands (no LoRA: ``([], None)``)."""
    trainable = [n for layer in lora_layers(model) for n in layer.lora_A if layer.lora_A[n].weight.requires_grad]
    names = sorted(set(trainable))
    if len(names) > 1:
        raise ObliviateError(f"several LoRA adapters are trainable ({', '.join(names)}); train one per round")
    new = names[0] if names else None
    return [n for n in adapter_names(model) if n != new], new


def activate(model: nn.Module, names: list[str], trainable: str | None = None) -> None:
    """Make ``names`` the active adapters; only ``trainable`` (if given) keeps gradients."""
    model.base_model.set_adapter(list(names))
    for layer in lora_layers(model):
        for name in layer.lora_A:
            flag = name == trainable
            layer.lora_A[name].weight.requires_grad_(flag)
            layer.lora_B[name].weight.requires_grad_(flag)


def add_round_adapter(
    model: nn.Module,
    name: str,
    *,
    r: int,
    alpha: int,
    dropout: float = 0.0,
    target_modules: Any = "all-linear",
    seed: int | None = None,
) -> nn.Module:
    """Add adapter ``name`` (A Kaiming-uniform, B = 0) and activate it on top of all earlier ones, frozen.

    ``seed`` draws A from its own generator: the training loop reseeds the global RNG at every call, so without it
    two rounds' adapters can start from the very same A (and O-LoRA would start from |cos| = 1).

    Returns:
        The peft model (the input wrapped on the first call, the same object afterwards).
    """
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return _add(model, name, _peft_config(model, r, alpha, dropout, target_modules), target_modules)


def _add(model: nn.Module, name: str, cfg: Any, target_modules: Any) -> nn.Module:
    import peft

    if isinstance(model, peft.PeftModel) and name in model.peft_config:
        raise ObliviateError(f"adapter {name!r} already exists; round adapters need distinct names")
    try:
        if isinstance(model, peft.PeftModel):
            model.add_adapter(name, cfg)
        else:
            model = peft.get_peft_model(model, cfg, adapter_name=name)
    except ValueError as e:
        raise ObliviateError(f"lora.target_modules={target_modules!r} does not fit this model ({e})") from None
    activate(model, adapter_names(model), trainable=name)
    return model


def _a(layer: nn.Module, name: str) -> torch.Tensor:
    return layer.lora_A[name].weight  # (r, d_in)


def orth_loss(model: nn.Module, prev: list[str], new: str) -> torch.Tensor:
    """O-LoRA loss: sum over layers of the entrywise L1 norm of ``A_prev @ A_new.T`` (0 when ``prev`` is empty)."""
    total = None
    for layer in lora_layers(model):
        if new not in layer.lora_A or not prev:
            continue
        a_prev = torch.cat([_a(layer, p) for p in prev if p in layer.lora_A], dim=0)  # (r_sum, d_in)
        term = (a_prev @ _a(layer, new).T).abs().sum()  # (r_sum, r) -> scalar
        total = term if total is None else total + term
    if total is None:
        return torch.zeros((), device=next(model.parameters()).device)
    return total


@torch.no_grad()
def max_abs_cos(model: nn.Module, prev: list[str], new: str) -> float:
    """Largest |cosine| between a row of ``A_new`` and a row of any earlier ``A``, over all layers (0 if none)."""
    best = 0.0
    for layer in lora_layers(model):
        if new not in layer.lora_A or not prev:
            continue
        a_prev = torch.cat([_a(layer, p) for p in prev if p in layer.lora_A], dim=0)
        cos = nn.functional.normalize(a_prev, dim=1) @ nn.functional.normalize(_a(layer, new), dim=1).T
        best = max(best, float(cos.abs().max()))
    return best


@torch.no_grad()
def negate(model: nn.Module, name: str, scale: float) -> None:
    """Flip adapter ``name``: ``B <- -scale * B`` (A untouched), so its update becomes ``-scale * (alpha/r) B A``."""
    for layer in lora_layers(model):
        if name in layer.lora_B:
            layer.lora_B[name].weight.mul_(-scale)


def delete_round(model: nn.Module, name: str) -> nn.Module:
    """Remove adapter ``name`` (rollback); the remaining adapters stay active and frozen.

    Returns:
        The peft model, or the plain base model when ``name`` was the only adapter (peft cannot hold zero).
    """
    rest = [n for n in adapter_names(model) if n != name]
    if not rest:
        return model.unload()
    model.delete_adapter(name)
    activate(model, rest)
    return model


def merged_copy(model: nn.Module, names: list[str] | None = None) -> nn.Module:
    """A plain transformers model with adapters ``names`` (default: all) folded into its weights; ``model`` is
    untouched."""
    import peft

    if not isinstance(model, peft.PeftModel):
        return copy.deepcopy(model)
    clone = copy.deepcopy(model)
    names = names if names is not None else adapter_names(clone)
    if not names:
        return clone.unload()
    activate(clone, names)
    return clone.merge_and_unload(adapter_names=names)
