"""Unlearning methods. One module per method; importing it registers it (file name = registry key = CLI name)."""

from obliviate.methods import (
    dpo,  # noqa: F401  (registers "dpo")
    ga,  # noqa: F401  (registers "ga")
    graddiff,  # noqa: F401  (registers "graddiff")
    idknll,  # noqa: F401  (registers "idknll")
    kl,  # noqa: F401  (registers "kl")
    mari,  # noqa: F401  (registers "mari")
    npo,  # noqa: F401  (registers "npo")
    rmu,  # noqa: F401  (registers "rmu")
    simnpo,  # noqa: F401  (registers "simnpo")
    task_vector,  # noqa: F401  (registers "task_vector")
)
from obliviate.methods.base import METHODS, Method, MethodDefaults, RetainTerm, register_method

__all__ = ["METHODS", "Method", "MethodDefaults", "RetainTerm", "register_method"]
