"""HEOM backend: the machine with fermionic leads solved numerically exactly (hierarchical equations of motion).

QuTiP 5 builds the hierarchy (``qutip.solver.heom.HEOMSolver`` with one Lorentzian bath per reservoir,
Padé-expanded); we solve its steady state ourselves (:mod:`transportbench.backends.heom_steady`), read
the currents off the first-tier ADOs (:mod:`transportbench.backends.heom_hierarchy`) and control the
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
    have differently placed bands. Only the wide band (W → ∞, ``wide_band=True``) is the model of the
    other approaches; at finite W the result depends on W as O(Γ ΔE / W).
Expansion and truncation
    Each lead's correlation functions are expanded in Padé poles (QuTiP's ``approx_by_pade``; ``pade``
    poles per branch plus the Lorentzian pole, so 2 (pade + 1) exponents per lead); the hierarchy keeps
    every ADO with at most ``depth`` excitations (each fermionic exponent at most once).
Currents
    Positive from the reservoir into the system. J_r = Σ_{k∈r} Tr[N L_0k ρ_k] with L_0k the generator's
    link from first-tier ADO k to ρ (exactly −i Tr_B[H_T^(r), ρ_total]). The energy current
    J^E_r = −d⟨H_r⟩/dt (measured from the dots' energy zero, like QmeQ) follows by replacing the lead operator
    Σ t_q c_q by Σ ε_q t_q c_q = i ∂_t Σ t_q c_q(t), which differentiates the correlation function at the
    later time: exponent k (C_k ∝ exp(−ν_k t)) contributes its particle term times iν_k ("+") or −iν_k
    ("−"). The tests check Σ_r J^E_r = 0 and the Landauer energy current at U = 0.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from transportbench import TransportbenchWarning
from transportbench.backends import heom_hierarchy as hierarchy_module
from transportbench.backends.heom_solve import DEFAULT_MAX_ADOS, Solve, solve_hierarchy
from transportbench.model import Machine
from transportbench.observables import concurrence, reduced_state
from transportbench.occupation import full_basis
from transportbench.result import Result, assess

NAME = "heom"
BAND_FACTOR = 3.0
"""Default Lorentzian half-width W in units of :func:`energy_scale` (the QmeQ backend's default D is the same
multiple of the same scale)."""
FERMI_WINDOW = 10.0
"""Half-width of a reservoir's Fermi window in units of its temperature, for :func:`energy_scale`."""
START_PADE = 6
"""First number of Padé terms of the automatic convergence (fewer gave nonsense at the Fig. 3 energies)."""
PADE_STEP = 4
"""Padé terms added per refinement step."""
START_DEPTH = 2
"""First depth of the automatic convergence (depth 1 is off by several per cent even at U = 0)."""
DEFAULT_TOL = 1e-4
"""Default tolerance on the concurrence C(0, 1) (absolute)."""
DEFAULT_CURRENT_RTOL = 1e-2
"""Default tolerance on every current, relative to the largest of its kind."""
DEFAULT_MAX_DEPTH = 4
DEFAULT_MAX_PADE = 30
CURRENT_FLOOR = 1e-12
"""Currents are compared relative to max(largest current, CURRENT_FLOOR × Σγ (× energy scale))."""
SOLVERS = ("auto", "direct", "iterative", "ilu", "qutip")
WIDE_BAND_FACTORS = (1.0, 2.0, 4.0)
"""``wide_band=True`` solves at these multiples of ``band_width`` and extrapolates linearly in 1/W."""


class ConvergenceWarning(TransportbenchWarning):
    """The HEOM budget (depth, Padé terms or ADOs) ran out before the tolerances were met."""


