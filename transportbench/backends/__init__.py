"""Backends by name. Each is a module with ``NAME`` and ``solve_steady(machine, **options) -> Result``.

Modules are imported only when asked for, so ``import transportbench.backends`` never imports QmeQ.
"""

from __future__ import annotations

import importlib
from types import ModuleType

REGISTRY: dict[str, str] = {
    "lindblad": "transportbench.backends.lindblad",
    "qmeq": "transportbench.backends.qmeq",
    "heom": "transportbench.backends.heom",
}


def get_backend(name: str) -> ModuleType:
    """The backend module registered as ``name`` (ValueError listing the valid names otherwise)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown backend {name!r}; valid backends: {sorted(REGISTRY)}")
    return importlib.import_module(REGISTRY[name])
