"""The MarI check: resampling by re-weighting per-sequence sums, the BCa interval, bounds, the sequence-level
check, the verdict (informative on the uncorrelated world, uninformative on the correlated one), the end-to-end
dict / files, and ``obliviate certify`` on a run folder."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch

from obliviate import losses
from obliviate.cli import main
from obliviate.data.collate import tokenize_rows
from obliviate.eval import certificate as cert_mod
from obliviate.eval.certificate import (
    SequenceStats,
    bias_corrected,
    bounds,
    certify,
    pooled_mari,
    sequence_check,
    sequence_stats,
    verdict,
)


def _stats(gen: torch.Generator, n: int, v: int = 12, shift: float = 0.0) -> SequenceStats:
    counts = torch.randint(2, 6, (n,), generator=gen).float()
    logits = torch.randn(n, v, generator=gen) + shift * torch.arange(v)
    sums = torch.softmax(logits, -1) * counts[:, None]  # (n, V): each sequence's sum of counts distributions
    return SequenceStats(sums, counts, np.linspace(1.0, 2.0, n))


def test_weighted_sums_equal_explicit_subsets():
    gen = torch.Generator().manual_seed(0)
    r, u = _stats(gen, 7), _stats(gen, 5)
    s, c = torch.cat([r.sums, u.sums]), torch.cat([r.counts, u.counts])
    pick_r, pick_u = [0, 0, 3, 6], [7, 9, 9, 11]  # a bootstrap-like draw (with repeats)
    w_r, w_u = torch.zeros(1, 12), torch.zeros(1, 12)
    for i in pick_r:
        w_r[0, i] += 1
    for i in pick_u:
        w_u[0, i] += 1
    got = cert_mod._mi(s, c, w_r, w_u)
    for k in losses.MARI_CONSTRUCTIONS:
        want = losses.marginal_information(s[pick_r].sum(0), c[pick_r].sum(), s[pick_u].sum(0), c[pick_u].sum(), k)
        torch.testing.assert_close(got[k][0], want)


def test_pooled_mari_point_ci_and_null():
    gen = torch.Generator().manual_seed(1)
    r, same, far = _stats(gen, 40), _stats(gen, 30), _stats(gen, 30, shift=0.3)
    res = pooled_mari(r, far, n_boot=200, n_perm=200, seed=0)
    n_r, n_u = float(r.counts.sum()), float(far.counts.sum())
    assert res["n_retain_positions"] == n_r and res["n_forget_positions"] == n_u and res["sequences"] == [40, 30]
    full, unl = res["full_vs_retain"], res["unlearn_vs_retain"]
    assert full["value"] == pytest.approx(
        losses.marginal_information(r.sums.sum(0), n_r, far.sums.sum(0), n_u, "full_vs_retain").item()
    )
    assert full["pi"][0] == pytest.approx((n_r + n_u) / (2 * n_r + n_u)) and unl["pi"] == [0.5, 0.5]
    for e in (full, unl):  # clearly different groups: far above the permutation null
        assert e["value"] > e["null_p95"] and e["p_value"] == pytest.approx(1 / 201)
        assert e["ci"][0] < e["ci"][1]
    null_res = pooled_mari(r, same, n_boot=0, n_perm=200, seed=0)  # same distribution: not significant
    assert null_res["unlearn_vs_retain"]["p_value"] > 0.05 and "ci" not in null_res["unlearn_vs_retain"]


def test_bounds_hand_computed():
    # I = 0.02, equal priors: TV <= sqrt(0.02 / 0.5) = 0.2, AUC <= 0.7, accuracy <= 0.5 + sqrt(0.01) = 0.6
    b = bounds(0.02, 0.5)
    assert b == pytest.approx({"tv": 0.2, "auc_max": 0.7, "accuracy_max": 0.6})
    # pi0 = 0.6: TV <= sqrt(0.0048 / 0.48) = 0.1; the unlearn share 0.25 turns it into TV(P_u, P_r) <= 0.4
    b = bounds(0.0048, 0.6, unlearn_share=0.25)
    assert b["tv"] == pytest.approx(0.1) and b["tv_unlearn_vs_retain"] == pytest.approx(0.4)
    assert b["accuracy_max"] == pytest.approx(0.6 + math.sqrt(0.0024))
    assert bounds(5.0, 0.5)["tv"] == 1.0


def test_sequence_check_aucs_and_ties():
    def st(nll):
        return SequenceStats(torch.zeros(len(nll), 2), torch.ones(len(nll)), np.asarray(nll, float))

    out = sequence_check(st([1.0, 2.0, 2.0]), st([3.0, 2.0]), st([2.0, 4.0]))
    # forget (3, 2) vs retain (1, 2, 2): pairs 3>1, 3>2, 3>2, 2>1, 2=2, 2=2 -> (4 + 2 * 0.5) / 6
    assert out["auc_forget_vs_retain"] == pytest.approx(5 / 6)
    # holdout (2, 4) vs forget (3, 2): 2<3, 2=2, 4>3, 4>2 -> (2 + 0.5) / 4
    assert out["auc_forget_vs_holdout"] == pytest.approx(2.5 / 4)
    assert out["nll_forget"] == pytest.approx(2.5) and out["score_gap"] == pytest.approx(2.5 - 5 / 3)


def test_sequence_stats_match_batch_primitives(tiny_gpt2, tiny_rows):
    model, tok = tiny_gpt2
    model.eval()
    examples, _ = tokenize_rows(tiny_rows["retain"][:5], tok, max_length=64)
    one = sequence_stats(model, examples, tok.pad_token_id, batch_size=1, progress=False)
    four = sequence_stats(model, examples, tok.pad_token_id, batch_size=4, progress=False)
    torch.testing.assert_close(one.sums, four.sums, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(one.nll, four.nll, rtol=1e-5)
    torch.testing.assert_close(one.sums.sum(-1), one.counts)  # each pooled position adds a distribution
    labels = [sum(1 for t in ex["labels"] if t != -100) for ex in examples]
    assert one.counts.tolist() == labels


def test_certify_end_to_end_writes_json_and_markdown(tiny_gpt2, tiny_rows, tmp_path):
    model, tok = tiny_gpt2
    gold = copy.deepcopy(model)
    with torch.no_grad():
        for p in gold.parameters():
            p.add_(0.05 * torch.randn_like(p))
    cert = certify(
        model,
        tok,
        tiny_rows["forget"],
        tiny_rows["retain"],
        holdout_rows=tiny_rows["holdout"],
        gold=gold,
        n_boot=50,
        n_perm=50,
        progress=False,
        names={"gold": "seed1"},
    )
    assert set(cert["models"]) == {"model", "gold"}
    assert cert["data"] == {"forget": 6, "retain": 15, "holdout": 3}
    assert cert["summary"]["auc_forget_vs_retain"]["gap_to_gold"] == pytest.approx(
        cert["models"]["model"]["sequence"]["auc_forget_vs_retain"]
        - cert["models"]["gold"]["sequence"]["auc_forget_vs_retain"]
    )
    path = cert_mod.write_certificate(cert, tmp_path / "run")
    assert json.loads(path.read_text())["caveat"] == cert_mod.CAVEAT
    text = (tmp_path / "run" / "certificate.md").read_text()
    assert "token-level (word-level) detectors only" in text and "NOT a guarantee" in text
    assert "gold (seed1)" in text and text.count("full_vs_retain") == 4


def test_cli_certify(tiny_gpt2_dir, tiny_data_files, tmp_path, capsys):
    args = ["certify", "--model", str(tiny_gpt2_dir), "--forget", str(tiny_data_files["forget"])]
    args += ["--retain", str(tiny_data_files["retain"]), "--out", str(tmp_path / "c"), "--n-boot", "20"]
    assert main([*args, "--n-perm", "20", "--no-progress"]) == 0
    assert (tmp_path / "c" / "certificate.json").is_file() and (tmp_path / "c" / "certificate.md").is_file()
    assert "# MarI marginal-information check" in capsys.readouterr().out
    (tmp_path / "run" / "adapter").mkdir(parents=True)
    assert main(["certify", "--model", str(tmp_path / "run"), "--forget", "f", "--retain", "r"]) == 2
    assert "only a LoRA adapter" in capsys.readouterr().err


def test_bias_corrected_interval_holds_the_corrected_estimate_where_the_percentile_interval_missed_the_point():
    # Forget and retain drawn from one distribution: the plug-in MI is pure small-sample bias, and its bootstrap
    # replicates (resampling adds duplicates, hence more apparent difference) sit above it.
    gen = torch.Generator().manual_seed(3)
    r, u = _stats(gen, 25, v=40), _stats(gen, 25, v=40)
    e = pooled_mari(r, u, n_boot=400, n_perm=0, seed=0)["unlearn_vs_retain"]
    assert e["bootstrap_bias"] > 0
    assert e["percentile_ci"][0] > e["value"]  # the old interval missed its own point estimate
    assert e["value_bias_corrected"] == pytest.approx(e["value"] - e["bootstrap_bias"])
    assert e["ci"][0] <= e["value_bias_corrected"] <= e["ci"][1] < e["value"]  # the plug-in is mostly bias here


def test_bias_corrected_interval_by_hand():
    boot = np.array([0.3, 0.4, 0.5, 0.6, 0.7])  # mean 0.5 around a point of 0.4: bias 0.1
    out = bias_corrected(0.4, boot, level=0.5)  # quantiles 0.25 / 0.75 of the replicates: 0.4, 0.6
    assert out["bootstrap_bias"] == pytest.approx(0.1) and out["value_bias_corrected"] == pytest.approx(0.3)
    assert out["ci"] == pytest.approx([0.2, 0.4]) and out["percentile_ci"] == pytest.approx([0.4, 0.6])
    assert bias_corrected(0.1, boot)["ci"][0] == 0.0  # clipped: an MI is never negative


def _entry(value: float, null_p95: float, p: float) -> dict:
    return {"mari": {"unlearn_vs_retain": {"value": value, "null_p95": null_p95, "p_value": p}}}


def test_verdict_is_decided_by_the_original_models_position():
    model = _entry(0.05, 0.06, 0.3)
    assert verdict({"model": model})["status"] == "unknown"
    out = verdict({"model": model, "original": _entry(0.15, 0.17, 0.35)})
    assert out["status"] == "uninformative" and out["text"].startswith("UNINFORMATIVE HERE")
    out = verdict({"model": model, "original": _entry(0.2, 0.06, 0.002), "gold": _entry(0.1, 0.06, 0.002)})
    assert out["status"] == "informative" and "moved 150% of the way" in out["text"]


def _world_check(world: str, model_dir) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from obliviate.world import load_split_rows

    model, tok = AutoModelForCausalLM.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)
    rows = {s: load_split_rows(f"{world}/{s}") for s in ("forget10", "retain_eval")}
    return certify(
        model, tok, rows["forget10"], rows["retain_eval"], original=model, max_length=64, batch_size=36, n_boot=0,
        n_perm=200, progress=False,
    )  # fmt: skip


def test_verdict_on_the_correlated_world_is_uninformative(world_models):
    # forget and retain people share every value pool: the original's pooled answer marginals are two samples of
    # one histogram, so it sits inside its own permutation null
    cert = _world_check(world_models["data"], world_models["full"])
    assert cert["verdict"]["status"] == "uninformative", cert["verdict"]["text"]
    assert "UNINFORMATIVE HERE" in cert_mod.render_markdown(cert)


def test_verdict_on_the_uncorrelated_world_is_informative(world_models):
    from obliviate.world import resolve_model_path

    world = f"uncorrelated/{world_models['data']}"  # forget people have their own vocabulary
    cert = _world_check(world, resolve_model_path(f"{world}/tiny", progress=False))
    assert cert["verdict"]["status"] == "informative", cert["verdict"]["text"]
    assert cert["models"]["original"]["mari"]["unlearn_vs_retain"]["p_value"] <= 0.01


def test_cli_certify_reads_a_run_folder(tiny_gpt2_dir, tiny_data_files, tmp_path, capsys):
    import shutil

    import yaml

    run = tmp_path / "run"
    shutil.copytree(tiny_gpt2_dir, run / "model")
    data = {"forget": [str(tiny_data_files["forget"])], "retain": str(tiny_data_files["retain"]), "max_length": 48}
    (run / "config.yaml").write_text(yaml.safe_dump({"model": {"path": str(tiny_gpt2_dir)}, "data": data}))
    args = ["certify", "--model", str(run), "--n-boot", "10", "--n-perm", "10", "--no-progress"]
    assert main([*args, "--holdout", str(tiny_data_files["holdout"])]) == 0  # flags add to / override the config
    cert = json.loads((run / "certificate.json").read_text())
    assert cert["data"] == {"forget": 6, "retain": 15, "holdout": 3} and cert["settings"]["max_length"] == 48
    assert cert["names"]["original"] == str(tiny_gpt2_dir) and set(cert["models"]) == {"model", "original"}
    assert cert["verdict"]["status"] in ("informative", "uninformative")
    capsys.readouterr()
    (run / "config.yaml").write_text("{}\n")
    assert main(["certify", "--model", str(run)]) == 2
    assert "--forget is required" in capsys.readouterr().err
