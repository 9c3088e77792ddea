"""The deletion receipt: written into every run folder, shown in the report, re-checked by verify-receipt."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from obliviate.receipt import RECEIPT, refresh_results, verify_receipt


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def run_with_receipt(cli, run_overrides, tiny_data_files, tiny_gpt2_dir, tmp_path):
    """A finished tiny run whose data files and base model are private copies the test may change."""
    data = tmp_path / "data"
    shutil.copytree(tiny_data_files["forget"].parent, data)
    model = tmp_path / "base"
    shutil.copytree(tiny_gpt2_dir, model)
    overrides = run_overrides(
        model__path=model, data__forget=f"[{data / 'forget.jsonl'}]", data__retain=data / "retain.jsonl",
        data__holdout=data / "holdout.jsonl", train__seed=7,
    )  # fmt: skip
    code, _, err = cli("unlearn", "--quiet", *overrides)
    assert code == 0, err
    return tmp_path / "run", data, model


def test_receipt_records_inputs_outputs_and_versions(run_with_receipt):
    run, data, model = run_with_receipt
    doc = json.loads((run / RECEIPT).read_text())
    (forget,) = doc["data"]["forget"]
    assert forget["files"] == {str((data / "forget.jsonl").resolve()): _sha(data / "forget.jsonl")}
    assert doc["data"]["retain"][0]["files"] == {str((data / "retain.jsonl").resolve()): _sha(data / "retain.jsonl")}
    assert doc["data"]["holdout"][0]["spec"] == str(data / "holdout.jsonl")
    assert doc["base_model"]["files"] == {
        str((model / "model.safetensors").resolve()): _sha(model / "model.safetensors")
    }
    assert doc["output"]["files"] == {"model/model.safetensors": _sha(run / "model" / "model.safetensors")}
    assert doc["seed"] == 7 and doc["config"]["train"]["seed"] == 7
    assert doc["resumed"] == {"resumed": False, "from": None}
    assert {"torch", "transformers", "peft", "accelerate", "obliviate_version", "git_sha"} <= set(doc["versions"])
    assert doc["evaluation"] is None and doc["certificate"] is None  # nothing evaluated yet
    assert verify_receipt(run) == []


def test_verify_receipt_names_what_changed(cli, run_with_receipt):
    run, data, model = run_with_receipt
    code, out, _ = cli("verify-receipt", run)
    assert code == 0 and out.startswith("ok:"), out
    with open(run / "model" / "model.safetensors", "ab") as f:
        f.write(b"\0")
    (data / "forget.jsonl").write_text((data / "forget.jsonl").read_text().replace("Lisbon", "Lissabon"))
    code, out, _ = cli("verify-receipt", run)
    assert code == 1, out
    assert "output:" in out and "model.safetensors differs" in out
    assert "forget data" in out and "forget.jsonl differs" in out
    assert "base model" not in out  # untouched


def test_generated_sources_are_hashed_by_their_rows(tmp_path, world_models, tiny_gpt2_dir):
    from obliviate.config import load_config
    from obliviate.receipt import build_receipt

    cfg = load_config(None, [f"model.path={tiny_gpt2_dir}", f"data.forget=[world:{world_models['data']}/forget10]"])
    doc = build_receipt(tmp_path, cfg)
    (entry,) = doc["data"]["forget"]
    assert entry["rows"] > 0 and len(entry["rows_sha256"]) == 64 and "files" not in entry


def test_results_and_verdict_are_recorded_and_checked(run_with_receipt):
    run = run_with_receipt[0]
    (run / "eval.json").write_text(json.dumps({"suite": "custom", "metrics": {"forget_nll": {"value": 2.5}}}))
    (run / "certificate.json").write_text(json.dumps({"verdict": {"status": "informative", "text": "t"}}))
    refresh_results(run)
    doc = json.loads((run / RECEIPT).read_text())
    assert doc["evaluation"]["metrics"] == {"forget_nll": 2.5} and doc["certificate"]["verdict"] == "informative"
    assert verify_receipt(run) == []
    (run / "certificate.json").write_text(json.dumps({"verdict": {"status": "uninformative"}}))
    assert verify_receipt(run) == [f"certificate: {run / 'certificate.json'} differs"]


def test_report_has_a_receipt_section(run_with_receipt, tmp_path):
    from obliviate.report import write_report

    run = run_with_receipt[0]
    html = write_report([run], tmp_path / "report")
    md = html.with_suffix(".md").read_text()
    assert "## Deletion receipt" in md and "verify-receipt" in md
    assert _sha(run / "model" / "model.safetensors")[:12] in md


def test_verify_receipt_without_a_receipt_is_a_clear_error(cli, tmp_path):
    code, _, err = cli("verify-receipt", tmp_path)
    assert code == 2 and err.startswith("error: ") and "receipt.json not found" in err


def test_a_resumed_run_records_its_checkpoint(tmp_path, tiny_gpt2_dir, tiny_data_files):
    from obliviate.config import load_config
    from obliviate.receipt import build_receipt

    cfg = load_config(None, [f"model.path={tiny_gpt2_dir}", f"data.forget=[{tiny_data_files['forget']}]"])
    doc = build_receipt(tmp_path, cfg, resumed=True, resumed_at={"request": 0, "step": 3, "lr": 1e-4})
    assert doc["resumed"] == {"resumed": True, "from": {"request": 0, "step": 3}}


def test_a_hub_base_model_is_hashed_from_the_local_cache(tmp_path, tiny_gpt2_dir, monkeypatch):
    """A hub id's weights are hashed where the run read them: the cached snapshot (files linked into blobs/)."""
    from obliviate.receipt import model_entry

    repo = tmp_path / "hub" / "models--acme--tiny"
    sha = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    (repo / "blobs").mkdir()
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    for f in tiny_gpt2_dir.iterdir():
        blob = repo / "blobs" / _sha(f)
        shutil.copy(f, blob)
        (snapshot / f.name).symlink_to(blob)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    entry = model_entry("acme/tiny")
    weights = snapshot / "model.safetensors"
    assert entry["revision"] == sha and entry["files"] == {str(weights): _sha(tiny_gpt2_dir / "model.safetensors")}
    missing = model_entry("acme/not-cached")
    assert missing["files"] == {} and missing["note"].startswith(
        "neither a local folder nor in the local Hugging Face cache"
    )
