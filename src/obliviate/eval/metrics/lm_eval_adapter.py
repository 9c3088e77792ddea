"""lm-evaluation-harness on any Hugging Face model: ARC-Easy, PIQA, HellaSwag and MMLU accuracy and WikiText
word perplexity (the Forgetting-MarI paper's utility table). Optional extra: ``pip install 'obliviate[lmeval]'``.

The harness downloads its task data from the Hugging Face Hub on first use (then caches it); offline and without
a cached copy the metrics are ``skipped`` with the reason. :func:`run_lm_eval` also runs local YAML tasks
(``include_path``), which is how the tests check the plumbing offline.

Offline general abilities: ``lmeval_*_local`` run hand-written look-alikes of ARC-Easy, PIQA and HellaSwag shipped
with the package (:mod:`obliviate.eval.local_tasks`; not the real benchmarks, scores not comparable to published
ones), and ``general_text_ppl`` is the perplexity of its general text (no lm-eval needed).
:func:`general_abilities` returns the four numbers for a benchmark script.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from obliviate.errors import ObliviateError
from obliviate.eval import local_tasks
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
# metric name -> local look-alike task (obliviate.eval.local_tasks), reported as acc like the real tasks above
LOCAL_TASKS: dict[str, str] = {
    "lmeval_arc_easy_local": "obliviate_arc_easy_local",
    "lmeval_piqa_local": "obliviate_piqa_local",
    "lmeval_hellaswag_local": "obliviate_hellaswag_local",
}
TEXT_WINDOW_CAP = 1024  # tokens per scored window: paragraphs are ~150 tokens, so only tiny-context models cut them


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


def _define(name: str, task: str, key: str, higher: bool, fmt: str, local: bool = False) -> None:
    def fn(ctx: EvalContext) -> MetricResult:
        # local tasks: only our YAMLs are indexed (no ~30 s scan of the harness's built-in tasks)
        where = {"include_path": local_tasks.local_task_dir(), "include_defaults": False} if local else {}
        try:
            results = run_lm_eval(
                ctx.model, ctx.tokenizer, [task], limit=ctx.options.lm_eval_limit, batch_size=ctx.options.batch_size,
                **where,
            )  # fmt: skip
        except ObliviateError as e:
            return skipped(str(e))
        except OSError as e:  # task data neither cached nor downloadable (offline machine)
            return skipped(f"lm-eval could not load the {task!r} data ({type(e).__name__}); run once with network")
        metrics = results.get(task, {})
        if key not in metrics:
            return skipped(f"lm-eval returned no {key!r} for task {task!r} (got {sorted(metrics)})")
        return MetricResult(value=metrics[key], extra={"task": task, "harness_metrics": metrics})

    source = "hand-written look-alike shipped with obliviate, offline" if local else "data from the harness's cache"
    fn.__doc__ = f"lm-eval-harness {key} on {task} (optional extra ``lmeval``; {source})."
    fn.__name__ = name
    register_metric(name, split="general", data=(), higher_is_better=higher, options=("lm_eval_limit",), fmt=fmt)(fn)


for _name, (_task, _key, _hi, _fmt) in TASKS.items():
    _define(_name, _task, _key, _hi, _fmt)
for _name, _task in LOCAL_TASKS.items():
    _define(_name, _task, "acc", True, "percent", local=True)


def text_perplexity(
    model: Any, tokenizer: Any, paragraphs: Sequence[str], *, batch_size: int = 8, progress: bool = False
) -> tuple[float, int]:
    """Perplexity of ``paragraphs``: exp of the token-weighted mean next-token NLL, each paragraph scored on its own.

    A paragraph longer than the model's context (capped at :data:`TEXT_WINDOW_CAP`) is cut into consecutive windows
    (the package's ``.txt`` windowing: no BOS); the first token of each window has no context and is not scored.

    Returns:
        (perplexity, number of scored tokens).
    """
    from obliviate.data.collate import tokenize_rows
    from obliviate.eval.scoring import score_examples
    from obliviate.models import position_limit

    window = min(position_limit(model) or TEXT_WINDOW_CAP, TEXT_WINDOW_CAP)
    rows = [{"text": p, "_chunk": True} for p in paragraphs]
    examples, _ = tokenize_rows(rows, tokenizer, max_length=window, txt_window=window)
    stats = score_examples(model, tokenizer, examples, batch_size=batch_size, desc="general text", progress=progress)
    logp = np.concatenate([s.logp for s in stats])  # (scored tokens,)
    return math.exp(float(-logp.mean())), int(logp.size)


@register_metric("general_text_ppl", split="general", data=(), higher_is_better=False, fmt="float")
def general_text_ppl(ctx: EvalContext) -> MetricResult:
    """Perplexity on the package's general text (30 hand-written encyclopedic paragraphs, ~3,700 words): exp of
    the token-weighted mean NLL, paragraphs scored independently; lower is better. Offline, no extra needed."""
    ppl, n = text_perplexity(
        ctx.model, ctx.tokenizer, local_tasks.general_paragraphs(), batch_size=ctx.options.batch_size,
        progress=ctx.options.progress,
    )  # fmt: skip
    return MetricResult(value=ppl, extra={"n_tokens": n, "nll": math.log(ppl)})


def general_abilities(
    model: Any, tokenizer: Any, *, limit: int | None = None, batch_size: int = 8
) -> dict[str, float]:
    """The four offline general-ability numbers of a model, for benchmark scripts.

    Args:
        model: a ``transformers`` causal LM.
        tokenizer: its tokenizer.
        limit: documents per local task (None = all 40).
        batch_size: forward-pass batch size.

    Returns:
        ``{"lmeval_arc_easy_local", "lmeval_piqa_local", "lmeval_hellaswag_local": acc in [0, 1],
        "general_text_ppl": perplexity}``.

    Raises:
        ObliviateError: lm-eval is not installed.
    """
    results = run_lm_eval(
        model, tokenizer, list(LOCAL_TASKS.values()), include_path=local_tasks.local_task_dir(),
        include_defaults=False, limit=limit, batch_size=batch_size,
    )  # fmt: skip
    out = {name: results[task]["acc"] for name, task in LOCAL_TASKS.items()}
    out["general_text_ppl"] = text_perplexity(
        model, tokenizer, local_tasks.general_paragraphs(), batch_size=batch_size
    )[0]
    return out
