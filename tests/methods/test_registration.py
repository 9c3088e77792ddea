"""Every method module is registered through one import line, and follows the one-file method contract."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pathlib

import pytest

import obliviate.methods
from obliviate.config import from_dict
from obliviate.methods import METHODS

METHODS_DIR = pathlib.Path(obliviate.methods.__file__).parent
MODULES = sorted(p.stem for p in METHODS_DIR.glob("*.py") if p.stem not in ("__init__", "base"))


def imported_in_init() -> set[str]:
    """Method modules imported by ``methods/__init__.py`` (``from obliviate.methods import x`` or ``import ...x``)."""
    tree = ast.parse((METHODS_DIR / "__init__.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "obliviate.methods":
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("obliviate.methods."):
            names.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith("obliviate.methods."))
    return names


def test_methods_folder_is_not_empty() -> None:
    assert MODULES, f"no method modules found in {METHODS_DIR}"


@pytest.mark.parametrize("module", MODULES)
def test_module_is_imported_and_registered(module: str) -> None:
    assert module in imported_in_init(), f"add `{module}` to the imports in src/obliviate/methods/__init__.py"
    assert module in METHODS, f"methods/{module}.py must register itself as @register_method({module!r})"
    assert METHODS.get(module).__module__ == f"obliviate.methods.{module}", "file name = registry key"


def test_every_registered_method_has_its_own_file() -> None:
    assert set(METHODS.names()) <= set(MODULES)


@pytest.mark.parametrize("name", METHODS.names())
def test_method_contract(name: str) -> None:
    """Config dataclass that builds from no options; needs_* flags; docstring with an arXiv link; <= 150 lines."""
    cls = METHODS.get(name)
    assert dataclasses.is_dataclass(cls.Config), f"{name}.Config must be a dataclass"
    method = cls(from_dict(cls.Config, {}, "method.args"))
    for flag in ("needs_reference", "needs_retain", "needs_alt"):
        assert isinstance(getattr(method, flag), bool), f"{name}.{flag} must be a bool"
    assert callable(method.loss)
    module = importlib.import_module(f"obliviate.methods.{name}")
    doc = (module.__doc__ or "").lower()
    assert "arxiv" in doc or "huggingface.co/papers" in doc, f"{name}: the module docstring must cite the paper"
    lines = (METHODS_DIR / f"{name}.py").read_text().count("\n")
    assert lines <= 150, f"methods/{name}.py has {lines} lines; one method = one file <= 150 lines"
