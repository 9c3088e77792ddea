"""What a metric sees: one model (loaded lazily), its tokenizer, the data rows of each split, the options, and the
reference contexts (gold, original). Forward passes and generations are memoised per context, so the many metrics
that read the same token statistics (NLL, probability, MIA scores, memorisation) share one pass per split.

Token statistics follow the package's tokenisation (:func:`obliviate.data.collate.tokenize_rows`: prompt and answer
tokenised separately, answer followed by EOS), so the evaluated tokens are exactly the trained ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from obliviate.errors import ObliviateError


@dataclass
class EvalOptions:
    """Evaluation settings; the ones that change a value are part of each metric's cache key."""

    batch_size: int = 8  # sequences per forward pass / generate call (does not change values)
    max_length: int = 256  # tokens per prompt + answer; longer rows are truncated (counted in eval.json)
    max_new_tokens: int = 32  # greedy generation budget for ROUGE and QA accuracy (TOFU uses 200)
    mink_k: float = 0.4  # fraction of lowest-scoring tokens in Min-k % / Min-k %++ (OpenUnlearning TOFU: 0.4)
    chat_template: bool = False  # wrap prompts with the tokenizer's chat template
    txt_window: int = 128  # token window for raw-text rows from .txt files
    dtype: str = "fp32"  # fp32 | bf16 model weights
    device: str = "auto"  # auto (cuda when available) | cpu | cuda[:N]
    lm_eval_limit: int | None = None  # lm-eval-harness: documents per task (None = all)
    progress: bool = True  # progress bars (does not change values)

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_length", "max_new_tokens", "txt_window"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                flag = name.replace("_", "-")
                raise ObliviateError(
                    f"{name} must be a whole number >= 1 (got {getattr(self, name)!r}); e.g. --{flag} 8"
                )
        if not 0 < self.mink_k <= 1:
            raise ObliviateError(f"mink_k is a fraction of tokens in (0, 1] (got {self.mink_k}); e.g. --mink-k 0.4")
        if self.lm_eval_limit is not None and self.lm_eval_limit < 1:
            raise ObliviateError(f"lm_eval_limit must be >= 1 or unset (got {self.lm_eval_limit})")

    def key_options(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The options that enter a cache key: tokenisation + dtype for every metric, plus ``names``."""
        base = ("max_length", "chat_template", "txt_window", "dtype")
        return {n: getattr(self, n) for n in (*base, *names)}


@dataclass
class TokenStats:
    """Per-example statistics of the labelled (answer) tokens under teacher forcing, all shape (n,)."""

    logp: np.ndarray  # log-probability of each target token
    mu: np.ndarray  # E_v[log p_v] of the next-token distribution (Min-k %++)
    var: np.ndarray  # Var_v[log p_v] of the next-token distribution (Min-k %++)
    pred: np.ndarray  # argmax prediction
    target: np.ndarray  # target token ids
    trim: int  # 1 when the last target is the appended end marker (EOS / end-of-turn), else 0

    @property
    def avg_nll(self) -> float:
        """Mean token NLL over all labelled tokens (EOS included, as OpenUnlearning's ``evaluate_probability``)."""
        return float(-self.logp.mean()) if self.logp.size else float("nan")

    def content(self, name: str) -> np.ndarray:
        """``name`` without the end marker: OpenUnlearning's ``tokenwise_logprobs`` drops the final labelled token
        ("-1 to ignore eos prediction"); we drop it when it is the special token our encoder appended."""
        arr = getattr(self, name)
        return arr[: arr.size - self.trim]


class ModelHandle:
    """A model given as a path / spec (loaded on first use) or as an in-memory module, with a cache fingerprint."""

    def __init__(self, source: Any, tokenizer: Any = None, *, options: EvalOptions, label: str | None = None) -> None:
        self.source = source
        self.options = options
        self._model = None if isinstance(source, (str, Path)) else source
        self._tokenizer = tokenizer
        if self._model is not None and tokenizer is None:
            raise ObliviateError("an in-memory model needs its tokenizer: pass tokenizer=... to evaluate()")
        self.label = label or (str(source) if isinstance(source, (str, Path)) else type(source).__name__)
        self._fingerprint: str | None = None

    @property
    def fingerprint(self) -> str:
        """Identity for the cache: resolved path + size/mtime of its files, or a digest of in-memory weights."""
        if self._fingerprint is None:
            self._fingerprint = _fingerprint(self.source if self._model is None else self._model)
        return self._fingerprint

    def _load(self) -> None:
        from obliviate.config import ModelConfig
        from obliviate.models import load_model_and_tokenizer

        model, tok = load_model_and_tokenizer(ModelConfig(path=str(self.source), dtype=self.options.dtype))
        self._model, self._tokenizer = model, self._tokenizer or tok

    @property
    def model(self):
        if self._model is None:
            self._load()
            self._model.to(self.device)
        return self._model

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._load()
            self._model.to(self.device)
        return self._tokenizer

    def release(self) -> None:
        if isinstance(self.source, (str, Path)):
            self._model = self._tokenizer = None

    @property
    def device(self) -> torch.device:
        if self.options.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.options.device)


def _fingerprint(source: Any) -> str:
    h = hashlib.sha256()
    if isinstance(source, (str, Path)):
        spec = str(source)
        from obliviate.models import resolve_path

        resolved = resolve_path(spec)
        h.update(resolved.encode())
        path = Path(resolved)
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file()):
                st = f.stat()
                h.update(f"{f.relative_to(path)}:{st.st_size}:{st.st_mtime_ns}".encode())
        return h.hexdigest()
    with torch.no_grad():
        for name, p in source.state_dict().items():
            t = p.detach().float()
            h.update(f"{name}:{tuple(t.shape)}:{t.sum().item():.10e}:{t.abs().sum().item():.10e}".encode())
    return h.hexdigest()


