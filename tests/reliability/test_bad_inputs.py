"""Bad input gives exit 2, one ``error:`` line that names the problem and the fix, no traceback, and leaves no run
folder (nor a ``.partial``) behind. The checks run before training starts."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from reliability_kit import assert_one_error

from obliviate.errors import ObliviateError


def _nothing_written(tmp_path: Path) -> None:
    left = [p.name for p in tmp_path.iterdir() if p.name == "run" or p.name.startswith(".run")]
    assert left == [], left


def test_non_utf8_data_file(cli, run_overrides, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"text": "caf\xe9 \xff"}\n')
    code, _, err = cli("unlearn", "--quiet", *run_overrides(data__forget=f"[{bad}]"))
    assert_one_error(code, err, "not UTF-8", "bad.jsonl", "re-save")
    _nothing_written(tmp_path)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _break_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[8:20] = b"not-json-at!"  # the 8-byte length prefix stays; the JSON header after it does not parse
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _break_header], ids=["truncated", "bad-header"])
def test_damaged_safetensors_unlearn(cli, run_overrides, model_copy, tmp_path, damage):
    model = model_copy()
    damage(model / "model.safetensors")
    code, _, err = cli("unlearn", "--quiet", *run_overrides(model__path=model))
    assert_one_error(code, err, "model.safetensors", "damaged")
    _nothing_written(tmp_path)


@pytest.mark.parametrize("damage", [_truncate, _break_header], ids=["truncated", "bad-header"])
def test_damaged_safetensors_eval(cli, model_copy, tiny_data_files, tmp_path, damage):
    model = model_copy()
    damage(model / "model.safetensors")
    out = tmp_path / "eval"
    code, _, err = cli(
        "eval", "--model", model, "--suite", "custom", "--forget", tiny_data_files["forget"], "--out", out,
        "--no-progress", "--metrics", "forget_nll",
    )  # fmt: skip
    assert_one_error(code, err, "damaged")
    assert not (out / "eval.json").exists()


def test_non_finite_weights_under_an_intact_header(cli, run_overrides, model_copy, tmp_path):
    model = model_copy()
    path = model / "model.safetensors"
    data = bytearray(path.read_bytes())
    header = struct.unpack("<Q", data[:8])[0]
    data[8 + header + 64 : 8 + header + 96] = b"\xff" * 32  # fp32 0xffffffff is NaN; the header is untouched
    path.write_bytes(bytes(data))
    code, _, err = cli("unlearn", "--quiet", *run_overrides(model__path=model))
    assert_one_error(code, err, "non-finite weight", "corrupted")
    _nothing_written(tmp_path)


def test_rows_longer_than_the_position_limit(cli, run_overrides, tmp_path):
    long = tmp_path / "long.jsonl"
    long.write_text('{"prompt": "' + "Where was Aria Venn born? " * 40 + '", "answer": " Lisbon."}\n')
    # the tiny GPT-2 reads 128 positions; data.max_length=1024 lets the ~300-token row through tokenisation
    code, _, err = cli("unlearn", "--quiet", *run_overrides(data__forget=f"[{long}]", data__max_length=1024))
    assert_one_error(code, err, "128 positions", "data.max_length=128")
    _nothing_written(tmp_path)


def test_logits_that_cannot_fit_in_memory(monkeypatch, tiny_gpt2, tiny_rows):
    from obliviate import models
    from obliviate.data.collate import tokenize_rows

    model, tok = tiny_gpt2
    ex, _ = tokenize_rows(tiny_rows["forget"], tok, max_length=64)
    data = type("D", (), {"forget": ex, "retain": None, "holdout": None})()
    models.check_fits(model, [data], 64, batch_size=8)  # fits
    monkeypatch.setattr(models, "_memory_bytes", lambda: 2**30)  # a 1 GiB machine
    with pytest.raises(ObliviateError, match=r"train.batch_size=60000 needs at least \d+ GiB .* this machine has 1"):
        models.check_fits(model, [data], 64, batch_size=60000)


@pytest.mark.parametrize("key", ["train.max_steps", "train.batch_size"])
def test_absurd_sizes_are_refused_before_loading(cli, run_overrides, tmp_path, key):
    # the model path does not exist: the size check must come first to be the error shown
    args = [*run_overrides(model__path=tmp_path / "no-such-model"), f"{key}={10**12}"]
    code, _, err = cli("unlearn", "--quiet", *args)
    assert_one_error(code, err, key, "1000000000000")
    _nothing_written(tmp_path)


def test_python_tag_in_an_override(cli, run_overrides, tmp_path):
    marker = tmp_path / "pwned"
    tag = f'train.lr=!!python/object/apply:os.system ["touch {marker}"]'
    code, _, err = cli("unlearn", "--quiet", *run_overrides(), tag)
    assert_one_error(code, err, "YAML tag", "plain value")
    assert not marker.exists()
    _nothing_written(tmp_path)


def _pickle_copy(model_copy, name: str, payload=None) -> Path:
    """A model folder whose weights are a pickle ``pytorch_model.bin`` (the tiny model's, or ``payload``)."""
    from safetensors.torch import load_file

    model = model_copy(name)
    st = model / "model.safetensors"
    torch.save(load_file(st) if payload is None else payload, model / "pytorch_model.bin")
    st.unlink()
    return model


def test_pickle_weights_refused_unless_allowed(cli, run_overrides, model_copy, tmp_path, caplog):
    model = _pickle_copy(model_copy, "pickled")
    code, _, err = cli("unlearn", "--quiet", *run_overrides(model__path=model))
    assert_one_error(code, err, "pickle", "model.allow_pickle=true")
    _nothing_written(tmp_path)
    with caplog.at_level("WARNING", logger="obliviate.models"):
        code, _, err = cli("unlearn", "--quiet", *run_overrides(model__path=model, model__allow_pickle="true"))
    assert code == 0, err
    assert any("pickle" in r.getMessage() for r in caplog.records), "allow_pickle must still warn"


class _Gadget:
    def __reduce__(self):
        return (os.getcwd, ())  # harmless, but not a tensor: torch's weights-only loader refuses it


def test_pickle_torch_refuses_is_a_clear_error(cli, run_overrides, model_copy, tmp_path):
    model = _pickle_copy(model_copy, "gadget", payload={"w": _Gadget()})
    code, _, err = cli("unlearn", "--quiet", *run_overrides(model__path=model, model__allow_pickle="true"))
    assert_one_error(code, err, "torch refused the pickle weights", "safetensors")
    _nothing_written(tmp_path)


def test_eval_batch_size_zero(cli, tiny_gpt2_dir, tiny_data_files, tmp_path):
    out = tmp_path / "eval"
    code, _, err = cli(
        "eval", "--model", tiny_gpt2_dir, "--suite", "custom", "--forget", tiny_data_files["forget"],
        "--out", out, "--batch-size", "0",
    )  # fmt: skip
    assert_one_error(code, err, "batch_size", ">= 1")
    assert not out.exists()


def test_world_export_out_is_a_file(cli, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    for extra in ([], ["--overwrite"]):
        code, _, err = cli("world", "export", "--people", "20", "--out", target, *extra)
        assert_one_error(code, err, "is a file")
        assert target.read_text() == "mine\n"  # never replaced, with --overwrite either


@pytest.mark.parametrize("argv", [["methods"], ["eval", "--list"]])
def test_listing_into_a_closed_pipe_exits_quietly(argv):
    read, write = os.pipe()
    os.close(read)  # the reader (`head`) is already gone: the first write gets EPIPE
    code = f"import sys; from obliviate.cli import main; sys.exit(main({argv!r}))"
    proc = subprocess.run([sys.executable, "-c", code], stdout=write, stderr=subprocess.PIPE, timeout=300)
    os.close(write)
    assert proc.stderr == b""  # no traceback, no "Exception ignored" at interpreter exit
    assert proc.returncode in (0, 141)  # 141 = 128 + SIGPIPE, what `yes | head` leaves
