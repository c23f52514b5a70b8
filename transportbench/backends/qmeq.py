"""QmeQ backend: the same :class:`~transportbench.model.Machine` through QmeQ's master equations.

QmeQ (Kiršanskas et al., Comput. Phys. Commun. 221, 317 (2017)) offers the approaches ``"Pauli"``,
``"Lindblad"`` (QmeQ's own, built from the eigenstates of the dots; not the paper's local Lindblad
equation), ``"Redfield"``, ``"1vN"`` and ``"2vN"``. QmeQ is imported inside the functions that need it,
so importing this module, or the backend registry, never imports QmeQ. ``make setup`` builds it.

Reliability
-----------
Memory
    Before QmeQ's ``Builder`` is made (it allocates 2^N-sized arrays itself), the memory of the build and
    solve is estimated from closed formulas (:mod:`transportbench.backends.qmeq_budget`) and refused
    beyond the budget of :mod:`transportbench.resources` with a :class:`~transportbench.resources.ResourceBudgetError`
    stating the estimate (2vN: also the time per iteration). A 2vN grid refinement that would exceed the
    budget stops there with a :class:`ConvergenceWarning`.
Uniqueness
    The kernel K that QmeQ solved (first order; 2vN: its last iteration's kernel) without the row that
    QmeQ replaces by the normalisation has a null space of dimension 1 exactly when the steady state is
    unique. Its dimension is the number of singular values at most ``DEGENERACY_RTOL`` × the largest (for
    kernels up to ``qmeq_budget.UNIQUENESS_LIMIT`` columns; larger ones are not checked and ``Health.unique`` is None).
    A larger null space emits a :class:`~transportbench.backends.lindblad.DegenerateSteadyStateWarning`,
    sets ``Health.unique = False`` and adds a note: the state returned is then one arbitrary solution.
Threads
    QmeQ's LAPACK calls run under :func:`transportbench.resources.blas_threads` ("dense": every CPU unless
    the ``threads`` argument or ``TRANSPORTBENCH_BLAS_THREADS`` says otherwise); the count is in the notes.

Conventions
-----------
Units
    ħ = k_B = 1. QmeQ receives the machine's numbers unchanged (ε, g, U, μ, T in one energy unit).
Dots and their order
    QmeQ dot ``p`` holds qubit ``machine.order[p]``. QmeQ's Fock state with occupation list ``n``
    (``si.get_state``) is the project's basis state in which qubit ``machine.order[p]`` has occupation
    ``n[p]``. For the triple dot, ``order = (0, 2, 1)`` (the paper's (1, 3, 2)), so both hoppings join
    neighbouring dots.
Fermion signs
    QmeQ writes every matrix element with c_p = Π_{p' < p} (−1)^{n_p'} σ−_p: the Jordan–Wigner string over
    the dots before p in QmeQ's order. That is the project's ``statistics="fermion"`` convention in
    ``machine.order`` (:mod:`transportbench.backends.local_model`), so a QmeQ result is to be compared
    with the local Lindblad backend on ``machine.replace(statistics="fermion")``. QmeQ is always
    fermionic, whatever ``machine.statistics`` says; for the paper's machines both models coincide.
    The test suite checks this: QmeQ's Hamiltonian, mapped back, equals ours with fermion statistics.
Hamiltonian
    ``hsingle[(p, p)] = ε``, ``hsingle[(p, p')] = g`` (QmeQ adds the Hermitian conjugate), and
    ``coulomb[(p, p', p', p)] = U`` for p < p', which is U n_p n_p'.
Reservoirs
    One QmeQ lead per reservoir, in the order of ``machine.reservoirs``, with the reservoir's μ and T, a
    flat band of unit density of states on [−D, D] (D = ``bandwidth``), and the tunnelling amplitude
    t = √(γ / 2π) to the dot of its qubit, so that QmeQ's Γ = 2π|t|² equals the bare rate γ.
Principal parts (Lamb shift)
    First-order approaches: ``lamb_shift=True`` uses QmeQ's ``itype=1`` (principal parts from the
    digamma function: the wide-band limit, independent of D), ``lamb_shift=False`` uses ``itype=3``
    (principal parts dropped, infinite band). Both count every transition, whatever D, so D does not
    enter the first-order approaches. QmeQ's Pauli and Lindblad approaches have no principal parts, so
    there the switch changes nothing. 2vN always contains them (it is not perturbative in Γ) and lives
    on the finite band [−D, D]; its result depends on D (see :func:`solve_steady`).
Currents
    QmeQ's ``current[l]`` (particles per unit time) and ``energy_current[l]`` (energy per unit time,
    measured from the dots' energy zero) count flow from lead l into the dots as positive, which is the
    project's convention, so they are copied unchanged (tested on a single biased level).
Basis
    QmeQ keeps ρ per charge sector in the eigenbasis of the dots' Hamiltonian (Pauli: the populations
    only). It is rotated with QmeQ's eigenvectors (``qd.vecslst``) to QmeQ's Fock basis and placed in the
    project's full 2^N occupation basis (qubit 0 most significant); see :mod:`transportbench.result`.
"""

from __future__ import annotations

