"""Light commands start fast: the method modules and the types import no torch at module level.

``obliviate methods`` needs each method's name, Config dataclass and docstring only; importing torch costs about
2.5 s of CPU. Method modules therefore import torch, :mod:`obliviate.losses` and :mod:`obliviate.utils.dist`
inside the functions that compute (``nn`` / ``torch`` annotations under ``TYPE_CHECKING``).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "obliviate"
HEAVY = ("torch", "obliviate.losses", "obliviate.utils.dist")


def _module_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import that runs when ``path`` is imported (not in functions, not TYPE_CHECKING)."""
    out: list[tuple[int, str]] = []

    def visit(stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if isinstance(s, ast.Import):
                out.extend((s.lineno, a.name) for a in s.names)
            elif isinstance(s, ast.ImportFrom):
                base = s.module or ""
                out.extend((s.lineno, f"{base}.{a.name}" if base == "obliviate" else base) for a in s.names)
            elif isinstance(s, ast.If):
                if not (isinstance(s.test, ast.Name) and s.test.id == "TYPE_CHECKING"):
                    visit(s.body)
                visit(s.orelse)
            elif isinstance(s, ast.Try | ast.With):
                visit(s.body)
            elif isinstance(s, ast.ClassDef | ast.FunctionDef):  # decorators run at import: @torch.no_grad()
                for d in s.decorator_list:
                    name = ast.unparse(d)
                    if name.startswith("torch."):
                        out.append((d.lineno, "torch"))
                if isinstance(s, ast.ClassDef):
                    visit(s.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return out


def _heavy(path: Path) -> list[str]:
    return [f"{path.name}:{line} {m}" for line, m in _module_level_imports(path) if m.split(".")[0] == "torch"
            or any(m == h or m.startswith(h + ".") for h in HEAVY)]  # fmt: skip


def test_checker_sees_module_level_torch(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
        "from obliviate import losses\nclass A:\n    @torch.no_grad()\n    def f(self):\n        import torch\n"
    )
    assert _heavy(f) == ["m.py:4 obliviate.losses", "m.py:6 torch"]


@pytest.mark.parametrize(
    "path",
    [SRC / "types.py", *sorted((SRC / "methods").glob("*.py"))],
    ids=lambda p: p.name,
)
def test_method_modules_import_no_torch_at_module_level(path):
    assert not _heavy(path), "import these inside the functions that compute:\n" + "\n".join(_heavy(path))


def test_light_commands_import_no_torch(run_overrides):
    """``--help``, ``methods`` (every option of every method and pipeline) and ``validate`` (config, tokenizer and
    data) run without importing torch: start-up under 2 s on 2 cores."""
    code = (
        "import sys; from obliviate.cli import main\n"
        "for argv in (['--help'], ['methods'], ['validate', *sys.argv[1:]]):\n"
        "    try:\n        rc = main(argv)\n    except SystemExit as e:\n        rc = e.code\n"
        "    assert rc == 0, (argv, rc)\n"
        "print('torch loaded' if 'torch' in sys.modules else 'no torch')\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code, *run_overrides(data__max_length=8)], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("no torch"), proc.stdout + proc.stderr
