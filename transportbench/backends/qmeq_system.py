"""QmeQ's system for a machine: the Builder, checks of the build, and the solved state in the project's basis.

Part of the ``qmeq`` backend (conventions in :mod:`transportbench.backends.qmeq`). QmeQ is imported only when a
system is built.
"""

from __future__ import annotations

import importlib.machinery
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from transportbench.backends import qmeq_budget
from transportbench.backends.qmeq_options import ITYPE_NO_PRINCIPAL_PARTS, ITYPE_PRINCIPAL_PARTS, band_half_width
from transportbench.convergence import Observed
from transportbench.model import Machine, energy_scale
from transportbench.observables import fermion_pair_concurrence
from transportbench.result import ErrorEstimate, SolveFailure

COMPILED_MODULES: dict[str, str] = {
    "Pauli": "qmeq.approach.base.c_pauli",
    "Lindblad": "qmeq.approach.base.c_lindblad",
    "Redfield": "qmeq.approach.base.c_redfield",
    "1vN": "qmeq.approach.base.c_neumann1",
    "2vN": "qmeq.approach.base.c_neumann2",
}
"""The compiled QmeQ module whose approach class the Builder must pick for each kerntype."""


DEGENERACY_RTOL = 1e-12
"""Singular values of the kernel at most this fraction of the largest count as zero (uniqueness check).
Measured on the triple dot: an isolated qubit gives 1e-17 … 1e-16, unique states at least 1e-4."""


def import_qmeq() -> Any:
    """The ``qmeq`` package, or an ImportError that says how to build it."""
    try:
        import qmeq
    except ImportError as error:
        raise ImportError(
            "the 'qmeq' backend needs QmeQ 1.1 with its compiled kernels, which `pip install qmeq` cannot provide "
            "on Python >= 3.10 (no wheels, and the source package does not build as shipped). pip users: run "
            "`transportbench-build-qmeq` (or `python -m transportbench.qmeq_build`) with the Python that runs "
            "transportbench; it builds QmeQ from its source package and installs it there. In a clone of "
            "transportbench: `make setup` builds it into .venv") from error
    return qmeq


def extension_module(module_name: str) -> bool:
    """Whether the imported module ``module_name`` is compiled (an extension module)."""
    path = getattr(sys.modules.get(module_name), "__file__", None) or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def require_compiled(system: Any, kerntype: str) -> None:
    """RuntimeError unless the Builder picked the approach class of QmeQ's compiled (Cython) module."""
    module_name = type(system.appr).__module__
    if module_name != COMPILED_MODULES[kerntype] or not extension_module(module_name):
        raise RuntimeError(f"QmeQ uses {module_name} for {kerntype!r}, not the compiled "
                           f"{COMPILED_MODULES[kerntype]}: its Cython kernels did not import and QmeQ fell back "
                           "to pure Python (about 50x slower); rebuild QmeQ with `make setup`")


def require_success(system: Any, what: str) -> None:
    """SolveFailure unless QmeQ's success flag says that ``what`` was solved."""
    if not system.success:
        raise SolveFailure(f"QmeQ could not solve {what} (success flag False; its kernel was singular). "
                           "Check that every transition lies inside the band and that the steady state is unique.")


def dband(machine: Machine, kerntype: str) -> float | dict[int, float]:
    """QmeQ's ``dband``: one D for 2vN (and wide bands), per lead for flat bands of first-order approaches."""
    if kerntype == "2vN" or machine.reservoirs[0].band.kind == "wide":
        return band_half_width(machine)
    return {lead: r.band.width for lead, r in enumerate(machine.reservoirs)}


def build(machine: Machine, kerntype: str, lamb_shift: bool, dband: float | dict[int, float], kpnt: int | None,
           python_kernels: bool = False) -> Any:
    """The Builder, without checks (the caller checked the machine and the memory)."""
    qmeq = import_qmeq()
    dot = {qubit: position for position, qubit in enumerate(machine.order)}
    hsingle: dict[tuple[int, int], float] = {(dot[q], dot[q]): energy for q, energy in enumerate(machine.energies)}
    hsingle.update({(dot[i], dot[j]): g for (i, j), g in machine.couplings})
    coulomb = {}
    for (i, j), u in machine.coulomb:
        first, second = sorted((dot[i], dot[j]))
        coulomb[(first, second, second, first)] = u
    leads = tuple(enumerate(machine.reservoirs))
    system = qmeq.Builder(
        nsingle=machine.n_qubits, hsingle=hsingle, coulomb=coulomb, nleads=len(leads),
        tleads={(lead, dot[r.qubit]): math.sqrt(r.rate / (2 * math.pi)) for lead, r in leads},
        mulst={lead: r.chemical_potential for lead, r in leads},
        tlst={lead: r.temperature for lead, r in leads},
        dband=dband, indexing="charge", kerntype="py" + kerntype if python_kernels else kerntype, kpnt=kpnt,
        itype=ITYPE_PRINCIPAL_PARTS if lamb_shift else ITYPE_NO_PRINCIPAL_PARTS,
    )
    if not python_kernels:
        require_compiled(system, kerntype)
    return system


def estimate(machine: Machine, kerntype: str, bandwidth: float, kpnt: int | None = None) -> qmeq_budget.Estimate:
    """Peak memory of building and solving ``machine`` with ``kerntype`` (2vN: on ``kpnt`` points of [−D, D]).

    Closed formulas only (:mod:`transportbench.backends.qmeq_budget`); nothing of QmeQ is built.
    """
    return qmeq_budget.estimate(machine, kerntype, kpnt=kpnt, bandwidth=bandwidth, energy_scale=energy_scale(machine))


