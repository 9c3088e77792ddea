"""RMU: Representation Misdirection for Unlearning.

Paper: "The WMDP Benchmark: Measuring and Reducing Malicious Use With Unlearning" (Li et al., 2024),
https://arxiv.org/abs/2403.03218 (code: centerforaisafety/wmdp, rmu/unlearn.py; OpenUnlearning's ``RMU``).

Objective:  L(θ) = MSE(h_θ^ℓ(D_f), c · u) + α · MSE(h_θ^ℓ(D_r), h_ref^ℓ(D_r))

h^ℓ is the output of decoder layer ℓ (``output_hidden_states``; index ℓ + 1), u a fixed random unit vector drawn
once (uniform [0, 1) entries, normalised, as in the WMDP code) from a generator seeded with ``seed``, c the
steering coefficient. MSE is the mean over the hidden dimension, averaged over the labelled positions of each
sequence, then over the batch (OpenUnlearning's masking). Only the MLPs of layers ℓ−2..ℓ are trained by default.

Deviations: WMDP trains only the MLP down-projection weight of those layers (``param_ids=[6]``) and averages over
all positions; we train every parameter of those MLPs (or ``train_regex``) and average over labelled positions.
The default layer is (n_layers − 1) // 2 (7 for a 16-layer model, OpenUnlearning's Llama-3.2-1B choice; 0 for the
2-layer test models). For the last layer HF's hidden state is taken after the final norm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from obliviate.errors import ObliviateError
from obliviate.methods.base import MethodDefaults, register_method
from obliviate.types import Batch, LossOutput

if TYPE_CHECKING:
    import torch
    from torch import nn

    from obliviate.reference import Reference


@dataclass
class RMUConfig:
    layer: int | None = field(
        default=None, metadata={"help": "decoder layer whose output is steered; None: (n_layers - 1) // 2"}
    )
    steering_coeff: float = field(
        default=20.0, metadata={"help": "norm c of the control vector (WMDP default; grows with depth and model size)"}
    )
    alpha: float = field(
        default=100.0, metadata={"help": "weight of the retain activation-matching term (WMDP default)"}
    )
    train_layers: list[int] | None = field(
        default=None, metadata={"help": "layers whose MLP is trained; None: max(0, layer-2)..layer"}
    )
    train_regex: str | None = field(
        default=None, metadata={"help": "instead: train the parameters whose name matches (re.search)"}
    )
    seed: int = field(default=0, metadata={"help": "seed of the control vector's generator"})

    def __post_init__(self) -> None:
        if self.train_layers is not None and self.train_regex is not None:
            raise ValueError("set only one of train_layers and train_regex")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0 (got {self.alpha})")


@register_method("rmu")
class RMU(MethodDefaults):
    """Steer layer-ℓ activations on forget data to c·u, keep retain activations (see the module docstring)."""

    Config: ClassVar[type] = RMUConfig

    def __init__(self, cfg: RMUConfig) -> None:
        self.cfg = cfg
        self.needs_reference = cfg.alpha > 0
        self.needs_retain = cfg.alpha > 0
        self.needs_alt = False
        self.layer: int | None = None
        self.control: torch.Tensor | None = None  # (D,) c · u, set in setup()

    def setup(self, model: nn.Module, ref: Reference | None) -> None:
        """Resolve the layer, draw the control vector and narrow the trainable parameters to the selection."""
        import torch

        config = getattr(model, "config", None)
        n_layers, dim = getattr(config, "num_hidden_layers", None), getattr(config, "hidden_size", None)
        if n_layers is None or dim is None:
            raise ObliviateError("rmu needs a transformers model whose config has num_hidden_layers and hidden_size")
        layer = (n_layers - 1) // 2 if self.cfg.layer is None else self.cfg.layer
        if not 0 <= layer < n_layers:
            raise ObliviateError(
                f"rmu: layer={layer} but the model has {n_layers} layers; set method.args.layer to 0..{n_layers - 1}"
            )
        self.layer = layer
        gen = torch.Generator().manual_seed(self.cfg.seed)
        u = torch.rand(dim, generator=gen)
        self.control = self.cfg.steering_coeff * u / u.norm()
        if self.cfg.train_regex is not None:
            pattern = self.cfg.train_regex
        else:
            layers = self.cfg.train_layers or list(range(max(0, layer - 2), layer + 1))
            pattern = rf"\.({'|'.join(str(i) for i in layers)})\.mlp\."
        keep = re.compile(pattern)
        selected = 0
        for name, p in model.named_parameters():
            if p.requires_grad and not keep.search(name):
                p.requires_grad_(False)
            selected += int(p.requires_grad)
        if selected == 0:
            raise ObliviateError(
                f"rmu: no trainable parameter matches {pattern!r}; set method.args.train_regex to "
                "a pattern of parameter names (see model.named_parameters())"
            )

    def _hidden(self, out) -> torch.Tensor:
        return out.hidden_states[self.layer + 1]  # (B, T, D); index 0 is the embeddings

    def loss(self, model: nn.Module, forget: Batch, retain: Batch | None, ref: Reference | None) -> LossOutput:
        from obliviate import losses

        if self.control is None:
            raise RuntimeError("rmu.setup(model, ref) must run before the first loss")
        h_f = self._hidden(model(**forget.model_inputs(), output_hidden_states=True))
        forget_loss = losses.activation_mse(h_f, self.control.to(h_f.device), forget.labels != losses.IGNORE)
        logs = {"rmu_forget": forget_loss.item()}
        loss = forget_loss
        if self.cfg.alpha > 0:
            if retain is None or ref is None:
                raise RuntimeError("rmu with alpha > 0 needs a retain batch and the frozen reference model")
            h_r = self._hidden(model(**retain.model_inputs(), output_hidden_states=True))
            h_ref = self._hidden(ref.outputs(retain, output_hidden_states=True)).detach()
            retain_loss = losses.activation_mse(h_r, h_ref, retain.labels != losses.IGNORE)
            loss = loss + self.cfg.alpha * retain_loss
            logs["rmu_retain"] = retain_loss.item()
        return LossOutput(loss=loss, logs=logs)
