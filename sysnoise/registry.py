"""One generic registry for decoders, resizers, backends, models and suites."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sysnoise.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind.

    Entries are registered with the `register` decorator, with `add`, or lazily as a
    ``"module:attr"`` string that is imported only when the entry is first looked up, so heavy
    libraries (TensorRT, onnxruntime) load only when chosen.
    """

    def __init__(self, kind: str, base: type | None = None) -> None:
        self.kind = kind
        self._base = base
        self._entries: dict[str, T | str] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers the decorated object under `name`."""

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T | str) -> None:
        """Register `obj` (or a lazy ``"module:attr"`` reference) under `name`."""
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if isinstance(obj, str):
            if ":" not in obj:
                raise ValueError(f"lazy {self.kind} entry {obj!r} must look like 'module:attr'")
        else:
            self._check_base(name, obj)
        self._entries[name] = obj

    def get(self, name: str) -> T:
        """The entry called `name`; an unknown name raises with the list of valid ones."""
        try:
            entry = self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None
        if isinstance(entry, str):
            module_name, attr = entry.split(":", 1)
            entry = getattr(importlib.import_module(module_name), attr)
            self._check_base(name, entry)
            self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def _check_base(self, name: str, obj: object) -> None:
        if self._base is None:
            return
        ok = isinstance(obj, self._base) or (isinstance(obj, type) and issubclass(obj, self._base))
        if not ok:
            raise TypeError(f"{self.kind} {name!r} must be a {self._base.__name__}, got {obj!r}")
