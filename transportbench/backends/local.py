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
* Uniqueness of the steady state is checked on every path: structurally (a group of coupled qubits
  without a driving reservoir conserves its excitation number), by the LU's condition estimate, or by
  a probe GMRES solve with a random right-hand side (iterative path). A steady state that is not
  unique is reported in ``Health.unique`` and by a :class:`DegenerateSteadyStateWarning`.
* Memory is estimated from the basis's patterns per excitation number before anything large is
  allocated, while the reachable basis is still being searched (:func:`steady_state_bytes`,
  :func:`evolution_bytes`, :func:`relaxation_bytes`), and refused beyond the budget of
  :mod:`transportbench.resources`. Every solve runs with one BLAS thread unless ``threads`` or
  ``TRANSPORTBENCH_BLAS_THREADS`` says otherwise.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from transportbench.backends import Capabilities
from transportbench.backends.local_model import (
    LocalModel,
    Sector,
    active_couplings,
    build_local_model,
    conserved_groups,
    liouvillian,
    liouvillian_terms,
    make_basis,
    sector_layout,
)
from transportbench.backends.steady_linalg import (
    DEGENERACY_CONDITION,
    condition_estimate,
    counted_gmres,
    residual_norms,
    trace_bordered,
)
from transportbench.convergence import ConvergenceWarning
from transportbench.model import Machine
from transportbench.observables import ParticleModel
from transportbench.occupation import full_basis, lookup
from transportbench.options import RunOptions, SolverOptions
from transportbench.resources import blas_threads, check_memory
from transportbench.result import DegenerateSteadyStateWarning, Result, assess
from transportbench.validation import choice, integer, nonnegative, positive

NAME = "local"
SOLVERS = ("auto", "direct", "iterative")
BASES = ("reachable", "full")
DIRECT_LIMIT = 1_000
"""Sector size up to which ``solver="auto"`` uses sparse LU; secular-block GMRES above."""
DENSE_LIMIT = 1500
"""Sector size up to which dynamics and spectra use dense linear algebra."""
DEFAULT_RTOL = 1e-12
"""Default relative residual of GMRES."""
DEFAULT_MAXITER = 50
"""Default GMRES restarts."""


# ------------------------------------------------------------------------------------ memory model
SPARSE_ENTRY_BYTES = 20
"""A stored nonzero: complex128 value and int32 index."""
SPARSE_COPIES = 2
"""Generator-sized sparse matrices alive at the peak (the terms and their sum, or the bordered matrix)."""
VECTOR_BYTES = 256
"""Per sector element: index arrays (kets, bras, several copies alive), masks and solution vectors."""
GMRES_RESTART = 100
"""Krylov vectors kept by the restarted GMRES: (restart + 1) complex vectors of the sector size."""
ILU_FILL = 10
"""``fill_factor`` of the incomplete LU of the secular block, an upper bound of its fill ratio."""
LU_DENSE_SHARE = 0.25
"""Share of the n² entries of an n-element sector that its sparse LU fills in (measured: 0.2 at n = 3432)."""


def _row_nonzeros(machine: Machine) -> int:
    """Upper bound of the nonzeros per row of 𝓛: diagonal, a hop on each side per coupling, a jump per reservoir."""
    return 1 + 2 * len(active_couplings(machine)) + len(machine.reservoirs)


def _sector_counts(counts: np.ndarray) -> tuple[float, float]:
    """Basis patterns and ΔN = 0 sector elements Σ_N D_N² for patterns per excitation number ``counts``."""
    counts = np.asarray(counts, dtype=float)
    return float(counts.sum()), float(np.sum(counts**2))


def _chosen_solver(solver: str, size: float) -> str:
    return solver if solver != "auto" else ("direct" if size <= DIRECT_LIMIT else "iterative")


