"""lm-evaluation-harness on any Hugging Face model: ARC-Easy, PIQA, HellaSwag and MMLU accuracy and WikiText
word perplexity (the Forgetting-MarI paper's utility table). Optional extra: ``pip install 'obliviate[lmeval]'``.

The harness downloads its task data from the Hugging Face Hub on first use (then caches it); offline and without
a cached copy the metrics are ``skipped`` with the reason. :func:`run_lm_eval` also runs local YAML tasks
(``include_path``), which is how the tests check the plumbing offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from obliviate.errors import ObliviateError
from obliviate.eval.context import EvalContext
from obliviate.eval.metrics.base import register_metric, skipped
from obliviate.types import MetricResult

INSTALL_HINT = "lm-eval is not installed; install the optional extra: pip install 'obliviate[lmeval]'"
# metric name -> (harness task, harness metric reported as the value, higher is better, display format)
TASKS: dict[str, tuple[str, str, bool, str]] = {
    "lmeval_arc_easy": ("arc_easy", "acc", True, "percent"),
    "lmeval_piqa": ("piqa", "acc", True, "percent"),
    "lmeval_hellaswag": ("hellaswag", "acc", True, "percent"),
    "lmeval_mmlu": ("mmlu", "acc", True, "percent"),
    "lmeval_wikitext": ("wikitext", "word_perplexity", False, "float"),
}


def run_lm_eval(
    model: Any,
    tokenizer: Any,
    tasks: Sequence[str],
    *,
    include_path: str | Path | None = None,
    include_defaults: bool = True,
    limit: int | None = None,
    batch_size: int = 8,
    num_fewshot: int | None = None,
) -> dict[str, dict[str, float]]:
    """Run lm-eval-harness tasks on an in-memory model.

    Args:
        model: a ``transformers`` causal LM (its device is used).
        tokenizer: its tokenizer.
        tasks: harness task names (``arc_easy``, ``mmlu``... or tasks defined under ``include_path``).
        include_path: a folder of extra task YAML files.
        include_defaults: also index the harness's built-in tasks (about 30 s on a laptop CPU; turn off when
            ``tasks`` are all under ``include_path``).
        limit: documents per task (None = all).
        batch_size: harness batch size.
        num_fewshot: few-shot examples (None = each task's default).

    Returns:
        ``{task: {metric: value}}`` with the harness's ``,none`` filter suffix removed; numeric metrics only.

    Raises:
        ObliviateError: lm-eval is not installed.
    """
    try:
        from lm_eval import simple_evaluate
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError:
        raise ObliviateError(INSTALL_HINT) from None
    device = str(next(model.parameters()).device)
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device=device)
    manager = TaskManager(include_path=str(include_path) if include_path else None, include_defaults=include_defaults)
    out = simple_evaluate(
        model=lm,
        tasks=list(tasks),
        task_manager=manager,
        limit=limit,
        num_fewshot=num_fewshot,
        bootstrap_iters=0,  # no bootstrap standard errors: they cost minutes and the report does not show them
        log_samples=False,
    )
    results: dict[str, dict[str, float]] = {}
    for task, metrics in (out or {}).get("results", {}).items():
        results[task] = {
            k.split(",")[0]: float(v)
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and "_stderr" not in k
        }
    return results


def _define(name: str, task: str, key: str, higher: bool, fmt: str) -> None:
    def fn(ctx: EvalContext) -> MetricResult:
        try:
            results = run_lm_eval(
                ctx.model, ctx.tokenizer, [task], limit=ctx.options.lm_eval_limit, batch_size=ctx.options.batch_size
            )
        except ObliviateError as e:
            return skipped(str(e))
        except OSError as e:  # task data neither cached nor downloadable (offline machine)
            return skipped(f"lm-eval could not load the {task!r} data ({type(e).__name__}); run once with network")
        metrics = results.get(task, {})
        if key not in metrics:
            return skipped(f"lm-eval returned no {key!r} for task {task!r} (got {sorted(metrics)})")
        return MetricResult(value=metrics[key], extra={"task": task, "harness_metrics": metrics})

    fn.__doc__ = f"lm-eval-harness {key} on {task} (optional extra ``lmeval``; data from the harness's own cache)."
    fn.__name__ = name
    register_metric(name, split="general", data=(), higher_is_better=higher, options=("lm_eval_limit",), fmt=fmt)(fn)


for _name, (_task, _key, _hi, _fmt) in TASKS.items():
    _define(_name, _task, _key, _hi, _fmt)
