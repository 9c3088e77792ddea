"""Every runnable example of README.md and docs/*.md runs, so the documentation cannot drift from the code.

Convention:

- A fence tagged ``bash`` or ``python`` is an example that runs. ``console`` / ``text`` / an untagged fence is
  shown, never run (output, synopses with placeholders, equations).
- ``<!-- not-run: reason -->`` on the line right before a ``bash`` / ``python`` fence keeps that block from running
  (an install line, a block that needs your own model). The reason is required.
- ``<!-- slow: reason -->`` there runs the block only with ``-m slow`` (the suite's marker for long runs that a
  faster test covers): whole Reveal-and-Release or tuning runs take minutes of CPU even when shrunk.
- Shell blocks may only hold ``obliviate ...`` commands (``\\`` continues a line, ``#`` starts a comment). They run
  in-process, in order, in a scratch folder holding copies of ``configs/`` and the placeholder inputs the examples
  name (``./my-model``, ``forget.jsonl``, ``f.jsonl``, ``r.jsonl``, ``prompts.txt``, ``words.txt`` ...).

To stay fast, commands run with small overrides, applied here and nowhere else: the built-in world is the test
world (``world:X`` -> ``world:people=60/X``, also inside the copied configs; its models are cached by
``tests/conftest_world.py``), ``train.max_steps`` is 2, ``eval`` computes two metrics, ``certify`` takes 60 rows
per split and 20 permutation / bootstrap replicates, ``reveal`` a budget of 4, Reveal-and-Release one round of 2
steps (``REVEAL_RELEASE``), ``finetune`` 4 steps, ``tune`` 2 trials of 2-3 steps, and ``demo`` / ``world``
commands run on the 60-person world (``demo``: one method, 2 steps). ``./my-model`` is the test world's model
with a chat template (a stand-in for a chat model); ``examples/`` links to the repository's.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest_world import TEST_WORLD

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_TAGS = ("bash", "python")
NOT_RUN = re.compile(r"<!--\s*not-run:\s*\S.*-->")
SLOW = re.compile(r"<!--\s*slow:\s*\S.*-->")


@dataclass
class Block:
    doc: Path
    line: int  # 1-based line of the opening fence
    tag: str
    code: str
    skip: str | None  # the not-run reason
    slow: bool = False

    @property
    def id(self) -> str:
        return f"{self.doc.name}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    """Every fenced block of ``doc`` with its tag and its not-run marker."""
    out, lines = [], doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        prev = lines[i - 1] if i else ""
        skip, slow = NOT_RUN.search(prev), SLOW.search(prev)
        for word, found in (("not-run", skip), ("slow", slow)):
            if f"<!-- {word}" in prev and not found:
                raise AssertionError(f"{doc.name}:{i}: a {word} marker needs a reason: <!-- {word}: why -->")
        code = "\n".join(lines[i + 1 : end])
        out.append(Block(doc, i + 1, m.group(1), code, skip.group(0) if skip else None, slow is not None))
        i = end + 1
    return out


ALL = [b for d in DOCS for b in blocks(d)]
RUNNABLE = [b for b in ALL if b.tag in RUN_TAGS and b.skip is None]


def _world(text: str) -> str:
    """``world:tiny`` -> ``world:people=60/tiny`` (specs that already carry options keep them after the world's)."""
    return re.sub(r"world:(?!people=)", f"world:{TEST_WORLD}/", text)


def commands(code: str) -> list[list[str]]:
    """The ``obliviate`` commands of a shell block as argv lists (continuations joined, comments dropped)."""
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        assert argv[0] == "obliviate", f"shell examples run `obliviate` only; mark this block not-run: {line!r}"
        out.append(argv[1:])
    return out


def small(argv: list[str], scratch: Path) -> list[str]:
    """The overrides that keep an example fast (see the module docstring)."""
    argv = [_world(a) for a in argv]
    cmd = argv[:2] if argv[:1] in (["world"], ["bench"]) else argv[:1]
    if "--help" in argv or cmd in (["bench"], ["methods"]):
        return argv
    if cmd[0] in ("unlearn", "validate", "reveal-release"):
        argv = [a for a in argv if not a.startswith("train.max_steps=")] + ["train.max_steps=2"]
        if cmd[0] == "reveal-release" or "method.name=reveal_release" in argv:
            argv = [a for a in argv if a.split("=", 1)[0] not in REVEAL_RELEASE] + list(REVEAL_RELEASE.values())
    elif cmd[0] == "eval":
        argv += ["--metrics", "forget_acc,forget_nll", "--no-progress", "--no-references"]
    elif cmd[0] == "certify":
        argv = _set_flag(_set_flag(_set_flag(argv, "--n-perm", "20"), "--n-boot", "20"), "--max-rows", "60")
        argv += ["--no-progress"]
    elif cmd[0] == "reveal":
        argv = _set_flag(_set_flag(argv, "--budget", "4"), "--n-init", "2")
    elif cmd[0] == "finetune":
        argv = _set_flag(_set_flag(argv, "--max-steps", "4"), "--check-every", "2") + ["--no-progress"]
    elif cmd[0] == "tune":
        argv = _set_flag(_set_flag(_set_flag(argv, "--trials", "2"), "--steps", "2:3"), "--check-every", "1")
        argv += ["--quiet"]
    elif cmd[0] == "demo":
        argv = [*argv, "--people", "60", "--methods", "graddiff", "--steps", "2", "--no-progress", "--overwrite"]
        argv += [] if "--out" in argv else ["--out", str(scratch / "runs" / "demo")]
    elif cmd == ["world", "build"] or cmd == ["world", "export"] or cmd == ["world", "info"]:
        argv += ["--people", "60"] if "--people" not in argv else []
    return argv


# Reveal-and-Release in miniature: one round of 2 steps after a 4-instruction reveal, no final attack
REVEAL_RELEASE = {
    k: f"{k}={v}"
    for k, v in {
        "method.args.rounds": 1, "method.args.steps": 2, "method.args.reveal.budget": 4,
        "method.args.reveal.n_init": 2, "method.args.final_attack": "false",
    }.items()
}  # fmt: skip


def _set_flag(argv: list[str], flag: str, value: str) -> list[str]:
    if flag in argv:
        i = argv.index(flag)
        return [*argv[: i + 1], value, *argv[i + 2 :]]
    return [*argv, flag, value]


@pytest.fixture
def scratch(tmp_path, monkeypatch, world_models, tiny_data_files, tiny_gpt2_dir):
    """A working folder with the configs (test world) and every placeholder input the examples name."""
    configs = tmp_path / "configs"
    configs.mkdir()
    for f in (ROOT / "configs").glob("*.yaml"):
        (configs / f.name).write_text(_world(f.read_text(encoding="utf-8")), encoding="utf-8")
    shutil.copytree(world_models["full"], tmp_path / "my-model")
    tok_cfg = tmp_path / "my-model" / "tokenizer_config.json"  # examples with data.chat_template=true need one
    chat = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
    tok_cfg.write_text(json.dumps({**json.loads(tok_cfg.read_text()), "chat_template": chat}))
    for name, split in (("forget.jsonl", "forget"), ("f.jsonl", "forget"), ("r.jsonl", "retain")):
        shutil.copy(tiny_data_files[split], tmp_path / name)
    shutil.copy(tiny_data_files["retain"], tmp_path / "retain.jsonl")
    (tmp_path / "prompts.txt").write_text("Tell me about Aria Venn.\nWhere was Moro Tesk born?\n")
    (tmp_path / "words.txt").write_text("Lisbon\nbaker\n")
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # read-only inputs of the own-data walk-through
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_examples_are_found_and_marked():
    assert {b.doc.name for b in RUNNABLE} >= {"README.md"}, "README.md has no runnable example"
    for b in ALL:
        if b.tag in RUN_TAGS and b.skip is None and b.tag == "bash":
            commands(b.code)  # only `obliviate` commands: anything else must be marked not-run


def test_conventions_of_the_checker(tmp_path):
    doc = (
        "intro\n<!-- not-run: installs -->\n```bash\npip install x\n```\n```bash\nobliviate a \\\n  b # c\n```\n"
        "<!-- slow: minutes -->\n```python\nx = 1\n```\n```text\nobliviate z\n```\n"
    )
    path = tmp_path / "probe.md"
    path.write_text(doc)
    found = blocks(path)
    assert [(b.tag, b.skip is not None, b.slow) for b in found] == [
        ("bash", True, False),
        ("bash", False, False),
        ("python", False, True),
        ("text", False, False),
    ]
    assert commands(found[1].code) == [["a", "b"]]
    assert _world("model.path=world:tiny data.forget=[world:forget10]") == (
        f"model.path=world:{TEST_WORLD}/tiny data.forget=[world:{TEST_WORLD}/forget10]"
    )


@pytest.mark.parametrize(
    "block", [pytest.param(b, id=b.id, marks=[pytest.mark.slow] if b.slow else []) for b in RUNNABLE]
)
def test_example_runs(block: Block, scratch, cli_main):
    if block.tag == "python":
        code = re.sub(r"train\.max_steps=\d+", "train.max_steps=2", _world(block.code))
        exec(compile(code, str(block.doc), "exec"), {"__name__": "__docs_example__"})  # noqa: S102
        return
    for argv in commands(block.code):
        run = small(argv, scratch)
        code, out, err = cli_main(run)
        assert code == 0, f"{block.id}: `obliviate {' '.join(argv)}` exited {code}\n{out[-1500:]}\n{err[-3000:]}"
    leftovers = [p for p in scratch.rglob("*.partial")]
    assert not leftovers, leftovers


@pytest.fixture
def cli_main(capsys):
    from obliviate.cli import main

    def run(argv: list[str]) -> tuple[int, str, str]:
        try:
            code = main(argv)
        except SystemExit as e:  # --help
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run
