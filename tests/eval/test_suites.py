"""Suites name only registered metrics; data specs and metric lists resolve as documented."""

from __future__ import annotations

import pytest

from obliviate.errors import ObliviateError
from obliviate.eval.metrics import METRICS
from obliviate.eval.suites import LMEVAL, SUITES, data_specs, get_suite, metric_names


@pytest.mark.parametrize("name", sorted(SUITES))
def test_suite_metrics_are_registered(name):
    suite = SUITES[name]
    assert suite.metrics and len(set(suite.metrics)) == len(suite.metrics)
    assert [m for m in suite.metrics if m not in METRICS] == []


def test_data_specs():
    world = get_suite("world")
    assert data_specs(world, None)["forget"] == "world:forget10"
    assert data_specs(world, "world:uncorrelated")["holdout"] == "world:uncorrelated/holdout10"
    assert data_specs(world, None, {"forget": "f.jsonl"})["forget"] == "f.jsonl"
    assert data_specs(get_suite("tofu"), "data/tofu")["world_facts"] == "tofu:data/tofu/world_facts_perturbed"
    assert data_specs(get_suite("muse"), "data/news")["verbmem"] == "muse:data/news/verbmem/forget"
    with pytest.raises(ObliviateError, match="--data"):
        data_specs(get_suite("muse"), None)
    with pytest.raises(ObliviateError, match="--forget"):
        data_specs(get_suite("custom"), None, {"retain": "r.jsonl"})
    with pytest.raises(ObliviateError, match="unknown suite"):
        get_suite("tofuu")


def test_metric_names():
    world = get_suite("world")
    assert metric_names(world, None) == list(world.metrics)
    assert metric_names(world, ["forget_nll", "mia_loss"]) == ["forget_nll", "mia_loss"]
    assert metric_names(world, ["+lmeval"]) == [*world.metrics, *LMEVAL]
    assert metric_names(world, ["forget_nll", "+mia_loss", "forget_nll"]) == ["forget_nll", "mia_loss"]
