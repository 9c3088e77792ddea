"""Report-only scoring against the gold model: each finished trial's forget quality (and a few headline metrics).

Never used to select: :mod:`obliviate.tune.objective` does not see these numbers. They let the report show what
the gold-free choice cost (its forget quality next to the best any trial reached).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPORT_METRICS = ("forget_quality", "mia_loss")  # per trial; the benchmark adds the rest for the selected run


@dataclass
class GoldReporter:
    gold: str
    suite: str
    data: str | None
    splits: dict[str, str]
    cache: Path
    max_length: int

    @classmethod
    def build(cls, cfg: Any, settings: Any, out: Path) -> GoldReporter:
        forget = cfg.data.forget[0]
        data = settings.eval_data
        if data is None and settings.eval_suite == "world" and forget.startswith("world:"):
            data = forget.removeprefix("world:").rpartition("/")[0]  # world:people=60/forget10 -> people=60
        splits = {"forget": forget, "holdout": cfg.data.holdout}
        return cls(settings.gold, settings.eval_suite, data, splits, out / "eval_cache", cfg.data.max_length)

    def report(self, model_dir: Path, run_dir: Path, metrics: tuple[str, ...] = REPORT_METRICS) -> dict[str, Any]:
        """``{metric: value or None}`` of the model against gold (written to ``run_dir/eval.json`` as well)."""
        from obliviate.eval import EvalOptions, evaluate

        res = evaluate(
            str(model_dir), suite=self.suite, run_dir=run_dir, gold=self.gold, data=self.data, splits=self.splits,
            metrics=list(metrics), options=EvalOptions(batch_size=64, max_length=self.max_length, progress=False),
            cache_dir=self.cache, references=False, summary=False,
        )  # fmt: skip
        return {m: (float(r.value) if r.status == "ok" else None) for m, r in res.items()}
