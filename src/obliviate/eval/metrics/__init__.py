"""The metric registry: named functions of an :class:`~obliviate.eval.context.EvalContext` returning a
:class:`~obliviate.types.MetricResult`, with the metadata the runner needs.

Adding a metric (the MarI certificate does exactly this)::

    from obliviate.eval.metrics.base import register_metric, skipped

    @register_metric("mari_certificate", split="forget", higher_is_better=True, needs=("original",))
    def mari_certificate(ctx):
        \"\"\"One line that becomes the metric's description in eval.json.\"\"\"
        orig = ctx.reference("original")          # an EvalContext (model, tokenizer, rows) or None
        return MetricResult(value=..., per_sample={...}, extra={...})

in a module of this folder, and one import line at the bottom of this file. Metadata:

- ``split``: the data split shown next to the metric (``forget``, ``retain``, ``forget+holdout``...).
- ``data``: splits that must be present, else the metric is ``skipped`` with the reason (default: ``(split,)``
  when ``split`` names one split).
- ``requires``: metrics of the same model, passed as keyword arguments of the same name.
- ``gold``: metrics of the gold model, passed as ``gold_<name>`` keyword arguments (skipped without ``--gold``).
- ``needs``: other references that must be given (``original``), reachable through ``ctx.reference(name)``.
- ``options``: :class:`~obliviate.eval.context.EvalOptions` fields that change the value (part of the cache key).
- ``fmt``: display kind for reports (``pvalue``, ``percent``, ``auc``, ``float``); ``target``: the ideal value when
  neither direction is better (PrivLeak: 0).
"""

# One import per metric module; importing registers its metrics (tests check every module is listed).
from obliviate.eval.metrics import fluency, forget, lm_eval_adapter, privacy, utility  # noqa: F401
from obliviate.eval.metrics.base import (  # noqa: F401  (the public names of the registry)
    METRICS,
    REFERENCES,
    SPLITS,
    MetricFn,
    MetricSpec,
    metric_spec,
    register_metric,
    skipped,
)
