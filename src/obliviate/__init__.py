"""obliviate: LLM unlearning (Forgetting-MarI, Reveal-and-Release and the field's baselines) with an evaluation
suite that compares the unlearned model with the gold model retrained without the forget data."""

from __future__ import annotations

__version__ = "0.1.0"


def list_methods() -> list[str]:
    """Names of the registered unlearning methods."""
    from obliviate.methods import METHODS

    return METHODS.names()


def __getattr__(name: str):
    # Lazy public API: importing obliviate must not import torch/transformers until needed.
    if name == "unlearn":
        from obliviate.api import unlearn

        return unlearn
    if name == "load_config":
        from obliviate.config import load_config

        return load_config
    raise AttributeError(name)
