"""Evaluation: a registry of metrics (:mod:`obliviate.eval.metrics`), suites (:mod:`obliviate.eval.suites`) and a
cached runner that writes ``eval.json`` (:mod:`obliviate.eval.runner`).

    from obliviate.eval import evaluate
    results = evaluate("runs/npo/model", suite="world", run_dir="runs/npo", gold="world:tiny/gold")
    results["forget_quality"].value, results["forget_quality"].extra["ks_statistic"]
"""

from obliviate.eval.context import EvalContext, EvalOptions
from obliviate.eval.runner import evaluate

__all__ = ["EvalContext", "EvalOptions", "evaluate"]