import importlib.machinery
import math
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from transportbench import TransportbenchWarning
from transportbench.backends import qmeq_budget
from transportbench.backends.lindblad import DegenerateSteadyStateWarning
from transportbench.model import Machine
from transportbench.observables import concurrence, reduced_state
from transportbench.occupation import full_basis
from transportbench.resources import blas_threads, format_bytes, memory_budget_bytes
from transportbench.result import Result, assess

NAME = "qmeq"
APPROACHES: dict[str, str] = {"pauli": "Pauli", "lindblad": "Lindblad", "redfield": "Redfield", "1vn": "1vN",
                              "2vn": "2vN"}
"""Accepted approach names (any letter case) and QmeQ's ``kerntype`` for each."""
COMPILED_MODULES: dict[str, str] = {
    "Pauli": "qmeq.approach.base.c_pauli",
    "Lindblad": "qmeq.approach.base.c_lindblad",
    "Redfield": "qmeq.approach.base.c_redfield",
    "1vN": "qmeq.approach.base.c_neumann1",
    "2vN": "qmeq.approach.base.c_neumann2",
}
"""The compiled QmeQ module whose approach class the Builder must pick for each kerntype."""
ITYPE_PRINCIPAL_PARTS = 1
"""QmeQ ``itype`` with principal parts (digamma function, wide-band limit)."""
ITYPE_NO_PRINCIPAL_PARTS = 3
"""QmeQ ``itype`` without principal parts (infinite band)."""
BANDWIDTH_FACTOR = 3.0
"""Default band half-width D in units of :func:`energy_scale`."""
FERMI_WINDOW = 10.0
"""Half-width of a reservoir's Fermi window in units of its temperature, for :func:`energy_scale`."""
FIXED_NITER = 20
"""2vN iterations when ``converge=False`` and ``niter`` is not given."""
MAX_NITER = 40
"""Largest number of 2vN iterations per grid when ``converge=True`` and ``niter`` is not given."""
MIN_NITER = 3
"""Fewest 2vN iterations (the first, local one included) before the iteration may stop."""
MAX_KPNT = 8193
"""Default largest 2vN energy grid."""
DEFAULT_TOL = 1e-3
"""Default 2vN tolerance on the concurrence of qubits 0 and 1 (absolute)."""
DEFAULT_CURRENT_RTOL = 1e-2
"""Default 2vN tolerance on the currents (relative to the largest current of its kind)."""
CURRENT_FLOOR = 1e-4
"""Default ``current_floor``: currents are compared relative to max(largest current, floor), the floor being
CURRENT_FLOOR × Σγ for particle currents and that times :func:`energy_scale` for energy currents, so that
near-zero currents are judged absolutely. Why this value: at equilibrium (Fig. 3 parameters, μ_hot = 0)
2vN leaves spurious currents that change by up to 1.3e-7 (particle) and 1.2e-6 (energy) between nested
grids, which a relative test can never settle (it ran 468 s into a ConvergenceWarning); with this floor
(2e-5 and 6.2e-4 there) they pass the default 1 % test. At the Fig. 3 point the particle currents (1.3e-4)
stay 6.5 times above the floor and are judged relatively; the energy currents (2.4e-4) fall below theirs,
so they are held to 1 % of 6.2e-4 (2.6 % of their value), while the particle currents, which change with
them, keep the 1 % test."""
DEGENERACY_RTOL = 1e-12
"""Singular values of the kernel at most this fraction of the largest count as zero (uniqueness check).
Measured on the triple dot: an isolated qubit gives 1e-17 … 1e-16, unique states at least 1e-4."""


class ConvergenceWarning(TransportbenchWarning):
    """The 2vN budget (energy grid ``max_kpnt`` or iterations ``niter``) ended before the tolerance was met."""


class BandwidthWarning(TransportbenchWarning):
    """The 2vN result changes by more than the tolerance when the band half-width D is doubled."""


# ------------------------------------------------------------------------------------------ QmeQ
def _import_qmeq() -> Any:
    try:
        import qmeq
    except ImportError as error:
        raise ImportError(
            "the 'qmeq' backend needs QmeQ 1.1 with its compiled kernels, which `pip install qmeq` cannot provide "
            "on Python >= 3.10 (no wheels, and the source package does not build as shipped). In a clone of "
            "transportbench: `make setup` builds it into .venv; for your own environment (pip users) run "
            "`python tools/build_qmeq.py --install-into \"$(which python)\"` from the clone, with the Python "
            "that runs transportbench") from error
    return qmeq


def _extension_module(module_name: str) -> bool:
    path = getattr(sys.modules.get(module_name), "__file__", None) or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def _require_compiled(system: Any, kerntype: str) -> None:
    """RuntimeError unless the Builder picked the approach class of QmeQ's compiled (Cython) module."""
    module_name = type(system.appr).__module__
    if module_name != COMPILED_MODULES[kerntype] or not _extension_module(module_name):
        raise RuntimeError(f"QmeQ uses {module_name} for {kerntype!r}, not the compiled "
                           f"{COMPILED_MODULES[kerntype]}: its Cython kernels did not import and QmeQ fell back "
                           "to pure Python (about 50x slower); rebuild QmeQ with `make setup`")


