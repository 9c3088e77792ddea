"""The world suite ranks the original (full) model, a gradient-ascent-unlearned copy and the gold model as expected.

Needs the trained tiny world from the ``world_models`` session fixture (tests/conftest_world.py):
``{"full": Path, "gold": Path, "data": "<world options prefix of the split specs, '' for the default world>"}``.
"""

from __future__ import annotations

import json

import torch

from obliviate.eval import EvalOptions, evaluate


def _gradient_ascent(full_dir, out_dir, data_prefix: str, steps: int = 8) -> str:
    """A few steps of plain gradient ascent on the forget set (the simplest unlearning method)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from obliviate.data.collate import collate, tokenize_rows
    from obliviate.world import load_split_rows

    model, tok = AutoModelForCausalLM.from_pretrained(full_dir), AutoTokenizer.from_pretrained(full_dir)
    examples, _ = tokenize_rows(load_split_rows(f"{data_prefix}forget10"), tok, max_length=64)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for step in range(steps):
        start = (step * 16) % len(examples)
        batch = collate(examples[start : start + 16], tok.pad_token_id)
        loss = -model(**batch.model_inputs(), labels=batch.labels).loss  # ascend the forget NLL
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return str(out_dir)


# what the assertions read (the whole suite on three models takes ~100 s on 2 cores; these ~30 s)
METRICS = ["forget_acc", "forget_nll", "retain_acc", "forget_quality", "mia_loss", "mia_min_k", "privleak"]


def test_world_suite_orders_original_unlearned_gold(world_models, tmp_path):
    world = world_models
    prefix = f"{world['data'].strip('/')}/" if world.get("data") else ""
    unlearned = _gradient_ascent(world["full"], tmp_path / "ga", prefix)
    evaluate(
        unlearned, suite="world", data=world.get("data") or None, run_dir=tmp_path, gold=str(world["gold"]),
        original=str(world["full"]), metrics=METRICS, options=EvalOptions(progress=False, max_new_tokens=8),
        summary=False,
    )  # fmt: skip
    doc = json.loads((tmp_path / "eval.json").read_text())
    m, orig, gold = doc["metrics"], doc["reference_metrics"]["original"], doc["reference_metrics"]["gold"]
    assert all(e["status"] == "ok" for e in m.values()), {k: e["note"] for k, e in m.items()}
    v = {name: (orig[name]["value"], m[name]["value"], gold[name]["value"]) for name in m}
    # the original knows the forget set, the gold model does not, and gradient ascent pushed the model away from it
    assert v["forget_acc"][0] >= 0.9 and v["forget_acc"][2] <= 0.5
    assert v["forget_nll"][0] < v["forget_nll"][1] and v["forget_nll"][0] < v["forget_nll"][2]
    assert v["forget_acc"][1] < v["forget_acc"][0]
    assert min(v["retain_acc"][0], v["retain_acc"][2]) >= 0.9  # both reference models know the retain set
    # membership: the forget rows are members of the original's training data, not of the gold model's
    for attack in ("mia_loss", "mia_min_k"):
        assert v[attack][0] > v[attack][2], attack
    assert v["privleak"][0] < -20 and v["privleak"][2] == 0.0
    # forget quality: the gold model matches itself, the original does not
    assert v["forget_quality"][2] == 1.0 and v["forget_quality"][0] < 0.05
    assert orig["forget_quality"]["extra"]["ks_statistic"] > gold["forget_quality"]["extra"]["ks_statistic"]