def _eigenbasis_block(system: Any, charge: int) -> np.ndarray:
    """QmeQ's solved ρ in one charge sector, in the eigenbasis ordered like ``si.chargelst[charge]``.

    Read from ``phi0`` directly: QmeQ 1.1's ``Builder.get_phi0`` tests ``funcp.kerntype``, which is never
    set, and so mis-reads the Pauli approach. Storage: Pauli keeps populations; 2vN (``StateIndexingDMc``)
    keeps every complex element; the other approaches keep ρ_bb' for b before b' as a real part and,
    ``ndm0 − npauli`` places later, an imaginary part (ρ_b'b is its conjugate).
    """
    si, phi0 = system.si, system.phi0
    states = si.chargelst[charge]
    block = np.zeros((len(states), len(states)), dtype=complex)
    populations_only = len(phi0) == si.npauli
    complex_storage = type(si).__name__ == "StateIndexingDMc"
    for row, b in enumerate(states):
        for column, b_prime in enumerate(states):
            index = si.get_ind_dm0(b, b_prime, charge, maptype=1)
            if populations_only:
                block[row, column] = phi0[index] if b == b_prime else 0.0
            elif complex_storage or index < si.npauli:
                block[row, column] = phi0[index]
            else:
                sign = 1.0 if si.get_ind_dm0(b, b_prime, charge, maptype=3) else -1.0
                block[row, column] = phi0[index] + 1j * sign * phi0[si.ndm0 - si.npauli + index]
    return block


def _qubit_index(system: Any, machine: Machine, fock_state: int) -> int:
    """Index in the project's full basis of QmeQ's Fock state ``fock_state`` (qubit order[p] = dot p)."""
    occupations = system.si.get_state(fock_state)
    n = machine.n_qubits
    return sum(occupation << (n - 1 - qubit) for occupation, qubit in zip(occupations, machine.order, strict=True))


def to_qubit_basis(system: Any, machine: Machine, blocks: Sequence[np.ndarray]) -> np.ndarray:
    """An operator given per charge sector in QmeQ's eigenbasis, as a 2^N × 2^N matrix in the project's basis.

    Parameters
    ----------
    system : qmeq.Builder
        A system whose dots' Hamiltonian has been diagonalised (solved, or ``system.qd.diagonalise()``).
    machine : Machine
        The machine it was built from (for the dot order).
    blocks : sequence of ndarray
        ``blocks[charge]``, ordered like ``system.si.chargelst[charge]`` in the eigenbasis
        (eigenvectors are the columns of ``system.qd.vecslst[charge]`` in that Fock basis).
    """
    si = system.si
    matrix = np.zeros((2**machine.n_qubits,) * 2, dtype=complex)
    for charge in range(si.ncharge):
        vectors = np.asarray(system.qd.vecslst[charge])
        positions = [_qubit_index(system, machine, state) for state in si.chargelst[charge]]
        matrix[np.ix_(positions, positions)] = vectors @ blocks[charge] @ vectors.conj().T
    return matrix


def density_matrix(system: Any, machine: Machine) -> np.ndarray:
    """The solved reduced density matrix of ``system`` in the project's full qubit basis."""
    return to_qubit_basis(system, machine, [_eigenbasis_block(system, c) for c in range(system.si.ncharge)])


def hamiltonian(system: Any, machine: Machine) -> np.ndarray:
    """QmeQ's diagonalised dots' Hamiltonian in the project's full qubit basis (energy units)."""
    energies = np.asarray(system.qd.Ea)
    return to_qubit_basis(system, machine, [np.diag(energies[system.si.chargelst[c]])
                                            for c in range(system.si.ncharge)])


def observe(system: Any, machine: Machine) -> Observed:
    """ρ in the project's basis, the currents and C(0, 1) of the modes: what 2vN's convergence compares."""
    rho = density_matrix(system, machine)
    return Observed(rho, np.array(system.current, dtype=float), np.array(system.energy_current, dtype=float),
                    fermion_pair_concurrence(rho, machine.order))


def null_space_dimension(kernel: np.ndarray, norm_row: int) -> int:
    """Dimension of the null space of ``kernel`` without row ``norm_row`` (the one QmeQ replaces by Tr ρ = 1).

    Singular values at most ``DEGENERACY_RTOL`` times the largest count as zero. The dimension is at least
    1 (one row fewer than columns); exactly 1 means a unique steady state.
    """
    reduced = np.delete(np.asarray(kernel), norm_row, axis=0)
    singular = np.linalg.svd(reduced, compute_uv=False)
    return reduced.shape[1] - int(np.count_nonzero(singular > DEGENERACY_RTOL * singular[0]))


def uniqueness(system: Any) -> tuple[bool | None, str | None]:
    """(``Health.unique``, a note or None) from the kernel QmeQ solved last (see the module docstring)."""
    size = system.kern.shape[1]
    if size > qmeq_budget.UNIQUENESS_LIMIT:
        return None, (f"uniqueness not checked: QmeQ's kernel has {size} columns, more than "
                      f"UNIQUENESS_LIMIT = {qmeq_budget.UNIQUENESS_LIMIT}")
    dimension = null_space_dimension(system.kern, system.appr.funcp.norm_row)
    if dimension == 1:
        return True, None
    return False, (f"the steady state is not unique: QmeQ's kernel has a null space of dimension {dimension} "
                   f"(singular values below {DEGENERACY_RTOL:g} x the largest), so the state returned is one "
                   "arbitrary solution; look for a conserved quantity, e.g. a qubit with neither reservoir nor hopping")


@dataclass(frozen=True)
class Outcome:
    """A finished solve before it becomes a :class:`Result`: the state, its record and its statistics."""

    observed: Observed
    residual: float
    converged: bool
    unique: bool | None
    notes: tuple[str, ...]
    stats: dict[str, Any]
    error: ErrorEstimate | None = None
