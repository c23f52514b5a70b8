"""Local Lindblad backend (paper Eq. 2, generalised): steady states, dynamics, relaxation rate.

NumPy/SciPy only; importing this module never imports QmeQ. The generator is built by
:mod:`transportbench.backends.local_model`; this module solves it.

* Steady state: only the ΔN = 0 sector (ρ block-diagonal in the total excitation number) is solved,
  as a sparse linear system with one equation replaced by Tr ρ = 1: sparse LU for small sectors, GMRES
  preconditioned by the exact secular block (populations and near-degenerate coherences) beyond.
  By default only the occupation patterns reachable from the vacuum are kept (exact: their span is
  invariant, see ``reachable_basis``).
* Dynamics: each ΔN sector present in the initial state is propagated separately with the exact
  propagator exp(𝓛 Δt) (dense for small sectors, ``expm_multiply`` for large ones).
* Currents: Q_r = Tr(H 𝓓_r ρ) (paper Eq. 9) and I_r = Tr(N 𝓓_r ρ); positive into the system.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from transportbench import TransportbenchWarning
from transportbench.backends.local_model import (
    LocalModel,
    Sector,
    build_local_model,
    liouvillian,
    liouvillian_terms,
    make_basis,
    sector_layout,
)
from transportbench.model import Machine
from transportbench.occupation import full_basis, lookup
from transportbench.result import Result, assess

NAME = "lindblad"
SOLVERS = ("auto", "direct", "iterative")
BASES = ("reachable", "full")
DIRECT_LIMIT = 1_000
"""Sector size up to which ``solver="auto"`` uses sparse LU; secular-block GMRES above."""
DENSE_LIMIT = 1500
"""Sector size up to which dynamics and spectra use dense linear algebra."""
DEGENERACY_CONDITION = 1e13
"""1-norm condition number of the bordered steady-state system above which the zero eigenvalue of 𝓛
is taken to be degenerate (more than one steady state)."""


class DegenerateSteadyStateWarning(TransportbenchWarning):
    """The Liouvillian has more than one steady state; the one returned depends on the method."""


class SolverConvergenceWarning(TransportbenchWarning):
    """An iterative solver stopped before reaching its tolerance."""


# ------------------------------------------------------------------------------------ steady state
def solve_steady(machine: Machine, *, basis: str = "reachable", solver: str = "auto", tol: float = 1e-12,
                 maxiter: int = 50, secular_window: float | None = None) -> Result:
    """Steady state of the local Lindblad equation of ``machine``.

    Parameters
    ----------
    machine : Machine
        The machine (energies in any one unit; ħ = k_B = 1).
    basis : {"reachable", "full"}
        Keep the patterns reachable from the vacuum (exact for a unique steady state) or all 2^N.
    solver : {"auto", "direct", "iterative"}
        Sparse LU of the whole sector (with a condition estimate that detects a non-unique steady
        state); GMRES preconditioned by the secular block (see ``_secular_gmres``); or LU up to
        ``DIRECT_LIMIT`` elements and GMRES beyond.
    tol : float
        Relative residual tolerance of the iterative solver.
    maxiter : int
        Iteration budget of the iterative solver (restarts of 100 GMRES steps).
    secular_window : float, optional
        Energy window (energy units) of the coherences solved exactly by the preconditioner; default
        :func:`default_secular_window`.

    Returns
    -------
    Result
        ρ on the kept basis, currents per reservoir, health (trace, hermiticity, positivity, residual
        ‖𝓛ρ‖) and the options used. A :class:`DegenerateSteadyStateWarning` is emitted (and recorded in
        ``health.notes``) when the steady state is not unique.
    """
    _check_choice("basis", basis, BASES)
    _check_choice("solver", solver, SOLVERS)
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    if isinstance(maxiter, bool) or not isinstance(maxiter, int) or maxiter < 1:
        raise ValueError(f"maxiter must be a positive integer, got {maxiter!r}")
    start = time.perf_counter()
    model = build_local_model(machine, make_basis(machine, basis))
    sector = sector_layout(model.numbers, 0)
    terms = liouvillian_terms(model, sector)
    generator = sum(terms.values()).tocsr()
    chosen = solver if solver != "auto" else ("direct" if sector.size <= DIRECT_LIMIT else "iterative")
    window = default_secular_window(machine) if secular_window is None else secular_window
    kets, bras = sector.element_indices()
    energy_gap = model.level_energies[kets] - model.level_energies[bras]
    vector, converged, notes = _solve_kernel(generator, sector, energy_gap, chosen, tol, maxiter, window)
    rho = sector.to_matrix(vector)
    residual = float(np.linalg.norm(generator @ vector))
    particle, energy = _currents(model, sector, terms, vector[None, :])
    return Result(
        machine=machine, backend=NAME, rho=rho, occupations=model.occupations,
        particle_currents={name: float(value[0]) for name, value in particle.items()},
        energy_currents={name: float(value[0]) for name, value in energy.items()},
        options={"basis": basis, "solver": chosen, "tol": tol, "maxiter": maxiter, "secular_window": window,
                 "sector_size": sector.size},
        seconds=time.perf_counter() - start,
        health=assess(rho, residual=residual, converged=converged, notes=tuple(notes)),
    )


def default_secular_window(machine: Machine) -> float:
    """20 × the largest off-diagonal rate or coupling (max |g|, γ, κ), in energy units."""
    scales = [abs(g) for _, g in machine.couplings] + [r.rate for r in machine.reservoirs] + list(machine.dephasing)
    return 20.0 * max(scales, default=0.0)


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def _bordered(generator: sp.csr_matrix, sector: Sector) -> tuple[sp.csc_matrix, np.ndarray]:
    """𝓛 with the first population equation replaced by the trace condition, and its right-hand side."""
    kets, bras = sector.element_indices()
    diagonal = np.flatnonzero(kets == bras)
    replaced = diagonal[0]
    keep = np.ones(sector.size)
    keep[replaced] = 0.0
    trace_row = sp.csr_matrix((np.ones(len(diagonal)), (np.zeros(len(diagonal), int), diagonal)),
                              shape=(1, sector.size))
    unit = sp.csr_matrix(([1.0], ([replaced], [0])), shape=(sector.size, 1))
    matrix = (sp.diags(keep) @ generator + unit @ trace_row).tocsc()
    rhs = np.zeros(sector.size, dtype=complex)
    rhs[replaced] = 1.0
    return matrix, rhs


def _solve_kernel(generator: sp.csr_matrix, sector: Sector, energy_gap: np.ndarray, solver: str, tol: float,
                  maxiter: int, window: float) -> tuple[np.ndarray, bool, list[str]]:
    matrix, rhs = _bordered(generator, sector)
    notes: list[str] = []
    if solver == "direct":
        try:
            factor = spla.splu(matrix, permc_spec="COLAMD")
        except RuntimeError as error:  # SuperLU reports an exactly singular matrix
            return _degenerate(generator, sector, notes, f"sparse LU failed ({error})")
        vector = factor.solve(rhs)
        condition = _condition_estimate(matrix, factor)
        notes.append(f"direct sparse LU; 1-norm condition estimate {condition:.2e}")
        if not (np.isfinite(vector).all() and condition <= DEGENERACY_CONDITION):  # NaN counts as singular
            return _degenerate(generator, sector, notes, f"condition estimate {condition:.2e}")
        return vector, True, notes
    return _secular_gmres(matrix, rhs, energy_gap, tol, maxiter, window)


def _secular_gmres(matrix: sp.csc_matrix, rhs: np.ndarray, energy_gap: np.ndarray, tol: float, maxiter: int,
                   window: float) -> tuple[np.ndarray, bool, list[str]]:
    """GMRES preconditioned by the secular block: exact on elements with |E_a − E_b| ≤ window, Jacobi elsewhere.

    Populations and near-degenerate coherences (the set S) are solved exactly with a sparse LU of the
    bordered system restricted to S; every other coherence is divided by its diagonal −i(E_a − E_b) − …,
    whose modulus exceeds ``window``. The neglected couplings are of order g and γ, so each GMRES step
    gains roughly a factor (g + γ)/window.
    """
    secular = np.abs(energy_gap) <= window
    inside, outside = np.flatnonzero(secular), np.flatnonzero(~secular)
    block = matrix[inside][:, inside].tocsc()
    try:
        factor = spla.spilu(block, drop_tol=1e-4, fill_factor=10, permc_spec="MMD_AT_PLUS_A")
    except RuntimeError as error:
        raise np.linalg.LinAlgError(
            f"the secular block ({len(inside)} elements, window {window:g}) is singular ({error}); the steady "
            "state may not be unique: try solver='direct' (small machines) or a larger secular_window") from None
    diagonal = matrix.diagonal()[outside]

    def precondition(vector: np.ndarray) -> np.ndarray:
        result = np.empty(len(vector), dtype=complex)
        result[inside] = factor.solve(np.ascontiguousarray(vector[inside], dtype=complex))
        result[outside] = vector[outside] / diagonal
        return result

    iterations = 0

    def count(_residual: float) -> None:
        nonlocal iterations
        iterations += 1

    operator = spla.LinearOperator(matrix.shape, precondition, dtype=complex)
    vector, info = spla.gmres(matrix, rhs, M=operator, rtol=tol, atol=0.0, restart=100, maxiter=maxiter,
                              callback=count, callback_type="pr_norm")
    converged = info == 0
    notes = [f"GMRES with secular-block preconditioner (window {window:g}, {len(inside)} of {len(rhs)} elements "
             f"exact): {iterations} iterations, info={info}; uniqueness of the steady state not checked on this path"]
    if not converged:
        message = f"GMRES did not reach rtol={tol:g} within {maxiter} restarts (info={info})"
        warnings.warn(message, SolverConvergenceWarning, stacklevel=4)
        notes.append(message)
    return vector, converged, notes


def _condition_estimate(matrix: sp.csc_matrix, factor: spla.SuperLU) -> float:
    """Hager–Higham estimate of ‖A‖₁‖A⁻¹‖₁ using the LU factors."""
    inverse = spla.LinearOperator(matrix.shape, matvec=factor.solve,
                                  rmatvec=lambda x: factor.solve(np.asarray(x, dtype=complex), trans="H"),
                                  dtype=complex)
    with np.errstate(invalid="ignore", over="ignore"):  # a singular factor gives inf/NaN: reported, not hidden
        estimate = spla.onenormest(inverse)
    return float(spla.norm(matrix, 1) * estimate)


def _degenerate(generator: sp.csr_matrix, sector: Sector, notes: list[str],
                reason: str) -> tuple[np.ndarray, bool, list[str]]:
    """Minimum-norm trace-one element of the kernel, with a warning that the steady state is not unique."""
    kets, bras = sector.element_indices()
    trace_row = (kets == bras).astype(complex)
    stacked = sp.vstack([generator, sp.csr_matrix(trace_row)]).tocsr()
    rhs = np.zeros(sector.size + 1, dtype=complex)
    rhs[-1] = 1.0
    vector = spla.lsqr(stacked, rhs, atol=1e-14, btol=1e-14, iter_lim=100 * sector.size)[0]
    message = (f"the Liouvillian has a degenerate zero eigenvalue ({reason}): the steady state is not "
               "unique; returned the minimum-norm trace-one stationary state")
    warnings.warn(message, DegenerateSteadyStateWarning, stacklevel=4)
    notes.append(message)
    return vector, False, notes


def _currents(model: LocalModel, sector: Sector, terms: dict[str, sp.csr_matrix],
              vectors: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Particle and energy currents per reservoir for rows of ΔN = 0 sector vectors (into the system > 0)."""
    energy_weights = sector.weights(model.hamiltonian())
    number_weights = sector.weights(sp.diags(model.numbers.astype(float)))
    particle, energy = {}, {}
    for reservoir in model.machine.reservoirs:
        flow = terms[reservoir.name] @ vectors.T
        particle[reservoir.name] = np.real(number_weights @ flow)
        energy[reservoir.name] = np.real(energy_weights @ flow)
    return particle, energy