def rows_fingerprint(rows: list[dict[str, Any]]) -> str:
    """sha256 of the rows as canonical JSON (the data part of a cache key)."""
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class EvalContext:
    """One model + data + options + references; memoises forward passes and generations per split."""

    handle: ModelHandle
    data: dict[str, list[dict[str, Any]]]
    options: EvalOptions
    refs: dict[str, EvalContext] = field(default_factory=dict)
    _memo: dict[tuple, Any] = field(default_factory=dict, repr=False)

    @property
    def model(self):
        return self.handle.model

    @property
    def tokenizer(self):
        return self.handle.tokenizer

    def has(self, split: str) -> bool:
        return bool(self.data.get(split))

    def rows(self, split: str) -> list[dict[str, Any]]:
        return self.data[split]

    def reference(self, name: str) -> EvalContext | None:
        """The context of reference model ``name`` (``gold``, ``original``), or None when it was not given."""
        return self.refs.get(name)

    def release(self) -> None:
        """Free the memoised passes and, when it was loaded from a path, the model (results stay in the runner)."""
        self._memo.clear()
        self.handle.release()

    def data_fingerprint(self, split: str) -> str:
        key = ("fp", split)
        if key not in self._memo:
            self._memo[key] = rows_fingerprint(self.data[split])
        return self._memo[key]

    def examples(self, split: str, rows: list[dict[str, Any]] | None = None, tag: str = "") -> list[dict[str, Any]]:
        """Tokenised examples of ``split`` (or of ``rows`` derived from it, memoised under ``tag``)."""
        if rows is not None and not tag:
            raise ValueError("examples(): rows derived from a split need their own memo tag")
        key = ("ex", split, tag)
        if key not in self._memo:
            from obliviate.data.collate import tokenize_rows

            o = self.options
            src = self.data[split] if rows is None else rows
            self._memo[key], _ = tokenize_rows(
                src, self.tokenizer, max_length=o.max_length, chat_template=o.chat_template, txt_window=o.txt_window
            )
        return self._memo[key]

    def token_stats(self, split: str, rows: list[dict[str, Any]] | None = None, tag: str = "") -> list[TokenStats]:
        """:class:`TokenStats` of every example of ``split`` (or of derived ``rows`` under ``tag``), memoised."""
        key = ("ts", split, tag)
        if key not in self._memo:
            from obliviate.eval.scoring import score_examples

            examples = self.examples(split, rows, tag)
            self._memo[key] = score_examples(
                self.model, self.tokenizer, examples, batch_size=self.options.batch_size,
                desc=f"scoring {split}{'/' + tag if tag else ''}", progress=self.options.progress,
            )  # fmt: skip
        return self._memo[key]

    def generations(self, split: str) -> list[str]:
        """Greedy completions of each prompt of ``split`` (memoised; shared by ROUGE and accuracy)."""
        key = ("gen", split)
        if key not in self._memo:
            from obliviate.eval.scoring import generate

            prompts = [ex["input_ids"][: ex["prompt_len"]] for ex in self.examples(split)]
            self._memo[key] = generate(
                self.model, self.tokenizer, prompts, batch_size=self.options.batch_size,
                max_new_tokens=self.options.max_new_tokens, desc=f"generating {split}", progress=self.options.progress,
            )  # fmt: skip
        return self._memo[key]


def progress_bar(total: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=desc, disable=not progress, leave=False, unit="seq")