def _require_success(system: Any, what: str) -> None:
    if not system.success:
        raise RuntimeError(f"QmeQ could not solve {what} (success flag False; its kernel was singular). "
                           "Check that every transition lies inside the band and that the steady state is unique.")


# -------------------------------------------------------------------------------------- checks
def canonical_approach(approach: str) -> str:
    """QmeQ's ``kerntype`` for ``approach`` (case-insensitive); ValueError listing the valid names otherwise.

    QmeQ itself replaces an unknown ``kerntype`` by ``'Pauli'`` with only a printed warning.
    """
    kerntype = APPROACHES.get(approach.lower()) if isinstance(approach, str) else None
    if kerntype is None:
        raise ValueError(f"unknown QmeQ approach {approach!r}; valid approaches: {sorted(APPROACHES.values())}")
    return kerntype


def _check_machine(machine: Machine) -> None:
    if machine.ideal_limit:
        raise ValueError("the ideal limit (U, μ → ∞, paper Eq. 3) has no finite QmeQ parameters; solve the "
                         "machine with ideal_limit=False and finite U and μ instead")
    if any(machine.dephasing):
        raise ValueError(f"QmeQ cannot represent pure dephasing; got dephasing rates {machine.dephasing}")
    if not machine.reservoirs:
        raise ValueError("QmeQ needs at least one reservoir: without leads the steady state is not unique")
    cold = [r.name for r in machine.reservoirs if r.temperature <= 0]
    if cold:
        raise ValueError(f"QmeQ divides by the temperature; reservoirs {cold} have T = 0: use T > 0")


def energy_scale(machine: Machine) -> float:
    """Largest single-electron addition energy or Fermi-window edge of the machine (energy units).

    The maximum over qubits k of |ε_k| + Σ_l U_kl + Σ_l |g_kl| (a bound on every many-body transition
    energy of adding or removing one electron) and over reservoirs of |μ| + ``FERMI_WINDOW`` × T.
    """
    addition = [abs(energy) + sum(machine.coulomb_energy(k, q) for q in range(machine.n_qubits))
                + sum(abs(g) for pair, g in machine.couplings if k in pair)
                for k, energy in enumerate(machine.energies)]
    windows = [abs(r.chemical_potential) + FERMI_WINDOW * r.temperature for r in machine.reservoirs]
    return max(addition + windows)


def default_bandwidth(machine: Machine) -> float:
    """``BANDWIDTH_FACTOR`` × :func:`energy_scale`: the default band half-width D (energy units).

    Why this value: every transition energy and Fermi window then lies in the inner third of the band,
    so the band edges cut no resonance and no Fermi tail; the first-order approaches do not depend on D at
    all (see the module docstring); the cost of 2vN grows in proportion to D, because its uniform energy
    grid must resolve T and Γ; and 2vN has no D-independent limit to aim for (see :func:`solve_steady`).
    For the paper's Fig. 3 point (largest addition energy ε + 2U + 2g = 31.1) this is D = 93.3.
    """
    return BANDWIDTH_FACTOR * energy_scale(machine)


def _check_bandwidth(machine: Machine, bandwidth: float | None) -> float:
    """The band half-width D to use: ``bandwidth`` checked, or :func:`default_bandwidth` when it is None."""
    if bandwidth is None:
        return default_bandwidth(machine)
    scale = energy_scale(machine)
    if not (isinstance(bandwidth, (int, float)) and math.isfinite(bandwidth) and bandwidth > scale):
        raise ValueError(f"bandwidth must be a finite number above every transition energy and Fermi window "
                         f"(energy_scale = {scale:g}), got {bandwidth!r}")
    return float(bandwidth)


def _check_positive_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


# ----------------------------------------------------------------------------------- the system
def build_system(machine: Machine, *, approach: str = "2vN", lamb_shift: bool = True,
                 bandwidth: float | None = None, kpnt: int | None = None, python_kernels: bool = False) -> Any:
    """The unsolved ``qmeq.Builder`` for ``machine`` (conventions in the module docstring).

    Parameters
    ----------
    machine : Machine
        The machine; ideal limit, dephasing and T = 0 reservoirs are rejected (ValueError).
    approach : {"Pauli", "Lindblad", "Redfield", "1vN", "2vN"}
        Case-insensitive.
    lamb_shift : bool
        Keep the principal parts of first-order approaches (``itype`` 1) or drop them (``itype`` 3).
    bandwidth : float, optional
        Band half-width D (energy units); default :func:`default_bandwidth`.
    kpnt : int, optional
        Energy grid points of 2vN (required there, ignored by QmeQ elsewhere).
    python_kernels : bool
        Use QmeQ's pure-Python kernels (kerntype prefixed ``"py"``) instead of the compiled ones; only
        for checking the build against them (about 50× slower).

    Returns
    -------
    qmeq.Builder
        Built with the compiled kernel of ``approach`` (RuntimeError otherwise), or the Python kernel
        when ``python_kernels`` is set.

    Raises
    ------
    ResourceBudgetError
        Before anything is built, when :func:`estimate` exceeds the memory budget (a ValueError).
    """
    kerntype = canonical_approach(approach)
    _check_machine(machine)
    band = _check_bandwidth(machine, bandwidth)
    if kerntype == "2vN" and kpnt is None:
        raise ValueError("the 2vN approach needs the energy grid kpnt")
    estimate(machine, kerntype, band, kpnt).check()
    qmeq = _import_qmeq()
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
        dband=band, indexing="charge", kerntype="py" + kerntype if python_kernels else kerntype, kpnt=kpnt,
        itype=ITYPE_PRINCIPAL_PARTS if lamb_shift else ITYPE_NO_PRINCIPAL_PARTS,
    )
    if not python_kernels:
        _require_compiled(system, kerntype)
    return system


