"""Model utility: TOFU's harmonic mean of retain-set and general-knowledge scores.

TOFU (Maini et al. 2024) and OpenUnlearning (``hm_aggregate`` over ``model_utility``'s pre-computed metrics) define
model utility as the harmonic mean of nine scores: answer probability, ROUGE-L recall and truth ratio
(``true_better``) on each of the retain set, real authors and world facts, where the probability is the plain
length-normalised one on the retain set and the option-normalised one on the two general-knowledge sets. The
harmonic mean is 0 as soon as one score is 0, so a model that destroyed any one ability has no utility.

- ``model_utility`` (built-in world, custom data): the same construction over retain + ``general`` (6 scores).
- ``model_utility_tofu``: exactly TOFU's 9 scores (retain + ``real_authors`` + ``world_facts``).
"""

from __future__ import annotations

from obliviate.eval import stats
from obliviate.eval.metrics.base import register_metric
from obliviate.types import MetricResult


def _components(*splits: str, retain: str = "retain") -> tuple[str, ...]:
    out = (f"{retain}_prob", f"{retain}_rouge", f"{retain}_truth_ratio")
    for s in splits:
        out += (f"{s}_prob_norm", f"{s}_rouge", f"{s}_truth_ratio")
    return out


def _hmean(deps: dict[str, MetricResult]) -> MetricResult:
    values = {name: float(r.value) for name, r in deps.items() if r.value is not None}
    return MetricResult(value=stats.harmonic_mean(list(values.values())), extra={"components": values})


@register_metric(
    "model_utility", split="retain+general", data=(), higher_is_better=True, requires=_components("general")
)
def model_utility(ctx, **deps: MetricResult) -> MetricResult:
    """Model utility: harmonic mean of answer probability, ROUGE-L recall and truth ratio on the retain set and
    on general knowledge (option-normalised probability there), TOFU's definition over retain + ``general``."""
    return _hmean(deps)


@register_metric(
    "model_utility_tofu",
    split="retain+real_authors+world_facts",
    data=(),
    higher_is_better=True,
    requires=_components("real_authors", "world_facts"),
)
def model_utility_tofu(ctx, **deps: MetricResult) -> MetricResult:
    """TOFU model utility: harmonic mean of the nine retain / real-authors / world-facts scores (probability,
    ROUGE-L recall, truth ratio), exactly as TOFU and OpenUnlearning's ``model_utility``."""
    return _hmean(deps)
