"""Solver options as frozen, validated objects: one class per approach family, units in its docstring.

A backend's ``solve_steady(machine, options=None, **settings)`` takes an options object, or settings by
keyword that build one (``LocalOptions(rtol=1e-10)`` and ``rtol=1e-10`` are the same request). Unknown or
inapplicable settings are ValueErrors when the object is made, before any work. ``Result.options`` holds the
object actually used, defaults resolved, so ``solve_steady(machine, result.options)`` solves the same problem
again; solver statistics (iterations, grids, error estimates) go to ``Result.stats``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

OptionsType = TypeVar("OptionsType", bound="SolverOptions")


@dataclasses.dataclass(frozen=True)
class SolverOptions(Mapping[str, Any]):
    """Base class of every backend's options: frozen dataclasses with a ``check`` of their values.

    An options object is also a read-only mapping of its settings, so ``options["rtol"]`` and
    ``solve_steady(machine, **options)`` work as for a dict.
    """

    def __post_init__(self) -> None:
        self.check()

    def __getitem__(self, name: str) -> Any:
        if name not in self.names():
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def check(self) -> None:
        """Validate the settings (ValueError naming the setting); subclasses extend it."""

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings this class accepts."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def build(cls: type[OptionsType], options: OptionsType | None = None, /, **settings: Any) -> OptionsType:
        """``options`` with ``settings`` applied, or a new object from ``settings``; unknown names are ValueErrors."""
        unknown = sorted(set(settings) - set(cls.names()))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} setting(s) {unknown}; valid: {sorted(cls.names())}")
        if options is None:
            return cls(**settings)
        if not isinstance(options, cls):
            raise ValueError(f"options must be a {cls.__name__}, got {type(options).__name__}")
        return dataclasses.replace(options, **settings) if settings else options

    def changed(self, **settings: Any) -> SolverOptions:
        """A copy with ``settings`` changed (validated again)."""
        return type(self).build(self, **settings)
