"""Backends by name: each is one module that follows the :class:`Backend` protocol.

Adding a backend is one module: give it ``NAME``, ``Options`` (a :class:`~transportbench.options.SolverOptions`
subclass), ``CAPABILITIES``, ``check_machine``, ``estimate_memory`` and ``solve_steady`` (see
:class:`Backend`), register it in ``BUILT_IN`` or through the entry-point group, and run
``tests/test_conformance.py``, which checks every registered backend against the analytic limits. A backend
that needs packages beyond NumPy and SciPy also gives ``missing_dependency()`` (:func:`missing_dependency`).

Modules are imported only when asked for, so ``import transportbench.backends`` never imports QmeQ or QuTiP.
Other packages add backends through the entry-point group ``transportbench.backends`` (name = module path,
e.g. ``mysolver = "mypackage.mysolver"`` under ``[project.entry-points."transportbench.backends"]``).
Names are case-insensitive.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from transportbench.model import BAND_KINDS, STATISTICS, Machine
from transportbench.options import SolverOptions
from transportbench.result import Result

BUILT_IN: dict[str, str] = {
    "local": "transportbench.backends.local",
    "qmeq": "transportbench.backends.qmeq",
    "heom": "transportbench.backends.heom",
}
"""The backends that ship with transportbench: name → module."""
ALIASES: dict[str, str] = {"lindblad": "local"}
"""Deprecated names (kept for one release): the paper's local equation was registered as ``"lindblad"``,
which is easily confused with QmeQ's Lindblad approach ``"qmeq:Lindblad"``."""
ENTRY_POINT_GROUP = "transportbench.backends"


@dataclass(frozen=True)
class Capabilities:
    """What a backend can represent; everything else it refuses with a ValueError naming the feature.

    Attributes
    ----------
    statistics : tuple of {"qubit", "fermion"}
        Particle statistics it solves. A fermion-only backend accepts a qubit machine only where both models
        coincide (every flip-flop joins neighbouring dots of ``machine.order``, :meth:`Machine.jordan_wigner_trivial`),
        and says so in the notes.
    bands : tuple of {"wide", "flat", "lorentzian"}
        Lead bands it represents (how exactly is in the backend's docstring and each result's notes).
    ideal_limit : bool
        Whether it solves the paper's ideal limit (Eq. 3).
    dephasing : bool
        Whether it represents pure dephasing.
    dynamics : bool
        Whether it has an ``evolve`` function.
    exact : bool
        Numerically exact for its model (a reference for the others), up to its stated error estimates.
    """

    statistics: tuple[str, ...]
    bands: tuple[str, ...]
    ideal_limit: bool
    dephasing: bool
    dynamics: bool = False
    exact: bool = False

    def __post_init__(self) -> None:
        if not set(self.statistics) <= set(STATISTICS) or not set(self.bands) <= set(BAND_KINDS):
            raise ValueError(f"statistics must be among {STATISTICS} and bands among {BAND_KINDS}, got {self}")

    def solved_statistics(self, machine: Machine) -> str:
        """The particle model a solve of ``machine`` uses: the machine's own, or this backend's if it has only one.

        A fermion-only backend solves a qubit machine as fermions (where :meth:`check` accepts it, the
        Hamiltonians coincide; the states' reduced states are still those of fermionic modes).
        """
        return machine.statistics if machine.statistics in self.statistics else self.statistics[0]

    def check(self, machine: Machine, backend: str) -> list[str]:
        """ValueError naming the first feature of ``machine`` that ``backend`` cannot represent; returns notes."""
        if machine.ideal_limit and not self.ideal_limit:
            raise ValueError(f"the {backend} backend cannot solve the ideal limit (U, μ → ∞, paper Eq. 3): it "
                             "has no finite parameters; use ideal_limit=False with finite U and μ")
        if any(machine.dephasing) and not self.dephasing:
            raise ValueError(f"the {backend} backend cannot represent pure dephasing; got dephasing rates "
                             f"{machine.dephasing}")
        for reservoir in machine.reservoirs:
            if reservoir.band.kind not in self.bands:
                raise ValueError(f"the {backend} backend cannot represent the {reservoir.band} of reservoir "
                                 f"{reservoir.name!r}; it represents: {', '.join(self.bands)} bands")
        if machine.statistics in self.statistics:
            return []
        if not machine.jordan_wigner_trivial:
            raise ValueError(f"the {backend} backend solves {'/'.join(self.statistics)} statistics; this machine's "
                             f"{machine.statistics} model differs (a flip-flop crosses another dot of the order "
                             f"{machine.order}): use statistics={self.statistics[0]!r} or an order in which every "
                             "flip-flop joins neighbours")
        return [f"{backend} solves {self.statistics[0]} statistics in the order {machine.order}; every flip-flop "
                f"joins neighbouring dots, so the {machine.statistics} machine has the same Hamiltonian"]


def require_coupled_reservoir(machine: Machine, who: str) -> None:
    """ValueError unless some reservoir couples to ``machine`` (a rate γ > 0): else its steady state is not unique.

    For backends that cannot report a degenerate steady state themselves (the local backend reports it in
    ``Health.unique`` instead) and for checks that need a unique state; ``who`` names the one that refuses
    (e.g. ``"the heom backend"``).
    """
    if not any(reservoir.rate > 0 for reservoir in machine.reservoirs):
        names = ", ".join(f"{r.name} (γ = {r.rate:g})" for r in machine.reservoirs) or "none"
        raise ValueError(f"{who} needs a reservoir with a rate γ > 0: without one the steady state "
                         f"is not unique (reservoirs: {names})")


