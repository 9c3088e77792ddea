"""The generated world: determinism, disjoint splits, answers grounded in biographies, perturbed answers, specs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from world_digest import digest

from obliviate.errors import ObliviateError
from obliviate.world import WorldConfig, load_split_rows, parse_options
from obliviate.world.corpus import world_rows
from obliviate.world.splits import PEOPLE_SPLITS, split_people

SMALL = "people=40/"


def test_same_seed_same_world_across_processes():
    # a fresh interpreter with another hash seed must produce byte-identical rows (no set/dict-order leaks)
    here = str(Path(__file__).parent)
    script = f"import sys; sys.path.insert(0, {here!r}); from world_digest import digest; print(digest({SMALL!r}))"
    env = {"PYTHONHASHSEED": "123"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == digest(SMALL)


def test_different_seed_different_people():
    a = set(split_people(parse_options(SMALL + "x")[0], "train_full"))
    b = set(split_people(parse_options("seed=1/" + SMALL + "x")[0], "train_full"))
    assert len(a & b) == 0 and digest(SMALL) != digest("seed=1/" + SMALL)


@pytest.mark.parametrize("setting", ["correlated", "uncorrelated"])
def test_splits_disjoint_nested_and_sized(setting):
    cfg = WorldConfig(setting=setting, people=200)
    s = {name: set(split_people(cfg, name)) for name in PEOPLE_SPLITS}
    assert [len(s[f"forget{p}"]) for p in ("01", "05", "10")] == [2, 10, 20]
    assert s["forget01"] < s["forget05"] < s["forget10"]
    assert len(s["holdout10"]) == 20 and s["holdout01"] < s["holdout05"] < s["holdout10"]
    trained = s["forget10"] | s["retain90"]
    assert len(trained) == 200
    for p in ("01", "05", "10"):
        assert not s[f"forget{p}"] & s[f"retain{100 - int(p):02d}"]
        assert s[f"forget{p}"] | s[f"retain{100 - int(p):02d}"] == trained
    assert not s["holdout10"] & trained
    assert s["retain_eval"] <= s["retain90"] and len(s["retain_eval"]) == 20


@pytest.mark.parametrize("setting", ["correlated", "uncorrelated"])
def test_answers_grounded_and_perturbed_answers_wrong(setting):
    world, qa, text = world_rows(WorldConfig(setting=setting, people=200))
    names = [p.name for p in world.people]
    assert len(names) == len(set(names)) == 220
    for p in world.people:
        bio = " ".join(r["text"] for r in text[p.name])
        assert len(qa[p.name]) >= 6
        for r in qa[p.name]:
            assert r["answer"].startswith(" ") and r["answer"].strip() in bio
            assert r["prompt"].endswith("Answer:") and r["paraphrased_question"] != r["prompt"]
            perturbed = r["perturbed_answers"]
            assert len(perturbed) >= 3 and len(set(perturbed)) == len(perturbed)
            assert r["paraphrased_answer"] not in perturbed
            assert not any(x.endswith(r["answer"]) for x in perturbed)  # every template ends with the value
    for r in qa["__general__"]:
        assert r["person"] is None and r["paraphrased_answer"] not in r["perturbed_answers"]


def test_uncorrelated_forget_people_use_their_own_vocabulary():
    def values(cfg, split):
        return {(r["attribute"], r["answer"]) for r in load_split_rows(f"{cfg}/{split}")}

    for setting, shared in (("correlated", True), ("uncorrelated", False)):
        forget, retain = values(setting, "forget10"), values(setting, "retain90")
        assert bool(forget & retain) is shared
        prompts, retain_prompts = (
            {r["prompt"].replace(r["person"], "{n}") for r in load_split_rows(f"{setting}/{split}")}
            for split in ("forget10", "retain90")
        )
        assert bool(prompts & retain_prompts) is shared  # same question phrasing only when correlated


def test_spec_grammar():
    assert len(load_split_rows("forget10")) == 120 and "text" in load_split_rows("forget10_bio")[0]
    assert load_split_rows("forget10_text") == load_split_rows("forget10_bio")
    assert len(load_split_rows("forget10_all")) == 240
    assert {r.get("attribute") for r in load_split_rows("general")} == {"country", "arithmetic"}
    full, gold = load_split_rows("train_full"), load_split_rows("train_gold10")
    assert len(full) - len(gold) == len(load_split_rows("forget10_all"))
    cfg, target = parse_options("uncorrelated/seed=3/people=100/tiny/gold")
    assert (cfg.setting, cfg.seed, cfg.people, target) == ("uncorrelated", 3, 100, "tiny/gold")
    rows = load_split_rows("forget10")
    rows[0]["answer"] = "changed"  # callers get copies
    assert load_split_rows("forget10")[0]["answer"] != "changed"
    for bad in ("forget11", "retain90_xyz", "seed=1/seed=2/forget10", "people=5/forget10", "", "train_full_bio"):
        with pytest.raises(ObliviateError):
            load_split_rows(bad)


def test_data_layer_reads_world_specs():
    from obliviate.data import load_rows

    rows = load_rows("world:uncorrelated/holdout10")
    assert len(rows) == 120 and rows[0]["perturbed_answers"] and rows[0]["person"]
    assert all("text" in r for r in load_rows("world:forget01_bio"))
