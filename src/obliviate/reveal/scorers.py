"""Scorers: text -> score in [0, 1] saying how much of the target concept a text shows.

Reveal uses one scorer as the bandit reward and forget-set filter, and evaluation can use a different one (the
reward scorer can be hacked by the unlearned model; score held-out prompts with an independent scorer). Built in:

* ``lexicon``: word list (inline ``words`` or a ``file``, one word per line); modes ``any`` (1 if a lexicon word
  occurs), ``count`` (matches / ``saturate``, clipped) and ``share`` (matches / words).
* ``regex``: a regular expression; modes ``any`` and ``count`` as above.
* ``python_code``: the share of the text's non-blank characters inside line spans that parse as Python statements.
* ``bow``: a bag-of-words logistic model stored as JSON ``{"bias": b, "weights": {word: w}}`` (the toxicity task's
  imperfect "classifier" stand-in).
* ``hf_classifier``: a local ``transformers`` text-classification model (``path``) and the ``label`` to score, e.g.
  a toxicity classifier directory; loaded offline.

Specs: ``"lexicon:words=grotz,vilek"``, ``"regex:pattern=\\bdef\\b;mode=count;saturate=3"``,
``{"name": "hf_classifier", "args": {"path": "models/tox", "label": "toxic"}}``.
"""

from __future__ import annotations

import ast
import json
import math
import re
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import yaml

from obliviate.errors import ObliviateError
from obliviate.registry import Registry

_WORD = re.compile(r"\w+")


@runtime_checkable
class Scorer(Protocol):
    """Scores a batch of texts; each score lies in [0, 1] (1 = the concept is clearly present)."""

    name: str

    def __call__(self, texts: Sequence[str]) -> list[float]: ...


SCORERS: Registry[Callable[..., Scorer]] = Registry("scorer")
register_scorer = SCORERS.register


def _words_from(words: str | Sequence[str] | None, file: str | None) -> list[str]:
    out: list[str] = []
    if isinstance(words, str):
        out += [w for w in re.split(r"[,|\n]", words)]
    elif words:
        out += list(words)
    if file:
        p = Path(file)
        if not p.is_file():
            raise ObliviateError(
                f"scorer word list {file!r} does not exist; pass an existing text file (one word per line)"
            )
        out += p.read_text(encoding="utf-8").splitlines()
    out = sorted({w.strip() for w in out if w.strip() and not w.strip().startswith("#")})
    if not out:
        raise ObliviateError("the lexicon scorer needs words: pass words=a,b,c or file=path/to/words.txt")
    return out


def _rate(n_hits: int, n_words: int, mode: str, saturate: int) -> float:
    if mode == "any":
        return float(n_hits > 0)
    if mode == "count":
        return min(n_hits / max(saturate, 1), 1.0)
    return min(n_hits / max(n_words, 1), 1.0)  # share


def _check_mode(mode: str, allowed: tuple[str, ...], scorer: str) -> None:
    if mode not in allowed:
        raise ObliviateError(f"{scorer} scorer: mode must be one of {', '.join(allowed)} (got {mode!r})")


class LexiconScorer:
    """Matches whole words (or phrases) of a word list, case-insensitive unless ``case_sensitive``."""

    def __init__(
        self,
        words: str | Sequence[str] | None = None,
        file: str | None = None,
        mode: str = "any",
        saturate: int = 3,
        case_sensitive: bool = False,
    ) -> None:
        _check_mode(mode, ("any", "count", "share"), "lexicon")
        self.name = "lexicon"
        self.words = _words_from(words, file)
        self.mode, self.saturate = mode, int(saturate)
        # Longest first so that a phrase wins over its own first word.
        alts = "|".join(re.escape(w) for w in sorted(self.words, key=len, reverse=True))
        self._re = re.compile(rf"(?<!\w)(?:{alts})(?!\w)", 0 if case_sensitive else re.IGNORECASE)

    def __call__(self, texts: Sequence[str]) -> list[float]:
        return [_rate(len(self._re.findall(t)), len(_WORD.findall(t)), self.mode, self.saturate) for t in texts]


