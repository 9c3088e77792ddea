"""Warnings about a run config that is valid but will not do what its author expects (``validate`` prints them and
``unlearn`` logs them): a warm-up longer than the run, fewer steps than forget batches, the built-in world's data
with a model that never saw it. Each line names the setting and the fix.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def _world_model(path: str, resolved: str | None) -> bool:
    return path.startswith("world:") or (resolved is not None and (Path(resolved) / "world_model.json").is_file())


def run_warnings(cfg: Any, datas: list[Any], resolved_model: str | None = None) -> list[str]:
    """Warning lines for a :class:`~obliviate.config.RunConfig` and its built data (``UnlearnData`` per request).

    Args:
        cfg: the run config.
        datas: the tokenised data of every forget request (empty for a pipeline method).
        resolved_model: the model's resolved folder (world models carry ``world_model.json``).
    """
    from obliviate.train.plan import total_steps

    out = []
    t = cfg.train
    for i, d in enumerate(datas):
        steps = total_steps(t, len(d.forget))
        batches = math.ceil(len(d.forget) / t.batch_size)
        if t.warmup_steps >= steps:
            out.append(
                f"request {i}: train.warmup_steps={t.warmup_steps} >= its {steps} steps, so the learning rate never "
                f"reaches train.lr; lower train.warmup_steps (e.g. {max(0, steps // 10)}) or raise train.epochs"
            )
        if steps * t.grad_accum < batches:
            out.append(
                f"request {i}: {steps} steps x grad_accum {t.grad_accum} see only {steps * t.grad_accum} of the "
                f"forget set's {batches} batches; raise train.max_steps (or use train.epochs) to cover the forget set"
            )
    specs = {
        "data.forget": ",".join(cfg.data.forget),
        "data.retain": cfg.data.retain,
        "data.holdout": cfg.data.holdout,
    }
    world = [k for k, v in specs.items() if v and "world:" in v]
    if world and not _world_model(cfg.model.path, resolved_model):
        out.append(
            f"{', '.join(world)} come from the built-in world but model.path={cfg.model.path} is not a world model: "
            "its scores on them mean nothing; give your own files (see `obliviate prepare`)"
        )
    return out