def steady_state_bytes(machine: Machine, counts: np.ndarray, solver: str) -> float:
    """Estimated peak memory (bytes) of :func:`solve_steady` on a basis with ``counts[N]`` patterns of N excitations.

    Sparse generator copies (``SPARSE_COPIES`` × nonzeros × ``SPARSE_ENTRY_BYTES``), ``VECTOR_BYTES`` per
    sector element, and the solver's own: GMRES's ``GMRES_RESTART`` + 1 Krylov vectors, or the sparse LU's
    fill (``LU_DENSE_SHARE`` × n²). The incomplete LU of the secular block is checked separately once
    the block is known. Calibrated on the W machines n = 4, 5 (iterative): the NumPy/SciPy arrays traced at the
    peak are 0.92–0.96 × this estimate; the LU share on n = 252…3432 sectors.
    """
    patterns, size = _sector_counts(counts)
    nonzeros = size * _row_nonzeros(machine)
    estimate = SPARSE_COPIES * nonzeros * SPARSE_ENTRY_BYTES + size * VECTOR_BYTES + patterns * 8 * machine.n_qubits
    if _chosen_solver(solver, size) == "direct":
        return estimate + (nonzeros + LU_DENSE_SHARE * size**2) * SPARSE_ENTRY_BYTES
    return estimate + (GMRES_RESTART + 1) * size * 16


def evolution_bytes(machine: Machine, counts: np.ndarray, n_times: int) -> float:
    """Estimated peak memory (bytes) of :func:`evolve` at ``n_times`` times on a basis with ``counts`` (as above).

    The states (``n_times`` D×D complex matrices, twice for temporaries), one sector's sparse generator
    and solution vectors (the ΔN = 0 sector is the largest), and the dense propagator of a sector up to
    ``DENSE_LIMIT`` elements (generator, exponential and workspace).
    """
    patterns, size = _sector_counts(counts)
    sparse = SPARSE_COPIES * size * _row_nonzeros(machine) * SPARSE_ENTRY_BYTES + (n_times + 2) * size * 16
    return 2 * n_times * patterns**2 * 16 + sparse + 4 * min(size, DENSE_LIMIT) ** 2 * 16


def relaxation_bytes(machine: Machine, counts: np.ndarray) -> float:
    """Estimated peak memory (bytes) of :func:`relaxation_rate`.

    The sparse LU of shift-invert ARPACK on the largest (ΔN = 0) sector, or its dense eigenvalue problem
    up to ``DENSE_LIMIT`` elements.
    """
    _, size = _sector_counts(counts)
    return steady_state_bytes(machine, counts, "direct") + 3 * min(size, DENSE_LIMIT) ** 2 * 16


FILLING_EXPONENT_LIMIT = 700.0
"""(ε − μ)/T below which a reservoir's filling rate γ f(ε − μ) is a positive double (exp overflows near 709)."""


def _budgeted_basis(machine: Machine, basis: str, estimate: Callable[[np.ndarray], float], work: str,
                    seeds: np.ndarray | None = None) -> np.ndarray:
    """The basis of kind ``basis``, refused while it is made if it would need too much memory.

    ResourceBudgetError as soon as ``estimate(counts)`` bytes of ``work`` exceed the memory budget: at once
    for the least any basis holds (the vacuum and one excitation on each qubit a reservoir with γ > 0 fills,
    all reachable), during the reachable-basis search, before the full basis is built, and for the final basis.
    """

    def check(counts: np.ndarray) -> None:
        patterns, size = _sector_counts(counts)
        check_memory(estimate(counts), f"{work} of {machine.n_qubits} qubits ({basis} basis: ≥ {patterns:.3g} "
                                       f"patterns, ΔN = 0 sector of ≥ {size:.3g} elements)")

    filled = len({r.qubit for r in machine.reservoirs  # a rate γ f(ε − μ) > 0 fills the qubit from the vacuum
                  if r.rate > 0 and r.temperature > 0
                  and (machine.energies[r.qubit] - r.chemical_potential) / r.temperature < FILLING_EXPONENT_LIMIT})
    check(np.bincount([0, *[1] * filled], minlength=machine.n_qubits + 1))  # before any search: n = 20000 took minutes
    occupations = make_basis(machine, basis, seeds, check)
    check(np.bincount(occupations.sum(axis=1), minlength=machine.n_qubits + 1))
    return occupations


