"""The unlearn pipeline: run-dir layout, reload, output-dir rules, bad input, NaN guard + resume, continual runs."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM

from obliviate.api import unlearn, validate, work_dir
from obliviate.config import load_config
from obliviate.errors import ObliviateError
from obliviate.methods.base import RetainTerm
from obliviate.train import loop


def _cfg(run_overrides, arch="gpt2", **kw):
    return load_config(None, run_overrides(arch, **kw))


def test_run_dir_layout_and_reload_gives_identical_logits(run_overrides, tmp_path):
    res = unlearn(_cfg(run_overrides, train__max_steps=4, train__log_every=2), progress=False)
    out = tmp_path / "run"
    assert res.run_dir == out and res.model_dir == out / "model"
    # receipt.json: the deletion receipt every run folder carries (issue 13)
    assert sorted(p.name for p in out.iterdir()) == [
        "config.yaml", "model", "receipt.json", "summary.json", "train_log.jsonl"
    ]  # fmt: skip
    assert not work_dir(out).exists()
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["method"]["name"] == "graddiff" and "obliviate_version" in saved and "git_sha" in saved
    assert load_config(out / "config.yaml").train.max_steps == 4  # a saved config is a valid preset
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["steps"] == 4 and len(summary["requests"]) == 1
    assert [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()] == [2, 4]
    assert (out / "model" / "model.safetensors").is_file() and (out / "model" / "tokenizer.json").is_file()
    reloaded = AutoModelForCausalLM.from_pretrained(out / "model")
    ids = torch.tensor([[5, 17, 42, 99, 7, 3]])
    with torch.no_grad():
        assert torch.equal(res.model(input_ids=ids).logits, reloaded(input_ids=ids).logits)


def test_output_dir_rules(run_overrides, tmp_path):
    unlearn(_cfg(run_overrides, train__max_steps=1), progress=False)
    with pytest.raises(ObliviateError, match=r"already exists; pass --overwrite .* --resume"):
        unlearn(_cfg(run_overrides), progress=False)
    done = unlearn(_cfg(run_overrides, resume=True), progress=False)  # complete run: nothing to do
    assert done.model is None and done.summary["steps"] == 1
    res = unlearn(_cfg(run_overrides, train__max_steps=2, overwrite=True), progress=False)
    assert res.summary["steps"] == 2
    with pytest.raises(ObliviateError, match="choose one"):
        unlearn(_cfg(run_overrides, overwrite=True, resume=True), progress=False)
    with pytest.raises(ObliviateError, match="contains the current folder"):
        unlearn(_cfg(run_overrides, output_dir=".", overwrite=True), progress=False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"method__name": "npoo"}, r"unknown method 'npoo'\. Did you mean 'npo'"),
        (
            {"method__args__bta": 0.2, "method__name": "npo"},
            r"unknown config key 'method.args.bta'. Did you mean 'beta'",
        ),
        ({"model__path": "/nonexistent/model-dir"}, r"model path '/nonexistent/model-dir' does not exist"),
        ({"train__scheduler": "step"}, r"train.scheduler must be one of"),
        ({"lora__enabled": True, "lora__output": "both"}, r"lora.output must be one of"),
        ({"data__retain": "null"}, r"needs retain data; set data.retain"),
    ],
)
def test_bad_input_fails_before_writing_anything(run_overrides, tmp_path, extra, message):
    with pytest.raises(ObliviateError, match=message):
        unlearn(_cfg(run_overrides, **extra), progress=False)
    assert not (tmp_path / "run").exists() and not work_dir(tmp_path / "run").exists()


def test_nonfinite_loss_keeps_checkpoint_in_the_partial_run(run_overrides, tmp_path):
    # lr 0 on step 1 (warmup), then an absurd lr blows the weights up at step 2; the loss is NaN at step 3.
    kw = {"train__lr": 1e30, "train__warmup_steps": 3, "train__scheduler": "linear", "train__clip_grad": 0}
    cfg = _cfg(run_overrides, train__max_steps=5, train__save_every=1, **kw)
    with pytest.raises(loop.NonFiniteLossError, match=r"non-finite \w+ \(nan\) at step 3 of 5 .*\(step 2\)\. Lower"):
        unlearn(cfg, progress=False)
    work = work_dir(tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert json.loads((work / "summary.json").read_text())["status"] == "failed"
    assert json.loads((work / "checkpoints" / "last" / "meta.json").read_text())["step"] == 2
    with pytest.raises(ObliviateError, match="interrupted run exists .* --resume .* --overwrite"):
        unlearn(_cfg(run_overrides), progress=False)
    assert unlearn(_cfg(run_overrides, overwrite=True), progress=False).summary["status"] == "ok"


def test_lora_adapter_output(run_overrides, tmp_path):
    from peft import PeftModel

    res = unlearn(_cfg(run_overrides, "llama", lora__enabled=True, lora__output="adapter", method__name="npo"),
                  progress=False)  # fmt: skip
    assert res.model_dir.name == "adapter" and (res.model_dir / "adapter_model.safetensors").is_file()
    base = AutoModelForCausalLM.from_pretrained(
        yaml.safe_load((res.run_dir / "config.yaml").read_text())["model"]["path"]
    )
    reloaded = PeftModel.from_pretrained(base, res.model_dir)
    ids = torch.tensor([[5, 17, 42, 99]])
    with torch.no_grad():
        assert torch.allclose(res.model(input_ids=ids).logits, reloaded(input_ids=ids).logits, atol=1e-6)
    assert res.summary["trainable_parameters"]["trainable"] < res.summary["trainable_parameters"]["total"]


class _Kill(Exception):
    pass


def test_continual_requests_and_resume_mid_request(run_overrides, tiny_data_files, tmp_path, monkeypatch):
    files = tiny_data_files
    two = f"[{files['forget']},{files['holdout']}]"
    kw = {"data__forget": two, "train__max_steps": 4, "train__save_every": 1, "stop_check_every": 2}
    full = unlearn(_cfg(run_overrides, **kw, output_dir=tmp_path / "full"), progress=False)
    reqs = full.summary["requests"]
    assert [r["request"] for r in reqs] == [0, 1] and full.summary["steps"] == 8
    assert {"retain_acc_start", "retain_acc_end", "retain_acc_checks"} <= set(reqs[1])

    real_step = loop._optimizer_step

    def killing_step(ctx, step):  # "kill" the process in request 1, after step 2 was checkpointed
        if ctx.request == 1 and step == 2:
            raise _Kill
        return real_step(ctx, step)

    monkeypatch.setattr(loop, "_optimizer_step", killing_step)
    with pytest.raises(_Kill):
        unlearn(_cfg(run_overrides, **kw), progress=False)
    monkeypatch.setattr(loop, "_optimizer_step", real_step)
    res = unlearn(_cfg(run_overrides, **kw, resume=True), progress=False)
    assert [r["steps"] for r in res.summary["requests"]] == [4, 4]
    a, b = full.model.state_dict(), res.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert res.summary["requests"][1]["retain_acc_start"] == reqs[1]["retain_acc_start"]


def test_validate_reports_without_training(run_overrides, tmp_path):
    report = validate(_cfg(run_overrides, data__max_length=8))
    assert report["requests"][0]["rows"] == 6 and report["requests"][0]["truncated"] > 0
    assert report["retain"]["rows"] == 15 and report["options"]["gamma"] == 1.0
    assert report["output"]["status"] == "new" and not (tmp_path / "run").exists()


@dataclasses.dataclass
class _Inner:
    retain: RetainTerm = dataclasses.field(default_factory=lambda: RetainTerm(kind="kl", weight=2.0))
    beta: float = 0.5


@dataclasses.dataclass
class _Outer:
    inner: _Inner = dataclasses.field(default_factory=lambda: _Inner(beta=0.25))
    steps: int = 3


def test_method_options_take_nested_defaults_from_the_parent_field():
    from obliviate.cli.unlearn import method_options

    opts = {o["name"]: o["default"] for o in method_options(_Outer)}
    assert opts == {"inner.retain.kind": "'kl'", "inner.retain.weight": "2.0", "inner.beta": "0.25", "steps": "3"}
