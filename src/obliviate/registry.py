"""One generic name -> object registry (methods, metrics, scorers, policies all use it).

Names are lowercase, unique, and lookups of unknown names fail with a close-name suggestion.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


class Registry(Generic[T]):
    """A typed dict of named objects filled by a decorator at the definition site."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._frozen = False

    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator: ``@REGISTRY.register("npo")`` stores the object under ``name`` with optional metadata."""
        if not _NAME.match(name):
            raise ValueError(f"{self.kind} name {name!r} must be lowercase letters, digits, '_' or '-'")

        def deco(obj: T) -> T:
            if self._frozen:
                raise RuntimeError(f"the {self.kind} registry is frozen; cannot add {name!r}")
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            self._meta[name] = dict(meta)
            return obj

        return deco

    def get(self, name: str) -> T:
        """The object registered as ``name``; unknown names raise a KeyError that suggests close names."""
        if name in self._items:
            return self._items[name]
        close = difflib.get_close_matches(name, list(self._items), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(self.names())}")

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return self._meta[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def freeze(self) -> None:
        self._frozen = True

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)