class RegexScorer:
    """Counts matches of one regular expression."""

    def __init__(self, pattern: str, mode: str = "any", saturate: int = 3, ignore_case: bool = True) -> None:
        _check_mode(mode, ("any", "count"), "regex")
        try:
            self._re = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as e:
            raise ObliviateError(
                f"regex scorer: invalid pattern {pattern!r} ({e}); fix the regular expression"
            ) from None
        self.name, self.mode, self.saturate = "regex", mode, int(saturate)

    def __call__(self, texts: Sequence[str]) -> list[float]:
        return [_rate(len(self._re.findall(t)), 0, self.mode, self.saturate) for t in texts]


# Statements that make a parsed span "code": a bare name or constant also parses but is just prose.
_CODE_NODES = (
    ast.Assign, ast.AugAssign, ast.AnnAssign, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Return,
    ast.For, ast.While, ast.If, ast.Import, ast.ImportFrom, ast.With, ast.Try, ast.Raise,
)  # fmt: skip


def _is_code(tree: ast.Module) -> bool:
    return any(
        isinstance(s, _CODE_NODES) or (isinstance(s, ast.Expr) and isinstance(s.value, (ast.Call, ast.Lambda)))
        for s in tree.body
    )


def _parses(lines: list[str]) -> bool:
    try:
        return _is_code(ast.parse(textwrap.dedent("\n".join(lines))))
    except (SyntaxError, ValueError):
        return False


class PythonCodeScorer:
    """Share of non-blank characters that sit in maximal line spans parsing as Python code.

    Greedy from the top: at each line, take the longest span (up to ``max_span`` lines) that parses, else skip the
    line. Fenced blocks (```) are unwrapped first so their fences do not break the parse.
    """

    def __init__(self, max_span: int = 60) -> None:
        self.name, self.max_span = "python_code", int(max_span)

    def score_one(self, text: str) -> float:
        lines = [ln for ln in text.splitlines() if not ln.strip().startswith("```")]
        total = sum(len(ln.strip()) for ln in lines)
        if total == 0:
            return 0.0
        code, i = 0, 0
        while i < len(lines):
            for j in range(min(len(lines), i + self.max_span), i, -1):
                if lines[i].strip() and _parses(lines[i:j]):
                    code += sum(len(ln.strip()) for ln in lines[i:j])
                    i = j
                    break
            else:
                i += 1
        return code / total

    def __call__(self, texts: Sequence[str]) -> list[float]:
        return [self.score_one(t) for t in texts]


class BowScorer:
    """Logistic bag-of-words model: ``sigmoid(bias + sum of weights of the distinct lowercase words present)``."""

    def __init__(self, file: str | None = None, weights: dict[str, float] | None = None, bias: float = 0.0) -> None:
        if file:
            p = Path(file)
            if not p.is_file():
                raise ObliviateError(f"bow scorer: {file!r} does not exist; pass a JSON file with bias and weights")
            data = json.loads(p.read_text())
            weights, bias = data["weights"], float(data["bias"])
        if not weights:
            raise ObliviateError("bow scorer needs file=weights.json (or weights=...) with per-word weights")
        self.name, self.weights, self.bias = "bow", {k.lower(): float(v) for k, v in weights.items()}, float(bias)

    def __call__(self, texts: Sequence[str]) -> list[float]:
        out = []
        for t in texts:
            words = sorted({w.lower() for w in _WORD.findall(t)})  # sorted: a set's order changes per process
            z = self.bias + sum(self.weights.get(w, 0.0) for w in words)
            out.append(1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0))))
        return out