# ------------------------------------------------------------------------------------ steady state
@dataclass(frozen=True)
class _Kernel:
    """A trace-one stationary sector vector and what the solver learned about it."""

    vector: np.ndarray
    converged: bool
    notes: list[str]
    singular: str | None
    """Why the kept problem has more than one steady state (None: checked, unique)."""
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalOptions(SolverOptions):
    """Options of the local Lindblad backend.

    Attributes
    ----------
    basis : {"reachable", "full"}
        Keep the patterns reachable from the vacuum (exact for a unique steady state) or all 2^N.
    solver : {"auto", "direct", "iterative"}
        Sparse LU of the whole ΔN = 0 sector (with a condition estimate that detects a non-unique steady
        state); GMRES preconditioned by the secular block (see ``_secular_gmres``) with a probe solve that
        detects one (see ``_probe_singular``); or LU up to ``DIRECT_LIMIT`` elements and GMRES beyond.
    rtol : float, optional
        Relative residual tolerance of GMRES (dimensionless; default ``DEFAULT_RTOL``). Iterative only.
    maxiter : int, optional
        GMRES restarts of ``GMRES_RESTART`` steps each (default ``DEFAULT_MAXITER``). Iterative only.
    secular_window : float, optional
        Energy window (energy units) of the coherences the preconditioner solves exactly; default
        :func:`default_secular_window`. Iterative only.

    Settings that only the iterative solver uses are a ValueError with ``solver="direct"``. In
    ``Result.options`` the solver ``"auto"`` chose and the iterative defaults it used are filled in.
    """

    basis: str = "reachable"
    solver: str = "auto"
    rtol: float | None = None
    maxiter: int | None = None
    secular_window: float | None = None

    def check(self) -> None:
        """Validate every setting (ValueError naming it)."""
        choice("basis", self.basis, BASES)
        choice("solver", self.solver, SOLVERS)
        if self.rtol is not None:
            positive("rtol", self.rtol)
        if self.maxiter is not None:
            integer("maxiter", self.maxiter, minimum=1)
        if self.secular_window is not None:
            nonnegative("secular_window", self.secular_window)
        iterative_only = [name for name in ("rtol", "maxiter", "secular_window") if getattr(self, name) is not None]
        if self.solver == "direct" and iterative_only:
            raise ValueError(f"{iterative_only} apply to the iterative solver only, not to solver='direct'")

    def resolved(self, machine: Machine, chosen: str) -> LocalOptions:
        """These options with the solver ``chosen`` for ``machine`` and the defaults it uses filled in."""
        if chosen == "direct":  # "auto" chose LU: the iterative settings did not apply
            return dataclasses.replace(self, solver="direct", rtol=None, maxiter=None, secular_window=None)
        window = default_secular_window(machine) if self.secular_window is None else self.secular_window
        return dataclasses.replace(self, solver="iterative", rtol=self.rtol or DEFAULT_RTOL,
                                   maxiter=self.maxiter or DEFAULT_MAXITER, secular_window=window)


Options = LocalOptions
CAPABILITIES = Capabilities(statistics=("qubit", "fermion"), bands=("wide", "flat", "lorentzian"),
                            ideal_limit=True, dephasing=True, dynamics=True)
"""Qubits and fermions; every band, as the golden-rule rate at each jump's energy
(:func:`~transportbench.backends.local_model.band_density`); the ideal limit (wide band only); dephasing."""


def check_machine(machine: Machine, options: LocalOptions | None = None) -> None:
    """ValueError naming what the local equation cannot represent (a finite band in the ideal limit)."""
    CAPABILITIES.check(machine, NAME)
    finite = [r.name for r in machine.reservoirs if r.band.kind != "wide"]
    if machine.ideal_limit and finite:
        raise ValueError(f"the ideal limit (paper Eq. 3) assumes wide bands; reservoirs {finite} have finite bands")


def estimate_memory(machine: Machine, options: LocalOptions | None = None) -> float:
    """Bytes the steady-state solve needs (:func:`steady_state_bytes` of the basis it would keep).

    Finds the basis (the reachable-pattern search is itself budgeted: it stops with ResourceBudgetError
    once the patterns found imply more than the budget).
    """
    options = LocalOptions.build(options)
    occupations = _budgeted_basis(machine, options.basis, lambda counts: steady_state_bytes(
        machine, counts, options.solver), f"the local Lindblad steady state (solver {options.solver!r})")
    return steady_state_bytes(machine, np.bincount(occupations.sum(axis=1), minlength=machine.n_qubits + 1),
                              options.solver)


