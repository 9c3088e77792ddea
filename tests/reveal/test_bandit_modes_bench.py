"""The exploration benchmark (benchmarks/reveal_bandit_modes.py): its pools are built as documented, and a smoke-sized
run writes both result files with every policy row."""

from __future__ import annotations

import json

import numpy as np

from bench_scripts import load_script


def _bench():
    return load_script("reveal_bandit_modes")


def test_multimodal_pool_has_a_decoy_majority_and_a_higher_rare_mode():
    bench = _bench()
    x, r = bench.multimodal_pool(0, arms=300, dim=8, modes=3, mode_arms=5, mode_width=0.3, hill=2.0,
                                 decoy_share=0.4, noise=0.0)  # fmt: skip
    assert x.shape == (300, 8) and r.shape == (300,)
    assert r.min() >= 0.0 and r.max() <= 1.0
    # The best arms (a high mode, peak ~0.9) are rare; the decoy plateau (~0.35) holds far more arms.
    assert r.max() > 0.8
    assert (r >= 0.9 * r.max()).sum() <= 15  # < 5 % of the arms
    assert ((r > 0.25) & (r < 0.5)).sum() >= 60
    # Seeded: the same seed gives the same pool, another seed another one.
    x2, r2 = bench.multimodal_pool(0, 300, 8, 3, 5, 0.3, 2.0, 0.4, 0.0)
    assert np.array_equal(x, x2) and np.array_equal(r, r2)
    assert not np.array_equal(r, bench.multimodal_pool(1, 300, 8, 3, 5, 0.3, 2.0, 0.4, 0.0)[1])


def test_evals_to_counts_from_one_and_marks_misses():
    bench = _bench()
    assert bench.evals_to([0.1, 0.5, 0.9], 0.5, budget=3) == 2
    assert bench.evals_to([0.1, 0.2], 0.5, budget=2) == 3


def test_smoke_run_writes_every_policy_row(tmp_path):
    res = _bench().main(["--seeds", "1", "--arms", "80", "--dim", "4", "--mode-arms", "3", "--budget", "12",
                         "--n-init", "4", "--nus", "1", "--families", "needles", "--out", str(tmp_path)])  # fmt: skip
    rows = res["pools"]["multi-modal pool, needles"]["rows"]
    assert set(rows) == {"random", "greedy (nu=0)", "neural_ucb nu=1"}
    assert all(len(r["evals"]) == 1 and 1 <= r["evals"][0] <= 13 for r in rows.values())
    assert json.loads((tmp_path / "reveal_bandit_modes.json").read_text())["budget"] == 12
    assert "| greedy (nu=0) |" in (tmp_path / "reveal_bandit_modes.md").read_text()
