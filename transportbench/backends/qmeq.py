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
    QmeQ's LAPACK calls run under :func:`transportbench.resources.blas_threads` ("dense": every CPU unless
    the ``threads`` option or ``TRANSPORTBENCH_BLAS_THREADS`` says otherwise); the count is in
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
Basis
    QmeQ keeps ρ per charge sector in the eigenbasis of the dots' Hamiltonian (Pauli: the populations
    only). It is rotated with QmeQ's eigenvectors (``qd.vecslst``) to QmeQ's Fock basis and placed in the
    project's full 2^N occupation basis (qubit 0 most significant); see :mod:`transportbench.result`.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import math
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from transportbench import TransportbenchWarning
from transportbench.backends import Capabilities, qmeq_budget, require_coupled_reservoir
from transportbench.model import Band, Machine, energy_scale
from transportbench.observables import fermion_pair_concurrence
from transportbench.occupation import full_basis
from transportbench.options import SolverOptions
from transportbench.resources import blas_threads, check_memory, format_bytes, memory_budget_bytes
from transportbench.result import DegenerateSteadyStateWarning, ErrorEstimate, Result, SolveFailure, StageChange, assess
from transportbench.validation import flag, integer, nonnegative, positive

NAME = "qmeq"
APPROACHES: dict[str, str] = {"pauli": "Pauli", "lindblad": "Lindblad", "redfield": "Redfield", "1vn": "1vN",
                              "2vn": "2vN"}
"""Accepted approach names (lower case; any letter case is accepted) and QmeQ's ``kerntype`` for each."""
CAPABILITIES = Capabilities(statistics=("fermion",), bands=("wide", "flat"), ideal_limit=False, dephasing=False)
"""Spinless fermions (qubit machines only where the Jordan–Wigner strings cancel), wide and flat bands."""
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
FIXED_NITER = 20
"""2vN iterations when ``converge=False`` and ``niter`` is not given."""
MAX_NITER = 40
"""Largest number of 2vN iterations per grid when ``converge=True`` and ``niter`` is not given."""
MIN_NITER = 3
"""Fewest 2vN iterations (the first, local one included) before the iteration may stop."""
MAX_KPNT = 8193
"""Default largest 2vN energy grid."""
DEFAULT_RHO_TOL = 3e-4
"""Default 2vN tolerance on max_ij |Δρ_ij| (absolute; ρ in the project's basis). Why this value: at the Fig. 3
point the changes of max |Δρ_ij| and of C(0, 1) that the old tolerance (1e-3 on C) judged were in the ratio
0.3–1.2 (iterations: 0.33; grid refinements 933 → 1867 → 3735 → 7473 points: 1.18, 0.48, 0.32), so 3e-4 on ρ
bounds |ΔC| by about 1e-3 as before; there the current test binds first and the converged result (grid,
iterations, C) is unchanged."""
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
TWO_VN_SETTINGS: tuple[str, ...] = ("kpnt", "niter", "converge", "rho_tol", "current_rtol", "current_floor",
                                    "max_kpnt", "check_bandwidth")
"""The settings of :class:`QmeqOptions` that apply to 2vN only."""
WIDE_BAND_2VN = "2vN approaches the wide band only slowly as D grows (band-edge level shifts ~ gamma E / D)"


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
        raise SolveFailure(f"QmeQ could not solve {what} (success flag False; its kernel was singular). "
                           "Check that every transition lies inside the band and that the steady state is unique.")


# -------------------------------------------------------------------------------------- options
def canonical_approach(approach: str) -> str:
    """QmeQ's ``kerntype`` for ``approach`` (case-insensitive); ValueError listing the valid names otherwise.

    QmeQ itself replaces an unknown ``kerntype`` by ``'Pauli'`` with only a printed warning.
    """
    kerntype = APPROACHES.get(approach.lower()) if isinstance(approach, str) else None
    if kerntype is None:
        raise ValueError(f"unknown QmeQ approach {approach!r}; valid approaches: {sorted(APPROACHES.values())}")
    return kerntype


