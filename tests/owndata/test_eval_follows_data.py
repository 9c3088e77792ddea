"""The eval suite follows the data: own files never get world splits mixed in; missing sets are named; a
non-terminal stdout gets a Markdown table."""

from __future__ import annotations

import io

from rich.console import Console

from obliviate.eval.runner import SPLIT_HINT
from obliviate.eval.suites import data_specs, get_suite
from obliviate.eval.summary import print_summary


def test_own_forget_file_mixes_in_no_world_split():
    world = get_suite("world")
    assert data_specs(world, None, {"forget": "mine/forget.jsonl"}) == {"forget": "mine/forget.jsonl"}
    own = data_specs(world, None, {"forget": "f.jsonl", "holdout": "h.jsonl"})
    assert own == {"forget": "f.jsonl", "holdout": "h.jsonl"}
    rows = [{"prompt": "Q", "answer": "A"}]
    assert data_specs(world, None, {"forget": rows}) == {"forget": rows}
    # world data keep the world's other splits
    assert data_specs(world, None, {"forget": "world:forget05"})["holdout"].startswith("world:")
    assert data_specs(world, None, {})["general"] == "world:general"


def test_missing_sets_say_what_to_give():
    assert "--holdout FILE or run `obliviate prepare`" in SPLIT_HINT["holdout"]
    assert "--general FILE" in SPLIT_HINT["general"]


def _doc() -> dict:
    entry = {
        "status": "ok",
        "value": 0.5,
        "note": "",
        "split": "forget",
        "higher_is_better": False,
        "format": "percent",
    }
    skipped = {**entry, "status": "skipped", "value": None, "note": SPLIT_HINT["holdout"], "split": "forget/holdout"}
    return {"suite": "world", "model": "runs/x", "time_s": 1.0, "reference_metrics": {},
            "metrics": {"forget_acc": entry, "privleak": skipped}}  # fmt: skip


def test_non_terminal_table_is_markdown():
    buf = io.StringIO()
    print_summary(_doc(), Console(file=buf, force_terminal=False, width=40))
    lines = buf.getvalue().splitlines()
    assert lines[2].startswith("| metric | split |") and set(lines[3]) <= set("|- ")
    assert lines[4].startswith("| forget_acc | forget |")
    assert lines[5].startswith("| privleak |") and "| skipped |" in lines[5] and "obliviate prepare" in lines[5]
    assert all(len(line.split("|")) == len(lines[2].split("|")) for line in lines[2:])