@runtime_checkable
class Backend(Protocol):
    """What a backend module provides.

    ``NAME`` is its registry name; ``APPROACHES`` (optional) maps the accepted approach names (lower case)
    to their canonical spelling, as in ``"qmeq:2vN"``. ``Options`` builds validated options from keyword
    settings (``Options.build(**settings)``; unknown or inapplicable settings are ValueErrors).
    ``check_machine(machine, options)`` refuses what the backend cannot represent (ValueError, before any
    work) and ``estimate_memory(machine, options)`` returns the bytes a solve would need, checked against
    the budget of :mod:`transportbench.resources` before anything large is allocated.
    ``solve_steady(machine, options=None, **settings)`` returns a :class:`~transportbench.result.Result`
    whose ``backend`` is ``NAME`` or ``"NAME:<canonical approach>"`` and whose ``options`` reproduce it.
    """

    NAME: str
    Options: type[SolverOptions]
    CAPABILITIES: Capabilities

    def check_machine(self, machine: Machine, options: SolverOptions) -> None:
        """ValueError naming what ``machine`` asks that this backend cannot represent."""
        ...

    def estimate_memory(self, machine: Machine, options: SolverOptions) -> float:
        """Bytes a steady-state solve of ``machine`` with ``options`` would need (never allocated)."""
        ...

    def solve_steady(self, machine: Machine, options: SolverOptions | None = None, **settings: Any) -> Result:
        """The steady state of ``machine``."""
        ...


def registry() -> dict[str, str]:
    """Every registered backend, name (lower case) → module path: the built-in ones and the entry points."""
    names = dict(BUILT_IN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(entry.name.lower(), entry.value)
    return names


def get_backend(name: str) -> ModuleType:
    """The backend module registered as ``name`` (any letter case); ValueError listing the valid names otherwise.

    A deprecated name (:data:`ALIASES`) gives its new backend with a DeprecationWarning.
    """
    known: Mapping[str, str] = registry()
    key = name.lower() if isinstance(name, str) else None
    if key in ALIASES:
        warnings.warn(f"the backend name {name!r} is deprecated; use {ALIASES[key]!r} (the paper's local equation, "
                      "not QmeQ's Lindblad approach 'qmeq:Lindblad')", DeprecationWarning, stacklevel=2)
        key = ALIASES[key]
    if key not in known:
        raise ValueError(f"unknown backend {name!r}; valid backends: {sorted(known)}")
    module = importlib.import_module(known[key])
    if not isinstance(module, Backend):
        missing = [name for name in ("NAME", "Options", "CAPABILITIES", "check_machine", "estimate_memory",
                                     "solve_steady") if not hasattr(module, name)]
        raise TypeError(f"the module {known[key]} registered as backend {key!r} lacks {', '.join(missing)}")
    return module


def all_approaches() -> tuple[str, ...]:
    """Every approach of every registered backend, in its one spelling and in registry order.

    A backend without ``APPROACHES`` is one approach (``"local"``, ``"heom"``); one with them contributes
    ``"NAME:approach"`` for each (``"qmeq:Pauli"`` … ``"qmeq:2vN"``). Imports the backend modules, never
    QmeQ or QuTiP themselves.
    """
    names: list[str] = []
    for name in registry():
        module = get_backend(name)
        choices = getattr(module, "APPROACHES", None)
        spellings = [module.NAME] if choices is None else [f"{module.NAME}:{choice}" for choice in choices.values()]
        names.extend(spellings)
    return tuple(names)


def missing_dependency(name: str) -> str | None:
    """Why the backend ``name`` cannot run here (a package it needs is not installed, and how to add it), or None.

    A backend module may define ``missing_dependency()`` (looking for its packages without importing them);
    one that does not is taken to be installed.
    """
    check = getattr(get_backend(name), "missing_dependency", None)
    return None if check is None else check()


def missing_package(package: str, importer: Callable[[], Any]) -> str | None:
    """None when ``package`` can be found (it is not imported), else the install hint of ``importer``'s ImportError.

    For a backend's ``missing_dependency()``: ``importer`` is the function that imports the package or raises
    an ImportError saying how to install it.
    """
    if importlib.util.find_spec(package) is not None:
        return None
    try:
        importer()
    except ImportError as error:
        return str(error)
    return None


def unavailable_approaches() -> dict[str, str]:
    """Every approach of :func:`all_approaches` whose backend cannot run here, with why (each backend asked once)."""
    reasons = {name: missing_dependency(name) for name in {spec.partition(":")[0] for spec in all_approaches()}}
    return {spec: reason for spec in all_approaches() if (reason := reasons[spec.partition(":")[0]]) is not None}


def installed_approaches() -> tuple[str, ...]:
    """:func:`all_approaches` whose backend's packages are installed here (see :func:`missing_dependency`)."""
    unavailable = unavailable_approaches()
    return tuple(spec for spec in all_approaches() if spec not in unavailable)


def exact_approaches() -> tuple[str, ...]:
    """The approaches whose backend declares itself exact (``Capabilities.exact``): the references."""
    return tuple(spec for spec in all_approaches() if get_backend(spec.partition(":")[0]).CAPABILITIES.exact)