def solve_steady(machine: Machine, options: LocalOptions | None = None, /, *, run: RunOptions | None = None,
                 **settings: Any) -> Result:
    """Steady state of the local Lindblad equation of ``machine``.

    Parameters
    ----------
    machine : Machine
        The machine (energies in any one unit; ħ = k_B = 1).
    options : LocalOptions, optional
        The solver options; ``settings`` (the same names as keywords) build or change them.
    run : RunOptions, optional
        BLAS threads (default one: the sparse solve gains nothing from more) and memory budget; the keywords
        ``threads`` and ``memory_gib`` among ``settings`` change them.

    Returns
    -------
    Result
        ρ on the kept basis, currents per reservoir, health and the options used
        (``solve_steady(result.machine, result.options)`` repeats the solve); ``stats`` holds the sector
        size, the solver used, its iterations and the BLAS threads. ``health.unique`` is False when the
        steady state is not unique (a :class:`DegenerateSteadyStateWarning` is emitted and recorded in
        ``health.notes``), True when the whole state space was kept and the solver found the steady state
        unique, None when only the reachable patterns were checked (the other patterns only for conserved
        excitation numbers, see :func:`~transportbench.backends.local_model.conserved_groups`).
        ``health.converged`` says whether the solver met its tolerance.

    Raises
    ------
    ValueError
        For unknown or inapplicable settings and for what the backend cannot represent (:func:`check_machine`).
    ResourceBudgetError
        When the estimated memory (:func:`steady_state_bytes`) exceeds the budget of
        :mod:`transportbench.resources`, before the large allocations (during the basis search).
    """
    run, settings = RunOptions.split(run, settings)
    options = LocalOptions.build(options, **settings)
    check_machine(machine, options)
    start = time.perf_counter()
    with run.applied("sparse") as count:
        occupations = _budgeted_basis(machine, options.basis, lambda counts: steady_state_bytes(
            machine, counts, options.solver), f"the local Lindblad steady state (solver {options.solver!r})")
        model = build_local_model(machine, occupations)
        sector = sector_layout(model.numbers, 0)
        used = options.resolved(machine, _chosen_solver(options.solver, sector.size))
        terms = liouvillian_terms(model, sector)
        generator = sum(terms.values()).tocsr()
        kets, bras = sector.element_indices()
        energy_gap = model.level_energies[kets] - model.level_energies[bras]
        kernel = _solve_kernel(generator, sector, energy_gap, used)
        residual = residual_norms(generator, kernel.vector)[0]
        particle, energy = _currents(model, sector, terms, kernel.vector[None, :])
    notes = [*kernel.notes, f"ΔN = 0 sector of {sector.size} elements; {count} BLAS thread(s)"]
    unique = _uniqueness(machine, model, kernel.singular, notes)
    names = [r.name for r in machine.reservoirs]
    return Result.from_solve(
        machine, NAME, sector.to_matrix(kernel.vector), model.occupations, [particle[name][0] for name in names],
        [energy[name][0] for name in names], used, start, residual=residual, converged=kernel.converged,
        unique=unique, notes=notes, stats={"solver": used.solver, "basis_size": len(model.occupations),
                                           "sector_size": sector.size, "blas_threads": count, **kernel.stats})


def _uniqueness(machine: Machine, model: LocalModel, singular: str | None, notes: list[str]) -> bool | None:
    """Combine the structural and the solver's uniqueness checks; warn and note when the state is not unique."""
    reasons = [f"the excitation number of qubits {group} is conserved (no reservoir with γ > 0 reaches them)"
               for group in conserved_groups(machine)]
    if singular is not None:
        reasons.append(singular)
    if reasons:
        whole = model.dimension == 2**machine.n_qubits
        returned = "the one reached from the vacuum" if singular is None and not whole else "the solver's choice"
        message = f"the steady state is not unique: {'; '.join(reasons)}; the state returned is {returned}"
        warnings.warn(message, DegenerateSteadyStateWarning, stacklevel=3)
        notes.append(message)
        return False
    if model.dimension == 2**machine.n_qubits:
        return True
    notes.append(f"steady state unique on the {model.dimension} patterns reachable from the vacuum; the other "
                 f"2^{machine.n_qubits} − {model.dimension} were checked only for conserved excitation numbers "
                 "(basis='full' checks them)")
    return None