# --------------------------------------------------------------------------------------- checks
def energy_scale(machine: Machine) -> float:
    """Largest single-electron addition energy or Fermi-window edge of the machine (energy units).

    The maximum over qubits k of |ε_k| + Σ_l U_kl + Σ_l |g_kl| and over reservoirs of |μ| + ``FERMI_WINDOW`` T
    (the same scale as the QmeQ backend's; 31.1 at the Fig. 3 point).
    """
    addition = [abs(energy) + sum(machine.coulomb_energy(k, q) for q in range(machine.n_qubits))
                + sum(abs(g) for pair, g in machine.couplings if k in pair)
                for k, energy in enumerate(machine.energies)]
    windows = [abs(r.chemical_potential) + FERMI_WINDOW * r.temperature for r in machine.reservoirs]
    return max(addition + windows)


def default_band_width(machine: Machine) -> float:
    """``BAND_FACTOR`` × :func:`energy_scale`: the default Lorentzian half-width W (energy units; 93.3 at Fig. 3)."""
    return BAND_FACTOR * energy_scale(machine)


def _check_machine(machine: Machine) -> None:
    if machine.ideal_limit:
        raise ValueError("HEOM cannot represent the ideal limit (U, μ → ∞, paper Eq. 3); solve the machine with "
                         "ideal_limit=False and finite U and μ")
    if any(machine.dephasing):
        raise ValueError(f"HEOM here has no pure dephasing (it is not a lead); got dephasing rates {machine.dephasing}")
    if not machine.reservoirs:
        raise ValueError("HEOM needs at least one reservoir: without leads the steady state is not unique")
    cold = [r.name for r in machine.reservoirs if r.temperature <= 0]
    if cold:
        raise ValueError(f"the Padé expansion of the Fermi function needs T > 0; reservoirs {cold} have T = 0")


def _positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive, finite number, got {value!r}")
    return float(value)


