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
    A larger null space emits a :class:`~transportbench.result.DegenerateSteadyStateWarning`,
    sets ``Health.unique = False`` and adds a note: the state returned is then one arbitrary solution.
Failures
    QmeQ reporting a singular kernel (its success flag) on a machine this backend accepted is a
    :class:`~transportbench.result.SolveFailure`; a missing or uncompiled QmeQ stays an ImportError or
    RuntimeError (an installation problem, not a property of the machine).
Threads
    QmeQ's LAPACK calls run under :meth:`transportbench.options.RunOptions.applied` ("dense": every CPU
    unless ``RunOptions.threads`` or ``TRANSPORTBENCH_BLAS_THREADS`` says otherwise); the count is in
    ``Result.stats["blas_threads"]``.

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
    with the local Lindblad backend on ``machine.replace(statistics="fermion")``. A qubit machine is
    accepted only when both models have the same Hamiltonian (every flip-flop joins neighbouring dots
    of ``machine.order``, :attr:`~transportbench.model.Machine.jordan_wigner_trivial`; a note says so),
    and refused with a ValueError otherwise (e.g. the triple dot with ``order=(0, 1, 2)``).
    The test suite checks this: QmeQ's Hamiltonian, mapped back, equals ours with fermion statistics.
Hamiltonian
    ``hsingle[(p, p)] = ε``, ``hsingle[(p, p')] = g`` (QmeQ adds the Hermitian conjugate), and
    ``coulomb[(p, p', p', p)] = U`` for p < p', which is U n_p n_p'.
Reservoirs
    One QmeQ lead per reservoir, in the order of ``machine.reservoirs``, with the reservoir's μ and T, a
    band of unit density of states, and the tunnelling amplitude t = √(γ / 2π) to the dot of its qubit,
    so that QmeQ's Γ = 2π|t|² equals the bare rate γ.
Bands (``Reservoir.band``)
    QmeQ's leads are flat bands [−D, D] or their wide-band limit. ``Band.flat(D)``: QmeQ's ``dband`` is D
    (D must exceed :func:`energy_scale`, so every transition and Fermi window lies inside the band); 2vN
    puts all leads on one energy grid, so there all leads must share one D (QmeQ would silently widen
    them to the largest). ``Band.wide()``: the first-order approaches are exactly wide-band (below); 2vN
    reaches the wide band only as D → ∞, slowly (the band edges shift the levels by O(γ E / D)), and
    represents it by the flat band of half-width :func:`default_bandwidth`, stated in the notes and in
    ``Result.stats["bandwidth"]``.
    ``Band.lorentzian(W)`` and leads of different band kinds are refused (ValueError).
Principal parts (Lamb shift)
    First-order approaches: ``lamb_shift=True`` uses QmeQ's ``itype=1`` (principal parts from the
    digamma function: the wide-band limit, independent of D), ``lamb_shift=False`` uses ``itype=3``
    (principal parts dropped, infinite band). Both count every transition, whatever D, so D does not
    enter the first-order approaches (measured: ρ and the currents agree to 1e-12 for D = 40 and 1e5);
    on a flat band a note says so. QmeQ's Pauli and Lindblad approaches have no principal parts, so
    there the switch changes nothing. 2vN always contains them (it is not perturbative in Γ) and lives
    on the finite band [−D, D]; its result depends on D (see :func:`solve_steady`).
Currents
    QmeQ's ``current[l]`` (particles per unit time) and ``energy_current[l]`` (energy per unit time,
    measured from the dots' energy zero) count flow from lead l into the dots as positive, which is the
    project's convention, so they are copied unchanged (tested on a single biased level).
Modules
    This module is the backend (checks, memory estimate, ``solve_steady``); the settings and bands are in
    :mod:`~transportbench.backends.qmeq_options`, QmeQ's Builder and the basis change in
    :mod:`~transportbench.backends.qmeq_system`, the approaches in
    :mod:`~transportbench.backends.qmeq_first_order` and :mod:`~transportbench.backends.qmeq_2vn`, the memory
    and time formulas in :mod:`~transportbench.backends.qmeq_budget`.
Basis
    QmeQ keeps ρ per charge sector in the eigenbasis of the dots' Hamiltonian (Pauli: the populations
    only). It is rotated with QmeQ's eigenvectors (``qd.vecslst``) to QmeQ's Fock basis and placed in the
    project's full 2^N occupation basis (qubit 0 most significant); see :mod:`transportbench.result`.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from transportbench.backends import Capabilities, missing_package, qmeq_budget, require_coupled_reservoir
from transportbench.backends.qmeq_2vn import BandwidthWarning, solve_2vN
from transportbench.backends.qmeq_first_order import solve_first_order
from transportbench.backends.qmeq_options import (
    APPROACHES,
    NAME,
    QmeqOptions,
    band_half_width,
    band_notes,
    canonical_approach,
    check_bands,
    default_bandwidth,
    deprecated_bandwidth,
    fixed_grid_options,
    initial_kpnt,
    parse_options,
)
from transportbench.backends.qmeq_system import build, dband, estimate, import_qmeq
from transportbench.model import Machine
from transportbench.occupation import full_basis
from transportbench.options import RunOptions
from transportbench.resources import check_memory
from transportbench.result import DegenerateSteadyStateWarning, Result

