"""One result type for every backend, with the evidence that it is sane.

Basis convention
----------------
``Result.rho`` is a density matrix on the computational basis states listed, row by row, in
``Result.occupations`` (shape ``(D, N)``, entries 0/1, column i = qubit i). When the full space is
kept (D = 2^N) the rows are in the standard tensor-product order |n_0 n_1 … n_{N−1}⟩ with qubit 0 the
most significant bit, so ``rho`` is the usual 2^N × 2^N matrix. A backend may keep only the basis
states the dynamics can reach (e.g. the vacuum and single excitations in the ideal limit); the rows
are then that subset, still in the same lexicographic order, and ρ is exactly zero outside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transportbench.model import Machine


@dataclass(frozen=True)
class Health:
    """Checks of a computed density matrix (all dimensionless unless stated).

    Attributes
    ----------
    trace_error : float
        |Tr ρ − 1|.
    hermiticity_error : float
        max |ρ − ρ†|.
    min_eigenvalue : float
        Smallest eigenvalue of (ρ + ρ†)/2; negative values beyond round-off mean an unphysical state.
    residual : float
        ‖𝓛ρ‖ (Frobenius norm, energy units) in the backend's own generator, NaN where the backend
        does not expose one.
    converged : bool
        Whether the backend's own convergence criteria were met.
    notes : tuple of str
        Warnings and convergence details recorded during the solve.
    """

    trace_error: float
    hermiticity_error: float
    min_eigenvalue: float
    residual: float
    converged: bool = True
    notes: tuple[str, ...] = ()

    def is_physical(self, tolerance: float = 1e-8) -> bool:
        """True when trace, hermiticity and positivity hold to ``tolerance``."""
        return (self.trace_error <= tolerance and self.hermiticity_error <= tolerance
                and self.min_eigenvalue >= -tolerance)


def assess(rho: np.ndarray, residual: float = float("nan"), converged: bool = True,
           notes: tuple[str, ...] = ()) -> Health:
    """Measure trace, hermiticity and positivity of ``rho`` and bundle them with solver figures."""
    hermitian_part = (rho + rho.conj().T) / 2
    return Health(
        trace_error=float(abs(np.trace(rho) - 1.0)),
        hermiticity_error=float(np.max(np.abs(rho - rho.conj().T))) if rho.size else 0.0,
        min_eigenvalue=float(np.linalg.eigvalsh(hermitian_part)[0]),
        residual=float(residual),
        converged=converged,
        notes=notes,
    )


@dataclass(frozen=True)
class Result:
    """A steady state computed by one backend for one machine.

    Attributes
    ----------
    machine : Machine
        The machine that was solved.
    backend : str
        Backend and approach, e.g. ``"lindblad"`` or ``"qmeq:2vN"``.
    rho : ndarray, shape (D, D)
        Density matrix on the basis ``occupations`` (see the module docstring for the ordering).
    occupations : ndarray, shape (D, N)
        Occupation n_i ∈ {0, 1} of every qubit in each basis state.
    particle_currents : mapping {reservoir name: float}
        Excitations per unit time flowing from the reservoir into the system (energy units, ħ = 1).
    energy_currents : mapping {reservoir name: float}
        Energy per unit time from the reservoir into the system (paper Eq. 9; energy² units).
    options : mapping
        Every option the backend used, defaults included.
    seconds : float
        Wall time of the solve.
    health : Health
        Trace, hermiticity, positivity, residual and convergence.
    """

    machine: Machine
    backend: str
    rho: np.ndarray
    occupations: np.ndarray
    particle_currents: Mapping[str, float]
    energy_currents: Mapping[str, float]
    options: Mapping[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")
    health: Health | None = None

    def __repr__(self) -> str:
        currents = ", ".join(f"{name}={value:.4g}" for name, value in self.energy_currents.items())
        return (f"Result(backend={self.backend!r}, qubits={self.machine.n_qubits}, basis states={len(self.rho)}, "
                f"energy currents: {currents}, seconds={self.seconds:.3g}, health={self.health})")