def default_secular_window(machine: Machine) -> float:
    """20 × the largest off-diagonal rate or coupling (max |g|, γ, κ), in energy units."""
    scales = [abs(g) for _, g in machine.couplings] + [r.rate for r in machine.reservoirs] + list(machine.dephasing)
    return 20.0 * max(scales, default=0.0)


def _bordered(generator: sp.csr_matrix, sector: Sector) -> tuple[sp.csc_matrix, np.ndarray]:
    """𝓛 with its first population equation replaced by the trace condition (:func:`.steady_linalg.trace_bordered`)."""
    kets, bras = sector.element_indices()
    return trace_bordered(generator, np.flatnonzero(kets == bras))


def _solve_kernel(generator: sp.csr_matrix, sector: Sector, energy_gap: np.ndarray, options: LocalOptions) -> _Kernel:
    matrix, rhs = _bordered(generator, sector)
    if options.solver == "iterative":
        return _secular_gmres(matrix, rhs, energy_gap, options.rtol, options.maxiter, options.secular_window)
    try:
        factor = spla.splu(matrix, permc_spec="COLAMD")
    except RuntimeError as error:  # SuperLU reports an exactly singular matrix
        return _degenerate(generator, sector, [], f"sparse LU failed ({error})")
    vector = factor.solve(rhs)
    condition = condition_estimate(matrix, factor)
    notes = [f"direct sparse LU; 1-norm condition estimate {condition:.2e}"]
    if not (np.isfinite(vector).all() and condition <= DEGENERACY_CONDITION):  # NaN counts as singular
        return _degenerate(generator, sector, notes, f"condition estimate {condition:.2e}")
    return _Kernel(vector, True, notes, None, {"condition_estimate": condition})


