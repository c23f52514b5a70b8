"""Backends by name: each is one module that follows the :class:`Backend` protocol.

Modules are imported only when asked for, so ``import transportbench.backends`` never imports QmeQ or QuTiP.
Other packages add backends through the entry-point group ``transportbench.backends`` (name = module path,
e.g. ``mysolver = "mypackage.mysolver"`` under ``[project.entry-points."transportbench.backends"]``).
Names are case-insensitive.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from transportbench.model import Machine
from transportbench.result import Result

BUILT_IN: dict[str, str] = {
    "lindblad": "transportbench.backends.lindblad",
    "qmeq": "transportbench.backends.qmeq",
    "heom": "transportbench.backends.heom",
}
"""The backends that ship with transportbench: name → module."""
ENTRY_POINT_GROUP = "transportbench.backends"


@runtime_checkable
class Backend(Protocol):
    """What a backend module provides.

    ``NAME`` is its registry name; ``APPROACHES`` (optional) maps the accepted approach names (any letter
    case) to their canonical spelling, as in ``"qmeq:2vN"``; ``solve_steady(machine, **options)`` returns a
    :class:`~transportbench.result.Result` whose ``backend`` is ``NAME`` or ``"NAME:<canonical approach>"``,
    with validated keyword options (unknown ones are a TypeError).
    """

    NAME: str

    def solve_steady(self, machine: Machine, **options: Any) -> Result:
        """The steady state of ``machine``."""
        ...


def registry() -> dict[str, str]:
    """Every registered backend, name (lower case) → module path: the built-in ones and the entry points."""
    names = dict(BUILT_IN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(entry.name.lower(), entry.value)
    return names


def get_backend(name: str) -> ModuleType:
    """The backend module registered as ``name`` (any letter case); ValueError listing the valid names otherwise."""
    known: Mapping[str, str] = registry()
    key = name.lower() if isinstance(name, str) else None
    if key not in known:
        raise ValueError(f"unknown backend {name!r}; valid backends: {sorted(known)}")
    module = importlib.import_module(known[key])
    if not isinstance(module, Backend):
        raise TypeError(f"the module {known[key]} registered as backend {key!r} has no NAME or solve_steady")
    return module
