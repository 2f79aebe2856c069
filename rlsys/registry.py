"""One shape for every registry of named extension points (environments, judges, reward formulas,
engines, search strategies): a dict of name -> entry with a `register` decorator and a `lookup`
whose error names what is registered.

    STRATEGIES: Registry[Strategy] = Registry("search strategy")
    @STRATEGIES.register("single")
    async def single(...): ...
    STRATEGIES.lookup("beam")   # ValueError: unknown search strategy 'beam' (registered: single)

It is a plain `dict` underneath, so `name in REG`, `REG[name]` and `sorted(REG)` keep working.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(dict, Generic[T]):
    """Entries by name; `kind` names them in errors (`judge.kind`, `search strategy`, ...)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def register(self, name: str, wrap: Callable[[Any], T] | None = None) -> Callable[[Any], Any]:
        """Decorator: stores the decorated object (or `wrap(obj)`) under `name`; returns the object."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} is registered under a non-empty name (got {name!r})")

        def add(obj: Any) -> Any:
            self[name] = wrap(obj) if wrap is not None else obj
            return obj

        return add

    def names(self) -> list[str]:
        return sorted(self)

    def lookup(self, name: str) -> T:
        """The entry `name`; ValueError naming the registered ones when there is none."""
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r} (registered: {', '.join(self.names())})")
        return self[name]
