"""Name → component registries shared by the CLI, configs and the library API."""

from __future__ import annotations

import importlib
from typing import Callable, Generic, Iterator, TypeVar

from g2m.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict keyed by name, filled by a decorator, with a helpful error for unknown names.

    ``providers`` name the modules that register g2m's own entries: they are imported before the first
    lookup, listing or membership test, so the registry is complete whatever the caller imported first."""

    def __init__(self, kind: str, error: type[Exception] = ConfigError, providers: tuple[str, ...] = ()):
        self.kind = kind
        self.error = error
        self.providers = providers
        self._loaded = not providers
        self._items: dict[str, T] = {}

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True  # first: a provider's own registrations may look entries up
            for module in self.providers:
                importlib.import_module(module)

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        self._load()
        key = str(name).lower()
        if key not in self._items:
            raise self.error(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}."
            )
        return self._items[key]

    def names(self) -> list[str]:
        self._load()
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        self._load()
        return str(name).lower() in self._items

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(self._items)

    def items(self):
        self._load()
        return self._items.items()
