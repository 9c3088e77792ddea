"""The speed benchmark (benchmarks/step_speed.py) in its --quick mode: tiny shapes, every part exercised once."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "step_speed.py"


def test_step_speed_quick_writes_ratios_memory_and_pooled_table(tmp_path):
    env_threads = {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, env={**os.environ, **env_threads},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "step_speed_quick.json").read_text())
    t = res["timing"]
    assert res["names"] == ["graddiff", "kl", "npo", "mari", "peer_graddiff", "peer_kl", "peer_npo"]
    assert t["vs_graddiff"]["graddiff"]["median"] == 1.0
    for m in ("kl", "npo", "mari", "mi_only"):
        assert math.isfinite(t["vs_graddiff"][m]["median"]) and t["vs_graddiff"][m]["median"] > 0
    assert set(t["vs_peer"]) == {"graddiff", "kl", "npo"}
    assert set(res["memory"]) == {"kl", "mari"} and all(v > 0 for v in res["memory"].values())
    prims = {r["loss"]: r for r in res["primitives"]}  # ours against the previous sliced-logits formulation
    assert set(prims) == {"NLL (graddiff, kl)", "sequence log-prob (npo)", "kl_to_ref (kl retain)"}
    assert all(r["ours_s"] > 0 and r["sliced_s"] > 0 and r["min"] <= r["median"] <= r["max"] for r in prims.values())
    assert {r["impl"] for r in res["pooled"]} == {"fused (probabilities saved)", "chunked recompute", "plain autograd"}
    below_switch = [r["impl"] for r in res["pooled"] if r["default"]]  # 32 x 512 logits: autograd is the default
    assert below_switch == ["plain autograd"]
    md = (tmp_path / "step_speed_quick.md").read_text()
    assert "MarI ÷ GradDiff" in md and "python benchmarks/step_speed.py --quick" in md
    assert "| NLL (graddiff, kl) |" in md
