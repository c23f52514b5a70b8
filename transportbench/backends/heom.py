"""HEOM backend: the machine with fermionic leads solved numerically exactly (hierarchical equations of motion).

QuTiP 5 expands the baths (``qutip.solver.heom.FermionicBath``, one Lorentzian bath per reservoir,
Padé-expanded; the wide band's exponents are ours); we assemble the hierarchy's equations on the charge
blocks that couple to ρ (:mod:`transportbench.backends.heom_generator`, checked entry by entry against
QuTiP's ``HEOMSolver``), solve its steady state (:mod:`transportbench.backends.heom_steady`), read the
currents off the first-tier ADOs (:mod:`transportbench.backends.heom_hierarchy`) and control the
convergence in the number of Padé terms and the hierarchy depth. QuTiP is imported only inside the
functions that build a hierarchy; install it with ``pip install 'transportbench[heom]'`` or ``make setup``.

Conventions
-----------
Units
    ħ = k_B = 1, every energy in the machine's one unit.
Dots and signs
    As in :mod:`transportbench.backends.qmeq`: the dots are spinless fermions, dot p holds qubit
    ``machine.order[p]``, c_p = Π_{p' < p} (−1)^{n_p'} σ−_p (Jordan–Wigner string in ``machine.order``),
    H = Σ ε n + Σ g (c_i† c_j + h.c.) + Σ U n_i n_j. The operators are written directly on the project's
    basis (the Fock state with occupations n in dot order is the basis state where qubit order[p] has
    occupation n[p]; qubit 0 most significant bit), so ρ is returned on the full 2^N basis and compares
    elementwise with a QmeQ result. ``machine.statistics`` is ignored the way the QmeQ backend ignores it
    (a note is recorded for ``"qubit"``); for the paper's machines both models coincide.
Reservoirs
    Reservoir r couples c of its qubit to a lead with the Lorentzian spectral density (QuTiP's
    ``LorentzianEnvironment``) J_r(ω) = Γ_r W² / ((ω − μ_r)² + W²): Γ_r = ``reservoir.rate`` is the
    golden-rule rate of a level deep inside the band (J is the Γ(ω) of Γ(ω) f(ω) tunnelling-in rates; the
    U = 0 test against the Green's-function result with Σ_r(ω) = (Γ_r W/2)/(ω − μ_r + iW) checks this), and
    the band of half-width W is **centred at the lead's own μ_r**, so at finite W leads with different μ
    have differently placed bands. Only the wide band (W → ∞, J_r = Γ_r: ``Band.wide()`` on the reservoirs)
    is the model of the other approaches; at finite W (``Band.lorentzian(W)``) the result depends on W as
    O(Γ ΔE / W).
The wide band
    Solved in the hierarchy itself (``wide_band="direct"``, the default): f = 1/2 + (f − 1/2), the 1/2 is the
    time-local part (Γ_r/2) δ(t) of the correlation functions and enters every ADO X as
    (Γ_r/2)[s (d X d† + d† X d) − X] (s = ±1 its parity; derivation in
    :mod:`~transportbench.backends.heom_hierarchy`), the Padé poles of f − 1/2 are the exponents.
    ``wide_band="extrapolate"`` solves Lorentzian bands of half-widths W, 2W, 4W instead and extrapolates
    linearly in 1/W (the change between the extrapolations from (W, 2W) and (2W, 4W) is its "band" error).
Expansion and truncation
    Each lead's correlation functions are expanded in Padé poles (QuTiP's ``approx_by_pade`` for a Lorentzian
    band: ``pade`` poles per branch plus the Lorentzian pole, so 2 (pade + 1) exponents per lead; the wide
    band: the ``pade`` poles, 2 pade exponents per lead; one number for every lead or one per reservoir, since
    a cold lead's sharper Fermi function needs more); the hierarchy keeps every ADO with at most ``depth``
    excitations (each fermionic exponent at most once), or with ``ado_threshold`` > 0 only those of tier ≥ 2
    whose a priori size relative to ρ reaches the threshold (:func:`heom_generator.filtered`), the threshold
    then refined like the depth. With the wide band in the hierarchy,
    ``expansion="aaa"`` replaces the Padé poles of f − 1/2 by ``pade`` poles of a rational fit of f on each
    lead's window of transition energies (:mod:`~transportbench.backends.heom_fermi`): the same form and
    count of exponents, far fewer of them needed for a cold lead. Either way the largest error of the expanded
    f on each lead's window is in the result's stats (``fermi_error``) and notes.
Currents
    Positive from the reservoir into the system. J_r = Σ_{k∈r} Tr[N L_0k ρ_k] with L_0k the generator's
    link from first-tier ADO k to ρ (exactly −i Tr_B[H_T^(r), ρ_total]). The energy current
    J^E_r = −d⟨H_r⟩/dt (measured from the dots' energy zero, like QmeQ) follows by replacing the lead operator
    Σ t_q c_q by Σ ε_q t_q c_q = i ∂_t Σ t_q c_q(t), which differentiates the correlation function at the
    later time: exponent k (C_k ∝ exp(−ν_k t)) contributes its particle term times iν_k ("+") or −iν_k
    ("−"). The wide band's time-local part adds its share in the W → ∞ limit
    (:func:`~transportbench.backends.heom_hierarchy.wide_band_energy`). The tests check Σ_r J^E_r = 0 and the
    Landauer energy current at U = 0. Two wide-band leads on one dot at different temperatures: the Padé
    approximant of each Fermi function tends to 1/2 beyond |ω − μ| ≈ ξ_max T, at energies that differ between
    the leads, and the energy current between them keeps an error of about Γ_a Γ_b ln(T_a/T_b)/(2π) that
    more Padé terms do not remove (particle currents and ρ converge); the result's notes say so.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from transportbench.backends import (
    Capabilities,
    heom_generator,
    heom_steady,
    missing_package,
    require_coupled_reservoir,
)
from transportbench.backends import heom_fermi as fermi
from transportbench.backends import heom_hierarchy as hierarchy_module
from transportbench.backends.heom_solve import DEFAULT_MAX_ADOS, Solve, hierarchy_bytes, solve_hierarchy
from transportbench.convergence import Axis, Observed, Stop, Tolerances, describe_change, measure_change, refine
from transportbench.extrapolation import to_wide_band
from transportbench.model import Machine, energy_scale
from transportbench.observables import fermion_pair_concurrence
from transportbench.occupation import full_basis
from transportbench.options import RunOptions, SolverOptions
from transportbench.result import ErrorEstimate, Result, StageChange
from transportbench.validation import choice, flag, integer, nonnegative, positive

NAME = "heom"
BAND_FACTOR = 3.0
"""Default Lorentzian half-width W in units of :func:`energy_scale` (the QmeQ backend's default D is the same
multiple of the same scale)."""
START_PADE = 6
"""First number of Padé terms of the automatic convergence (fewer gave nonsense at the Fig. 3 energies)."""
PADE_STEP = 4
"""Padé terms added per refinement step (Lorentzian bands, and each width of the extrapolated wide band)."""
WIDE_PADE_STEP = 2
"""Padé terms added per step for the wide band in the hierarchy. Its depth converges later (at the Fig. 3 point
depth 2 → 3 moves C by more than ``DEFAULT_TOL``, 3 → 4 by far less), so the depth is checked at depth 4,
affordable only at the smallest Padé count that settles: a finer step finds it."""
START_DEPTH = 2
"""First depth of the automatic convergence (depth 1 is off by several per cent even at U = 0)."""
DEFAULT_TOL = 1e-4
"""Default tolerance on the concurrence C(0, 1) (absolute)."""
DEFAULT_CURRENT_RTOL = 1e-2
"""Default tolerance on every current, relative to the largest of its kind."""
DEFAULT_MAX_DEPTH = 4
DEFAULT_MAX_PADE = 30
DEFAULT_CURRENT_FLOOR = 1e-12
"""Default ``current_floor``: current changes are relative to max(largest current, floor × Σγ (× energy scale))."""
SOLVERS = ("auto", "direct", "iterative", "ilu", "qutip")
WIDE_BAND_METHODS = ("direct", "extrapolate")
THRESHOLD_STEP = math.sqrt(10.0)
"""The ADO threshold's refinement divides it by this per step (further where a step would leave the same ADOs):
half a decade, since a decade at depth 4 of five dots quadruples the ADOs kept (the cold W machine at poles 10/16:
21 422 at 1e-6, 85 545 at 1e-7, just beyond 8 GiB)."""
WIDE_BAND_FACTORS = (1.0, 2.0, 4.0)
"""``wide_band="extrapolate"`` solves at these multiples of ``wide_band_width`` and extrapolates linearly in 1/W."""


# --------------------------------------------------------------------------------------- checks
def default_band_width(machine: Machine) -> float:
    """``BAND_FACTOR`` × :func:`energy_scale`: the default Lorentzian half-width W (energy units; 93.3 at Fig. 3)."""
    return BAND_FACTOR * energy_scale(machine)


@dataclass(frozen=True)
class HeomOptions(SolverOptions):
    """Options of the HEOM backend (the band is the reservoirs' :class:`~transportbench.model.Band`).

    Attributes
    ----------
    converge : bool, optional
        Raise the Padé terms, then the depth, until C(0, 1) and the currents settle (default, unless
        ``depth`` or ``pade`` is given without it).
    depth : int, optional
        Hierarchy depth: the fixed value (``converge=False``) or the first one (default ``START_DEPTH``).
    pade : int or mapping {reservoir name: int}, optional
        Padé terms per branch: fixed, or the first value (default ``START_PADE``); one number for every lead,
        or one per reservoir (every reservoir named), e.g. more for a cold lead, whose Fermi function is
        sharper. The convergence raises every lead's terms by ``PADE_STEP`` (``WIDE_PADE_STEP`` for the wide
        band in the hierarchy; up to ``max_pade``).
    tol : float
        Tolerance on C(0, 1) (absolute), default ``DEFAULT_TOL``.
    current_rtol : float
        Tolerance on every particle and energy current, relative to the largest of its kind.
    current_floor : float
        Currents below ``current_floor`` × Σγ (energy currents: × :func:`energy_scale` too) are judged
        absolutely against that floor (dimensionless, ≥ 0; default ``DEFAULT_CURRENT_FLOOR``); raise it for a
        machine at equilibrium, whose currents are zero up to the solver's round-off.
    max_depth, max_pade, max_ados : int
        Budgets of the convergence; ``max_ados`` also refuses a fixed solve.
    solver : {"auto", "direct", "iterative", "ilu", "qutip"}
        ``"direct"``: sparse LU of the charge-reduced hierarchy; ``"iterative"``: GMRES on the hierarchy
        applied as an operator (never stored), preconditioned by the exact shallow hierarchy (depth 2, or 1
        for large ADO blocks) and the deeper tiers' own blocks; ``"ilu"``: GMRES with an incomplete
        LU; ``"qutip"``: QuTiP's ``HEOMSolver.steady_state`` (slow; for cross-checks); ``"auto"``: direct at
        depth ≤ 2 up to ``heom_solve.DIRECT_UNKNOWNS`` unknowns, else iterative, and direct after all when
        GMRES fails and the LU fits the memory budget (recorded in the notes); ``"qutip"`` cannot solve the
        wide band in the hierarchy.
    wide_band : {"direct", "extrapolate"}, optional
        Wide-band leads only: ``"direct"`` puts the wide band in the hierarchy (its time-local term on every
        ADO; one hierarchy per step), ``"extrapolate"`` solves Lorentzian bands of half-widths W, 2W, 4W and
        extrapolates linearly in 1/W (three hierarchies per step and a "band" error stage). Default
        ``"direct"``, or ``"extrapolate"`` when ``wide_band_width`` is given.
    wide_band_width : float, optional
        ``wide_band="extrapolate"`` only: the smallest Lorentzian half-width W (energy units); default
        :func:`default_band_width`.
    expansion : {"pade", "aaa"}
        The expansion of each wide-band lead's f − 1/2 in ``pade`` poles (per branch): ``"pade"`` (default) its
        Padé approximant, ``"aaa"`` a rational fit with as many poles on the lead's window
        |ω − μ_r| ≤ max |E − μ_r| + margin (E the transition energies of the lead's dot;
        :func:`~transportbench.backends.heom_fermi.lead_windows`), accurate to far larger (E − μ)/T with few
        poles. ``"aaa"`` needs the wide band in the hierarchy (``wide_band="direct"``).
    ado_threshold : float
        Leave out the ADOs of tier ≥ 2 whose a priori size relative to ρ is below this (dimensionless; the
        estimate of :func:`~transportbench.backends.heom_generator.importance`): deep hierarchies of many
        exponents keep a small fraction of their ADOs. 0 (default) keeps every ADO. With ``converge`` the
        threshold is refined last, divided by ``THRESHOLD_STEP`` until C and the currents settle; its last
        change is the "threshold" stage of the error estimate. ``solver="qutip"`` refuses a threshold.

    In ``Result.options`` ``converge``, ``depth``, ``pade``, ``wide_band`` and ``wide_band_width`` are filled
    in (the last two for wide-band leads).
    """

    converge: bool | None = None
    depth: int | None = None
    pade: int | Mapping[str, int] | None = None
    tol: float = DEFAULT_TOL
    current_rtol: float = DEFAULT_CURRENT_RTOL
    current_floor: float = DEFAULT_CURRENT_FLOOR
    max_depth: int = DEFAULT_MAX_DEPTH
    max_pade: int = DEFAULT_MAX_PADE
    max_ados: int = DEFAULT_MAX_ADOS
    solver: str = "auto"
    wide_band: str | None = None
    wide_band_width: float | None = None
    expansion: str = "pade"
    ado_threshold: float = 0.0

    def check(self) -> None:
        """Validate every setting (ValueError naming it)."""
        if self.converge is not None:
            flag("converge", self.converge)
        if self.depth is not None:
            integer("depth", self.depth, minimum=1)
        if isinstance(self.pade, Mapping):
            if not self.pade:
                raise ValueError("pade per reservoir is empty; give one number or one per reservoir")
            for name, count in self.pade.items():
                integer(f"pade[{name!r}]", count, minimum=1)
        elif self.pade is not None:
            integer("pade", self.pade, minimum=1)
        positive("tol", self.tol)
        positive("current_rtol", self.current_rtol)
        nonnegative("current_floor", self.current_floor)
        for name in ("max_depth", "max_pade", "max_ados"):
            integer(name, getattr(self, name), minimum=1)
        choice("solver", self.solver, SOLVERS)
        choice("expansion", self.expansion, fermi.EXPANSIONS)
        nonnegative("ado_threshold", self.ado_threshold)
        if self.ado_threshold > 0 and self.solver == "qutip":
            raise ValueError("ado_threshold needs our own hierarchy; solver='qutip' solves every ADO")
        if self.wide_band is not None:
            choice("wide_band", self.wide_band, WIDE_BAND_METHODS)
        if self.wide_band_width is not None:
            positive("wide_band_width", self.wide_band_width)
            if self.wide_band == "direct":
                raise ValueError("wide_band_width applies only to wide_band='extrapolate' (the direct wide band has "
                                 "no width)")
        start_depth = self.depth or START_DEPTH
        start_pade = max(self.pade.values()) if isinstance(self.pade, Mapping) else self.pade or START_PADE
        if self.converge and (start_depth > self.max_depth or start_pade > self.max_pade):
            raise ValueError(f"the starting depth/pade ({self.depth}, {self.pade}) exceed max_depth/max_pade "
                             f"({self.max_depth}, {self.max_pade})")

    def resolved(self, machine: Machine) -> HeomOptions:
        """These options with the defaults filled in for ``machine``."""
        converge = self.converge if self.converge is not None else (self.depth is None and self.pade is None)
        method = width = None
        if all(r.band.kind == "wide" for r in machine.reservoirs):
            method = self.wide_band or ("extrapolate" if self.wide_band_width is not None else "direct")
            width = (self.wide_band_width or default_band_width(machine)) if method == "extrapolate" else None
        return dataclasses.replace(self, converge=converge, depth=self.depth or START_DEPTH,
                                   pade=self.pade or START_PADE, wide_band=method, wide_band_width=width)


Options = HeomOptions
CAPABILITIES = Capabilities(statistics=("fermion",), bands=("wide", "lorentzian"), ideal_limit=False,
                            dephasing=False, exact=True)
"""Spinless fermions; Lorentzian bands and the wide band exactly (the wide band in the hierarchy or extrapolated)."""


def missing_dependency() -> str | None:
    """None when QuTiP can be imported, else how to install it (QuTiP is looked for, not imported)."""
    return missing_package("qutip", hierarchy_module.import_qutip)


def check_machine(machine: Machine, options: HeomOptions | None = None) -> None:
    """ValueError naming what HEOM cannot represent (see :data:`CAPABILITIES`; no leads; T = 0; mixed bands)."""
    CAPABILITIES.check(machine, NAME)
    if options is not None and options.pade is not None:
        hierarchy_module.poles_per_lead(machine, options.pade)  # every reservoir named, no other
    require_coupled_reservoir(machine, f"the {NAME} backend")
    cold = [r.name for r in machine.reservoirs if r.temperature <= 0]
    if cold:
        raise ValueError(f"the Padé expansion of the Fermi function needs T > 0; reservoirs {cold} have T = 0")
    if options is not None and options.expansion != "pade" and (
            options.wide_band == "extrapolate" or any(r.band.kind != "wide" for r in machine.reservoirs)):
        raise ValueError(f"expansion={options.expansion!r} needs wide-band leads solved in the hierarchy "
                         "(wide_band='direct'); Lorentzian bands are Padé-expanded by QuTiP")
    widths = {r.band.width for r in machine.reservoirs}
    if len({r.band.kind for r in machine.reservoirs}) > 1 or len(widths) > 1:
        raise ValueError(f"HEOM here needs one band for every lead (all wide, or Lorentzian of one width); got "
                         f"{', '.join(f'{r.name}: {r.band}' for r in machine.reservoirs)}")


def estimate_memory(machine: Machine, options: HeomOptions | None = None) -> float:
    """Bytes of the first hierarchy the solve builds (later, finer ones are checked as they are reached)."""
    chosen = HeomOptions.build(options).resolved(machine)
    size = None
    if chosen.ado_threshold > 0:  # counted on the filtered layout of the first width solved
        with hierarchy_module.fermi_expansion(chosen.expansion):
            structure = hierarchy_module.filtered_layout(machine, band_widths(machine, chosen)[0], chosen.pade,
                                                         chosen.depth, chosen.ado_threshold)[0]
        size = hierarchy_module.layout_size(machine, structure)
    return hierarchy_bytes(machine, chosen.pade, chosen.depth, chosen.solver, wide=chosen.wide_band == "direct",
                           size=size)


# ---------------------------------------------------------------------------------- convergence
@dataclass(frozen=True)
class Outcome:
    """The solve returned at one band width, whether the tolerances were met, its error estimate and notes."""

    final: Solve
    converged: bool
    notes: tuple[str, ...]
    error: ErrorEstimate = ErrorEstimate()


def observed(solve: Solve) -> Observed:
    """What the convergence compares between two hierarchy solves."""
    return Observed(solve.rho, solve.particle, solve.energy, solve.concurrence)


def tolerances(chosen: HeomOptions, machine: Machine) -> Tolerances:
    """The convergence tolerances of resolved ``chosen``: C(0, 1) and the currents (ρ is not judged).

    At equilibrium (every reservoir at one μ and T) the exact currents are zero and what a hierarchy gives is
    its truncation's leak, which no relative test settles: there only C is judged, and the leak is reported
    by ``Health.equilibrium_current``.
    """
    return Tolerances(currents=math.inf if machine.at_equilibrium else chosen.current_rtol,
                      current_floor=chosen.current_floor, concurrence=chosen.tol)


def _solve(machine: Machine, chosen: HeomOptions, band_width: float, pade: hierarchy_module.Poles, depth: int,
           bar: tqdm, threshold: float) -> Solve:
    """One hierarchy solve, shown on the progress bar."""
    settings = f"W={band_width:g} pade={pade} depth={depth}" + (f" threshold={threshold:g}" if threshold else "")
    bar.set_postfix_str(settings)
    token = heom_steady.ON_ITERATION.set(lambda done: bar.set_postfix_str(f"{settings}, GMRES iteration {done}"))
    try:
        solved = solve_hierarchy(machine, band_width, pade, depth, solver=chosen.solver, max_ados=chosen.max_ados,
                                 threshold=threshold)
    finally:
        heom_steady.ON_ITERATION.reset(token)
    bar.update()
    return solved


def _axes(machine: Machine, chosen: HeomOptions, band_width: float, bar: tqdm) -> tuple[Axis[Solve], ...]:
    """The refinement axes, within the budgets.

    Padé terms (every lead + the Padé step), then the depth (+1), then with an ADO threshold the threshold
    (:func:`finer_threshold`).
    """

    def attempt(pade: hierarchy_module.Poles, depth: int, threshold: float) -> Solve | Stop:
        try:
            return _solve(machine, chosen, band_width, pade, depth, bar, threshold)
        except ValueError as refusal:  # max_ados or the memory budget (ResourceBudgetError is a ValueError)
            return Stop(str(refusal))

    def more_pade(current: Solve) -> Solve | Stop:
        poles = hierarchy_module.poles_per_lead(machine, current.pade)
        step = WIDE_PADE_STEP if math.isinf(band_width) else PADE_STEP
        more = tuple(min(count + step, chosen.max_pade) for count in poles)
        if more == poles:
            return Stop(f"max_pade={chosen.max_pade} reached")
        return attempt(hierarchy_module.compact_poles(machine, more), current.depth, current.threshold)

    def deeper(current: Solve) -> Solve | Stop:
        if current.depth + 1 > chosen.max_depth:
            return Stop(f"max_depth={chosen.max_depth} reached")
        try:
            threshold = threshold_reaching(machine, band_width, current.pade, current.depth + 1, current.threshold)
        except ValueError as refusal:  # the ADOs listed before filtering
            return Stop(str(refusal))
        return attempt(current.pade, current.depth + 1, threshold)

    def lower_threshold(current: Solve) -> Solve | Stop:
        try:
            threshold = finer_threshold(machine, band_width, current)
        except ValueError as refusal:  # the ADOs listed before filtering
            return Stop(str(refusal))
        return current if threshold is None else attempt(current.pade, current.depth, threshold)

    axes = (Axis("pade", "Padé terms", more_pade), Axis("depth", "depth", deeper))
    return (*axes, Axis("threshold", "ADO threshold", lower_threshold)) if chosen.ado_threshold > 0 else axes


def threshold_reaching(machine: Machine, band_width: float, pade: hierarchy_module.Poles, depth: int,
                       threshold: float) -> float:
    """``threshold``, ÷ ``THRESHOLD_STEP`` as often as it takes for the hierarchy to keep an ADO of tier ``depth``.

    A depth step whose new tier the threshold empties would change nothing and pass for converged; this lowers
    the threshold with the step instead (the step's change then holds both). 0 stays 0.
    """
    while threshold > 0:
        structure, exponents, _ = hierarchy_module.filtered_layout(machine, band_width, pade, depth, threshold)
        deepest = structure.tiers == depth
        if not deepest.any() or structure.present[deepest].any():
            return threshold
        largest = float(heom_generator.importance(structure, exponents)[deepest].max())
        threshold = threshold / THRESHOLD_STEP ** _divisions(threshold, largest)
    return threshold


def _divisions(threshold: float, estimate: float) -> int:
    """The fewest divisions by ``THRESHOLD_STEP`` (at least one) that bring ``threshold`` to ``estimate`` or below."""
    if estimate <= 0:
        return 1
    return max(1, math.ceil(math.log(threshold / estimate, THRESHOLD_STEP)))


def finer_threshold(machine: Machine, band_width: float, solved: Solve) -> float | None:
    """The next ADO threshold below ``solved``'s: ÷ ``THRESHOLD_STEP`` as often as it takes to keep more ADOs.

    The fewest divisions that bring the largest estimate left out (:func:`heom_generator.importance`) above
    the threshold; None when ``solved`` left no ADO out (no filtering left to refine).
    """
    structure, exponents, _ = hierarchy_module.filtered_layout(machine, band_width, solved.pade, solved.depth,
                                                               solved.threshold)
    left_out = ~structure.present
    if not left_out.any():
        return None
    largest = float(heom_generator.importance(structure, exponents)[left_out].max())
    return 0.0 if largest <= 0 else solved.threshold / THRESHOLD_STEP ** _divisions(solved.threshold, largest)


def converge(machine: Machine, chosen: HeomOptions, band_width: float, bar: tqdm) -> Outcome:
    """Raise the Padé terms (at the starting depth), then the depth, until C(0, 1) and the currents settle.

    Runs on :func:`transportbench.convergence.refine`: each stage stops when one step changes C by at most
    ``tol`` and every current by at most ``current_rtol``; the finer solve is kept and the last change of each
    stage is its error estimate. A budget that stops a stage first (``max_pade``, ``max_depth``,
    ``max_ados``, memory) emits a :class:`~transportbench.convergence.ConvergenceWarning`.
    """
    first = _solve(machine, chosen, band_width, chosen.pade, chosen.depth, bar, chosen.ado_threshold)
    refinement = refine(first, _axes(machine, chosen, band_width, bar), observed, machine, tolerances(chosen, machine),
                        "HEOM", describe=Solve.describe)
    final = refinement.final
    notes = (first.describe(), *refinement.notes,
             f"final: W={band_width:g}, pade={final.pade}, depth={final.depth}")
    return Outcome(final, refinement.converged, notes, refinement.error)


def _fixed(machine: Machine, chosen: HeomOptions, band_width: float, bar: tqdm) -> Outcome:
    solved = _solve(machine, chosen, band_width, chosen.pade, chosen.depth, bar, chosen.ado_threshold)
    return Outcome(solved, False, (solved.describe(), "fixed pade and depth (converge=False): convergence not "
                                                      "assessed"))


def _at_width(machine: Machine, chosen: HeomOptions, band_width: float, bar: tqdm) -> Outcome:
    return (converge if chosen.converge else _fixed)(machine, chosen, band_width, bar)


@dataclass(frozen=True)
class _Extrapolated:
    rho: np.ndarray
    particle: np.ndarray
    energy: np.ndarray
    error: StageChange


def _richardson(first: Solve, second: Solve) -> Observed:
    """Linear extrapolation in 1/W from widths W₁ < W₂ to 1/W = 0 (ρ, currents, C)."""
    widths = (first.band_width, second.band_width)
    return Observed(*(to_wide_band([getattr(first, name), getattr(second, name)], widths)
                      for name in ("rho", "particle", "energy", "concurrence")))


def extrapolate_wide_band(machine: Machine, outcomes: list[Outcome], floor: float) -> _Extrapolated:
    """Extrapolate the solves at three widths to W → ∞; the error is the change between the last two extrapolations.

    The concurrence's error adds the difference between C extrapolated and C of the extrapolated ρ; ``floor``
    is the current floor (fraction of Σγ) of the relative current changes.
    """
    solves = [outcome.final for outcome in outcomes]
    coarse = _richardson(solves[0], solves[1])
    fine = _richardson(solves[1], solves[2])
    pair = fermion_pair_concurrence(fine.rho, machine.order)
    change = measure_change(machine, fine, coarse, floor, "band")
    error = dataclasses.replace(change, concurrence=change.concurrence + abs(pair - fine.concurrence))
    return _Extrapolated(fine.rho, fine.particle, fine.energy, error)


def _largest(values: Iterable[float]) -> float:
    """The largest finite value (NaN if none: not measured)."""
    return max((value for value in values if math.isfinite(value)), default=math.nan)


def error_estimate(outcomes: list[Outcome], band: StageChange | None) -> ErrorEstimate:
    """The typed error bar: each refinement stage's last change, the largest over the widths solved, and the band's."""
    stages = []
    for step in ("pade", "depth", "threshold"):
        changes = [change for outcome in outcomes if (change := outcome.error.stage(step)) is not None]
        if changes:
            stages.append(StageChange(step, **{quantity: _largest(getattr(c, quantity) for c in changes)
                                               for quantity in ("concurrence", "currents", "rho")}))
    if band is not None:
        stages.append(band)
    return ErrorEstimate(tuple(stages))


# --------------------------------------------------------------------------------------- public
def band_widths(machine: Machine, chosen: HeomOptions) -> tuple[float, ...]:
    """The band half-widths solved: the leads' W (``math.inf`` for the direct wide band) or the extrapolation's."""
    if chosen.wide_band != "extrapolate":
        return (machine.reservoirs[0].band.width,)
    return tuple(factor * chosen.wide_band_width for factor in WIDE_BAND_FACTORS)


def shared_dot_note(machine: Machine) -> str | None:
    """The note on wide-band leads at different temperatures on one dot (their energy current), or None."""
    pairs = [(a.name, b.name) for i, a in enumerate(machine.reservoirs) for b in machine.reservoirs[i + 1:]
             if a.qubit == b.qubit and a.temperature != b.temperature]
    if not pairs:
        return None
    return (f"wide band: reservoirs {pairs} share a dot at different temperatures; their energy currents keep a "
            "Padé-tail error of about Γa Γb ln(Ta/Tb)/(2π) that more Padé terms do not remove (particle currents "
            "and ρ are unaffected)")


EXPANSION_NAMES = {"pade": "Padé", "aaa": "rational-fit (AAA)"}
"""How the notes name each ``expansion``."""


def fermi_note(machine: Machine, kind: str, pade: hierarchy_module.Poles, stats: dict[str, Any]) -> str:
    """The note on each lead's expanded f: its largest error on the lead's window; fills ``stats``.

    ``stats`` gains ``expansion``, ``fermi_window`` ({reservoir: half-width of |ω − μ| in energy units}) and
    ``fermi_error`` ({reservoir: max |f_expanded − f| there, dimensionless}).
    """
    with hierarchy_module.fermi_expansion(kind):
        expansions = hierarchy_module.lead_expansions(machine, pade)
    names = [r.name for r in machine.reservoirs]
    stats["expansion"] = kind
    stats["fermi_window"] = {name: e.window * r.temperature
                             for name, e, r in zip(names, expansions, machine.reservoirs, strict=True)}
    stats["fermi_error"] = {name: e.error for name, e in zip(names, expansions, strict=True)}
    return (f"Fermi functions ({EXPANSION_NAMES[kind]}, pade={pade}): largest error on each lead's window |ω − μ| ≤ "
            + ", ".join(f"{name}: {stats['fermi_window'][name]:.3g} → {stats['fermi_error'][name]:.1e}"
                        for name in names))


def solve_steady(machine: Machine, options: HeomOptions | None = None, /, *, run: RunOptions | None = None,
                 **settings: Any) -> Result:
    """Steady state of ``machine`` from the HEOM (conventions in the module docstring).

    Parameters
    ----------
    machine : Machine
        Spinless fermions in ``machine.order`` on Lorentzian leads (``Band.lorentzian(W)``, one W for all,
        centred at each lead's μ) or wide-band leads (the wide band in the hierarchy, or with
        ``wide_band="extrapolate"`` solved at W, 2W, 4W and extrapolated linearly in 1/W, the change between
        the extrapolations from (W, 2W) and (2W, 4W) being the "band" error). Refused
        (ValueError, :func:`check_machine`): the ideal limit, dephasing, flat bands, no reservoirs, T = 0.
    options : HeomOptions, optional
        Convergence and solver settings; ``settings`` (the same names as keywords) build or change them.
    run : RunOptions, optional
        BLAS threads (default every CPU), the progress bar (every hierarchy solved, with its W, Padé terms and
        depth) and the memory budget of each hierarchy; the keywords ``threads``, ``progress`` and
        ``memory_gib`` among ``settings`` change them.

    Returns
    -------
    Result
        ``backend="heom"``, ρ on the full 2^N basis, currents per reservoir (into the system positive;
        energy and energy² units), ``options`` (the resolved :class:`HeomOptions`: solving again with them
        repeats the solve), ``stats`` (final Padé terms, depth, ADOs, the widths solved; for the wide band in the
        hierarchy also ``expansion`` and each lead's ``fermi_window`` and ``fermi_error``, see
        :func:`fermi_note`), ``error`` (the
        :class:`~transportbench.result.ErrorEstimate` of the Padé, depth and, extrapolated, band steps), ``health`` with
        the residual ‖𝓛x‖ of the final hierarchy solve (energy units), ``converged``, ``unique`` (a condition
        estimate on the direct path, None on the iterative one) and notes: every hierarchy solved.

    Raises
    ------
    ValueError
        A bad option (naming it), a machine HEOM cannot represent, or a first hierarchy beyond ``max_ados``;
        :class:`~transportbench.resources.ResourceBudgetError` beyond the memory budget.
    ImportError
        QuTiP is missing.
    """
    start = time.perf_counter()
    run, settings = RunOptions.split(run, settings)
    chosen = HeomOptions.build(options, **settings).resolved(machine)
    check_machine(machine, chosen)
    hierarchy_module.import_qutip()
    widths = band_widths(machine, chosen)
    with run.applied("dense") as count, tqdm(desc="HEOM", unit="hierarchy", file=sys.stderr, leave=False,
                                             disable=run.bar_disabled) as bar:
        try:
            with hierarchy_module.fermi_expansion(chosen.expansion):
                outcomes = [_at_width(machine, chosen, width, bar) for width in widths]
        except OverflowError:  # QuTiP's bath exponents at T ≲ 1e-200 × the energies
            coldest = min(machine.reservoirs, key=lambda r: r.temperature)
            raise ValueError(f"reservoir {coldest.name!r}: T = {coldest.temperature:g} is too small for the Padé "
                             "expansion of its Fermi function (the bath's exponents overflow); use a larger T"
                             ) from None
    notes = [note for outcome in outcomes for note in outcome.notes]
    final = outcomes[-1].final
    rho, particle, energy = final.rho, final.particle, final.energy
    stats: dict[str, Any] = {"pade": final.pade, "depth": final.depth, "ados": final.ados,
                             "ado_threshold": final.threshold, "band_widths": widths,
                             "wide_band": chosen.wide_band, "blas_threads": count}
    band_error = None
    if chosen.wide_band == "direct":
        notes.append(f"wide band: in the hierarchy (the {EXPANSION_NAMES[chosen.expansion]} poles of f − 1/2 as "
                     "exponents, the time-local (Γ/2) δ(t) part on every ADO)")
        notes.append(fermi_note(machine, chosen.expansion, final.pade, stats))
        if (shared := shared_dot_note(machine)) is not None:
            notes.append(shared)
    elif chosen.wide_band == "extrapolate":
        extrapolated = extrapolate_wide_band(machine, outcomes, chosen.current_floor)
        rho, particle, energy, band_error = (extrapolated.rho, extrapolated.particle, extrapolated.energy,
                                             extrapolated.error)
        notes.append(f"wide band: extrapolated in 1/W from W = {', '.join(f'{w:g}' for w in widths)}; error "
                     f"estimate {describe_change(extrapolated.error)}")
    notes.extend(CAPABILITIES.check(machine, NAME))
    return Result.from_solve(machine, NAME, rho, full_basis(machine.n_qubits), particle, energy, chosen, start,
                             residual=max(o.final.steady.residual for o in outcomes),
                             converged=all(o.converged for o in outcomes), unique=final.steady.unique, notes=notes,
                             stats=stats, statistics="fermion", error=error_estimate(outcomes, band_error))


def fixed_hierarchy_options(machine: Machine, *, pade: hierarchy_module.Poles, depth: int,
                            width_factor: float | None = None) -> dict[str, Any]:
    """:func:`solve_steady` settings for one fixed hierarchy (no refinement), as scans over a parameter need.

    A hierarchy refined separately at every point of a scan puts steps into the scanned function; a fixed one
    is smooth. ``width_factor`` (wide-band leads only) solves with ``wide_band="extrapolate"`` from
    ``width_factor`` × :func:`default_band_width` (and twice and four times that); None keeps the machine's
    own band treatment (for wide-band leads: the wide band in the hierarchy). Compare two Padé counts or depths
    for the hierarchy's error.
    """
    settings: dict[str, Any] = {"pade": pade, "depth": depth, "converge": False}
    if width_factor is not None:
        settings["wide_band_width"] = positive("width_factor", width_factor) * default_band_width(machine)
    return settings