__all__ = ["APPROACHES", "CAPABILITIES", "NAME", "BandwidthWarning", "Options", "QmeqOptions", "build_system",
           "check_machine", "default_bandwidth", "estimate_memory", "fixed_grid_options", "missing_dependency",
           "solve_steady"]
"""The backend's public names; the settings' constants live in :mod:`~transportbench.backends.qmeq_options`."""

CAPABILITIES = Capabilities(statistics=("fermion",), bands=("wide", "flat"), ideal_limit=False, dephasing=False)
"""Spinless fermions (qubit machines only where the Jordan–Wigner strings cancel), wide and flat bands."""


Options = QmeqOptions


def missing_dependency() -> str | None:
    """None when QmeQ can be imported, else how to install it (QmeQ is looked for, not imported)."""
    return missing_package("qmeq", import_qmeq)


def _check_machine(machine: Machine, options: QmeqOptions) -> list[str]:
    """Refuse what QmeQ cannot represent or the memory budget cannot hold (ValueError); notes otherwise."""
    check_bands(machine, options.approach)  # before CAPABILITIES: its Lorentzian message does not say why
    notes = CAPABILITIES.check(machine, NAME)
    require_coupled_reservoir(machine, f"the {NAME} backend")
    cold = [r.name for r in machine.reservoirs if r.temperature <= 0]
    if cold:
        raise ValueError(f"QmeQ divides by the temperature; reservoirs {cold} have T = 0: use T > 0")
    cost = _estimate(machine, options)
    check_memory(cost.bytes, cost.what)
    return notes


def check_machine(machine: Machine, options: QmeqOptions | None = None) -> None:
    """ValueError naming what ``machine`` asks that QmeQ cannot represent with ``options``, before any work.

    Refused: the ideal limit, dephasing, reservoirs at T = 0, no reservoir with γ > 0, Lorentzian or mixed bands, flat
    bands narrower than :func:`energy_scale` (2vN: flat bands of different D), a qubit machine whose fermion
    model differs (:attr:`~transportbench.model.Machine.jordan_wigner_trivial` false), and an estimated memory
    beyond the budget (:class:`~transportbench.resources.ResourceBudgetError`).
    """
    _check_machine(machine, parse_options(options, {}))


def _estimate(machine: Machine, options: QmeqOptions) -> qmeq_budget.Estimate:
    width = band_half_width(machine)
    kpnt = None
    if options.approach == "2vN":
        kpnt = initial_kpnt(machine, width) if options.kpnt is None else options.kpnt
    return estimate(machine, options.approach, width, kpnt)


def estimate_memory(machine: Machine, options: QmeqOptions | None = None) -> float:
    """Bytes a solve of ``machine`` would need at its peak (2vN: on its first grid), from closed formulas only.

    See :mod:`transportbench.backends.qmeq_budget`; nothing of QmeQ is built.
    """
    return _estimate(machine, parse_options(options, {})).bytes