def _integer(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Validated options of :func:`solve_steady` (see there for their meaning)."""

    band_width: float
    wide_band: bool
    converge: bool
    depth: int
    pade: int
    tol: float
    current_rtol: float
    max_depth: int
    max_pade: int
    max_ados: int
    solver: str

    def options(self) -> dict[str, Any]:
        """The options as :func:`solve_steady` keywords (a call with them repeats the solve)."""
        return dict(self.__dict__)


def settings(machine: Machine, *, band_width: float | None = None, wide_band: bool = False,
             converge: bool | None = None, depth: int | None = None, pade: int | None = None, tol: float = DEFAULT_TOL,
             current_rtol: float = DEFAULT_CURRENT_RTOL, max_depth: int = DEFAULT_MAX_DEPTH,
             max_pade: int = DEFAULT_MAX_PADE, max_ados: int = DEFAULT_MAX_ADOS, solver: str = "auto") -> Settings:
    """Validate :func:`solve_steady`'s options (ValueError naming the option) and fill in the defaults."""
    if converge is None:
        converge = depth is None and pade is None
    chosen = Settings(
        band_width=default_band_width(machine) if band_width is None else _positive_number("band_width", band_width),
        wide_band=_flag("wide_band", wide_band), converge=_flag("converge", converge),
        depth=START_DEPTH if depth is None else _integer("depth", depth, 1),
        pade=START_PADE if pade is None else _integer("pade", pade, 1),
        tol=_positive_number("tol", tol), current_rtol=_positive_number("current_rtol", current_rtol),
        max_depth=_integer("max_depth", max_depth, 1), max_pade=_integer("max_pade", max_pade, 1),
        max_ados=_integer("max_ados", max_ados, 1), solver=solver)
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if chosen.converge and (chosen.depth > chosen.max_depth or chosen.pade > chosen.max_pade):
        raise ValueError(f"the starting depth/pade ({chosen.depth}, {chosen.pade}) exceed max_depth/max_pade "
                         f"({chosen.max_depth}, {chosen.max_pade})")
    return chosen


# ---------------------------------------------------------------------------------- convergence
@dataclass(frozen=True)
class Change:
    """The change of the observables between two solves: |ΔC| and the largest relative current change."""

    concurrence: float
    currents: float

    def within(self, tol: float, current_rtol: float) -> bool:
        """Whether both changes are within their tolerances."""
        return self.concurrence <= tol and self.currents <= current_rtol

    def __str__(self) -> str:
        return f"|ΔC| = {self.concurrence:.1e}, currents {self.currents:.1e} (relative)"


def change(machine: Machine, new: Solve, old: Solve) -> Change:
    """:class:`Change` from ``old`` to ``new`` (currents relative to the largest of their kind, with a floor)."""
    floor = CURRENT_FLOOR * sum(r.rate for r in machine.reservoirs)
    relative = max(
        float(np.max(np.abs(new.particle - old.particle))) / max(float(np.max(np.abs(new.particle))), floor),
        float(np.max(np.abs(new.energy - old.energy)))
        / max(float(np.max(np.abs(new.energy))), floor * energy_scale(machine)))
    pair = abs(new.concurrence - old.concurrence) if math.isfinite(new.concurrence) else 0.0
    return Change(float(pair), relative)


@dataclass(frozen=True)
class Outcome:
    """The solve returned, whether the tolerances were met, and the record (notes) of how it was reached."""

    final: Solve
    converged: bool
    notes: tuple[str, ...]


def _refine(machine: Machine, chosen: Settings, band_width: float, current: Solve, step: str) -> tuple[
        Solve | None, str]:
    """The next solve in Padé terms or depth, or (None, why) when a budget stops it (max_*, ADOs, memory)."""
    if step == "pade":
        pade, depth = min(current.pade + PADE_STEP, chosen.max_pade), current.depth
        if pade == current.pade:
            return None, f"max_pade={chosen.max_pade} reached"
    else:
        pade, depth = current.pade, current.depth + 1
        if depth > chosen.max_depth:
            return None, f"max_depth={chosen.max_depth} reached"
    try:
        return solve_hierarchy(machine, band_width, pade, depth, solver=chosen.solver,
                               max_ados=chosen.max_ados), ""
    except ValueError as refusal:  # max_ados or the memory budget (ResourceBudgetError is a ValueError)
        return None, str(refusal)


def converge(machine: Machine, chosen: Settings, band_width: float) -> Outcome:
    """Raise the Padé terms (at the starting depth), then the depth, until C(0, 1) and the currents settle.

    Each stage stops when one step changes C by at most ``tol`` and every current by at most
    ``current_rtol``; the finer solve is kept and the last change of each stage is reported as its error
    estimate. A budget that stops a stage first (``max_pade``, ``max_depth``, ``max_ados``, memory) emits
    a :class:`ConvergenceWarning`.
    """
    current = solve_hierarchy(machine, band_width, chosen.pade, chosen.depth, solver=chosen.solver,
                              max_ados=chosen.max_ados)
    notes = [current.describe()]
    met = True
    for step in ("pade", "depth"):
        last: Change | None = None
        why = ""
        while last is None or not last.within(chosen.tol, chosen.current_rtol):
            finer, why = _refine(machine, chosen, band_width, current, step)
            if finer is None:
                break
            last, current = change(machine, finer, current), finer
            notes.append(f"{finer.describe()}; {step} step changed {last}")
        label = "Padé terms" if step == "pade" else "depth"
        if last is None or not last.within(chosen.tol, chosen.current_rtol):
            met = False
            message = (f"HEOM: the {label} did not converge within the budget ({why}); last change "
                       f"{last if last else 'not measured'} (tol {chosen.tol:g}, current_rtol {chosen.current_rtol:g})")
            warnings.warn(message, ConvergenceWarning, stacklevel=4)
            notes.append(message)
        else:
            notes.append(f"error estimate from the {label}: {last}")
    notes.append(f"final: W={band_width:g}, pade={current.pade}, depth={current.depth}")
    return Outcome(current, met, tuple(notes))


def _fixed(machine: Machine, chosen: Settings, band_width: float) -> Outcome:
    solved = solve_hierarchy(machine, band_width, chosen.pade, chosen.depth, solver=chosen.solver,
                             max_ados=chosen.max_ados)
    return Outcome(solved, False, (solved.describe(), "fixed pade and depth (converge=False): convergence not "
                                                      "assessed"))


def _at_width(machine: Machine, chosen: Settings, band_width: float) -> Outcome:
    return converge(machine, chosen, band_width) if chosen.converge else _fixed(machine, chosen, band_width)


@dataclass(frozen=True)
class _Extrapolated:
    rho: np.ndarray
    particle: np.ndarray
    energy: np.ndarray
    error: Change


def _richardson(first: Solve, second: Solve) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Linear extrapolation in 1/W from widths W₁ < W₂ to 1/W = 0 (ρ, currents, C)."""
    weight = first.band_width / (second.band_width - first.band_width)  # x∞ = x₂ + (x₂ − x₁) W₁/(W₂ − W₁)
    rho = second.rho + weight * (second.rho - first.rho)
    particle = second.particle + weight * (second.particle - first.particle)
    energy = second.energy + weight * (second.energy - first.energy)
    pair = second.concurrence + weight * (second.concurrence - first.concurrence)
    return rho, particle, energy, pair


def extrapolate_wide_band(machine: Machine, outcomes: list[Outcome]) -> _Extrapolated:
    """Extrapolate the solves at three widths to W → ∞; the error is the change between the last two extrapolations."""
    solves = [outcome.final for outcome in outcomes]
    coarse = _richardson(solves[0], solves[1])
    fine = _richardson(solves[1], solves[2])
    pair = concurrence(reduced_state(fine[0], full_basis(machine.n_qubits), [0, 1])) if machine.n_qubits > 1 \
        else math.nan
    floor = CURRENT_FLOOR * sum(r.rate for r in machine.reservoirs)
    current_error = max(float(np.max(np.abs(fine[1] - coarse[1]))) / max(float(np.max(np.abs(fine[1]))), floor),
                        float(np.max(np.abs(fine[2] - coarse[2])))
                        / max(float(np.max(np.abs(fine[2]))), floor * energy_scale(machine)))
    error = Change(abs(fine[3] - coarse[3]) + abs(pair - fine[3]), current_error)
    return _Extrapolated(fine[0], fine[1], fine[2], error)


# --------------------------------------------------------------------------------------- public
def solve_steady(machine: Machine, *, band_width: float | None = None, wide_band: bool = False,
                 converge: bool | None = None, depth: int | None = None, pade: int | None = None,
                 tol: float = DEFAULT_TOL, current_rtol: float = DEFAULT_CURRENT_RTOL,
                 max_depth: int = DEFAULT_MAX_DEPTH, max_pade: int = DEFAULT_MAX_PADE,
                 max_ados: int = DEFAULT_MAX_ADOS, solver: str = "auto") -> Result:
    """Steady state of ``machine`` with Lorentzian leads, from the HEOM (conventions in the module docstring).

    Parameters
    ----------
    machine : Machine
        Spinless fermions in ``machine.order``. Refused (ValueError): the ideal limit, dephasing, no
        reservoirs, a reservoir at T = 0 (the Padé expansion needs T > 0).
    band_width : float, optional
        Lorentzian half-width W of every lead (energy units), centred at each lead's μ; default
        :func:`default_band_width` (``BAND_FACTOR`` × :func:`energy_scale`, 93.3 at the Fig. 3 point).
    wide_band : bool
        Solve at W, 2W and 4W and extrapolate linearly in 1/W to the wide band; the change between the
        extrapolations from (W, 2W) and (2W, 4W) is reported in the notes as its error.
    converge : bool, optional
        Raise the Padé terms, then the depth, until C(0, 1) and the currents settle (default, unless
        ``depth`` or ``pade`` is given without it).
    depth : int, optional
        Hierarchy depth: the fixed value (``converge=False``) or the first one (default ``START_DEPTH``).
    pade : int, optional
        Padé terms per lead and branch: fixed, or the first value (default ``START_PADE``).

    Other Parameters
    ----------------
    tol : float
        Tolerance on C(0, 1) (absolute), default 1e-4.
    current_rtol : float
        Tolerance on every particle and energy current, relative to the largest of its kind; default 1e-2.
    max_depth, max_pade, max_ados : int
        Budgets of the convergence (defaults 4, 30, 100 000); ``max_ados`` also refuses a fixed solve.
    solver : {"auto", "direct", "iterative", "ilu", "qutip"}
        ``"direct"``: sparse LU of the charge-reduced hierarchy; ``"iterative"``: GMRES preconditioned by
        the exact depth-≤2 hierarchy and the deeper tiers' own blocks; ``"ilu"``: GMRES with an incomplete
        LU; ``"qutip"``: QuTiP's ``HEOMSolver.steady_state`` (slow; for cross-checks); ``"auto"``: direct at
        depth ≤ 2 up to ``heom_solve.DIRECT_UNKNOWNS`` unknowns, else iterative.

    Returns
    -------
    Result
        ``backend="heom"``, ρ on the full 2^N basis, currents per reservoir (into the system positive;
        energy and energy² units), ``options`` (the settings; ``solve_steady(machine, **result.options)``
        repeats the solve), ``health`` with the residual ‖𝓛x‖ of the final hierarchy solve (energy units),
        ``converged``, ``unique`` (from a condition estimate on the direct path, None on the iterative
        one) and notes: every hierarchy solved, the Padé/depth/band errors used as error estimates.

    Raises
    ------
    ValueError
        A bad option value (naming it), a machine HEOM cannot represent, or a first hierarchy beyond
        ``max_ados``; :class:`~transportbench.resources.ResourceBudgetError` beyond the memory budget.
    ImportError
        QuTiP is missing.
    """
    start = time.perf_counter()
    _check_machine(machine)
    chosen = settings(machine, band_width=band_width, wide_band=wide_band, converge=converge, depth=depth,
                      pade=pade, tol=tol, current_rtol=current_rtol, max_depth=max_depth, max_pade=max_pade,
                      max_ados=max_ados, solver=solver)
    hierarchy_module.import_qutip()
    factors = WIDE_BAND_FACTORS if chosen.wide_band else (1.0,)
    outcomes = [_at_width(machine, chosen, factor * chosen.band_width) for factor in factors]
    notes = [note for outcome in outcomes for note in outcome.notes]
    final = outcomes[-1].final
    rho, particle, energy = final.rho, final.particle, final.energy
    if chosen.wide_band:
        extrapolated = extrapolate_wide_band(machine, outcomes)
        rho, particle, energy = extrapolated.rho, extrapolated.particle, extrapolated.energy
        widths = ", ".join(f"{factor * chosen.band_width:g}" for factor in factors)
        notes.append(f"wide-band extrapolation in 1/W from W = {widths}; error estimate {extrapolated.error}")
    if machine.statistics != "fermion":
        notes.append("HEOM solves spinless fermions with the Jordan-Wigner order machine.order; compare with "
                     "statistics='fermion'")
    names = [r.name for r in machine.reservoirs]
    return Result(
        machine=machine, backend=NAME, rho=rho, occupations=full_basis(machine.n_qubits),
        particle_currents=dict(zip(names, map(float, particle), strict=True)),
        energy_currents=dict(zip(names, map(float, energy), strict=True)),
        options=chosen.options(), seconds=time.perf_counter() - start,
        health=assess(rho, residual=max(o.final.steady.residual for o in outcomes),
                      converged=all(o.converged for o in outcomes), notes=tuple(notes),
                      unique=final.steady.unique))
