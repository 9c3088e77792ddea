"""Property tests: whatever bytes a data file holds and whatever string an override is, the result is valid or
an ObliviateError (one clear message), never another exception (a traceback for the user)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obliviate.config import RunConfig, load_config, parse_overrides
from obliviate.data.sources import load_rows
from obliviate.errors import ObliviateError

# OBLIVIATE_FUZZ_EXAMPLES=5000 for a longer search; no example database (nothing written into the checkout)
FAST = settings(
    max_examples=int(os.environ.get("OBLIVIATE_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Bytes that are likely to reach deep into the parsers: JSON / JSONL fragments, odd encodings, huge nesting.
_JSONISH = st.sampled_from(
    [b"{", b"}", b"[", b"]", b'"', b":", b",", b"\n", b"null", b"1e999", b"-0", b'"text"', b'"prompt"', b'"answer"',
     b'"question"', b"\xff", b"\xef\xbb\xbf", b"\\u0000", b"\\ud800", b"[" * 2000, b"true", b" ", b"\x00"]
)  # fmt: skip
DATA = st.one_of(st.binary(max_size=300), st.lists(_JSONISH, max_size=40).map(b"".join))


@FAST
@given(data=DATA, suffix=st.sampled_from([".jsonl", ".json", ".txt"]))
def test_any_data_file_loads_or_gives_a_clear_error(data: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"data{suffix}"
        path.write_bytes(data)
        try:
            rows = load_rows(str(path))
        except ObliviateError:
            return
        assert rows and all(isinstance(r, dict) for r in rows)


_OVERRIDE_PARTS = st.sampled_from(
    ["train.lr", "method.args.beta", "data.forget", "=", "!!python/object/apply:os.system", "!!binary", "[", "]",
     "{", "}", ":", ",", "'", '"', "*a", "&a", "%", "null", "~", "1e-4", "10**12", "..", ".", " ", "\t", "\n", "-",
     "output_dir", "lora.r", "0", "-1", "1e999", "nan", "true", "model", "train", "#", "|", ">", "@", "?"]
)  # fmt: skip
OVERRIDE = st.one_of(st.text(max_size=60), st.lists(_OVERRIDE_PARTS, max_size=12).map("".join))


@FAST
@given(item=OVERRIDE)
def test_any_override_parses_or_gives_a_clear_error(item: str):
    try:
        parsed = parse_overrides([item])
    except ObliviateError:
        return
    assert isinstance(parsed, dict)


@FAST
@given(item=OVERRIDE)
def test_any_override_builds_a_config_or_gives_a_clear_error(item: str):
    try:
        cfg = load_config(None, [item])
    except ObliviateError:
        return
    assert isinstance(cfg, RunConfig)
