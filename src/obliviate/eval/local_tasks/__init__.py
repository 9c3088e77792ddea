"""Offline probes of a model's general abilities, shipped with the package (see ``README.md`` in this folder).

Hand-written look-alikes in the format of ARC-Easy, PIQA and HellaSwag (40 items each, answer positions balanced)
and about 3,700 words of encyclopedic text (``general_text.txt``, one paragraph per line). They are NOT the real
benchmarks: their scores are not comparable to published ones, they only track how an unlearning run changes a
model's general abilities without network access.

The lm-eval-harness passes a task's ``data_files`` to ``datasets.load_dataset`` as given, so a relative path would
resolve against the current directory; :func:`local_task_dir` therefore writes the task YAMLs with the absolute
path of the installed jsonl files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from obliviate.utils.cache import cache_root, cached_dir

HERE = Path(__file__).resolve().parent
_METRICS = """metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""
# harness task -> (jsonl file, prompt lines mirroring the harness's own arc_easy / piqa / hellaswag YAMLs)
TASKS: dict[str, tuple[str, str]] = {
    "obliviate_arc_easy_local": (
        "arc_easy_local.jsonl",
        'doc_to_text: "Question: {{question}}\\nAnswer:"\ndoc_to_choice: "{{choices}}"\ndoc_to_target: "{{label}}"\n',
    ),
    "obliviate_piqa_local": (
        "piqa_local.jsonl",
        'doc_to_text: "Question: {{goal}}\\nAnswer:"\ndoc_to_choice: "{{[sol1, sol2]}}"\ndoc_to_target: "{{label}}"\n',
    ),
    "obliviate_hellaswag_local": (
        "hellaswag_local.jsonl",
        'doc_to_text: "{{activity_label}}: {{ctx}}"\ndoc_to_choice: "{{endings}}"\ndoc_to_target: "{{label}}"\n',
    ),
}


def task_yaml(task: str) -> str:
    """The lm-eval YAML of local ``task``, its data file given by absolute path (JSON-quoted: valid YAML)."""
    data, prompt = TASKS[task]
    head = (
        f"task: {task}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {json.dumps(str(HERE / data))}\n"
    )
    return head + "test_split: test\noutput_type: multiple_choice\n" + prompt + _METRICS


def _write(dest: Path) -> None:
    for task in TASKS:
        (dest / f"{task}.yaml").write_text(task_yaml(task))


def local_task_dir(dest: str | Path | None = None) -> Path:
    """A folder holding the three local task YAMLs (pass it as lm-eval's ``include_path``).

    Args:
        dest: write the YAMLs there (created when missing); by default a folder under the obliviate cache named by
            a hash of the YAMLs, built once (atomically) and reused.
    """
    if dest is not None:
        Path(dest).mkdir(parents=True, exist_ok=True)
        _write(Path(dest))
        return Path(dest)
    digest = hashlib.sha256("".join(task_yaml(t) for t in TASKS).encode()).hexdigest()[:16]
    return cached_dir(cache_root() / f"lm_eval_local_tasks-{digest}", _write, marker=".complete")


def task_rows(task: str) -> list[dict[str, Any]]:
    """The documents of local ``task`` (its jsonl rows)."""
    lines = (HERE / TASKS[task][0]).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def general_paragraphs() -> list[str]:
    """The paragraphs of ``general_text.txt`` (one per non-empty line)."""
    lines = (HERE / "general_text.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]
