"""Name → component registries shared by the CLI, configs and the library API."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from g2m.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict keyed by name, filled by a decorator, with a helpful error for unknown names."""

    def __init__(self, kind: str, error: type[Exception] = ConfigError):
        self.kind = kind
        self.error = error
        self._items: dict[str, T] = {}

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
        key = str(name).lower()
        if key not in self._items:
            raise self.error(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}."
            )
        return self._items[key]

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return str(name).lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def items(self):
        return self._items.items()
