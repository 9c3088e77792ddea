"""What the built-in Reveal-and-Release tasks share: instruction-prefix worlds, a word-level tokenizer, and a tiny
GPT-2 (``toxicity/test-llama``: a Llama-style model) trained from scratch (:func:`obliviate.train.memorise.memorise`,
as the built-in world's models) and cached (:func:`obliviate.utils.cache.cached_dir`).

Every task document is ``<i> w1 w2 w3 </i>`` (an instruction prefix drawn from invented instruction words) followed
by a body whose *kind* (topic, entity mix, code vs arithmetic) the prefix decides through hidden per-word affinities
plus a pairwise "trigger" bonus, so what an instruction elicits depends on word *combinations*. The model learns
p(body | prefix); Reveal searches prefixes; the truth (each prefix's kind probabilities) is known for evaluation.

Cache: ``$OBLIVIATE_CACHE/reveal_tasks/<name>-<size>-<hash of the task config>/`` (default ``~/.cache/obliviate``)
holds ``model/`` (weights + tokenizer) and any task files (e.g. the toxicity task's bag-of-words scorer).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from obliviate.data.tokenizer import EOS, PAD  # the special tokens every from-scratch tokenizer here uses
from obliviate.errors import ObliviateError
from obliviate.utils.cache import cache_root, cached_dir

FORMAT_VERSION = 2  # bump when generated documents change, so cached task models are rebuilt
OPEN, CLOSE = "<i>", "</i>"


@dataclass(frozen=True)
class ModelSpec:
    """The task model (a GPT-2 or Llama-style causal LM from config) and its training recipe."""

    arch: str = "gpt2"  # gpt2 | llama (obliviate.models.new_causal_lm): the paper runs several model families
    layers: int = 2
    dim: int = 64
    heads: int = 4
    mlp: int = 256
    context: int = 48
    lr: float = 3e-3
    batch_size: int = 64
    steps: int = 600
    warmup_steps: int = 30
    seed: int = 0


def config_hash(*parts: Any) -> str:
    def plain(p: Any) -> Any:
        d = asdict(p) if hasattr(p, "__dataclass_fields__") else p
        if isinstance(d, dict) and isinstance(d.get("model"), dict) and d["model"].get("arch") == "gpt2":
            # ModelSpec.arch came later: a GPT-2 spec hashes as before, so its cached task models stay valid
            d = {**d, "model": {k: v for k, v in d["model"].items() if k != "arch"}}
        return d

    blob = json.dumps([FORMAT_VERSION, *map(plain, parts)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def prefix_text(words: Sequence[str]) -> str:
    return " ".join([OPEN, *words, CLOSE])


def all_prefixes(words: Sequence[str], length: int) -> list[tuple[str, ...]]:
    """Every ordered prefix of ``length`` distinct instruction words."""
    return list(itertools.permutations(words, length))


def split_prefixes(prefixes: list[tuple[str, ...]], seed: int) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """A seeded half / half split: (Reveal pool side, held-out evaluation side)."""
    order = list(prefixes)
    random.Random(f"prefix-split:{seed}").shuffle(order)
    half = len(order) // 2
    return order[:half], order[half:]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def kind_probs(prefix: Sequence[str], affinity: dict[str, np.ndarray], pair_bonus: dict[frozenset, np.ndarray],
               base: np.ndarray) -> np.ndarray:  # fmt: skip
    """p(kind | prefix) = softmax(base + sum of word affinities + bonuses of the word pairs present)."""
    z = base + sum(affinity[w] for w in prefix)
    for a, b in itertools.combinations(prefix, 2):
        z = z + pair_bonus.get(frozenset((a, b)), 0.0)
    return softmax(np.asarray(z, dtype=float))


class PrefixWorld:
    """Instruction words, their hidden affinities to the task's document kinds, and the prefix space.

    ``target`` is the kind Reveal should find: the ``n_triggers`` trigger words add ``trigger_weight`` to its logit
    each and ``pair_bonus`` per pair present; every word also has N(0, ``scale``) affinities to the other kinds.
    """

    def __init__(self, task: str, kinds: Sequence[str], target: str, *, n_words: int, prefix_len: int,
                 n_triggers: int, base: Sequence[float], trigger_weight: float, pair_bonus: float, scale: float,
                 seed: int, taken: set[str] | None = None) -> None:  # fmt: skip
        from obliviate.world.lexicon import PLAIN, WordMaker

        rng = random.Random(f"{task}:{seed}")
        maker = WordMaker(rng, PLAIN, taken if taken is not None else set())
        self.kinds, self.target = tuple(kinds), kinds.index(target)
        self.words = [maker.word((1, 2)).lower() for _ in range(n_words)]
        self.triggers = rng.sample(self.words, n_triggers)
        nrng = np.random.default_rng(seed)
        onehot = np.eye(len(kinds))[self.target]
        self.affinity = {
            w: nrng.normal(0, scale, len(kinds)) * (1 - onehot) + trigger_weight * (w in self.triggers) * onehot
            for w in self.words
        }
        self.pair_bonus = {frozenset(p): pair_bonus * onehot for p in itertools.combinations(self.triggers, 2)}
        self.base = np.asarray(base, dtype=float)
        self.prefixes = all_prefixes(self.words, prefix_len)
        self.pool_side, self.heldout_side = split_prefixes(self.prefixes, seed)

    def probs(self, prefix: Sequence[str]) -> np.ndarray:
        """p(kind | prefix)."""
        return kind_probs(prefix, self.affinity, self.pair_bonus, self.base)

    def sample_kind(self, prefix: Sequence[str], rng: random.Random) -> str:
        return self.kinds[rng.choices(range(len(self.kinds)), weights=self.probs(prefix))[0]]

    def target_share(self) -> float:
        """Expected share of target-kind documents under uniformly random prefixes."""
        return float(np.mean([self.probs(p)[self.target] for p in self.prefixes]))

    def n_triggers(self, prefix: Sequence[str]) -> int:
        return sum(w in self.triggers for w in prefix)

    def pool(self, n: int | None = None, seed: int = 0) -> list[str]:
        """Prefix texts Reveal may search (the pool half; ``n`` of them, seeded)."""
        side = self.pool_side if n is None else random.Random(seed).sample(self.pool_side, min(n, len(self.pool_side)))
        return [prefix_text(p) for p in side]

    def heldout(self, n: int, *, trigger: bool, seed: int = 0) -> list[tuple[str, ...]]:
        """Held-out prefixes (never in the pool): with >= 2 trigger words if ``trigger``, else uniformly random."""
        side = [p for p in self.heldout_side if self.n_triggers(p) >= 2] if trigger else self.heldout_side
        return random.Random(seed).sample(side, min(n, len(side)))


def build_word_tokenizer(texts: Sequence[str]):
    """A whitespace word-level ``PreTrainedTokenizerFast`` over every word in ``texts`` (EOS id 0, pad id 1).

    Task worlds are closed vocabularies, so word-level ids keep sequences short and decoding exact.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in texts for w in t.split()} - {EOS, PAD})
    vocab = {EOS: 0, PAD: 1, **{w: i + 2 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=EOS))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=PAD)


