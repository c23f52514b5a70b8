"""Solver options as frozen, validated objects: one class per approach family, units in its docstring.

A backend's ``solve_steady(machine, options=None, /, *, run=None, **settings)`` takes an options object, or
settings by keyword that build one (``LocalOptions(rtol=1e-10)`` and ``rtol=1e-10`` are the same request).
Unknown or inapplicable settings are ValueErrors when the object is made, before any work. ``Result.options``
holds the object actually used, defaults resolved, so ``solve_steady(machine, result.options)`` solves the same
problem again; solver statistics (iterations, grids) go to ``Result.stats`` and error estimates to
``Result.error``. How a solve runs (BLAS threads, progress bar, memory budget) is the same for every backend
and apart from what it solves: :class:`RunOptions`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, Literal, TypeVar

from transportbench.resources import blas_threads, memory_budget
from transportbench.validation import flag, integer, positive

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


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a solve runs, the same for every backend; it never changes what is solved.

    Every backend's ``solve_steady(machine, options=None, /, *, run=None, **settings)`` takes one; the
    settings ``threads``, ``progress`` and ``memory_gib`` given by keyword go here rather than to the
    backend's own options (:meth:`split`).

    Attributes
    ----------
    threads : int, optional
        BLAS/LAPACK threads of the solve (the user override of
        :func:`~transportbench.resources.blas_threads`); None: ``TRANSPORTBENCH_BLAS_THREADS``, the
        process-wide setting, else the backend's choice (one for sparse work, every CPU for dense work).
        The count used is ``Result.stats["blas_threads"]``.
    progress : bool, optional
        A progress bar on stderr (a widget in Jupyter) for backends with long work (HEOM, 2vN); None: only
        when stderr is a terminal.
    memory_gib : float, optional
        The memory budget of this solve in GiB (2^30 bytes); None: the budget of
        :mod:`transportbench.resources`. Work estimated beyond it is refused before it is allocated.
    """

    threads: int | None = None
    progress: bool | None = None
    memory_gib: float | None = None

    def __post_init__(self) -> None:
        if self.threads is not None:
            object.__setattr__(self, "threads", integer("threads", self.threads, 1))
        if self.progress is not None:
            object.__setattr__(self, "progress", flag("progress", self.progress))
        if self.memory_gib is not None:
            positive("memory_gib", self.memory_gib)

    @classmethod
    def split(cls, run: RunOptions | None, settings: Mapping[str, Any]) -> tuple[RunOptions, dict[str, Any]]:
        """``run`` with the run settings among ``settings`` applied, and the backend's own settings left over."""
        if run is not None and not isinstance(run, cls):
            raise ValueError(f"run must be a RunOptions, got {type(run).__name__}")
        given = {name: value for name, value in settings.items() if name in cls.names()}
        rest = {name: value for name, value in settings.items() if name not in cls.names()}
        return dataclasses.replace(run or cls(), **given), rest

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The run settings (the ones :meth:`split` takes out of a backend's keyword settings)."""
        return tuple(field.name for field in dataclasses.fields(cls))

    @contextlib.contextmanager
    def applied(self, kind: Literal["sparse", "dense"]) -> Iterator[int]:
        """Run the block with these threads (for work of ``kind``) and memory budget; yields the thread count."""
        with contextlib.ExitStack() as stack:
            if self.memory_gib is not None:
                stack.enter_context(memory_budget(self.memory_gib))
            yield stack.enter_context(blas_threads(kind, self.threads))

    @property
    def bar_disabled(self) -> bool | None:
        """Tqdm's ``disable``: None (only on a terminal) unless ``progress`` says otherwise."""
        return None if self.progress is None else not self.progress
