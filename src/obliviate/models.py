"""Load a causal LM and its tokenizer from a local folder, a Hugging Face hub id, a GGUF file or the built-in world.

from obliviate.config import ModelConfig
model, tok = load_model_and_tokenizer(ModelConfig(path="world:tiny"))
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obliviate import resolvers
from obliviate.config import ModelConfig
from obliviate.errors import ObliviateError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# torch is imported where weights are touched, not here: validate reads configs and tokenizers without it (< 2 s)
DTYPES = {"fp32": "float32", "bf16": "bfloat16"}
# What a hub id looks like: "gpt2" or "org/name" (no path separators beyond one slash, no leading dot).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w\-.]*(/[\w\-.]+)?$")


def resolve_path(spec: str) -> str:
    """A local folder or hub id for ``spec``; a prefixed spec (``world:<preset>``, ``task:<name>``) is resolved by
    its :mod:`obliviate.resolvers` entry (built on first use, then cached).

    Raises:
        ObliviateError: ``spec`` is neither an existing local path nor something shaped like a hub id, or its
            prefix is unknown or provides no model.
    """
    model_path = resolvers.lookup(spec, "model_path")
    if model_path is not None:
        return str(model_path())
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


def _check_dtype(name: str) -> str:
    if name not in DTYPES:
        raise ObliviateError(f"model.dtype must be one of {', '.join(DTYPES)} (got {name!r})")
    return DTYPES[name]


def _dtype(name: str) -> torch.dtype:
    import torch

    return getattr(torch, _check_dtype(name))


def _plain_local(src: str, cfg: ModelConfig, name: str) -> dict | None:
    """The JSON file ``name`` of a plain local model folder; None when transformers' Auto classes must decide (a hub
    id, GGUF, remote code, no such file or not JSON: they then give their own result or error)."""
    f = Path(src) / name
    if cfg.gguf_file or cfg.trust_remote_code or not f.is_file():
        return None
    try:
        doc = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _load_tokenizer(src: str, cfg: ModelConfig):
    # A tokenizer saved as a plain TokenizersBackend (the built-in world's, the tasks', finetune's from-scratch ones)
    # is what AutoTokenizer returns for it too, but AutoTokenizer first reads the model config through modules that
    # import torch (~1.5 s): load the class directly so validate and prepare stay light.
    tok_cfg = _plain_local(src, cfg, "tokenizer_config.json")
    if tok_cfg and tok_cfg.get("tokenizer_class") == "TokenizersBackend" and "auto_map" not in tok_cfg:
        from transformers import TokenizersBackend as tokenizer_cls
    else:
        from transformers import AutoTokenizer as tokenizer_cls

    kwargs = {"trust_remote_code": cfg.trust_remote_code}
    if cfg.gguf_file and cfg.tokenizer is None:
        kwargs["gguf_file"] = cfg.gguf_file
    try:
        return tokenizer_cls.from_pretrained(src, **kwargs)
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
    pickled = _check_weight_files(src, cfg)
    try:
        model = AutoModelForCausalLM.from_pretrained(src, **kwargs)
    except OSError as e:
        raise _unloadable(src, e) from None
    except (pickle.UnpicklingError, EOFError, RuntimeError) as e:
        if not pickled:
            raise
        raise ObliviateError(
            f"torch refused the pickle weights in {src!r} ({type(e).__name__}: its weights-only loader found objects "
            "that are not tensors); convert them to safetensors with the code that wrote them, or use another copy"
        ) from None
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise ObliviateError(
                f"model {src!r} needs its own code; set model.trust_remote_code=true only if you trust that repository"
            ) from None
        raise ObliviateError(f"could not load model {src!r}: {str(e).splitlines()[0]}") from None
    if cfg.gguf_file:
        model = _dequantised_copy(model)
    return model


def _check_weight_files(src: str, cfg: ModelConfig) -> bool:
    """Refuse damaged safetensors files (truncated, bad header) and pickle weights unless ``model.allow_pickle``;
    True when the weights that will load are pickles. Runs before transformers opens anything."""
    from safetensors import SafetensorError, safe_open

    folder = Path(src)
    if not folder.is_dir() or cfg.gguf_file:
        return False
    tensors = sorted(folder.glob("*.safetensors"))
    for f in tensors:
        try:
            with safe_open(f, framework="pt") as st:  # parses the header and checks it covers the file exactly
                st.keys()
        except (SafetensorError, OSError) as e:
            raise ObliviateError(
                f"weight file {str(f)!r} is damaged ({str(e).splitlines()[0]}); copy or download the model again"
            ) from None
    pickles = [f for f in folder.glob("*") if f.suffix in (".bin", ".pt", ".pth") and "model" in f.name]
    if tensors or not pickles:
        return False
    if not cfg.allow_pickle:
        raise ObliviateError(
            f"{str(pickles[0])!r} holds pickle weights, which can run code when loaded; convert the model to "
            "safetensors, or set model.allow_pickle=true if you trust where the file came from"
        )
    log.warning("loading pickle weights from %s (model.allow_pickle=true): only do this for files you trust", src)
    return True


def check_finite(model: torch.nn.Module, src: str) -> None:
    """Refuse a model with NaN / Inf weights: corrupted bytes under an intact file header load silently otherwise
    (and only surface as a non-finite loss at step 1)."""
    import torch

    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            bad = int((~torch.isfinite(p)).sum())
            raise ObliviateError(
                f"model {src!r} has {bad} non-finite weight(s) (NaN/Inf) in {name}; the weight file is corrupted: "
                "copy or download the model again"
            )


def position_limit(model: torch.nn.Module) -> int | None:
    """The most token positions the model reads (GPT-2 ``n_positions``, Llama ``max_position_embeddings``)."""
    cfg = model.config
    return getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)


def _memory_bytes() -> int | None:
    """Physical memory of this machine (the CPU budget a training batch must fit in), None when unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(model: torch.nn.Module, datas: list[Any], max_length: int, batch_size: int) -> None:
    """Before any run folder exists: refuse examples longer than the model's position limit (an IndexError deep
    in the forward pass otherwise) and a batch whose logits alone cannot fit in memory (it would grow until the
    kernel kills the process). ``datas``: :class:`~obliviate.data.UnlearnData` of every request."""
    limit = position_limit(model)
    longest = 1
    for data in datas:
        for split in ("forget", "retain", "holdout"):
            for ex in getattr(data, split) or []:
                n = max(len(v) for k, v in ex.items() if k.endswith("input_ids"))
                longest = max(longest, n)
                if limit is not None and n > limit:
                    raise ObliviateError(
                        f"a {split} example has {n} tokens but the model reads at most {limit} positions "
                        f"(data.max_length={max_length}); set data.max_length={limit} or less"
                    )
    # logits (B, T, V) in fp32, kept for backward together with their gradient: 2 copies, a lower bound
    need = 2 * 4 * batch_size * longest * model.config.vocab_size
    have = _memory_bytes()
    if have and need > have:
        raise ObliviateError(
            f"train.batch_size={batch_size} needs at least {need / 2**30:,.0f} GiB for the logits alone "
            f"({batch_size} x {longest} tokens x {model.config.vocab_size} vocab x fp32, with gradients); this "
            f"machine has {have / 2**30:,.0f} GiB: lower train.batch_size (train.grad_accum keeps the effective batch)"
        )


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
    """Check that ``cfg.path`` holds a causal-LM config without loading the weights; return its facts.

    A plain local folder's config.json is only read as JSON (AutoConfig imports torch, ~1.5 s): its fields are
    checked here, an unknown ``model_type`` only when a run loads the model (still before any run folder exists).
    Hub ids, GGUF files and remote code go through AutoConfig."""
    _check_dtype(cfg.dtype)
    src = resolve_path(cfg.path)
    local = _plain_local(src, cfg, "config.json")
    if local and isinstance(local.get("model_type"), str) and isinstance(local.get("vocab_size"), int):
        archs = local.get("architectures") or [local["model_type"]]
        return {"path": cfg.path, "resolved": src, "architecture": archs[0], "vocab_size": local["vocab_size"]}
    from transformers import AutoConfig

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
    _check_dtype(cfg.dtype)  # fail on a bad dtype before any slow load
    src = resolve_path(cfg.path)
    tok_src = resolve_path(cfg.tokenizer) if cfg.tokenizer else src
    tokenizer = _load_tokenizer(tok_src, cfg)
    model = _load_model(src, cfg)
    check_finite(model, src)
    ensure_pad(model, tokenizer)
    n = sum(p.numel() for p in model.parameters())
    log.info("loaded %s (%s, %s parameters, %s)", cfg.path, type(model).__name__, f"{n:,}", cfg.dtype)
    return model, tokenizer


ARCHS = ("gpt2", "llama")


def new_causal_lm(arch: str, tokenizer, *, layers: int, dim: int, heads: int, mlp: int, context: int, seed: int = 0):
    """A freshly initialised causal LM sized to ``tokenizer`` (the built-in world's and tasks' models).

    Args:
        arch: ``gpt2`` (dropout off: these models memorise) or ``llama`` (tied input / output embeddings).
        tokenizer: sets the vocabulary size and the bos / eos / pad token ids (set explicitly in the config).
        layers, dim, heads, mlp, context: depth, hidden size, attention heads, MLP width, positions.
        seed: ``torch.manual_seed`` right before the weights are drawn, so the same arguments give the same model.
    """
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    if arch not in ARCHS:
        raise ObliviateError(f"unknown architecture {arch!r}; use one of {', '.join(ARCHS)}")
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    import torch

    torch.manual_seed(seed)
    if arch == "gpt2":
        cfg = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=context,
            n_embd=dim,
            n_layer=layers,
            n_head=heads,
            n_inner=mlp,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **ids,
        )
        return GPT2LMHeadModel(cfg)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=dim,
        intermediate_size=mlp,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=context,
        tie_word_embeddings=True,
        **ids,
    )
    return LlamaForCausalLM(cfg)
