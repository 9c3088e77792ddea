"""Model presets for training from scratch: an architecture plus the recipe that trains it to memorise a corpus.

The built-in world's models (``world:tiny``) and ``obliviate finetune --fresh tiny|small`` use this table; the
recipe is the world's (a fresh own-data model keeps only the architecture).

``tiny``: GPT-2, 2 layers, d=128, about 0.68M parameters with the 2,048-token world tokenizer (trains a full model
in about a minute on 2 cores). ``small``: Llama, 4 layers, d=256, tied embeddings, about 3.7M parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from obliviate.config import TrainConfig
from obliviate.errors import ObliviateError


@dataclass(frozen=True)
class Recipe:
    """How a world model is trained (everything here is part of the world's cache key).

    ``epochs`` counts passes over the model's own training rows, so full and gold follow the same recipe on
    different data; the learning rate warms up linearly, then decays on a cosine to 10 % of ``lr``.
    """

    lr: float = 3e-3
    batch_size: int = 50
    epochs: int = 18
    warmup_steps: int = 50
    weight_decay: float = 0.0
    clip_grad: float = 1.0
    max_length: int = 64  # tokens; world rows are at most ~30
    general_repeat: int = 3  # general-knowledge rows appear this many times per epoch (few rows, learnt last)
    seed: int = 0  # init and data-order seed; world builds set it to the world seed

    def train_config(self) -> TrainConfig:
        """The loop's :class:`~obliviate.config.TrainConfig` for this recipe (cosine schedule after a linear warmup;
        ``max_length`` is a tokenisation setting, passed to :func:`obliviate.train.memorise.memorise` itself)."""
        return TrainConfig(
            lr=self.lr,
            batch_size=self.batch_size,
            epochs=float(self.epochs),
            warmup_steps=self.warmup_steps,
            scheduler="cosine",
            weight_decay=self.weight_decay,
            clip_grad=self.clip_grad,
            log_every=1,
            seed=self.seed,
        )


@dataclass(frozen=True)
class Preset:
    """An architecture plus its training recipe."""

    name: str
    arch: str  # gpt2 | llama
    layers: int
    dim: int
    heads: int
    mlp: int
    vocab_size: int = 2048  # tokenizer size the world trains for this preset
    context: int = 128
    recipe: Recipe = field(default_factory=Recipe)

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "tiny": Preset("tiny", "gpt2", layers=2, dim=128, heads=4, mlp=512),
    "small": Preset("small", "llama", layers=4, dim=256, heads=4, mlp=688, recipe=Recipe(lr=2e-3)),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ObliviateError(f"unknown model preset {name!r}; use one of {', '.join(PRESETS)} (e.g. world:tiny)")
    return PRESETS[name]


def init_model(preset: Preset, tokenizer, seed: int = 0):
    """A freshly initialised causal LM for ``preset`` sized to ``tokenizer`` (special-token ids set explicitly)."""
    from obliviate.models import new_causal_lm

    return new_causal_lm(preset.arch, tokenizer, layers=preset.layers, dim=preset.dim, heads=preset.heads,
                         mlp=preset.mlp, context=preset.context, seed=seed)  # fmt: skip