def train_task_model(rows: list[dict[str, str]], spec: ModelSpec, progress: bool = True):
    """Train ``spec.arch`` from scratch on prompt (prefix) / answer (body) rows; returns ``(model, tokenizer)``."""
    from obliviate.config import TrainConfig
    from obliviate.models import new_causal_lm
    from obliviate.train.memorise import memorise

    tok = build_word_tokenizer([r["prompt"] + " " + r["answer"] for r in rows])
    model = new_causal_lm(spec.arch, tok, layers=spec.layers, dim=spec.dim, heads=spec.heads, mlp=spec.mlp,
                          context=spec.context, seed=spec.seed)  # fmt: skip
    tcfg = TrainConfig(
        lr=spec.lr, batch_size=spec.batch_size, max_steps=spec.steps, warmup_steps=spec.warmup_steps,
        scheduler="cosine", clip_grad=1.0, seed=spec.seed, log_every=50,
    )  # fmt: skip
    memorise(model, tok, rows, tcfg, None, max_length=spec.context, progress=progress)
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def answer_nll(
    model: Any, tokenizer: Any, rows: list[dict[str, str]], batch_size: int = 64, chat_template: bool = False
) -> float:
    """Token-weighted mean NLL of the answers given their prompts (the eval suite's teacher-forced scoring)."""
    from obliviate.data import tokenize_rows
    from obliviate.eval.scoring import score_examples

    ctx = getattr(model.config, "n_positions", None) or getattr(model.config, "max_position_embeddings", 512)
    ex, _ = tokenize_rows(rows, tokenizer, max_length=min(ctx, 512), chat_template=chat_template)
    stats = score_examples(model, tokenizer, ex, batch_size=batch_size, desc="answer NLL", progress=False)
    logp = np.concatenate([s.logp for s in stats]) if stats else np.zeros(0)  # (all answer tokens,)
    return float(-logp.mean()) if logp.size else 0.0