# ------------------------------------------------------------------------------------------ dynamics
@dataclass(frozen=True)
class Evolution:
    """Time evolution of the local Lindblad equation.

    Attributes
    ----------
    times : ndarray, shape (T,)
        Times (inverse energy units).
    states : ndarray, shape (T, D, D)
        ρ(t) on the basis ``occupations`` (same convention as :class:`~transportbench.result.Result`).
    occupations : ndarray, shape (D, N)
        Basis patterns.
    particle_currents, energy_currents : dict {reservoir name: ndarray (T,)}
        Currents into the system at each time (paper Eq. 9 for the energy current).
    machine, options, seconds
        What was evolved, with which options, and the wall time.
    """

    machine: Machine
    times: np.ndarray
    states: np.ndarray
    occupations: np.ndarray
    particle_currents: dict[str, np.ndarray]
    energy_currents: dict[str, np.ndarray]
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")


def initial_density_matrix(machine: Machine, state: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """ρ(0) in the full basis from a pattern (n_0, …, n_{N−1}), a ket of length 2^N or a 2^N×2^N matrix.

    ``None`` means the vacuum |0…0⟩. A ket is normalised to 1 within 1e-8 or rejected; a density
    matrix must be Hermitian, positive and of unit trace within 1e-8.
    """
    dimension = 2**machine.n_qubits
    if state is None:
        state = (0,) * machine.n_qubits
    array = np.asarray(state)
    if array.ndim == 1 and len(array) == machine.n_qubits and set(np.unique(array)) <= {0, 1} \
            and dimension != machine.n_qubits:
        ket = np.zeros(dimension)
        ket[lookup(full_basis(machine.n_qubits), array[None, :])[0]] = 1.0
        return np.outer(ket, ket).astype(complex)
    if array.shape == (dimension,):
        norm = np.linalg.norm(array)
        if abs(norm - 1) > 1e-8:
            raise ValueError(f"initial_state ket must have norm 1, got {norm!r}")
        return np.outer(array, array.conj()).astype(complex)
    if array.shape == (dimension, dimension):
        health = assess(array.astype(complex))
        if not health.is_physical():
            raise ValueError(f"initial_state is not a density matrix: {health}")
        return array.astype(complex)
    raise ValueError(f"initial_state must be an occupation pattern of {machine.n_qubits} qubits, a ket of "
                     f"length {dimension} or a {dimension}x{dimension} matrix; got shape {array.shape}")


def evolve(machine: Machine, times: Sequence[float] | np.ndarray, initial_state: Sequence[int] | np.ndarray |
           None = None, *, basis: str = "reachable") -> Evolution:
    """Evolve ρ(0) = ``initial_state`` (default |0…0⟩) under the local Lindblad equation.

    Parameters
    ----------
    machine : Machine
        The machine.
    times : array_like
        Non-decreasing times ≥ 0 (inverse energy units); ρ(0) is the state at t = 0.
    initial_state : pattern, ket or density matrix, optional
        See :func:`initial_density_matrix`.
    basis : {"reachable", "full"}
        Keep the patterns reachable from the initial state's support (exact) or all 2^N.
    """
    _check_choice("basis", basis, BASES)
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or not len(times) or not np.isfinite(times).all() or times[0] < 0 \
            or (np.diff(times) < 0).any():
        raise ValueError(f"times must be a non-empty, non-decreasing 1-d array of finite values >= 0, got {times!r}")
    start = time.perf_counter()
    rho0_full = initial_density_matrix(machine, initial_state)
    full = full_basis(machine.n_qubits)
    support = np.flatnonzero(np.abs(rho0_full).sum(axis=1) > 0)
    occupations = make_basis(machine, basis, seeds=full[support])
    positions = lookup(full, occupations)
    rho0 = rho0_full[np.ix_(positions, positions)]
    model = build_local_model(machine, occupations)

    states = np.zeros((len(times), model.dimension, model.dimension), dtype=complex)
    particle: dict[str, np.ndarray] = {r.name: np.zeros(len(times)) for r in machine.reservoirs}
    energy: dict[str, np.ndarray] = {r.name: np.zeros(len(times)) for r in machine.reservoirs}
    numbers = model.numbers
    for shift in range(-machine.n_qubits, machine.n_qubits + 1):
        sector = sector_layout(numbers, shift)
        if not sector.size:
            continue
        vector0 = sector.from_matrix(rho0)
        if not np.any(vector0):
            continue
        terms = liouvillian_terms(model, sector)
        vectors = _propagate(sum(terms.values()).tocsr(), vector0, times)
        for index, vector in enumerate(vectors):
            states[index] += sector.to_matrix(vector)
        if shift == 0:
            particle, energy = _currents(model, sector, terms, vectors)
    return Evolution(machine, times, states, model.occupations, particle, energy,
                     options={"basis": basis}, seconds=time.perf_counter() - start)


def _propagate(generator: sp.csr_matrix, vector0: np.ndarray, times: np.ndarray) -> np.ndarray:
    """exp(𝓛 t) vector0 at every time, stepping between consecutive times with exact propagators."""
    vectors = np.empty((len(times), len(vector0)), dtype=complex)
    dense = generator.toarray() if generator.shape[0] <= DENSE_LIMIT else None
    propagators: dict[float, np.ndarray] = {}
    current, now = vector0, 0.0
    for index, target in enumerate(times):
        step = float(target - now)
        if step > 0:
            if dense is not None:
                key = round(step, 12)
                if key not in propagators:
                    propagators[key] = scipy.linalg.expm(dense * step)
                current = propagators[key] @ current
            else:
                current = spla.expm_multiply(generator * step, current)
        vectors[index] = current
        now = float(target)
    return vectors


# --------------------------------------------------------------------------------------- spectrum
def relaxation_rate(machine: Machine, *, basis: str = "full", eigenvalues: int = 6) -> float:
    """Liouvillian gap: the smallest decay rate −Re λ over all nonzero eigenvalues λ of 𝓛.

    This sets the time scale on which any initial state approaches the steady state (paper, Fig. 2).
    Sectors up to ``DENSE_LIMIT`` elements are diagonalised exactly; larger ones with ARPACK in
    shift-invert mode around 0 (the ``eigenvalues`` closest to 0), which finds the slowest modes
    unless a faster mode oscillates with a very small frequency. Energy units.
    """
    _check_choice("basis", basis, BASES)
    model = build_local_model(machine, make_basis(machine, basis))
    rates = []
    for shift in range(0, machine.n_qubits + 1):
        sector = sector_layout(model.numbers, shift)
        if not sector.size:
            continue
        generator = liouvillian(model, sector)
        if sector.size <= DENSE_LIMIT:
            spectrum = np.linalg.eigvals(generator.toarray())
        else:
            count = min(eigenvalues, sector.size - 2)
            spectrum = spla.eigs(generator.tocsc(), k=count, sigma=1e-9 if shift == 0 else 0.0,
                                 return_eigenvectors=False)
        decay = np.sort(-spectrum.real)
        if shift == 0:
            decay = decay[1:]  # drop the stationary eigenvalue
        if len(decay):
            rates.append(float(decay[0]))
    return max(0.0, min(rates))
