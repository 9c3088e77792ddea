"""Load a causal LM and its tokenizer from a local folder, a Hugging Face hub id, a GGUF file or the built-in world.

from obliviate.config import ModelConfig
model, tok = load_model_and_tokenizer(ModelConfig(path="world:tiny"))
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch

from obliviate.config import ModelConfig
from obliviate.errors import ObliviateError

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
# What a hub id looks like: "gpt2" or "org/name" (no path separators beyond one slash, no leading dot).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w\-.]*(/[\w\-.]+)?$")


def resolve_path(spec: str) -> str:
    """A local folder or hub id for ``spec``; ``world:<preset>`` / ``task:<name>`` are built or fetched from the
    built-in world's / tasks' cache.

    Raises:
        ObliviateError: ``spec`` is neither an existing local path nor something shaped like a hub id.
    """
    if spec.startswith("world:"):
        from obliviate.world import resolve_model_path  # lazy: the world package pulls in its generator

        return str(resolve_model_path(spec[len("world:") :]))
    if spec.startswith("task:"):
        from obliviate.reveal.tasks import get_task  # a built-in Reveal-and-Release task's model (built on demand)

        return str(get_task(spec[len("task:") :]).model_dir())
    p = Path(spec).expanduser()
    if p.exists():
        return str(p)
    if _HUB_ID.match(spec) and not spec.startswith((".", "~")):
        return spec  # let transformers try the hub (fails below with a clear message when offline)
    raise ObliviateError(
        f"model path {spec!r} does not exist; pass an existing local model folder, a Hugging Face hub id "
        "(e.g. HuggingFaceTB/SmolLM2-135M), world:tiny (the built-in world's model) or task:toxicity (a task's)"
    )


def _unloadable(src: str, err: Exception) -> ObliviateError:
    return ObliviateError(
        f"could not load model {src!r} ({str(err).splitlines()[0]}); pass an existing local model folder, "
        "or a hub id while the Hugging Face Hub is reachable"
    )


def _dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ObliviateError(f"model.dtype must be one of {', '.join(DTYPES)} (got {name!r})")
    return DTYPES[name]


def _load_tokenizer(src: str, cfg: ModelConfig):
    from transformers import AutoTokenizer

    kwargs = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file and cfg.tokenizer is None:
        kwargs["gguf_file"] = cfg.gguf_file
    try:
        return AutoTokenizer.from_pretrained(src, **kwargs)
    except (OSError, ValueError) as e:
        raise ObliviateError(
            f"could not load a tokenizer from {src!r} ({type(e).__name__}: {str(e).splitlines()[0]}); "
            "set model.tokenizer to a folder or hub id that holds one"
        ) from None


def _load_model(src: str, cfg: ModelConfig):
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": _dtype(cfg.dtype), "trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file:
        kwargs["gguf_file"] = cfg.gguf_file
    if _is_adapter_dir(src):
        return _load_adapter_merged(src, kwargs)
    try:
        model = AutoModelForCausalLM.from_pretrained(src, **kwargs)
    except OSError as e:
        raise _unloadable(src, e) from None
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise ObliviateError(
                f"model {src!r} needs its own code; set model.trust_remote_code=true only if you trust that repository"
            ) from None
        raise ObliviateError(f"could not load model {src!r}: {str(e).splitlines()[0]}") from None
    if cfg.gguf_file:
        model = _dequantised_copy(model)
    return model


def _is_adapter_dir(src: str) -> bool:
    path = Path(src)
    return (path / "adapter_config.json").is_file() and not (path / "config.json").is_file()


def _load_adapter_merged(src: str, kwargs: dict):
    """A peft adapter folder (``lora.output=adapter``): load its base model, apply the adapter and merge it, so
    every consumer (eval, certify, a further unlearning request) sees a plain causal LM."""
    from peft import AutoPeftModelForCausalLM

    try:
        model = AutoPeftModelForCausalLM.from_pretrained(src, **kwargs)
    except (OSError, ValueError) as e:
        raise ObliviateError(
            f"could not load the adapter in {src!r} on its base model ({str(e).splitlines()[0]}); the base named in "
            "adapter_config.json (base_model_name_or_path) must be an existing folder or a reachable hub id"
        ) from None
    return model.merge_and_unload()


def _dequantised_copy(model):
    """A plain copy of a GGUF-loaded model: transformers refuses to ``save_pretrained`` a model that still carries
    its gguf ``quantization_config`` even though the weights were dequantised on load."""
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    clean = type(model)(config).to(next(model.parameters()).dtype)
    clean.load_state_dict(model.state_dict())
    return clean


def ensure_pad(model, tokenizer) -> None:
    """Give the tokenizer a pad token when it has none (logged) and keep the model's config in sync."""
    from obliviate.data.collate import ensure_pad_token

    ensure_pad_token(tokenizer)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        # A pad token that had to be added as a new token needs an embedding row.
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def load_tokenizer(cfg: ModelConfig):
    """The tokenizer ``cfg`` names (``cfg.tokenizer``, else ``cfg.path``), with a pad token."""
    from obliviate.data.collate import ensure_pad_token

    tokenizer = _load_tokenizer(resolve_path(cfg.tokenizer or cfg.path), cfg)
    ensure_pad_token(tokenizer)
    return tokenizer


def describe_model(cfg: ModelConfig) -> dict:
    """Check that ``cfg.path`` holds a loadable causal-LM config without loading the weights; return its facts."""
    from transformers import AutoConfig

    _dtype(cfg.dtype)
    src = resolve_path(cfg.path)
    kwargs = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file:
        kwargs["gguf_file"] = cfg.gguf_file
    try:
        config = AutoConfig.from_pretrained(src, **kwargs)
    except (OSError, ValueError) as e:
        raise _unloadable(src, e) from None
    archs = getattr(config, "architectures", None) or [config.model_type]
    return {"path": cfg.path, "resolved": src, "architecture": archs[0], "vocab_size": config.vocab_size}


def load_model_and_tokenizer(cfg: ModelConfig):
    """Load ``AutoModelForCausalLM`` + ``AutoTokenizer`` as ``cfg`` describes.

    Args:
        cfg: the model section of the run config (path, tokenizer, dtype, trust_remote_code, gguf_file).

    Returns:
        ``(model, tokenizer)``; the model is on CPU in ``cfg.dtype``, and the tokenizer has a pad token.

    Raises:
        ObliviateError: the path does not exist, cannot be loaded, or an option is invalid.
    """
    _dtype(cfg.dtype)  # fail on a bad dtype before any slow load
    src = resolve_path(cfg.path)
    tok_src = resolve_path(cfg.tokenizer) if cfg.tokenizer else src
    tokenizer = _load_tokenizer(tok_src, cfg)
    model = _load_model(src, cfg)
    ensure_pad(model, tokenizer)
    n = sum(p.numel() for p in model.parameters())
    log.info("loaded %s (%s, %s parameters, %s)", cfg.path, type(model).__name__, f"{n:,}", cfg.dtype)
    return model, tokenizer