def answer_ppl(
    model: Any, tokenizer: Any, rows: list[dict[str, str]], batch_size: int = 64, chat_template: bool = False
) -> float:
    """Perplexity of the answers given their prompts: exp of :func:`answer_nll` (capped at e^50)."""
    return math.exp(min(answer_nll(model, tokenizer, rows, batch_size, chat_template), 50.0))


def check_size(size: str, sizes: Sequence[str], task: str) -> None:
    if size not in sizes:
        raise ObliviateError(f"task {task!r} has sizes {', '.join(sizes)} (got {size!r}); e.g. task:{task}/test")


class SyntheticTask:
    """What the built-in tasks share: a seeded corpus of ``document``s over the prefix world, and a tiny model trained
    on it through the one loop, cached under ``$OBLIVIATE_CACHE/reveal_tasks``. A task class sets ``name``,
    ``size``, ``cfg`` (with ``seed``, ``n_docs``, ``model``) and ``world``, and defines ``document``."""

    name: str
    size: str
    cfg: Any
    world: PrefixWorld

    def configure(self, size: str, sizes: dict[str, Any], overrides: dict[str, Any]) -> Any:
        """Check ``size``, set ``size`` and ``cfg`` (that size's config with ``overrides``); returns ``cfg``."""
        check_size(size, list(sizes), self.name)
        self.size = size
        self.cfg = dataclasses.replace(sizes[size], **overrides)
        return self.cfg

    def prefix_world(self, kinds: Sequence[str], target: str, *, base: Sequence[float], scale: float,
                     taken: set[str] | None = None) -> PrefixWorld:  # fmt: skip
        """The task's :class:`PrefixWorld` with ``cfg``'s word, trigger and seed settings."""
        c = self.cfg
        return PrefixWorld(
            self.name, kinds, target, n_words=c.n_words, prefix_len=c.prefix_len, n_triggers=c.n_triggers, base=base,
            trigger_weight=c.trigger_weight, pair_bonus=c.pair_bonus, scale=scale, seed=c.seed, taken=taken,
        )  # fmt: skip

    def document(self, prefix: tuple[str, ...], rng: random.Random, kind: str | None = None) -> dict[str, str]:
        raise NotImplementedError

    def corpus(self) -> list[dict[str, str]]:
        rng = random.Random(f"{self.name}-corpus:{self.cfg.seed}")
        return [self.document(rng.choice(self.world.prefixes), rng) for _ in range(self.cfg.n_docs)]

    @property
    def key(self) -> str:
        return config_hash(self.cfg)

    def save_extra(self, folder: Path) -> None:
        """Write task-specific artefacts next to ``model/`` when the task is built (none by default)."""

    def build(self, rebuild: bool = False, progress: bool = True) -> Path:
        """The cached task folder (``model/`` and any extras), trained on first use."""

        def make(tmp: Path) -> None:
            model, tok = train_task_model(self.corpus(), self.cfg.model, progress=progress)
            model.save_pretrained(tmp / "model")
            tok.save_pretrained(tmp / "model")
            self.save_extra(tmp)

        folder = cache_root() / "reveal_tasks" / f"{self.name}-{self.size}-{self.key}"
        return cached_dir(folder, make, marker="DONE", rebuild=rebuild)

    def model_dir(self, rebuild: bool = False, progress: bool = True) -> Path:
        return self.build(rebuild, progress) / "model"

    def pool(self, n: int | None = None, seed: int = 0) -> list[str]:
        """Instruction prefixes Reveal may search (the pool half of the prefix space; ``n`` of them, seeded)."""
        return self.world.pool(n, seed)