def build_system(machine: Machine, *, approach: str = "2vN", lamb_shift: bool = True,
                 bandwidth: float | None = None, kpnt: int | None = None, python_kernels: bool = False) -> Any:
    """The unsolved ``qmeq.Builder`` for ``machine`` (conventions in the module docstring).

    Parameters
    ----------
    machine : Machine
        The machine; what QmeQ cannot represent is refused (ValueError, see :func:`check_machine`). Its
        leads' band gives QmeQ's ``dband`` (wide band: :func:`default_bandwidth`).
    approach : {"Pauli", "Lindblad", "Redfield", "1vN", "2vN"}
        Case-insensitive.
    lamb_shift : bool
        Keep the principal parts of first-order approaches (``itype`` 1) or drop them (``itype`` 3).
    bandwidth : float, optional
        Deprecated: puts every lead on ``Band.flat(bandwidth)`` (DeprecationWarning).
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
    if bandwidth is not None:
        machine = deprecated_bandwidth(machine, bandwidth, "build_system")
    if kerntype == "2vN" and kpnt is None:
        raise ValueError("the 2vN approach needs the energy grid kpnt")
    options = QmeqOptions(kerntype, lamb_shift=lamb_shift, kpnt=kpnt if kerntype == "2vN" else None)
    _check_machine(machine, options)
    return build(machine, kerntype, lamb_shift, dband(machine, kerntype), kpnt, python_kernels)


def solve_steady(machine: Machine, options: QmeqOptions | None = None, /, *, run: RunOptions | None = None,
                 bandwidth: float | None = None, **settings: Any) -> Result:
    """Steady state of ``machine`` in one of QmeQ's approaches (conventions in the module docstring).

    Parameters
    ----------
    machine : Machine
        Solved as spinless fermions in ``machine.order`` on its leads' bands (``Reservoir.band``: wide or
        flat). Refused with a ValueError before any work: see :func:`check_machine`.
    options : QmeqOptions, optional
        The settings (default ``QmeqOptions()``: converged 2vN); ``settings`` change them by name
        (``approach="1vN"`` etc., see :class:`QmeqOptions`; unknown or inapplicable names are ValueErrors).
    run : RunOptions, optional
        BLAS threads (default every CPU: QmeQ's kernels are dense), the progress bar (2vN: the iterations of
        every grid, with the last changes) and the memory budget; the keywords ``threads``, ``progress`` and
        ``memory_gib`` among ``settings`` change them.
    bandwidth : float, optional
        Deprecated (DeprecationWarning): every lead on ``Band.flat(bandwidth)``; ``Result.machine`` is that
        machine.

    Returns
    -------
    Result
        ``backend`` is ``"qmeq:<approach>"`` (canonical spelling); ρ on the full 2^N basis; the currents per
        reservoir (into the system positive); ``options`` is the :class:`QmeqOptions` used with every default
        resolved, so ``solve_steady(result.machine, result.options)`` repeats the solve (2vN: ``kpnt`` and
        ``niter`` are the first grid and the iterations allowed per grid, not the grid reached); ``stats``:
        ``blas_threads``, ``memory_estimate_bytes``; first order ``kernel_size``; 2vN ``kpnt`` and
        ``iterations`` (of the grid returned), ``band_half_width`` (D), ``bandwidth`` (how the band is
        represented), ``grids`` (every grid solved: D, kpnt, iterations, last iteration changes, seconds),
        ``iteration_rho_change``/``iteration_current_change``, ``seconds_per_iteration_estimate``, and with
        ``converge``: ``grid_rho_change``/``grid_current_change`` (last refinement), ``refinement_limit``
        (what stopped an unconverged refinement, else None), ``bandwidth_rho_change``/
        ``bandwidth_current_change`` (the bandwidth check, when it ran). ``error`` (2vN): the
        :class:`~transportbench.result.ErrorEstimate` of the last grid refinement (ΔC, ρ, currents) and
        of the last iteration (ρ, currents). ``health``: the residual
        (first-order: ‖K φ₀‖ in QmeQ's own kernel; 2vN: NaN), whether the convergence criteria were met,
        whether the steady state is unique, and notes in words.

    Raises
    ------
    ValueError
        Unknown or inapplicable settings, or a machine QmeQ cannot represent.
    ResourceBudgetError
        Before QmeQ allocates anything, when the estimated memory exceeds the budget (a ValueError; see
        :mod:`transportbench.resources`). For 2vN the message also gives the estimated time per iteration.
    SolveFailure
        QmeQ's kernel was singular (its success flag).

    Notes
    -----
    2vN convergence: on each grid the iteration stops once one iteration changes every ρ_ij by at most
    rho_tol/2 and every current by at most current_rtol/2 (after ``MIN_NITER`` iterations; at the Fig. 3
    point the iterates alternate and shrink by a factor ≈ 0.75 per iteration, so the remaining error is below
    that change). The grid spacing is then halved (nested grids) until two grids agree within rho_tol and
    current_rtol, and the finer one is returned. A :class:`ConvergenceWarning` is emitted when ``max_kpnt``,
    the memory budget or ``niter`` runs out first. The bandwidth check solves on [−2D, 2D] with the spacing
    of the coarser of the two agreeing grids and compares with it; a change beyond the tolerance emits a
    :class:`BandwidthWarning`. The band edges shift the dots' levels by O(γ E / D), which moves the
    dark-state resonance, so 2vN approaches the wide band only slowly in D; D is a model parameter of
    2vN, always recorded in ``stats`` (studies/bandwidth_2vn.py extrapolates it against the exact answer).

    QmeQ's Fermi functions overflow for (E − μ)/T > 709; :func:`_first_iteration` explains why that is
    harmless and how exactly that warning is handled.
    """
    run, settings = RunOptions.split(run, settings)
    chosen = parse_options(options, settings)
    if bandwidth is not None:
        machine = deprecated_bandwidth(machine, bandwidth, "solve_steady")
    start = time.perf_counter()
    with run.applied("dense") as count:
        notes = _check_machine(machine, chosen)  # with the memory budget of ``run``
        used = chosen.resolved(machine)
        band_record, statement = band_notes(machine, used.approach)
        outcome = solve_2vN(machine, used, run) if used.approach == "2vN" else solve_first_order(machine, used)
    stats = {**outcome.stats, "blas_threads": count}
    if used.approach == "2vN":
        stats.update(band_half_width=band_half_width(machine), bandwidth=statement)
    notes = (*band_record, *outcome.notes, *notes, f"BLAS threads: {count}")
    if outcome.unique is False:
        warnings.warn(next(note for note in outcome.notes if "not unique" in note), DegenerateSteadyStateWarning,
                      stacklevel=2)
    state = outcome.observed
    return Result.from_solve(machine, f"{NAME}:{used.approach}", state.rho, full_basis(machine.n_qubits),
                             state.particle, state.energy, used, start, residual=outcome.residual,
                             converged=outcome.converged, unique=outcome.unique, notes=notes, stats=stats,
                             statistics="fermion", error=outcome.error)
