"""One registry of source prefixes: every consumer (rows, model paths, pools, tasks, suites) resolves through it,
unknown prefixes fail with the known ones listed, and the applications register only when their plugin loads."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields

import pytest

from obliviate import resolvers
from obliviate.errors import ObliviateError
from obliviate.resolvers import CAPABILITIES, Resolver, lookup, split_spec


def test_capabilities_name_every_resolver_field():
    assert set(CAPABILITIES) == {f.name for f in fields(Resolver)} - {"description"}


def test_split_spec(tmp_path, monkeypatch):
    assert split_spec("world:forget10") == ("world", "forget10")
    assert split_spec("task:toxicity/test:50") == ("task", "toxicity/test:50")
    for plain in ("data/forget.jsonl", "gpt2", "HuggingFaceTB/SmolLM2-135M", "owner/name:config@train", "C:x"):
        assert split_spec(plain) is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "odd:name.jsonl").write_text("{}\n")
    assert split_spec("odd:name.jsonl") is None  # an existing local file wins over a prefix reading


def test_unknown_prefix_lists_the_known_ones():
    with pytest.raises(ObliviateError, match=r"unknown source prefix 'wrold:'.*muse:.*task:.*tofu:.*world:"):
        lookup("wrold:forget10", "rows")


def test_missing_capability_names_the_prefixes_that_have_it():
    with pytest.raises(ObliviateError, match=r"'tofu:' provides no model paths.*task:, world:"):
        lookup("tofu:data/tofu/forget10", "model_path")
    assert lookup("tofu:data/tofu/forget10", "task", required=False) is None
    assert lookup("plain.jsonl", "rows") is None
    with pytest.raises(ValueError, match="unknown resolver capability"):
        lookup("world:forget10", "weights")


def test_registered_prefix_reaches_every_consumer(tmp_path, monkeypatch):
    """A third-party prefix registered once serves load_rows, model paths and instruction pools."""
    from obliviate.data import load_rows
    from obliviate.models import resolve_path
    from obliviate.reveal.pool import load_pool

    monkeypatch.setattr(resolvers, "RESOLVERS", type(resolvers.RESOLVERS)("source prefix"))
    rows = [{"question": "Who?", "answer": "Ada"}, {"text": "plain text"}]
    resolvers.register_resolver(
        "mine",
        Resolver(
            "a test source",
            rows=lambda rest: rows * int(rest),
            model_path=lambda rest: tmp_path / rest,
            pool=lambda rest, seed: [f"{rest} {seed}", f"{rest} {seed}"],
        ),  # fmt: skip
    )
    loaded = load_rows("mine:2")
    assert len(loaded) == 4 and loaded[0]["prompt"] == "Who?" and loaded[1] == {"text": "plain text"}
    assert resolve_path("mine:model") == str(tmp_path / "model")
    assert load_pool("mine:go", seed=3) == ["go 3"]  # deduplicated like every pool


def test_importing_the_core_registers_no_application():
    code = (
        "import sys; import obliviate.data, obliviate.models, obliviate.eval.suites, obliviate.methods\n"
        "from obliviate.resolvers import RESOLVERS\n"
        "print(sorted(RESOLVERS.names()), sorted(m for m in sys.modules if m.startswith(('obliviate.world', "
        "'obliviate.reveal'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['muse', 'tofu'] []"


def test_plugins_load_on_first_lookup():
    code = (
        "import sys; from obliviate.data import load_rows; rows = load_rows('world:people=40/forget10')\n"
        "from obliviate.resolvers import RESOLVERS\n"
        "print(len(rows) > 0, 'world' in RESOLVERS, 'obliviate.reveal' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "True True False"  # the plugin named like the prefix is enough: Reveal stays unloaded
