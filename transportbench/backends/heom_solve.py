"""One HEOM hierarchy built and solved, without convergence control (part of :mod:`transportbench.backends.heom`).

The budget checks (ADO count, memory) happen here, before anything is built.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from transportbench import TransportbenchWarning
from transportbench.backends import heom_hierarchy as hierarchy_module
from transportbench.backends import heom_steady
from transportbench.model import Machine
from transportbench.observables import fermion_pair_concurrence
from transportbench.resources import blas_threads, check_memory, format_bytes

DEFAULT_MAX_ADOS = 500_000
"""Largest hierarchy (ADOs, ρ included) solved unless the caller allows more: a bound on the time (the
memory budget bounds the memory). The Fig. 3 point at Padé 10, depth 4 (102 091 ADOs) takes seconds."""
DIRECT_UNKNOWNS = 30_000
"""``solver="auto"`` factorises directly at depth ≤ 2 up to this many reduced unknowns, otherwise GMRES."""


@dataclass(frozen=True)
class Solve:
    """One hierarchy solved: its settings, state, currents and cost."""

    pade: hierarchy_module.Poles
    depth: int
    band_width: float
    rho: np.ndarray
    particle: np.ndarray
    energy: np.ndarray
    concurrence: float
    steady: heom_steady.SteadyState
    ados: int
    seconds: float
    threshold: float = 0.0
    """The ADO threshold (0: every ADO)."""

    def describe(self) -> str:
        """One line: settings, size, method, residual and time."""
        threshold = f" ADO threshold={self.threshold:g}" if self.threshold > 0 else ""
        return (f"W={self.band_width:g} pade={self.pade} depth={self.depth}{threshold}: {self.ados} ADOs, "
                f"{self.steady.unknowns} unknowns, {self.steady.method}, residual {self.steady.residual:.1e}, "
                f"{self.seconds:.2f} s")


def hierarchy_bytes(machine: Machine, pade: hierarchy_module.Poles, depth: int, solver: str, *,
                    wide: bool = False, size: hierarchy_module.Size | None = None) -> float:
    """Estimated peak memory (bytes) of building and solving one hierarchy, from its size alone.

    ``wide``: the wide band in the hierarchy (fewer exponents, :func:`heom_hierarchy.hierarchy_size`);
    ``size``: the hierarchy's size when already counted (a filtered hierarchy's, :func:`heom_hierarchy.layout_size`).
    """
    size = size or hierarchy_module.hierarchy_size(machine, pade, depth, wide=wide)
    return heom_steady.solve_bytes(size, _method(solver, depth, size), 2**machine.n_qubits)


def check_budget(machine: Machine, pade: hierarchy_module.Poles, depth: int, max_ados: int,
                 solver: str, *, wide: bool = False, size: hierarchy_module.Size | None = None,
                 threshold: float = 0.0) -> hierarchy_module.Size:
    """Refuse (ValueError, ResourceBudgetError) a hierarchy beyond ``max_ados`` or the memory budget, unsolved.

    ``size``: counted already (a hierarchy filtered by the ADO ``threshold``, named in the messages); otherwise
    counted here, before anything is built.
    """
    size = size or hierarchy_module.hierarchy_size(machine, pade, depth, wide=wide)
    settings = f"pade={pade}, depth={depth}" + (f", ADO threshold {threshold:g}" if threshold > 0 else "")
    if size.ados > max_ados:
        raise ValueError(f"the hierarchy with {settings} has {size.ados} ADOs, above max_ados={max_ados}")
    what = (f"HEOM hierarchy ({settings}: {size.ados} ADOs, {size.unknowns} unknowns, "
            f"{size.reduced_unknowns} in the coupled charge blocks; solver {_method(solver, depth, size)})")
    check_memory(hierarchy_bytes(machine, pade, depth, solver, size=size), what)
    return size


def _method(solver: str, depth: int, size: hierarchy_module.Size) -> str:
    if solver != "auto":
        return solver
    return "direct" if depth <= 2 and size.reduced_unknowns <= DIRECT_UNKNOWNS else "iterative"


class DirectFallbackWarning(TransportbenchWarning):
    """GMRES failed on a hierarchy, so ``solver="auto"`` factorises it directly: this can take minutes.

    The message gives the LU's memory estimate; ``solver="iterative"`` makes the failure an error instead.
    """


def _direct_after(failure: heom_steady.SteadyStateError, machine: Machine, built: hierarchy_module.Hierarchy,
                  pade: hierarchy_module.Poles, depth: int) -> heom_steady.SteadyState:
    """``solver="auto"``: the direct LU after a failed iterative solve, if its memory estimate fits the budget."""
    estimate = hierarchy_bytes(machine, pade, depth, "direct", size=hierarchy_module.layout_size(machine, built.layout))
    check_memory(estimate, f"the direct LU of the HEOM hierarchy (pade={pade}, depth={depth}) after the iterative "
                           f"solve failed: {failure}")
    warnings.warn(f"HEOM (pade={pade}, depth={depth}): {failure}; factorising the hierarchy directly instead "
                  f"(an estimated {format_bytes(estimate)}; this can take minutes, solver='iterative' stops here "
                  "instead)", DirectFallbackWarning, stacklevel=4)
    steady = heom_steady.solve(built.equations, built.dim, method="direct", generator=built.generator)
    return dataclasses.replace(steady, method=f"{steady.method} after the iterative solve failed ({failure})")


def solve_hierarchy(machine: Machine, band_width: float, pade: hierarchy_module.Poles, depth: int, *,
                    solver: str = "auto", max_ados: int = DEFAULT_MAX_ADOS, threshold: float = 0.0) -> Solve:
    """Build and solve one hierarchy (no convergence control).

    Parameters
    ----------
    machine : Machine
        Checked (see :func:`solve_steady`).
    band_width : float
        Lorentzian half-width W of every lead (energy units), centred at each lead's μ; ``math.inf`` for the
        wide band in the hierarchy (:func:`heom_hierarchy.build_hierarchy`).
    pade : int or mapping {reservoir name: int}
        Padé terms per branch, for every lead or per reservoir (:data:`heom_hierarchy.Poles`).
    depth : int
        Hierarchy truncation depth.
    solver : {"auto", "direct", "iterative", "ilu", "qutip"}
        See :func:`solve_steady`; ``"auto"`` also falls back to the direct LU when the iterative solve fails
        and the LU fits the memory budget (the solve's ``method`` says so). ``"qutip"`` refuses the wide band
        (ValueError).
    max_ados : int
        Refuse larger hierarchies (ValueError) before building (with a ``threshold``: the ADOs it leaves, counted
        on the built layout, before solving).
    threshold : float
        ADO threshold: leave out the ADOs of tier ≥ 2 whose a priori size relative to ρ is below it
        (dimensionless, :func:`heom_generator.filtered`); 0 keeps every ADO. ``"qutip"`` refuses it.

    Returns
    -------
    Solve
        ρ on the full basis, currents per reservoir (energy and energy² units), C(0, 1), the solve record.
    """
    start = time.perf_counter()
    if solver == "qutip" and math.isinf(band_width):
        raise ValueError("solver='qutip' cannot solve the wide band in the hierarchy (QuTiP's solver lacks its "
                         "time-local term); use a Lorentzian band or wide_band='extrapolate'")
    if threshold > 0:
        if solver == "qutip":
            raise ValueError("solver='qutip' solves every ADO and cannot apply an ADO threshold; use threshold=0")
        built = hierarchy_module.build_hierarchy(machine, band_width, pade, depth, threshold=threshold)
        size = check_budget(machine, pade, depth, max_ados, solver,
                            size=hierarchy_module.layout_size(machine, built.layout), threshold=threshold)
    else:
        size = check_budget(machine, pade, depth, max_ados, solver, wide=math.isinf(band_width))
        built = hierarchy_module.build_hierarchy(machine, band_width, pade, depth)
    method = _method(solver, depth, size)
    layout = built.layout
    with blas_threads("sparse"):
        if method == "qutip":
            steady = heom_steady.qutip_steady_state(
                hierarchy_module.qutip_solver(machine, band_width, pade, depth), built.generator,
                layout.occupations(len(built.exponents.signs)), layout.kept, built.dim)
        else:
            try:
                stored = None if method == "iterative" else built.generator  # the iterative solve stores none
                steady = heom_steady.solve(built.equations, built.dim, method=method, generator=stored)
            except heom_steady.SteadyStateError as failure:
                if solver != "auto" or method == "direct":
                    raise
                steady = _direct_after(failure, machine, built, pade, depth)
    rho = built.ado(steady.vector, 0)
    particle, energy, _ = hierarchy_module.currents(machine, built, steady.vector)
    pair = fermion_pair_concurrence(rho, machine.order)  # the figure the convergence is judged on
    poles = hierarchy_module.compact_poles(machine, hierarchy_module.poles_per_lead(machine, pade))
    return Solve(poles, depth, band_width, rho, particle, energy, pair, steady, size.ados, time.perf_counter() - start,
                 threshold)

