"""The generic registry and the method registry: one decorator per method, every method module registered."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from obliviate.registry import Registry


def test_register_get_and_suggest():
    reg: Registry[int] = Registry("scorer")
    reg.register("alpha", kind="x")(1)
    reg.register("beta")(2)
    assert reg.get("alpha") == 1 and reg.meta("alpha") == {"kind": "x"} and reg.names() == ["alpha", "beta"]
    assert "beta" in reg and list(reg) == ["alpha", "beta"] and len(reg) == 2
    with pytest.raises(KeyError, match=r"unknown scorer 'alpah'. Did you mean 'alpha'\? Known: alpha, beta"):
        reg.get("alpah")


def test_names_are_validated_unique_and_freezable():
    reg: Registry[int] = Registry("metric")
    with pytest.raises(ValueError, match="must be lowercase"):
        reg.register("Bad Name")
    reg.register("a")(1)
    reg.register("a")(1)  # re-registering the same object is harmless (module reload)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(2)
    reg.freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        reg.register("b")(3)


def test_importing_the_package_registers_every_method_file():
    # A fresh interpreter that only runs `import obliviate.methods`: a method file whose import line is missing
    # from methods/__init__.py is not registered there (importing the files here first would hide that).
    import obliviate.methods as pkg

    files = sorted(Path(pkg.__path__[0]).glob("*.py"))
    declared = {f.stem: re.findall(r'@register_method\("([a-z0-9_]+)"', f.read_text()) for f in files}
    method_files = {stem: names for stem, names in declared.items() if names}
    assert len(method_files) >= 10, "method files not found"
    code = "import json, obliviate.methods as m; print(json.dumps(m.METHODS.names()))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    registered = set(json.loads(proc.stdout))
    for stem, names in method_files.items():
        assert names == [stem], f"methods/{stem}.py must register exactly '{stem}' (found {names})"
        assert stem in registered, f"methods/{stem}.py is not imported in methods/__init__.py"


def test_registered_methods_follow_the_protocol():
    from obliviate.cli.unlearn import describe_methods, method_options
    from obliviate.methods import METHODS

    for name in METHODS.names():
        cls = METHODS.get(name)
        assert dataclasses.is_dataclass(cls.Config), name
        method = cls(cls.Config())
        for attr in ("needs_reference", "needs_retain", "needs_alt"):
            assert isinstance(getattr(method, attr), bool), f"{name}.{attr}"
        assert callable(method.loss)
        assert all(o["name"] and o["type"] for o in method_options(cls.Config))
    assert [m["name"] for m in describe_methods()] == METHODS.names()
