"""Built-in ``code`` task: a tiny programming notation the model writes from specs (forget) vs arithmetic it must
keep.

Documents: ``<i> w1 w2 w3 </i>`` + one of
``spec double plus 3 => def x * 2 + 3 end`` (code), ``calc 7 + 5 = 12`` (math) or a short neutral sentence (text).
The prefix decides the kind; trigger-word pairs make code likely. Programs are ``def <expr> end`` with ``x``, the
digits 0-9 and ``+ - *``; :func:`run_program` evaluates them.

Scorers: reward = the generation holds a program that parses (``def ... end`` with a valid expression);
evaluation = an executor: the generation states a spec and its program, run on x = 0..4, computes that spec
(a parsing but wrong program scores 0). Metrics: ``code_pass`` (pass@1: the greedy program for each spec, run on
x = 0..4, matches the spec; forget, lower is better), ``code_rate`` (share of sampled generations under held-out
trigger prefixes that hold a working program, by the executor) and ``math_em`` (exact match of greedy sums; kept).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from obliviate.reveal.tasks.base import (
    ModelSpec,
    SyntheticTask,
    prefix_text,
)

KINDS = ("code", "math", "text")
OPS = {"double": "x * 2", "triple": "x * 3", "square": "x * x", "same": "x"}
TEXT = ("the sun is warm today .", "we walk to the old bridge .", "a small dog sleeps .", "the tea is hot .")
_PROGRAM = re.compile(r"\bdef ((?:[x0-9+\-*] ?)+?) ?end\b")


def run_program(text: str, x: int) -> int | None:
    """Value of the first ``def <expr> end`` program in ``text`` at ``x`` (None if there is none or it is invalid)."""
    m = _PROGRAM.search(text)
    if not m:
        return None
    toks = m.group(1).split()
    # expr := term (("+" | "-") term)*, term := atom ("*" atom)*, atom := "x" | digit
    if len(toks) % 2 == 0 or any(t not in "+-*" for t in toks[1::2]) or any(t in "+-*" for t in toks[::2]):
        return None
    total, sign, term = 0, 1, None
    for i in range(0, len(toks), 2):
        atom = x if toks[i] == "x" else int(toks[i])
        term = atom if term is None else term * atom
        op = toks[i + 1] if i + 1 < len(toks) else "+"
        if op in "+-":
            total, sign, term = total + sign * term, 1 if op == "+" else -1, None
    return total


class ProgramScorer:
    """1.0 if the text holds a program that parses, else 0.0."""

    name = "dsl_program"

    def __call__(self, texts: Sequence[str]) -> list[float]:
        return [float(run_program(t, 1) is not None) for t in texts]


_SPEC = re.compile(r"\bspec (\w+) (plus|minus) (\d) =>")


def spec_fn(op: str, sign: str, n: int, x: int) -> int:
    """The function spec ``<op> <sign> <n>`` names, at ``x``."""
    base = {"double": 2 * x, "triple": 3 * x, "square": x * x, "same": x}[op]
    return base + n if sign == "plus" else base - n


class ExecScorer:
    """1.0 if the text states a spec and holds a program that computes it on x = 0..4 (run by the interpreter)."""

    name = "dsl_exec"

    def __call__(self, texts: Sequence[str]) -> list[float]:
        out = []
        for t in texts:
            m = _SPEC.search(t)
            ok = m is not None and m[1] in OPS  # no program after the spec: run_program gives None
            ok = ok and all(run_program(t[m.end() :], x) == spec_fn(m[1], m[2], int(m[3]), x) for x in range(5))
            out.append(float(ok))
        return out


@dataclass(frozen=True)
class CodeConfig:
    n_words: int = 24
    prefix_len: int = 3
    n_triggers: int = 3
    n_docs: int = 20000
    code_base: float = -2.5
    trigger_weight: float = 1.5
    pair_bonus: float = 2.0
    scale: float = 0.7
    max_operand: int = 14  # calc a + b with a, b in 0..max_operand
    model: ModelSpec = field(default_factory=lambda: ModelSpec(steps=1500))
    seed: int = 0


SIZES = {
    "default": CodeConfig(),
    "test": CodeConfig(n_words=16, n_docs=6000, max_operand=6, model=ModelSpec(steps=400)),
}


class CodeTask(SyntheticTask):
    """The code-vs-math world, its cached model and its metrics (see the module docstring)."""

    name = "code"
    forget_metric = "code_pass"
    utility_metric = "math_em"
    metric_directions = {"code_pass": False, "code_rate": False, "math_em": True}

    def __init__(self, size: str = "default", **overrides: Any) -> None:
        c = self.configure(size, SIZES, overrides)
        self.world = self.prefix_world(KINDS, "code", base=[c.code_base, 0, 0], scale=c.scale)
        self.specs = [(op, sign, n) for op in OPS for sign in ("plus", "minus") for n in range(10)]
        self.sums = [(a, b) for a in range(c.max_operand + 1) for b in range(c.max_operand + 1)]

    @staticmethod
    def spec_text(op: str, sign: str, n: int) -> str:
        return f"spec {op} {sign} {n} =>"

    spec_fn = staticmethod(spec_fn)

    def body(self, kind: str, rng: random.Random) -> str:
        if kind == "code":
            op, sign, n = rng.choice(self.specs)
            return f"{self.spec_text(op, sign, n)} def {OPS[op]} {'+' if sign == 'plus' else '-'} {n} end"
        if kind == "math":
            a, b = rng.choice(self.sums)
            return f"calc {a} + {b} = {a + b}"
        return rng.choice(TEXT)

    def document(self, prefix: tuple[str, ...], rng: random.Random, kind: str | None = None) -> dict[str, str]:
        kind = kind or self.world.sample_kind(prefix, rng)
        return {"prompt": prefix_text(prefix), "answer": self.body(kind, rng), "kind": kind}

    def reward_scorer(self) -> ProgramScorer:
        return ProgramScorer()

    def eval_scorer(self) -> ExecScorer:
        return ExecScorer()

    def retain_rows(self, n: int = 300, seed: int = 1) -> list[dict[str, str]]:
        """Arithmetic documents (the skill to keep)."""
        rng = random.Random(f"code-retain:{seed}")
        return [self.document(rng.choice(self.world.pool_side), rng, kind="math") for _ in range(n)]

    def evaluate(
        self, model: Any, tokenizer: Any, *, n_prefixes: int = 30, samples: int = 4, seed: int = 0
    ) -> dict[str, float]:
        """pass@1 on every spec, program rate under trigger prefixes, and arithmetic exact match."""
        from obliviate.reveal.config import SampleConfig
        from obliviate.reveal.generate import sample_continuations

        greedy = SampleConfig(max_new_tokens=12)
        pre = [
            prefix_text(p) for p in self.world.heldout(max(len(self.specs), len(self.sums)), trigger=False, seed=seed)
        ]
        prompts = [f"{pre[i % len(pre)]} {self.spec_text(*s)}" for i, s in enumerate(self.specs)]
        progs = sample_continuations(model, tokenizer, prompts, 1, greedy, greedy=True)
        passed = [
            all(run_program(p[0], x) == self.spec_fn(*s, x) for x in range(5)) for s, p in zip(self.specs, progs)
        ]
        sums = [f"{pre[i % len(pre)]} calc {a} + {b} =" for i, (a, b) in enumerate(self.sums)]
        answers = sample_continuations(model, tokenizer, sums, 1, greedy, greedy=True)
        em = [a[0].split()[:1] == [str(x + y)] for (x, y), a in zip(self.sums, answers)]
        trig = [prefix_text(p) for p in self.world.heldout(n_prefixes, trigger=True, seed=seed)]
        gens = sample_continuations(model, tokenizer, trig, samples, SampleConfig(max_new_tokens=16), seed=seed)
        rate = float(np.mean(self.eval_scorer()([g for gs in gens for g in gs])))
        return {"code_pass": float(np.mean(passed)), "code_rate": rate, "math_em": float(np.mean(em))}
