"""The package's shape: layers import one way, applications stay on top, no import cycle runs at import time.

The layer contracts live in ``pyproject.toml`` (``[tool.importlinter]``); they count every import, lazy ones inside
functions included. The cycle check looks at the imports Python executes while importing a module (module body,
``if``/``try``/``with`` blocks at top level; not function bodies, not ``if TYPE_CHECKING``).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def _lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert cmd, "lint-imports not found: pip install -e '.[test]'"
    proc = subprocess.run(
        [cmd, "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, f"import contracts broken:\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}"
    return proc.stdout


def test_import_contracts_hold():
    out = _lint_imports()
    assert "0 broken" in out


def test_every_top_level_module_has_a_layer():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    named = {m.strip(" ()") for layer in layers for m in layer.split(":")}
    package = SRC / "obliviate"
    top = {f"obliviate.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    top |= {f"obliviate.{p.name}" for p in package.iterdir() if (p / "__init__.py").is_file()}
    missing = sorted(top - named)
    assert not missing, f"add these modules to a layer in pyproject.toml [tool.importlinter]: {missing}"


def _module_level_lines(module: str) -> set[int]:
    """Line numbers of the import statements that run when ``module`` is imported."""
    path = SRC / module.replace(".", "/")
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    lines: set[int] = set()

    def visit(stmts: list[ast.stmt]) -> None:
        for s in stmts:
            if isinstance(s, ast.Import | ast.ImportFrom):
                lines.add(s.lineno)
            elif isinstance(s, ast.If):
                if not (isinstance(s.test, ast.Name) and s.test.id == "TYPE_CHECKING"):
                    visit(s.body)
                visit(s.orelse)
            elif isinstance(s, ast.Try):
                visit(s.body + s.orelse + s.finalbody + [x for h in s.handlers for x in h.body])
            elif isinstance(s, ast.With):
                visit(s.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return lines


def _import_time_graph() -> dict[str, set[str]]:
    g = grimp.build_graph("obliviate", include_external_packages=False, exclude_type_checking_imports=True)
    adj: dict[str, set[str]] = {}
    for m in g.modules:
        top = _module_level_lines(m)
        adj[m] = {
            i
            for i in g.find_modules_directly_imported_by(m)
            if any(d["line_number"] in top for d in g.get_import_details(importer=m, imported=i))
        }
    return adj


def _cycles(adj: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(adj):
        if start in index:
            continue
        work = [(start, iter(sorted(adj[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(adj[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_cycle():
    # the checker itself: a planted two-module cycle and a self-contained chain
    assert _cycles({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_time_cycle_in_src():
    cycles = _cycles(_import_time_graph())
    assert not cycles, "import cycles (module-level imports):\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_importing_methods_loads_no_application():
    code = (
        "import sys, obliviate.methods\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith(('obliviate.reveal', 'obliviate.world'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert proc.stdout.strip() == "", f"import obliviate.methods loaded: {proc.stdout.split()}"