@dataclass(frozen=True)
class QmeqOptions(SolverOptions):
    """Settings of a QmeQ solve; the 2vN-only ones are ``None`` ("not given") unless set.

    ``Result.options`` holds these with every default resolved (2vN: the grid, iterations and tolerances
    actually used), so ``solve_steady(result.machine, result.options)`` repeats the solve. The lead's band
    is not an option: it is ``Reservoir.band`` of the machine (module docstring, "Bands"). Giving a 2vN-only
    setting with another approach is a ValueError.

    Attributes
    ----------
    approach : {"2vN", "Pauli", "Lindblad", "Redfield", "1vN"}
        QmeQ's kerntype, any letter case on input, its canonical spelling after validation. ``"Lindblad"``
        is QmeQ's Lindblad approach, not the paper's local equation. Default ``"2vN"``.
    lamb_shift : bool
        First-order approaches: keep (QmeQ's ``itype=1``, wide-band digamma principal parts) or drop
        (``itype=3``) the principal parts; Pauli and Lindblad have none. 2vN always keeps them, so
        ``lamb_shift=False`` with 2vN is a ValueError. Default True.
    threads : int, optional
        BLAS/LAPACK threads for QmeQ's linear algebra (the user override of
        :func:`transportbench.resources.blas_threads`); None: ``TRANSPORTBENCH_BLAS_THREADS``, the
        process-wide setting, or every CPU. The count used is ``Result.stats["blas_threads"]``.
    progress : bool, optional
        2vN: a progress bar on stderr (iterations of every grid, with the last changes); None: only when
        stderr is a terminal. First-order approaches show none.

    Other Parameters
    ----------------
    kpnt : int, optional
        2vN: points of the energy grid on [−D, D] (``converge=False``), or the first grid of the refinement;
        ≥ 3. Default :func:`initial_kpnt` (spacing ≤ min(T, 2γ), energy units).
    niter : int, optional
        2vN: the number of iterations (``converge=False``; default ``FIXED_NITER``) or the most per grid
        (default ``MAX_NITER``); ≥ 1.
    converge : bool, optional
        2vN: refine the grid until ρ and the currents stop changing (default True) or solve once.
    rho_tol : float, optional
        2vN: absolute tolerance on max_ij |Δρ_ij| between iterations (half of it) and between grids
        (dimensionless; default ``DEFAULT_RHO_TOL``).
    current_rtol : float, optional
        2vN: tolerance on every particle and energy current, relative to the largest of its kind
        (default ``DEFAULT_CURRENT_RTOL``).
    current_floor : float, optional
        2vN: currents below ``current_floor`` × Σγ (particles per unit time; energy currents: × that times
        :func:`energy_scale`, energy² units) are judged absolutely, i.e. a change counts relative to the
        floor; ≥ 0, default ``CURRENT_FLOOR``. Lower it to resolve currents far below the machine's rate
        scale (e.g. cotunnelling leakage); 0 makes the test purely relative, which cannot settle at
        equilibrium.
    max_kpnt : int, optional
        2vN refinement: the largest grid (default ``MAX_KPNT``); the memory budget may stop it earlier.
        Only with ``converge=True``.
    check_bandwidth : bool, optional
        2vN refinement: after the grid converged, solve again on [−2D, 2D] and report the change
        (default True). Only with ``converge=True``.
    """

    approach: str = "2vN"
    lamb_shift: bool = True
    threads: int | None = None
    progress: bool | None = None
    kpnt: int | None = None
    niter: int | None = None
    converge: bool | None = None
    rho_tol: float | None = None
    current_rtol: float | None = None
    current_floor: float | None = None
    max_kpnt: int | None = None
    check_bandwidth: bool | None = None

    def check(self) -> None:
        """Validate and normalise the settings (ValueError naming the setting)."""
        def store(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        store("approach", canonical_approach(self.approach))
        store("lamb_shift", flag("lamb_shift", self.lamb_shift))
        if self.threads is not None:
            store("threads", integer("threads", self.threads, 1))
        if self.progress is not None:
            store("progress", flag("progress", self.progress))
        given = [name for name in TWO_VN_SETTINGS if getattr(self, name) is not None]
        if self.approach != "2vN":
            if given:
                raise ValueError(f"options {given} apply to the 2vN approach only, not to {self.approach!r}")
            return
        if not self.lamb_shift:
            raise ValueError("2vN always keeps the principal parts; lamb_shift=False is for first-order approaches")
        checks = {"kpnt": lambda v: integer("kpnt", v, 3), "niter": lambda v: integer("niter", v, 1),
                  "max_kpnt": lambda v: integer("max_kpnt", v, 3), "converge": lambda v: flag("converge", v),
                  "check_bandwidth": lambda v: flag("check_bandwidth", v),
                  "rho_tol": lambda v: positive("rho_tol", v), "current_rtol": lambda v: positive("current_rtol", v),
                  "current_floor": lambda v: nonnegative("current_floor", v)}
        for name in given:
            store(name, checks[name](getattr(self, name)))
        if self.converge is False and (self.max_kpnt is not None or self.check_bandwidth is not None):
            raise ValueError("max_kpnt and check_bandwidth belong to the grid refinement; converge=False solves once")
        if self.kpnt is not None and self.max_kpnt is not None and self.max_kpnt < self.kpnt:
            raise ValueError(f"max_kpnt must be >= kpnt = {self.kpnt}, got {self.max_kpnt}")

    def resolved(self, machine: Machine) -> QmeqOptions:
        """These options with every 2vN default filled in for ``machine`` (first-order: unchanged)."""
        if self.approach != "2vN":
            return self
        converge = True if self.converge is None else self.converge
        kpnt = initial_kpnt(machine, band_half_width(machine)) if self.kpnt is None else self.kpnt
        settings: dict[str, Any] = {
            "converge": converge, "kpnt": kpnt,
            "niter": (MAX_NITER if converge else FIXED_NITER) if self.niter is None else self.niter,
            "rho_tol": DEFAULT_RHO_TOL if self.rho_tol is None else self.rho_tol,
            "current_rtol": DEFAULT_CURRENT_RTOL if self.current_rtol is None else self.current_rtol,
            "current_floor": CURRENT_FLOOR if self.current_floor is None else self.current_floor,
        }
        if converge:
            settings["max_kpnt"] = MAX_KPNT if self.max_kpnt is None else self.max_kpnt
            settings["check_bandwidth"] = True if self.check_bandwidth is None else self.check_bandwidth
            if settings["max_kpnt"] < kpnt:
                raise ValueError(f"max_kpnt must be >= the first grid kpnt = {kpnt}, got {settings['max_kpnt']}")
        return dataclasses.replace(self, **settings)


Options = QmeqOptions


def _options(options: QmeqOptions | Mapping[str, Any] | None, settings: Mapping[str, Any]) -> QmeqOptions:
    """:meth:`QmeqOptions.build` that also takes a plain mapping of settings (e.g. an old ``Result.options``)."""
    if options is not None and not isinstance(options, QmeqOptions) and isinstance(options, Mapping):
        return QmeqOptions.build(**{**options, **settings})
    return QmeqOptions.build(options, **settings)


# -------------------------------------------------------------------------------------- the band


def default_bandwidth(machine: Machine) -> float:
    """``BANDWIDTH_FACTOR`` × :func:`energy_scale`: the default band half-width D (energy units).

    Why this value: every transition energy and Fermi window then lies in the inner third of the band,
    so the band edges cut no resonance and no Fermi tail; the first-order approaches do not depend on D at
    all (see the module docstring); the cost of 2vN grows in proportion to D, because its uniform energy
    grid must resolve T and Γ; and 2vN's D-independent (wide-band) limit lies far beyond any affordable D
    (see :func:`solve_steady`).
    For the paper's Fig. 3 point (largest addition energy ε + 2U + 2g = 31.1) this is D = 93.3.
    """
    return BANDWIDTH_FACTOR * energy_scale(machine)




def _deprecated_bandwidth(machine: Machine, bandwidth: object, where: str) -> Machine:
    """The ``bandwidth=`` alias: a DeprecationWarning, and ``machine`` with every lead on ``Band.flat(bandwidth)``."""
    warnings.warn(f"{where}(bandwidth=D) is deprecated: the band is the machine's, e.g. "
                  "Machine.triple_dot(band=Band.flat(D)); bandwidth=D puts every lead on Band.flat(D)",
                  DeprecationWarning, stacklevel=3)
    scale = energy_scale(machine)
    if not (isinstance(bandwidth, (int, float)) and not isinstance(bandwidth, bool) and math.isfinite(bandwidth)
            and bandwidth > scale):
        raise ValueError(f"bandwidth must be a finite number above every transition energy and Fermi window "
                         f"(energy_scale = {scale:g}), got {bandwidth!r}")
    return machine.with_band(Band.flat(float(bandwidth)))


def band_half_width(machine: Machine) -> float:
    """The half-width D QmeQ's 2vN uses: the machine's flat band, or :func:`default_bandwidth` for a wide band.

    Assumes :func:`check_machine` passed (one band kind; for 2vN one D).
    """
    widths = [r.band.width for r in machine.reservoirs if r.band.kind == "flat"]
    return max(widths) if widths else default_bandwidth(machine)


def _check_bands(machine: Machine, kerntype: str) -> None:
    bands = [r.band for r in machine.reservoirs]
    for reservoir in machine.reservoirs:
        if reservoir.band.kind == "lorentzian":
            raise ValueError(f"the {NAME} backend cannot represent the {reservoir.band} of reservoir "
                             f"{reservoir.name!r}: QmeQ's leads are flat bands [-D, D] (or their wide-band limit); "
                             "use Band.flat(D) or Band.wide(), or the heom backend for Lorentzian leads")
    kinds = sorted({band.kind for band in bands})
    if len(kinds) > 1:
        raise ValueError(f"the {NAME} backend needs one band kind for all leads, got {kinds} "
                         f"({', '.join(f'{r.name}: {r.band}' for r in machine.reservoirs)})")
    widths = sorted({band.width for band in bands if band.kind == "flat"})
    if kerntype == "2vN" and len(widths) > 1:
        raise ValueError(f"the {NAME} backend's 2vN solves all leads on one energy grid, so their flat bands must "
                         f"share one half-width D; got {', '.join(f'{r.name}: {r.band}' for r in machine.reservoirs)}")
    scale = energy_scale(machine)
    for reservoir in machine.reservoirs:
        if reservoir.band.kind == "flat" and not reservoir.band.width > scale:
            raise ValueError(f"the flat band of reservoir {reservoir.name!r} (D = {reservoir.band.width:g}) must "
                             f"contain every transition energy and Fermi window: D > energy_scale = {scale:g}")


def _band_notes(machine: Machine, kerntype: str) -> tuple[list[str], str | None]:
    """(notes on how the band is treated, the ``stats["bandwidth"]`` statement or None)."""
    kind = machine.reservoirs[0].band.kind
    if kerntype != "2vN":
        if kind == "wide":
            return [], None
        widths = ", ".join(sorted({f"{r.band.width:g}" for r in machine.reservoirs}))
        return [f"flat band D = {widths}: the first-order approaches use QmeQ's wide-band forms (itype "
                f"{ITYPE_PRINCIPAL_PARTS}/{ITYPE_NO_PRINCIPAL_PARTS}), so D enters neither rates nor principal parts "
                "(every transition lies inside the band)"], None
    width = band_half_width(machine)
    if kind == "wide":
        statement = f"wide band represented by the flat band [-D, D], D = {width:g}; {WIDE_BAND_2VN}"
    else:
        statement = f"flat band [-D, D], D = {width:g} (the machine's)"
    return [f"2vN band: {statement}"], statement


# -------------------------------------------------------------------------------------- checks
def _check_machine(machine: Machine, options: QmeqOptions) -> list[str]:
    """Refuse what QmeQ cannot represent or the memory budget cannot hold (ValueError); notes otherwise."""
    _check_bands(machine, options.approach)  # before CAPABILITIES: its Lorentzian message does not say why
    notes = CAPABILITIES.check(machine, NAME)
    require_coupled_reservoir(machine, NAME)
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
    _check_machine(machine, _options(options, {}))


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
    return _estimate(machine, _options(options, {})).bytes


# ----------------------------------------------------------------------------------- the system
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
        machine = _deprecated_bandwidth(machine, bandwidth, "build_system")
    if kerntype == "2vN" and kpnt is None:
        raise ValueError("the 2vN approach needs the energy grid kpnt")
    options = QmeqOptions(kerntype, lamb_shift=lamb_shift, kpnt=kpnt if kerntype == "2vN" else None)
    _check_machine(machine, options)
    return _build(machine, kerntype, lamb_shift, _dband(machine, kerntype), kpnt, python_kernels)


def _dband(machine: Machine, kerntype: str) -> float | dict[int, float]:
    """QmeQ's ``dband``: one D for 2vN (and wide bands), per lead for flat bands of first-order approaches."""
    if kerntype == "2vN" or machine.reservoirs[0].band.kind == "wide":
        return band_half_width(machine)
    return {lead: r.band.width for lead, r in enumerate(machine.reservoirs)}


def _build(machine: Machine, kerntype: str, lamb_shift: bool, dband: float | dict[int, float], kpnt: int | None,
           python_kernels: bool = False) -> Any:
    """The Builder, without checks (the caller checked the machine and the memory)."""
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
        dband=dband, indexing="charge", kerntype="py" + kerntype if python_kernels else kerntype, kpnt=kpnt,
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
    """A solved state: ρ in the project's basis and the currents (whose changes decide 2vN convergence)."""

    rho: np.ndarray
    particle: np.ndarray
    energy: np.ndarray

    def changes(self, other: _Observables, particle_floor: float, energy_floor: float) -> tuple[float, float]:
        """(max_ij |Δρ_ij|, largest relative change of a particle or energy current)."""
        d_rho = float(np.max(np.abs(self.rho - other.rho)))
        d_particle = np.max(np.abs(self.particle - other.particle)) / max(np.max(np.abs(self.particle)), particle_floor)
        d_energy = np.max(np.abs(self.energy - other.energy)) / max(np.max(np.abs(self.energy)), energy_floor)
        return d_rho, float(max(d_particle, d_energy))


def _observe(system: Any, machine: Machine) -> _Observables:
    return _Observables(density_matrix(system, machine), np.array(system.current, dtype=float),
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

    rho: float
    current: float
    current_floor: float
    particle_floor: float
    energy_floor: float

    def changes(self, new: _Observables, old: _Observables) -> tuple[float, float]:
        """(max |Δρ_ij|, relative change of the currents) from ``old`` to ``new``."""
        return new.changes(old, self.particle_floor, self.energy_floor)

    def met(self, changes: tuple[float, float], fraction: float = 1.0) -> bool:
        """Whether both changes are within ``fraction`` of their tolerance."""
        return changes[0] <= fraction * self.rho and changes[1] <= fraction * self.current


def _tolerance(machine: Machine, options: QmeqOptions) -> _Tolerance:
    """The tolerances of resolved 2vN ``options`` with the current floors of ``machine``."""
    total_rate = sum(r.rate for r in machine.reservoirs)
    floor = options.current_floor
    return _Tolerance(options.rho_tol, options.current_rtol, floor, floor * total_rate,
                      floor * total_rate * energy_scale(machine))


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
        """Grid, iterations, particle currents and wall time, as a note."""
        currents = ", ".join(f"{current:.5g}" for current in self.observables.particle)
        return (f"2vN grid D={self.bandwidth:g} kpnt={self.kpnt} spacing={2 * self.bandwidth / (self.kpnt - 1):.3g}: "
                f"{self.iterations} iterations, particle currents ({currents}), {self.seconds:.3g} s")

    def record(self) -> dict[str, Any]:
        """The grid as an entry of ``Result.stats["grids"]``."""
        return {"band_half_width": self.bandwidth, "kpnt": self.kpnt, "iterations": self.iterations,
                "iteration_rho_change": self.iteration_change[0],
                "iteration_current_change": self.iteration_change[1], "seconds": self.seconds}


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
    """Iterate 2vN on one grid of [−D, D] (D = ``bandwidth``), advancing the progress bar ``bar`` per iteration.

    Runs ``niter`` iterations, or fewer with ``stop_early``: once one iteration changes ρ and the currents
    by at most half their tolerance (after ``MIN_NITER`` iterations).
    """
    start = time.perf_counter()
    bar.set_description_str(f"2vN kpnt={kpnt} D={bandwidth:g}")
    system = _build(machine, "2vN", True, bandwidth, kpnt)
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
        bar.set_postfix_str(f"drho={change[0]:.1e} dI={change[1]:.1e}", refresh=False)
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
    """:func:`solve_steady` settings for one 2vN solve on a fixed grid (no refinement).

    The grid spans [−D, D] (D of the machine's band, :func:`band_half_width`) with the spacing of
    :func:`initial_kpnt` halved ``halvings`` times; nested, so each halving contains the previous grid.
    Scans that optimise over a parameter (e.g. a resonance search) need this: a grid refined separately at
    every point would put steps into the scanned function. Compare two ``halvings`` for the grid error.
    ``bandwidth`` is deprecated (DeprecationWarning): the grid is then made for ``Band.flat(bandwidth)``
    and the settings include ``bandwidth``, so that ``solve_steady`` puts the leads on that band too.
    """
    settings: dict[str, Any] = {}
    if bandwidth is not None:
        machine = _deprecated_bandwidth(machine, bandwidth, "fixed_grid_options")
        settings["bandwidth"] = float(bandwidth)
    kpnt = initial_kpnt(machine, band_half_width(machine))
    for _ in range(integer("halvings", halvings, 0)):
        kpnt = _refined(kpnt)
    return {**settings, "converge": False, "kpnt": kpnt, "niter": integer("niter", niter, 1)}


def _refined(kpnt: int) -> int:
    """Twice as fine a grid that contains every point of the old one."""
    return 2 * (kpnt - 1) + 1


@dataclass(frozen=True)
class _Outcome:
    """A finished solve before it becomes a :class:`Result`: the state, its record and its statistics."""

    observables: _Observables
    residual: float
    converged: bool
    unique: bool | None
    notes: tuple[str, ...]
    stats: dict[str, Any]
    error: ErrorEstimate | None = None


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


def _bandwidth_check(machine: Machine, reference: _GridSolve, niter: int, tolerance: _Tolerance,
                     bar: Any) -> tuple[str, _GridSolve, tuple[float, float]]:
    """Solve on [−2D, 2D] with the spacing of ``reference`` (a grid shown to be fine enough); compare in a note."""
    double = _solve_grid(machine, 2 * reference.bandwidth, _refined(reference.kpnt), niter, tolerance, True, bar)
    change = tolerance.changes(double.observables, reference.observables)
    note = (f"bandwidth check: D = {reference.bandwidth:g} -> {double.bandwidth:g} (same spacing, kpnt "
            f"{reference.kpnt} -> {double.kpnt}) changes rho by {change[0]:.2g} (max |drho_ij|) and the currents by "
            f"{change[1]:.2g} (relative)")
    if not tolerance.met(change):
        warnings.warn(f"the 2vN result depends on the band half-width D beyond the tolerance; {note}. D is part of "
                      "the 2vN model here; it is recorded in Result.stats['band_half_width']", BandwidthWarning,
                      stacklevel=5)
    return note, double, change


def _converge_2vN(machine: Machine, bandwidth: float, options: QmeqOptions, tolerance: _Tolerance,
                  bar: Any) -> tuple[_GridSolve, bool, list[str], dict[str, Any], ErrorEstimate]:
    """Refine the grid, check the iterations and (optionally) the bandwidth; warn where the budget ran out.

    Returns the finest grid's solve, whether the tolerances were met, the notes (error estimates, every
    grid solved, the bandwidth check), the statistics and the error estimate (grid and iteration stages;
    the band half-width D is part of the 2vN model, so its check stays a note and a warning).
    """
    niter = options.niter
    solves, grid_change, limit = _refine_grid(machine, bandwidth, options.kpnt, niter, options.max_kpnt, tolerance,
                                              bar)
    final = solves[-1]
    notes = [f"2vN on [-{bandwidth:g}, {bandwidth:g}] with kpnt={final.kpnt} (spacing "
             f"{2 * bandwidth / (final.kpnt - 1):.3g}) and {final.iterations} iterations; error estimates: last "
             f"refinement changed rho by {grid_change[0]:.2g} (max |drho_ij|) and the currents by "
             f"{grid_change[1]:.2g} (relative), the last iteration by {final.iteration_change[0]:.2g} and "
             f"{final.iteration_change[1]:.2g}"]
    grid_met = tolerance.met(grid_change)
    iterations_met = tolerance.met(final.iteration_change, fraction=0.5)
    budget = {f"the grid is not converged within {limit}": grid_met,
              f"the iterations are not converged within niter={niter}": iterations_met}
    problems = [text for text, met in budget.items() if not met]
    for problem in problems:
        message = (f"2vN: {problem} (rho_tol {tolerance.rho:g} on max |drho_ij|, current_rtol "
                   f"{tolerance.current:g}); {notes[0]}")
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
        notes.append(message)
    notes.extend(solve.summary() for solve in solves)
    stats: dict[str, Any] = {"grid_rho_change": grid_change[0], "grid_current_change": grid_change[1],
                             "refinement_limit": limit if not grid_met else None}
    grids = [solve.record() for solve in solves]
    if options.check_bandwidth and grid_met:
        note, double, change = _bandwidth_check(machine, solves[-2], niter, tolerance, bar)
        notes.append(note)
        grids.append(double.record())
        stats.update(bandwidth_rho_change=change[0], bandwidth_current_change=change[1])
    stats["grids"] = tuple(grids)
    stages = [_iteration_stage(final)]
    if len(solves) > 1:
        pair_change = abs(fermion_pair_concurrence(final.observables.rho, machine.order)
                          - fermion_pair_concurrence(solves[-2].observables.rho, machine.order))
        stages.insert(0, StageChange("grid", concurrence=pair_change, currents=grid_change[1], rho=grid_change[0]))
    return final, grid_met and iterations_met, notes, stats, ErrorEstimate(tuple(stages))


def _iteration_stage(solve: _GridSolve) -> StageChange:
    """The last 2vN iteration's change as an error-estimate stage (ρ and currents; C not measured)."""
    return StageChange("iterations", currents=solve.iteration_change[1], rho=solve.iteration_change[0])


def _solve_2vN(machine: Machine, options: QmeqOptions) -> _Outcome:
    bandwidth = band_half_width(machine)
    tolerance = _tolerance(machine, options)
    cost = estimate(machine, "2vN", bandwidth, options.kpnt)
    stats: dict[str, Any] = {"memory_estimate_bytes": cost.bytes,
                             "seconds_per_iteration_estimate": cost.seconds_per_iteration}
    progress = options.progress
    with tqdm(desc="2vN", unit="iteration", file=sys.stderr, leave=False,
              disable=None if progress is None else not progress) as bar:
        if options.converge:
            final, converged, notes, refinement, error = _converge_2vN(machine, bandwidth, options, tolerance, bar)
            stats.update(refinement)
        else:
            final = _solve_grid(machine, bandwidth, options.kpnt, options.niter, tolerance, False, bar)
            converged = False
            notes = [f"fixed 2vN grid kpnt={final.kpnt} and niter={final.iterations} (converge=False): convergence "
                     f"not assessed; the last iteration changed rho by {final.iteration_change[0]:.2g} "
                     f"(max |drho_ij|) and the currents by {final.iteration_change[1]:.2g} (relative)", final.summary()]
            stats["grids"] = (final.record(),)
            error = ErrorEstimate((_iteration_stage(final),))
    stats.update(kpnt=final.kpnt, iterations=final.iterations, iteration_rho_change=final.iteration_change[0],
                 iteration_current_change=final.iteration_change[1])
    notes.append(f"cost estimate of the first grid (kpnt={options.kpnt}): {format_bytes(cost.bytes)}, about "
                 f"{qmeq_budget.format_seconds(cost.seconds_per_iteration)} per iteration")
    unique, note = final.uniqueness
    return _Outcome(final.observables, math.nan, converged, unique, (*notes, *(note,) * (note is not None)), stats,
                    error)


# ---------------------------------------------------------------------------------- first order
def _solve_first_order(machine: Machine, options: QmeqOptions) -> _Outcome:
    """Solve a first-order approach; the residual is ‖K φ₀‖ in QmeQ's own kernel K.

    The residual leaves out the equation QmeQ replaces by the normalisation Tr ρ = 1 (it follows from the
    others when K preserves the trace). K acts on QmeQ's real representation of ρ (populations, and real
    and imaginary parts of ρ_bb' for b before b'); energy units.
    """
    kerntype = options.approach
    system = _build(machine, kerntype, options.lamb_shift, _dband(machine, kerntype), None)
    system.appr.make_kern_copy = True  # LAPACK then factorises a copy, and K survives the solve
    system.solve()
    _require_success(system, f"the {kerntype} approach")
    equations = system.kern @ system.phi0
    equations[system.appr.funcp.norm_row] = 0.0
    unique, note = _uniqueness(system)
    stats = {"kernel_size": int(system.kern.shape[0]),
             "memory_estimate_bytes": estimate(machine, kerntype, band_half_width(machine)).bytes}
    return _Outcome(_observe(system, machine), float(np.linalg.norm(equations)), True, unique,
                    () if note is None else (note,), stats)


# ---------------------------------------------------------------------------------------- public
def solve_steady(machine: Machine, options: QmeqOptions | None = None, /, *, bandwidth: float | None = None,
                 **settings: Any) -> Result:
    """Steady state of ``machine`` in one of QmeQ's approaches (conventions in the module docstring).

    Parameters
    ----------
    machine : Machine
        Solved as spinless fermions in ``machine.order`` on its leads' bands (``Reservoir.band``: wide or
        flat). Refused with a ValueError before any work: see :func:`check_machine`.
    options : QmeqOptions, optional
        The settings (default ``QmeqOptions()``: converged 2vN); ``settings`` change them by name
        (``approach="1vN"`` etc., see :class:`QmeqOptions`; unknown or inapplicable names are ValueErrors).
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
    chosen = _options(options, settings)
    if bandwidth is not None:
        machine = _deprecated_bandwidth(machine, bandwidth, "solve_steady")
    notes = _check_machine(machine, chosen)
    used = chosen.resolved(machine)
    band_notes, statement = _band_notes(machine, used.approach)
    start = time.perf_counter()
    with blas_threads("dense", used.threads) as count:
        outcome = _solve_2vN(machine, used) if used.approach == "2vN" else _solve_first_order(machine, used)
    stats = {**outcome.stats, "blas_threads": count}
    if used.approach == "2vN":
        stats.update(band_half_width=band_half_width(machine), bandwidth=statement)
    notes = (*band_notes, *outcome.notes, *notes, f"BLAS threads: {count}")
    if outcome.unique is False:
        warnings.warn(next(note for note in outcome.notes if "not unique" in note), DegenerateSteadyStateWarning,
                      stacklevel=2)
    names = [r.name for r in machine.reservoirs]
    state = outcome.observables
    return Result(
        machine=machine, backend=f"{NAME}:{used.approach}", rho=state.rho, occupations=full_basis(machine.n_qubits),
        particle_currents=dict(zip(names, map(float, state.particle), strict=True)),
        energy_currents=dict(zip(names, map(float, state.energy), strict=True)),
        options=used, seconds=time.perf_counter() - start, stats=stats,
        health=assess(state.rho, residual=outcome.residual, converged=outcome.converged, notes=notes,
                      unique=outcome.unique),
        statistics="fermion", error=outcome.error,
    )