def estimate(machine: Machine, kerntype: str, bandwidth: float, kpnt: int | None = None) -> qmeq_budget.Estimate:
    """Peak memory of building and solving ``machine`` with ``kerntype`` (2vN: on ``kpnt`` points of [−D, D]).

    Closed formulas only (:mod:`transportbench.backends.qmeq_budget`); nothing of QmeQ is built.
    """
    return qmeq_budget.estimate(machine, kerntype, kpnt=kpnt, bandwidth=bandwidth, energy_scale=energy_scale(machine))


# ------------------------------------------------------------------------------------ the basis
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


# ----------------------------------------------------------------------------------- observables
@dataclass(frozen=True)
class _Observables:
    """A solved state: ρ in the project's basis, C(0, 1) and the currents (whose changes decide 2vN convergence)."""

    rho: np.ndarray
    concurrence: float
    particle: np.ndarray
    energy: np.ndarray

    def changes(self, other: _Observables, particle_floor: float, energy_floor: float) -> tuple[float, float]:
        """(|ΔC| of qubits 0–1, largest relative change of a particle or energy current)."""
        d_concurrence = abs(self.concurrence - other.concurrence) if math.isfinite(self.concurrence) else 0.0
        d_particle = np.max(np.abs(self.particle - other.particle)) / max(np.max(np.abs(self.particle)), particle_floor)
        d_energy = np.max(np.abs(self.energy - other.energy)) / max(np.max(np.abs(self.energy)), energy_floor)
        return float(d_concurrence), float(max(d_particle, d_energy))


def _observe(system: Any, machine: Machine) -> _Observables:
    rho = density_matrix(system, machine)
    pair = concurrence(reduced_state(rho, full_basis(machine.n_qubits), [0, 1])) if machine.n_qubits > 1 \
        else float("nan")
    return _Observables(rho, pair, np.array(system.current, dtype=float),
                        np.array(system.energy_current, dtype=float))


# ------------------------------------------------------------------------------------ uniqueness
def null_space_dimension(kernel: np.ndarray, norm_row: int) -> int:
    """Dimension of the null space of ``kernel`` without row ``norm_row`` (the one QmeQ replaces by Tr ρ = 1).

    Singular values at most ``DEGENERACY_RTOL`` times the largest count as zero. The dimension is at least
    1 (one row fewer than columns); exactly 1 means a unique steady state.
    """
    reduced = np.delete(np.asarray(kernel), norm_row, axis=0)
    singular = np.linalg.svd(reduced, compute_uv=False)
    return reduced.shape[1] - int(np.count_nonzero(singular > DEGENERACY_RTOL * singular[0]))


def _uniqueness(system: Any) -> tuple[bool | None, str | None]:
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


# ------------------------------------------------------------------------------------------- 2vN
@dataclass(frozen=True)
class _Tolerance:
    """Tolerances of the 2vN convergence checks and the floors of the relative current changes."""

    concurrence: float
    current: float
    current_floor: float
    particle_floor: float
    energy_floor: float

    def changes(self, new: _Observables, old: _Observables) -> tuple[float, float]:
        """(|ΔC|, relative change of the currents) from ``old`` to ``new``."""
        return new.changes(old, self.particle_floor, self.energy_floor)

    def met(self, changes: tuple[float, float], fraction: float = 1.0) -> bool:
        """Whether both changes are within ``fraction`` of their tolerance."""
        return changes[0] <= fraction * self.concurrence and changes[1] <= fraction * self.current


@dataclass(frozen=True)
class _GridSolve:
    """What one 2vN solve on a fixed grid gave; QmeQ's system (the memory) is not kept."""

    bandwidth: float
    kpnt: int
    iterations: int
    iteration_change: tuple[float, float]
    observables: _Observables
    uniqueness: tuple[bool | None, str | None]
    seconds: float

    def summary(self) -> str:
        """Grid, iterations, C(0, 1), particle currents and wall time, as a note."""
        currents = ", ".join(f"{current:.5g}" for current in self.observables.particle)
        return (f"2vN grid D={self.bandwidth:g} kpnt={self.kpnt} spacing={2 * self.bandwidth / (self.kpnt - 1):.3g}: "
                f"{self.iterations} iterations, C(0,1)={self.observables.concurrence:.5f}, particle currents "
                f"({currents}), {self.seconds:.3g} s")


