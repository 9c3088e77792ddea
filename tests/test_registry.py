"""The generic registry and the method registry: one decorator per method, every method module registered."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

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


def test_every_method_module_registers_its_own_name():
    import obliviate.methods as pkg
    from obliviate.methods import METHODS

    modules = [
        m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name not in ("base",) and not m.name.startswith("_")
    ]
    assert modules, "no method modules found"
    for name in modules:
        importlib.import_module(f"obliviate.methods.{name}")
        assert name in METHODS, f"methods/{name}.py must register '{name}' and be imported in methods/__init__.py"


def test_registered_methods_follow_the_protocol():
    from obliviate.api import describe_methods, method_options
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
