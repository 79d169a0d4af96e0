"""A tiny name -> factory registry (as in timm), shared by heads and backbones."""

from typing import Callable


class Registry:
    """Maps names to classes so the CLI, UI and tests pick models by name, not if-chains."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, type] = {}

    def register(self, name: str) -> Callable[[type], type]:
        def add(cls: type) -> type:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            cls.name = name
            self._items[name] = cls
            return cls
        return add

    def get(self, name: str) -> type:
        if name not in self._items:
            raise KeyError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)
