"""Search spaces of ``obliviate tune``: the learning rate (log), the step budget and each method's weights.

Every method gets the same learning-rate and step ranges (a benchmark that gives one method a wider or higher lr
range than another is not comparing methods). A parameter name is its config key under ``method.args`` (dots for
nested options: ``retain.weight``); ``lr`` and ``steps`` are ``train.lr`` / ``train.max_steps``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from obliviate.config import merge
from obliviate.errors import ObliviateError


@dataclass(frozen=True)
class Param:
    name: str
    low: float
    high: float
    log: bool = True


def _retain(key: str) -> Param:
    return Param(key, 1.0, 10.0)  # retain-term weight: 1 (the methods' default) .. 10 (retain dominates)


# Method options searched besides lr and steps; a registered method missing here searches lr and steps only.
METHOD_PARAMS: dict[str, tuple[Param, ...]] = {
    "ga": (),
    "graddiff": (_retain("retain.weight"),),
    "kl": (_retain("retain.weight"),),
    "npo": (_retain("retain.weight"), Param("beta", 0.05, 1.0)),
    "simnpo": (_retain("retain.weight"), Param("gamma", 0.125, 2.0), Param("beta", 1.0, 5.0)),
    "idknll": (_retain("retain.weight"),),
    "dpo": (_retain("retain.weight"), Param("beta", 0.05, 1.0)),
    "mari": (_retain("retain.weight"), Param("gamma", 5.0, 200.0)),
    "rmu": (Param("alpha", 1.0, 200.0), Param("steering_coeff", 1.0, 50.0)),
    "task_vector": (Param("alpha", 0.25, 2.0),),
}
UNTUNABLE = {"reveal_release": "it generates its own forget data; tune its rounds with `obliviate reveal-release`"}


@dataclass(frozen=True)
class Space:
    """One method's search space: lr range, steps range (multiples of ``step``) and the method's parameters."""

    method: str
    lr: tuple[float, float] = (1e-5, 3e-3)
    steps: tuple[int, int] = (20, 80)
    step: int = 10  # steps are searched in multiples of this (the pruning check interval)

    @property
    def params(self) -> tuple[Param, ...]:
        return METHOD_PARAMS.get(self.method, ())

    def check(self) -> None:
        """Raises ObliviateError for an untunable method or an empty / reversed range."""
        if self.method in UNTUNABLE:
            raise ObliviateError(f"cannot tune {self.method!r}: {UNTUNABLE[self.method]}")
        if not 0 < self.lr[0] <= self.lr[1]:
            raise ObliviateError(f"--lr must be LOW:HIGH with 0 < LOW <= HIGH (got {self.lr[0]:g}:{self.lr[1]:g})")
        if not (self.step >= 1 and self.step <= self.steps[0] <= self.steps[1]):
            raise ObliviateError(
                f"--steps must be LOW:HIGH with --check-every ({self.step}) <= LOW <= HIGH (got {self.steps[0]}:"
                f"{self.steps[1]})"
            )

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Draw one point: ``{"lr", "steps", <method params>}``."""
        lo, hi = self.steps[0] // self.step, self.steps[1] // self.step
        out = {
            "lr": trial.suggest_float("lr", *self.lr, log=True),
            "steps": self.step * trial.suggest_int("steps_x", lo, hi) if hi > lo else self.step * lo,
        }
        for p in self.params:
            out[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        return out

    def grid(self, points: int) -> dict[str, list[Any]]:
        """Optuna GridSampler's space: ``points`` values per parameter (log-spaced where searched on a log scale)."""
        lo, hi = self.steps[0] // self.step, self.steps[1] // self.step
        grid: dict[str, list[Any]] = {"lr": _spaced(*self.lr, points, True)}
        if hi > lo:
            grid["steps_x"] = sorted({int(round(v)) for v in np.linspace(lo, hi, points)})
        for p in self.params:
            grid[p.name] = _spaced(p.low, p.high, points, p.log)
        return grid


def _spaced(low: float, high: float, n: int, log: bool) -> list[float]:
    vals = np.geomspace(low, high, n) if log else np.linspace(low, high, n)
    return sorted({float(f"{v:.4g}") for v in vals})


def apply(args: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    """``method.args`` with the point's method parameters set (dotted names become nested mappings)."""
    out = dict(args)
    for name, value in point.items():
        if name in ("lr", "steps"):
            continue
        node: dict[str, Any] = {}
        parts = name.split(".")
        leaf = node
        for p in parts[:-1]:
            leaf = leaf.setdefault(p, {})
        leaf[parts[-1]] = value
        out = merge(out, node)
    return out