def _first_iteration(system: Any) -> None:
    """The first 2vN iteration, which also tabulates the leads' Fermi functions on the energy grid.

    QmeQ evaluates them as 1/(exp((E − μ)/T) + 1) in ``qmeq.approach.base.neumann2`` (its only ``exp``);
    where (E − μ)/T > 709 exp overflows to inf and the Fermi function becomes exactly 0, its correct value
    to double precision (the tests compare QmeQ's table with ``scipy.special.expit``). Only that warning,
    issued from that module, and only during this call, is ignored.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="overflow encountered in exp", category=RuntimeWarning,
                                module=r"qmeq\.approach\.base\.neumann2\Z")
        system.solve(niter=1)


def _solve_grid(machine: Machine, bandwidth: float, kpnt: int, niter: int, tolerance: _Tolerance,
                stop_early: bool, bar: Any) -> _GridSolve:
    """Iterate 2vN on one grid, advancing the progress bar ``bar`` (``tqdm``) once per iteration.

    Runs ``niter`` iterations, or fewer with ``stop_early``: once one iteration changes C and the currents
    by at most half their tolerance (after ``MIN_NITER`` iterations).
    """
    start = time.perf_counter()
    bar.set_description_str(f"2vN kpnt={kpnt} D={bandwidth:g}")
    system = build_system(machine, approach="2vN", bandwidth=bandwidth, kpnt=kpnt)
    _first_iteration(system)
    _require_success(system, f"2vN iteration 0 (kpnt={kpnt}, D={bandwidth:g})")
    bar.update()
    history = [_observe(system, machine)]
    change = (math.inf, math.inf)
    while len(history) < niter:
        system.solve(qdq=False, restartq=False, niter=1)
        _require_success(system, f"2vN iteration {len(history)} (kpnt={kpnt}, D={bandwidth:g})")
        history.append(_observe(system, machine))
        change = tolerance.changes(history[-1], history[-2])
        bar.set_postfix_str(f"dC={change[0]:.1e} dI={change[1]:.1e}", refresh=False)
        bar.update()
        if stop_early and len(history) >= MIN_NITER and tolerance.met(change, fraction=0.5):
            break
    return _GridSolve(bandwidth, kpnt, len(history), change, history[-1], _uniqueness(system),
                      time.perf_counter() - start)


def initial_kpnt(machine: Machine, bandwidth: float) -> int:
    """The first 2vN grid on [−D, D]: spacing at most min(T, 2γ) over the reservoirs (γ > 0).

    Measured at the Fig. 3 point (D = 100): a spacing of about γ gives C(0, 1) to ~1e-5 and the currents
    to ~0.3 %, twice that spacing to ~1e-3 and ~13 %; the refinement starts from the coarser one.
    """
    spacing = min([r.temperature for r in machine.reservoirs] + [2 * r.rate for r in machine.reservoirs if r.rate > 0])
    return math.ceil(2 * bandwidth / spacing) + 1


def fixed_grid_options(machine: Machine, *, bandwidth: float | None = None, halvings: int = 0,
                       niter: int = FIXED_NITER) -> dict[str, Any]:
    """:func:`solve_steady` options for one 2vN solve on a fixed grid (no refinement).

    The grid spans [−D, D] (D = ``bandwidth``, default :func:`default_bandwidth`) with the spacing of
    :func:`initial_kpnt` halved ``halvings`` times; nested, so each halving contains the previous grid.
    Scans that optimise over a parameter (e.g. a resonance search) need this: a grid refined separately at
    every point would put steps into the scanned function. Compare two ``halvings`` for the grid error.
    """
    band = _check_bandwidth(machine, bandwidth)
    kpnt = initial_kpnt(machine, band)
    for _ in range(_check_positive_int("halvings", halvings, 0)):
        kpnt = _refined(kpnt)
    return {"bandwidth": band, "converge": False, "kpnt": kpnt, "niter": _check_positive_int("niter", niter, 1)}


def _refined(kpnt: int) -> int:
    """Twice as fine a grid that contains every point of the old one."""
    return 2 * (kpnt - 1) + 1


@dataclass(frozen=True)
class _Outcome:
    """A finished solve before it becomes a :class:`Result`: the state, its record, the options that repeat it."""

    observables: _Observables
    residual: float
    converged: bool
    unique: bool | None
    notes: tuple[str, ...]
    options: dict[str, Any]


def _refine_grid(machine: Machine, bandwidth: float, kpnt: int, niter: int, max_kpnt: int, tolerance: _Tolerance,
                 bar: Any) -> tuple[list[_GridSolve], tuple[float, float], str]:
    """Halve the grid spacing until two grids agree within the tolerance or the next grid is out of budget.

    Returns the grids solved, the change between the last two and what limits the refinement: ``max_kpnt``
    or the memory budget (the next grid's :func:`estimate`, checked before it is built).
    """
    solves = [_solve_grid(machine, bandwidth, kpnt, niter, tolerance, True, bar)]
    change = (math.inf, math.inf)
    while not tolerance.met(change):
        finer = _refined(solves[-1].kpnt)
        if finer > max_kpnt:
            break
        cost = estimate(machine, "2vN", bandwidth, finer)
        if not cost.fits():
            return solves, change, (f"the memory budget ({format_bytes(memory_budget_bytes())}; kpnt={finer} would "
                                    f"need {format_bytes(cost.bytes)})")
        solves.append(_solve_grid(machine, bandwidth, finer, niter, tolerance, True, bar))
        change = tolerance.changes(solves[-1].observables, solves[-2].observables)
    return solves, change, f"max_kpnt={max_kpnt}"


def _bandwidth_check(machine: Machine, reference: _GridSolve, niter: int, tolerance: _Tolerance, bar: Any) -> str:
    """Solve on [−2D, 2D] with the spacing of ``reference`` (a grid shown to be fine enough); compare in a note."""
    double = _solve_grid(machine, 2 * reference.bandwidth, _refined(reference.kpnt), niter, tolerance, True, bar)
    change = tolerance.changes(double.observables, reference.observables)
    note = (f"bandwidth check: D = {reference.bandwidth:g} -> {double.bandwidth:g} (same spacing, kpnt "
            f"{reference.kpnt} -> {double.kpnt}) changes C by {change[0]:.2g} and the currents by {change[1]:.2g} "
            "(relative)")
    if not tolerance.met(change):
        warnings.warn(f"the 2vN result depends on the band half-width D beyond the tolerance; {note}. D is part of "
                      "the 2vN model here; it is recorded in Result.options['bandwidth']", BandwidthWarning,
                      stacklevel=5)
    return note


def _converge_2vN(machine: Machine, bandwidth: float, kpnt: int, niter: int, max_kpnt: int, tolerance: _Tolerance,
                  check_bandwidth: bool, bar: Any) -> tuple[_GridSolve, bool, list[str]]:
    """Refine the grid, check the iterations and (optionally) the bandwidth; warn where the budget ran out.

    Returns the finest grid's solve, whether the tolerances were met, and the notes (error estimates, every
    grid solved, the bandwidth check).
    """
    solves, grid_change, limit = _refine_grid(machine, bandwidth, kpnt, niter, max_kpnt, tolerance, bar)
    final = solves[-1]
    notes = [f"2vN on [-{bandwidth:g}, {bandwidth:g}] with kpnt={final.kpnt} (spacing "
             f"{2 * bandwidth / (final.kpnt - 1):.3g}) and {final.iterations} iterations; error estimates: last "
             f"refinement changed C by {grid_change[0]:.2g} and the currents by {grid_change[1]:.2g} (relative), "
             f"the last iteration by {final.iteration_change[0]:.2g} and {final.iteration_change[1]:.2g}"]
    grid_met = tolerance.met(grid_change)
    iterations_met = tolerance.met(final.iteration_change, fraction=0.5)
    budget = {f"the grid is not converged within {limit}": grid_met,
              f"the iterations are not converged within niter={niter}": iterations_met}
    for problem in (text for text, met in budget.items() if not met):
        message = (f"2vN: {problem} (tol {tolerance.concurrence:g} on C, current_rtol {tolerance.current:g}); "
                   f"{notes[0]}")
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
        notes.append(message)
    notes.extend(solve.summary() for solve in solves)
    if check_bandwidth and grid_met:
        notes.append(_bandwidth_check(machine, solves[-2], niter, tolerance, bar))
    return final, grid_met and iterations_met, notes


def _solve_2vN(machine: Machine, bandwidth: float, *, kpnt: int | None, niter: int | None, converge: bool,
               tolerance: _Tolerance, max_kpnt: int, check_bandwidth: bool, progress: bool | None) -> _Outcome:
    first_kpnt = initial_kpnt(machine, bandwidth) if kpnt is None else _check_positive_int("kpnt", kpnt, 3)
    iterations = (MAX_NITER if converge else FIXED_NITER) if niter is None else _check_positive_int("niter", niter, 1)
    if converge:
        _check_positive_int("max_kpnt", max_kpnt, first_kpnt)
    cost = estimate(machine, "2vN", bandwidth, first_kpnt)
    cost.check()
    options = {"converge": converge, "kpnt": first_kpnt, "niter": iterations, "tol": tolerance.concurrence,
               "current_rtol": tolerance.current, "current_floor": tolerance.current_floor}
    with tqdm(desc="2vN", unit="iteration", file=sys.stderr, leave=False,
              disable=None if progress is None else not progress) as bar:
        if converge:
            final, converged, notes = _converge_2vN(machine, bandwidth, first_kpnt, iterations, max_kpnt, tolerance,
                                                    check_bandwidth, bar)
            options.update(max_kpnt=max_kpnt, check_bandwidth=check_bandwidth)
        else:
            final = _solve_grid(machine, bandwidth, first_kpnt, iterations, tolerance, False, bar)
            converged = False
            notes = [f"fixed 2vN grid kpnt={final.kpnt} and niter={final.iterations} (converge=False): convergence "
                     f"not assessed; the last iteration changed C by {final.iteration_change[0]:.2g} and the currents "
                     f"by {final.iteration_change[1]:.2g} (relative)", final.summary()]
    notes.append(f"cost estimate of the first grid (kpnt={first_kpnt}): {format_bytes(cost.bytes)}, about "
                 f"{qmeq_budget.format_seconds(cost.seconds_per_iteration)} per iteration")
    unique, note = final.uniqueness
    return _Outcome(final.observables, math.nan, converged, unique, (*notes, *(note,) * (note is not None)), options)


# ---------------------------------------------------------------------------------- first order
def _solve_first_order(machine: Machine, kerntype: str, lamb_shift: bool, bandwidth: float) -> _Outcome:
    """Solve a first-order approach; the residual is ‖K φ₀‖ in QmeQ's own kernel K.

    The residual leaves out the equation QmeQ replaces by the normalisation Tr ρ = 1 (it follows from the
    others when K preserves the trace). K acts on QmeQ's real representation of ρ (populations, and real
    and imaginary parts of ρ_bb' for b before b'); energy units.
    """
    system = build_system(machine, approach=kerntype, lamb_shift=lamb_shift, bandwidth=bandwidth)
    system.appr.make_kern_copy = True  # LAPACK then factorises a copy, and K survives the solve
    system.solve()
    _require_success(system, f"the {kerntype} approach")
    equations = system.kern @ system.phi0
    equations[system.appr.funcp.norm_row] = 0.0
    unique, note = _uniqueness(system)
    return _Outcome(_observe(system, machine), float(np.linalg.norm(equations)), True, unique,
                    () if note is None else (note,), {"lamb_shift": lamb_shift})


# ---------------------------------------------------------------------------------------- public
def solve_steady(machine: Machine, *, approach: str = "2vN", lamb_shift: bool = True,
                 bandwidth: float | None = None, kpnt: int | None = None, niter: int | None = None,
                 converge: bool | None = None, tol: float | None = None, current_rtol: float | None = None,
                 current_floor: float | None = None, max_kpnt: int | None = None,
                 check_bandwidth: bool | None = None, threads: int | None = None,
                 progress: bool | None = None) -> Result:
    """Steady state of ``machine`` in one of QmeQ's approaches (conventions in the module docstring).

    Parameters
    ----------
    machine : Machine
        Solved as spinless fermions in ``machine.order``; compare with the local Lindblad backend on
        ``machine.replace(statistics="fermion")``. No ideal limit, no dephasing, T > 0 (ValueError).
    approach : {"2vN", "Pauli", "Lindblad", "Redfield", "1vN"}
        Case-insensitive. ``"Lindblad"`` is QmeQ's Lindblad approach, not the paper's local one.
    lamb_shift : bool
        First-order approaches: keep (QmeQ's ``itype=1``) or drop (``itype=3``) the principal parts. 2vN
        always keeps them; ``lamb_shift=False`` with 2vN is a ValueError.
    bandwidth : float, optional
        Band half-width D (energy units) of every lead; default :func:`default_bandwidth`. Must exceed
        :func:`energy_scale`. Only 2vN depends on it.
    threads : int, optional
        BLAS/LAPACK threads for QmeQ's linear algebra (the user override of
        :func:`transportbench.resources.blas_threads`; default: ``TRANSPORTBENCH_BLAS_THREADS``, the
        process-wide setting, or every CPU). Recorded in the notes, not in ``options``.
    progress : bool, optional
        2vN: show a progress bar (iterations of every grid, with the last changes) on stderr. Default: only
        when stderr is a terminal. First-order approaches take milliseconds and show none. Not recorded.

    Other Parameters
    ----------------
    kpnt : int, optional
        The energy grid (``converge=False``) or the first grid of the refinement; default
        :func:`initial_kpnt`.
    niter : int, optional
        The number of iterations (``converge=False``; default ``FIXED_NITER``) or the most per grid
        (default ``MAX_NITER``).
    converge : bool, optional
        Refine the grid until the results stop changing (default, see Notes) or solve once.
    tol : float, optional
        Absolute tolerance on the concurrence of qubits 0 and 1; default ``DEFAULT_TOL``.
    current_rtol : float, optional
        Tolerance on every particle and energy current, relative to the largest of its kind; default
        ``DEFAULT_CURRENT_RTOL``.
    current_floor : float, optional
        Currents below ``current_floor`` × Σγ (energy currents: × :func:`energy_scale` too) are judged
        absolutely, i.e. a change counts relative to that floor; default ``CURRENT_FLOOR``. Lower it to
        resolve currents far below the machine's rate scale (e.g. cotunnelling leakage); 0 makes the test
        purely relative, which cannot settle at equilibrium.
    max_kpnt : int, optional
        The largest grid the refinement may use; default ``MAX_KPNT``. The memory budget may stop it earlier.
    check_bandwidth : bool, optional
        After the grid converged, solve again with 2D and report the change (default True).

    These apply to 2vN only; giving one with another approach is a ValueError.

    Returns
    -------
    Result
        ``backend`` is ``"qmeq:<approach>"``; ρ on the full 2^N basis; the currents per reservoir (into
        the system positive); ``options`` holds the settings with defaults resolved, so that
        ``solve_steady(machine, **result.options)`` repeats the solve (2vN: ``kpnt`` and ``niter`` are the
        first grid and the iterations allowed per grid, not the grid reached); ``health`` carries the residual
        (first-order approaches: ‖K φ₀‖ in QmeQ's own kernel; 2vN: NaN), whether the convergence criteria
        were met, whether the steady state is unique, and notes: the BLAS threads, for 2vN the grid reached,
        the error estimates, every grid solved (with its wall time), the bandwidth check and the estimated
        cost.

    Raises
    ------
    ResourceBudgetError
        Before QmeQ allocates anything, when the estimated memory exceeds the budget (a ValueError; see
        :mod:`transportbench.resources`). For 2vN the message also gives the estimated time per iteration.

    Notes
    -----
    2vN convergence: on each grid the iteration stops once one iteration changes C(0, 1) by at most
    tol/2 and every current by at most current_rtol/2 (after ``MIN_NITER`` iterations; at the Fig. 3 point
    the iterates alternate and shrink by a factor ≈ 0.75 per iteration, so the remaining error is below
    that change). The grid spacing is then halved (nested grids) until two grids agree within tol and
    current_rtol, and the finer one is returned. A :class:`ConvergenceWarning` is emitted when ``max_kpnt``,
    the memory budget or ``niter`` runs out first. The bandwidth check solves on [−2D, 2D] with the spacing
    of the coarser of the two agreeing grids and compares with it; a change beyond the tolerance emits a
    :class:`BandwidthWarning`. The 2vN result does not reach a wide-band limit here: at the Fig. 3 point
    C(0, 1) moved by about −1e-3 and the currents by +6 to +9 % per doubling of D from 100 to 800, so D is
    a model parameter of 2vN, always recorded in ``options``.

    QmeQ's Fermi functions overflow for (E − μ)/T > 709; :func:`_first_iteration` explains why that is
    harmless and how exactly that warning is handled.
    """
    kerntype = canonical_approach(approach)
    _check_machine(machine)
    band = _check_bandwidth(machine, bandwidth)
    two_vn_options = {"kpnt": kpnt, "niter": niter, "converge": converge, "tol": tol, "current_rtol": current_rtol,
                      "current_floor": current_floor, "max_kpnt": max_kpnt, "check_bandwidth": check_bandwidth}
    if kerntype == "2vN":
        if not lamb_shift:
            raise ValueError("2vN always keeps the principal parts; lamb_shift=False is for first-order approaches")
        if converge is False and (max_kpnt is not None or check_bandwidth is not None):
            raise ValueError("max_kpnt and check_bandwidth belong to the grid refinement; converge=False solves once")
        tolerance = _tolerance(machine, tol, current_rtol, current_floor)
    else:
        given = sorted(name for name, value in two_vn_options.items() if value is not None)
        if given:
            raise ValueError(f"options {given} apply to the 2vN approach only, not to {kerntype!r}")
    start = time.perf_counter()
    with blas_threads("dense", threads) as count:
        if kerntype == "2vN":
            outcome = _solve_2vN(machine, band, kpnt=kpnt, niter=niter, converge=True if converge is None else converge,
                                 tolerance=tolerance, max_kpnt=MAX_KPNT if max_kpnt is None else max_kpnt,
                                 check_bandwidth=True if check_bandwidth is None else check_bandwidth,
                                 progress=progress)
        else:
            outcome = _solve_first_order(machine, kerntype, lamb_shift, band)
    notes = (*outcome.notes, f"BLAS threads: {count}")
    if machine.statistics != "fermion":
        notes = (*notes, "QmeQ solves spinless fermions with the Jordan-Wigner order machine.order; compare with "
                         "statistics='fermion'")
    if outcome.unique is False:
        warnings.warn(next(note for note in outcome.notes if "not unique" in note), DegenerateSteadyStateWarning,
                      stacklevel=2)
    names = [r.name for r in machine.reservoirs]
    state = outcome.observables
    return Result(
        machine=machine, backend=f"{NAME}:{kerntype}", rho=state.rho, occupations=full_basis(machine.n_qubits),
        particle_currents=dict(zip(names, map(float, state.particle), strict=True)),
        energy_currents=dict(zip(names, map(float, state.energy), strict=True)),
        options={"approach": kerntype, "bandwidth": band, "lamb_shift": lamb_shift, **outcome.options},
        seconds=time.perf_counter() - start,
        health=assess(state.rho, residual=outcome.residual, converged=outcome.converged, notes=notes,
                      unique=outcome.unique),
    )


def _tolerance(machine: Machine, tol: float | None, current_rtol: float | None,
               current_floor: float | None) -> _Tolerance:
    concurrence_tol = DEFAULT_TOL if tol is None else tol
    current_tol = DEFAULT_CURRENT_RTOL if current_rtol is None else current_rtol
    floor = CURRENT_FLOOR if current_floor is None else current_floor
    for name, value in (("tol", concurrence_tol), ("current_rtol", current_tol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor < math.inf:
        raise ValueError(f"current_floor must be a finite number >= 0, got {floor!r}")
    total_rate = sum(r.rate for r in machine.reservoirs)
    return _Tolerance(float(concurrence_tol), float(current_tol), float(floor), floor * total_rate,
                      floor * total_rate * energy_scale(machine))