def _secular_gmres(matrix: sp.csc_matrix, rhs: np.ndarray, energy_gap: np.ndarray, tol: float, maxiter: int,
                   window: float) -> _Kernel:
    """GMRES preconditioned by the secular block: exact on elements with |E_a − E_b| ≤ window, Jacobi elsewhere.

    Populations and near-degenerate coherences (the set S) are solved with an incomplete LU of the
    bordered system restricted to S; every other coherence is divided by its diagonal −i(E_a − E_b) − …,
    whose modulus exceeds ``window``. The neglected couplings are of order g and γ, so each GMRES step
    gains roughly a factor (g + γ)/window. Uniqueness is then checked by :func:`_probe_singular`.
    """
    operator, exact = _secular_preconditioner(matrix, energy_gap, window)
    vector, info, iterations = _gmres(matrix, rhs, operator, tol, maxiter)
    converged = info == 0
    notes = [f"GMRES with secular-block preconditioner (window {window:g}, {exact} of {len(rhs)} elements "
             f"exact): {iterations} iterations, info={info}"]
    if not converged:
        message = f"GMRES did not reach rtol={tol:g} within {maxiter} restarts (info={info})"
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
        notes.append(message)
    singular, probe_note = _probe_singular(matrix, operator, restarts=iterations // GMRES_RESTART + 2)
    notes.append(probe_note)
    return _Kernel(vector, converged, notes, singular, {"iterations": iterations, "secular_elements": exact})


def _secular_preconditioner(matrix: sp.csc_matrix, energy_gap: np.ndarray,
                            window: float) -> tuple[spla.LinearOperator, int]:
    """The preconditioner of :func:`_secular_gmres` and the number of elements it treats exactly."""
    secular = np.abs(energy_gap) <= window
    inside, outside = np.flatnonzero(secular), np.flatnonzero(~secular)
    block = matrix[inside][:, inside].tocsc()
    check_memory(ILU_FILL * block.nnz * SPARSE_ENTRY_BYTES,
                 f"the incomplete LU of the secular block ({len(inside)} elements, {block.nnz} nonzeros)")
    factor = _incomplete_lu(block)
    diagonal = matrix.diagonal()[outside]

    def precondition(vector: np.ndarray) -> np.ndarray:
        result = np.empty(len(vector), dtype=complex)
        result[inside] = factor.solve(np.ascontiguousarray(vector[inside], dtype=complex))
        result[outside] = vector[outside] / diagonal
        return result

    return spla.LinearOperator(matrix.shape, precondition, dtype=complex), len(inside)


PRECONDITIONER_SHIFT = 1e-4
"""Relative diagonal shift (× ‖block‖₁) of a secular block whose incomplete LU meets an exactly zero pivot."""


def _incomplete_lu(block: sp.csc_matrix) -> spla.SuperLU:
    """Incomplete LU of the secular block, shifted by PRECONDITIONER_SHIFT × ‖block‖₁ when it is singular.

    A singular block (e.g. a degenerate steady state inside it) only makes the preconditioner inexact
    along its null space; GMRES still solves the consistent trace system, and the probe of
    :func:`_probe_singular` then reports the degeneracy.
    """
    try:
        return spla.spilu(block, drop_tol=1e-4, fill_factor=ILU_FILL, permc_spec="MMD_AT_PLUS_A")
    except RuntimeError:  # "Factor is exactly singular"
        shift = PRECONDITIONER_SHIFT * max(spla.norm(block, 1), 1.0)
        shifted = (block + shift * sp.identity(block.shape[0], format="csc")).tocsc()
        return spla.spilu(shifted, drop_tol=1e-4, fill_factor=ILU_FILL, permc_spec="MMD_AT_PLUS_A")


def _gmres(matrix: sp.csc_matrix, rhs: np.ndarray, operator: spla.LinearOperator, tol: float,
           restarts: int) -> tuple[np.ndarray, int, int]:
    """Restarted GMRES of ``GMRES_RESTART`` steps per cycle; returns the solution, SciPy's info and the iterations."""
    return counted_gmres(matrix, rhs, operator, rtol=tol, restart=GMRES_RESTART, maxiter=restarts)


PROBE_RTOL = 1e-6
"""Relative residual a probe solve must reach; a singular bordered matrix stalls near 1/√n (n elements)."""
PROBE_SEED = 20251125


def _probe_singular(matrix: sp.csc_matrix, operator: spla.LinearOperator, restarts: int) -> tuple[str | None, str]:
    """Inverse-iteration test of the bordered matrix B for the iterative path: why it is singular, or None; a note.

    B is singular exactly when the steady state is not unique (:func:`_bordered`). The trace
    right-hand side is always consistent, so the main solve converges either way; a random right-hand
    side r is not, when B is singular: GMRES (same preconditioner, the main solve's budget plus one
    restart) then stalls at a relative residual ≳ |⟨u, r⟩| ~ 1/√n (u: B's left null vector), far above
    ``PROBE_RTOL``. When B is merely near-singular the solution y grows instead:
    ‖B‖₁ ‖y‖₁ / ‖r‖₁ is a lower bound of the condition number, compared with ``DEGENERACY_CONDITION``
    as on the direct path. Costs one GMRES solve to ``PROBE_RTOL``.
    """
    size = matrix.shape[0]
    generator = np.random.default_rng(PROBE_SEED)
    probe = generator.standard_normal(size) + 1j * generator.standard_normal(size)
    probe /= np.linalg.norm(probe)
    vector, _, _ = _gmres(matrix, probe, operator, PROBE_RTOL, restarts)
    residual = float(np.linalg.norm(matrix @ vector - probe))
    growth = float(spla.norm(matrix, 1) * np.abs(vector).sum() / np.abs(probe).sum())
    note = (f"uniqueness probe: random right-hand side solved to relative residual {residual:.1e}, "
            f"condition number ≥ {growth:.1e}")
    if residual > 10 * PROBE_RTOL:
        return f"the bordered system is singular (probe residual {residual:.1e})", note
    if not growth <= DEGENERACY_CONDITION:
        return f"condition number ≥ {growth:.1e}", note
    return None, note


def _degenerate(generator: sp.csr_matrix, sector: Sector, notes: list[str], reason: str) -> _Kernel:
    """Minimum-norm trace-one element of the kernel (LSQR), for a steady state that is not unique."""
    kets, bras = sector.element_indices()
    trace_row = (kets == bras).astype(complex)
    stacked = sp.vstack([generator, sp.csr_matrix(trace_row)]).tocsr()
    rhs = np.zeros(sector.size + 1, dtype=complex)
    rhs[-1] = 1.0
    vector, stop = spla.lsqr(stacked, rhs, atol=1e-14, btol=1e-14, iter_lim=100 * sector.size)[:2]
    notes = [*notes, f"degenerate zero eigenvalue: returned the minimum-norm trace-one stationary state (LSQR "
                     f"stop reason {stop})"]
    return _Kernel(vector, stop in (1, 2, 4, 5), notes, reason)


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

    @property
    def model(self) -> ParticleModel:
        """The particle model of the states: ``machine.statistics`` in the string order ``machine.order``."""
        return ParticleModel(self.machine.statistics, self.machine.order)


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
           None = None, *, basis: str = "reachable", threads: int | None = None) -> Evolution:
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
    threads : int, optional
        BLAS threads (user override of :func:`~transportbench.resources.blas_threads`; default one).

    Raises
    ------
    ResourceBudgetError
        When the estimated memory (:func:`evolution_bytes`, and the initial 2^N × 2^N density matrix)
        exceeds the budget of :mod:`transportbench.resources`.
    """
    choice("basis", basis, BASES)
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or not len(times) or not np.isfinite(times).all() or times[0] < 0 \
            or (np.diff(times) < 0).any():
        raise ValueError(f"times must be a non-empty, non-decreasing 1-d array of finite values >= 0, got {times!r}")
    start = time.perf_counter()
    check_memory(2 * 16 * 4.0**machine.n_qubits, f"the initial density matrix of {machine.n_qubits} qubits")
    with blas_threads("sparse", threads):
        rho0_full = initial_density_matrix(machine, initial_state)
        full = full_basis(machine.n_qubits)
        support = np.flatnonzero(np.abs(rho0_full).sum(axis=1) > 0)
        occupations = _budgeted_basis(machine, basis, lambda counts: evolution_bytes(machine, counts, len(times)),
                                      f"the local Lindblad evolution over {len(times)} times", seeds=full[support])
        positions = lookup(full, occupations)
        model = build_local_model(machine, occupations)
        states, particle, energy = _evolve_sectors(model, rho0_full[np.ix_(positions, positions)], times)
    return Evolution(machine, times, states, model.occupations, particle, energy,
                     options={"basis": basis, "threads": threads},
                     seconds=time.perf_counter() - start)


def _evolve_sectors(model: LocalModel, rho0: np.ndarray, times: np.ndarray
                    ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """ρ(t) on the model's basis and the currents, propagating every ΔN sector present in ``rho0``."""
    machine = model.machine
    states = np.zeros((len(times), model.dimension, model.dimension), dtype=complex)
    particle: dict[str, np.ndarray] = {r.name: np.zeros(len(times)) for r in machine.reservoirs}
    energy: dict[str, np.ndarray] = {r.name: np.zeros(len(times)) for r in machine.reservoirs}
    for shift in range(-machine.n_qubits, machine.n_qubits + 1):
        sector = sector_layout(model.numbers, shift)
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
    return states, particle, energy


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
def relaxation_rate(machine: Machine, *, basis: str = "full", eigenvalues: int = 6, threads: int | None = None
                    ) -> float:
    """Liouvillian gap: the smallest decay rate −Re λ over all nonzero eigenvalues λ of 𝓛.

    This sets the time scale on which any initial state approaches the steady state (paper, Fig. 2).
    Sectors up to ``DENSE_LIMIT`` elements are diagonalised exactly; larger ones with ARPACK in
    shift-invert mode around 0 (the ``eigenvalues`` closest to 0), which finds the slowest modes
    unless a faster mode oscillates with a very small frequency. Energy units. ``threads``: BLAS
    threads (user override of :func:`~transportbench.resources.blas_threads`; default one). Raises
    ResourceBudgetError when the estimate :func:`relaxation_bytes` exceeds the memory budget.
    """
    choice("basis", basis, BASES)
    with blas_threads("sparse", threads):
        occupations = _budgeted_basis(machine, basis, lambda counts: relaxation_bytes(machine, counts),
                                      "the Liouvillian gap")
        model = build_local_model(machine, occupations)
        rates = [rate for shift in range(0, machine.n_qubits + 1)
                 if (rate := _slowest_decay(model, shift, eigenvalues)) is not None]
    return max(0.0, min(rates))


def _slowest_decay(model: LocalModel, shift: int, eigenvalues: int) -> float | None:
    """Smallest −Re λ of 𝓛 in the ΔN = ``shift`` sector (the stationary eigenvalue of ΔN = 0 excluded)."""
    sector = sector_layout(model.numbers, shift)
    if not sector.size:
        return None
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
    return float(decay[0]) if len(decay) else None