def fit_bow(texts: Sequence[str], labels: Sequence[float], steps: int = 300, l2: float = 1e-3) -> dict[str, Any]:
    """Fit a :class:`BowScorer`: logistic regression on binary whitespace-word features by full-batch gradient
    descent (step 1.0) on the L2-regularised loss. Returns ``{"bias", "weights"}`` (weights below 1e-3 dropped)."""
    import numpy as np

    vocab = sorted({w for t in texts for w in t.split()})
    index = {w: i for i, w in enumerate(vocab)}
    x = np.zeros((len(texts), len(vocab)))  # (n_texts, vocab)
    for r, t in enumerate(texts):
        x[r, [index[w] for w in set(t.split())]] = 1.0
    y, w, b = np.asarray(labels, dtype=float), np.zeros(len(vocab)), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        w -= 1.0 * (x.T @ (p - y) / len(y) + l2 * w)
        b -= 1.0 * float(np.mean(p - y))
    return {"bias": b, "weights": {v: float(wi) for v, wi in zip(vocab, w) if abs(wi) > 1e-3}}


class HFClassifierScorer:
    """Probability of ``label`` under a local sequence-classification model (softmax, or sigmoid for multi-label)."""

    def __init__(
        self, path: str, label: str, batch_size: int = 32, max_length: int = 256, device: str = "cpu"
    ) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not Path(path).is_dir():
            raise ObliviateError(f"hf_classifier: {path!r} is not a local model folder; pass path=<dir> (offline)")
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True).to(device).eval()
        labels = {str(v).lower(): int(k) for k, v in self.model.config.id2label.items()}
        if label.lower() not in labels:
            raise ObliviateError(f"hf_classifier: label {label!r} not in the model's labels {sorted(labels)}")
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token or self.tok.unk_token
        self.model.config.pad_token_id = self.tok.pad_token_id
        self.name, self.index, self.device = "hf_classifier", labels[label.lower()], device
        self.batch_size, self.max_length = int(batch_size), int(max_length)
        self.multi = self.model.config.problem_type == "multi_label_classification"
        self._torch = torch

    def __call__(self, texts: Sequence[str]) -> list[float]:
        out: list[float] = []
        for i in range(0, len(texts), self.batch_size):
            enc = self.tok(
                list(texts[i : i + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with self._torch.no_grad():
                logits = self.model(**enc).logits.float()  # (B, n_labels)
            probs = logits.sigmoid() if self.multi else logits.softmax(-1)
            out += probs[:, self.index].tolist()
        return out


register_scorer("lexicon")(LexiconScorer)
register_scorer("regex")(RegexScorer)
register_scorer("python_code")(PythonCodeScorer)
register_scorer("bow")(BowScorer)
register_scorer("hf_classifier")(HFClassifierScorer)


def parse_scorer_spec(spec: str | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``"name:k=v;k2=v2"`` or ``{"name": ..., "args": {...}}`` -> ``(name, args)``; values are YAML scalars."""
    if isinstance(spec, dict):
        if "name" not in spec:
            raise ObliviateError(f"scorer spec {spec!r} needs a 'name' key (one of {', '.join(SCORERS.names())})")
        return str(spec["name"]), dict(spec.get("args") or {})
    name, _, rest = str(spec).partition(":")
    args: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(";"))):
        key, eq, raw = item.partition("=")
        if not eq:
            raise ObliviateError(
                f"scorer spec {spec!r}: {item!r} must look like key=value (e.g. lexicon:file=words.txt)"
            )
        # Words and patterns stay strings (YAML would turn "yes" or "1" into other types).
        args[key.strip()] = (
            raw if key.strip() in ("words", "pattern", "file", "path", "label") else yaml.safe_load(raw)
        )
    return name.strip(), args


def build_scorer(spec: str | dict[str, Any] | Scorer) -> Scorer:
    """A scorer from a spec string / mapping (see the module docstring), or ``spec`` itself if it is a scorer."""
    if not isinstance(spec, (str, dict)):
        return spec
    name, args = parse_scorer_spec(spec)
    try:
        factory = SCORERS.get(name)
    except KeyError as e:
        raise ObliviateError(str(e.args[0])) from None
    try:
        return factory(**args)
    except TypeError as e:
        raise ObliviateError(f"scorer {name!r}: bad arguments {sorted(args)} ({e})") from None
