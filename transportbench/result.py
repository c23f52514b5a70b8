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

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from transportbench import TransportbenchWarning
from transportbench.model import STATISTICS, Machine, Statistics
from transportbench.observables import ParticleModel, reduced_state
from transportbench.options import SolverOptions

PHYSICAL_TOLERANCE = 1e-8
"""Trace error, hermiticity error and negative eigenvalues up to this size count as round-off."""
ENERGY_RTOL = 1e-6
"""|Σ_r J^E_r| above this fraction of the largest energy current means energy is not conserved."""
ENTROPY_RTOL = 1e-8
"""Entropy production below −ENTROPY_RTOL × Σ_r |heat_r|/T_r violates the second law."""
PARTICLE_RTOL = 1e-8
"""|Σ_r J_r| above this fraction of the largest particle current means particles are not conserved."""
EQUILIBRIUM_RTOL = 1e-6
"""A particle current above this × Σ_r γ_r between reservoirs that all share μ and T (no dephasing) is a current
at equilibrium, which no correct steady state carries."""
SCALE_FLOOR = 1e-6
"""The yardsticks of the energy balance and the entropy production never fall below SCALE_FLOOR × Σ_r γ_r ×
the machine's largest energy (per reservoir divided by its T), so that a state whose currents are all zero up
to round-off (equilibrium) passes both checks; imbalances are then flagged above ENERGY_RTOL × that floor."""


@dataclass(frozen=True)
class StageChange:
    """The last change of one refinement stage of a converged solve: that stage's error estimate.

    Attributes
    ----------
    stage : str
        What was refined: ``"pade"`` (exponents of the bath correlation functions), ``"depth"`` (hierarchy
        depth), ``"band"`` (the wide-band limit), ``"grid"`` (energy grid), ``"iterations"``.
    concurrence : float
        |ΔC(0, 1)| of the physical reduced state (absolute; NaN where the stage did not measure it).
    currents : float
        Largest change of a particle or energy current, relative to the largest current of its kind.
    rho : float
        max_ij |Δρ_ij| (NaN where the stage did not measure it).
    """

    stage: str
    concurrence: float = math.nan
    currents: float = math.nan
    rho: float = math.nan


@dataclass(frozen=True)
class ErrorEstimate:
    """A refining backend's own error bar of a result: the last change of every stage, and their sums.

    A stage that a budget stopped before its first step is absent (see ``Health.converged`` and the notes);
    the totals then lack it.
    """

    stages: tuple[StageChange, ...] = ()

    def stage(self, name: str) -> StageChange | None:
        """The change of stage ``name``, or None if it made no step."""
        return next((change for change in self.stages if change.stage == name), None)

    def _total(self, quantity: str) -> float:
        values = [getattr(change, quantity) for change in self.stages if math.isfinite(getattr(change, quantity))]
        return float(sum(values)) if values else math.nan

    @property
    def concurrence(self) -> float:
        """Error estimate of C(0, 1): the stages' |ΔC| added (absolute; NaN if no stage measured it)."""
        return self._total("concurrence")

    @property
    def currents(self) -> float:
        """Error estimate of the currents: the stages' relative changes added (NaN if none measured them)."""
        return self._total("currents")

    def __str__(self) -> str:
        parts = [f"{change.stage}: |ΔC| {change.concurrence:.1e}, currents {change.currents:.1e}"
                 for change in self.stages]
        return "; ".join(parts) or "no refinement step measured"


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
    unique : bool or None
        Whether the steady state was checked to be unique (True), found not to be unique (False), or
        not checked (None).
    energy_imbalance : float
        Σ_r J^E_r, the energy flowing into the system from all reservoirs together (energy² units, ħ = 1);
        zero in a steady state that conserves energy. Filled in by :class:`Result`.
    energy_scale : float
        max_r |J^E_r|, but at least ``SCALE_FLOOR`` × Σ_r γ_r × the machine's largest energy: the yardstick
        of ``energy_imbalance`` (energy² units).
    entropy_production : float
        σ = −Σ_r (J^E_r − μ_r J_r) / T_r, the entropy the reservoirs gain per unit time (k_B = 1, energy
        units); ≥ 0 by the second law. NaN for a machine in the ideal limit (its rates are not those of
        its finite μ). A reservoir at T = 0 that gives off heat contributes −∞. Filled in by :class:`Result`.
    entropy_scale : float
        Σ_r |J^E_r − μ_r J_r| / T_r, with the same floor as ``energy_scale`` for each term: the yardstick
        of ``entropy_production``.
    particle_imbalance : float
        Σ_r J_r, the particles flowing into the system from all reservoirs together (energy units); zero in
        a steady state, since every model here conserves the number of excitations.
    particle_scale : float
        max_r |J_r|, but at least ``SCALE_FLOOR`` × Σ_r γ_r: the yardstick of ``particle_imbalance``.
    equilibrium_current : float
        max_r |J_r| / Σ_r γ_r when every reservoir has the same μ and T and nothing else drives the machine
        (no dephasing), NaN otherwise: a current that should be zero (dimensionless).
    """

    trace_error: float
    hermiticity_error: float
    min_eigenvalue: float
    residual: float
    converged: bool = True
    notes: tuple[str, ...] = ()
    unique: bool | None = None
    energy_imbalance: float = float("nan")
    energy_scale: float = float("nan")
    entropy_production: float = float("nan")
    entropy_scale: float = float("nan")
    particle_imbalance: float = float("nan")
    particle_scale: float = float("nan")
    equilibrium_current: float = float("nan")

    def is_physical(self, tolerance: float = PHYSICAL_TOLERANCE) -> bool:
        """True when trace, hermiticity and positivity hold to ``tolerance``."""
        return (self.trace_error <= tolerance and self.hermiticity_error <= tolerance
                and self.min_eigenvalue >= -tolerance)

    def relative_energy_imbalance(self) -> float:
        """|Σ_r J^E_r| / ``energy_scale`` (0 when no energy can flow; NaN before the currents are known)."""
        if not self.energy_scale > 0:
            return 0.0 if self.energy_scale == 0 else float("nan")
        return abs(self.energy_imbalance) / self.energy_scale

    def conserves_energy(self, rtol: float = ENERGY_RTOL) -> bool:
        """False when the reservoirs' energy currents do not sum to zero within ``rtol`` of the largest."""
        imbalance = self.relative_energy_imbalance()
        return not imbalance > rtol  # NaN (unknown) is not a violation

    def conserves_particles(self, rtol: float = PARTICLE_RTOL) -> bool:
        """False when the reservoirs' particle currents do not sum to zero within ``rtol`` of the largest."""
        return not abs(self.particle_imbalance) > rtol * self.particle_scale  # NaN (unknown) is not a violation

    def obeys_second_law(self, rtol: float = ENTROPY_RTOL) -> bool:
        """False when the entropy production is negative beyond ``rtol`` × ``entropy_scale``."""
        if math.isnan(self.entropy_production):
            return True
        return not self.entropy_production < -rtol * self.entropy_scale

    def problems(self) -> list[str]:
        """What is wrong with this state, in words (empty when every check passes)."""
        found = []
        if self.unique is False:
            found.append("not unique")
        if not self.converged:
            found.append("not converged")
        if not self.is_physical():
            found.append(f"unphysical (min eig {self.min_eigenvalue:.1e})" if self.min_eigenvalue < -PHYSICAL_TOLERANCE
                         else "unphysical")
        if not self.obeys_second_law():
            found.append("second law violated")
        if not self.conserves_energy():
            found.append(f"energy not conserved ({self.relative_energy_imbalance():.1%})")
        if not self.conserves_particles():
            found.append(f"particles not conserved ({abs(self.particle_imbalance) / self.particle_scale:.1e})")
        if self.equilibrium_current > EQUILIBRIUM_RTOL:
            found.append(f"current at equilibrium ({self.equilibrium_current:.1e} Σγ)")
        return found

    def status(self) -> str:
        """``"ok"`` when :meth:`problems` finds nothing, else the problems joined by ``"; "``."""
        return "; ".join(self.problems()) or "ok"


def assess(rho: np.ndarray, residual: float = float("nan"), converged: bool = True,
           notes: tuple[str, ...] = (), unique: bool | None = None) -> Health:
    """Measure trace, hermiticity and positivity of ``rho`` and bundle them with solver figures."""
    hermitian_part = (rho + rho.conj().T) / 2
    return Health(
        trace_error=float(abs(np.trace(rho) - 1.0)),
        hermiticity_error=float(np.max(np.abs(rho - rho.conj().T))) if rho.size else 0.0,
        min_eigenvalue=float(np.linalg.eigvalsh(hermitian_part)[0]),
        residual=float(residual),
        converged=converged,
        notes=notes,
        unique=unique,
    )


def thermodynamics(machine: Machine, particle_currents: Mapping[str, float],
                   energy_currents: Mapping[str, float]) -> dict[str, float]:
    """Energy and particle balance, entropy production, equilibrium currents: the thermodynamic fields of Health.

    Currents are into the system (> 0); σ = −Σ_r (J^E_r − μ_r J_r)/T_r with k_B = 1. Heat currents of a
    T = 0 reservoir below ``ENERGY_RTOL`` × the energy floor (see ``SCALE_FLOOR``) count as zero; larger ones
    give ±∞.
    """
    names = [r.name for r in machine.reservoirs]
    energy = np.array([energy_currents[name] for name in names], dtype=float)
    heat = energy - np.array([r.chemical_potential * particle_currents[name]
                              for r, name in zip(machine.reservoirs, names, strict=True)])
    temperatures = np.array([r.temperature for r in machine.reservoirs], dtype=float)
    largest_energy = max([abs(e) for e in machine.energies] + [u for _, u in machine.coulomb]
                         + [abs(r.chemical_potential) + r.temperature for r in machine.reservoirs])
    energy_floor = SCALE_FLOOR * sum(r.rate for r in machine.reservoirs) * largest_energy
    terms, floors = np.zeros(len(heat)), np.zeros(len(heat))
    warm = temperatures > 0
    terms[warm] = -heat[warm] / temperatures[warm]
    floors[warm] = energy_floor / temperatures[warm]
    cold_and_flowing = ~warm & (np.abs(heat) > ENERGY_RTOL * energy_floor)
    terms[cold_and_flowing] = -np.sign(heat[cold_and_flowing]) * np.inf
    particle = np.array([particle_currents[name] for name in names], dtype=float)
    total_rate = sum(r.rate for r in machine.reservoirs)
    at_equilibrium = machine.at_equilibrium and total_rate > 0
    return {
        "particle_imbalance": float(particle.sum()),
        "particle_scale": max(float(np.max(np.abs(particle))) if particle.size else 0.0, SCALE_FLOOR * total_rate),
        "equilibrium_current": float(np.max(np.abs(particle))) / total_rate if at_equilibrium else float("nan"),
        "energy_imbalance": float(energy.sum()),
        "energy_scale": max(float(np.max(np.abs(energy))) if energy.size else 0.0, energy_floor),
        "entropy_production": float("nan") if machine.ideal_limit else float(terms.sum()),
        "entropy_scale": float("nan") if machine.ideal_limit else float(np.sum(np.maximum(np.abs(terms), floors))),
    }


@dataclass(frozen=True, eq=False)
class Result:
    """A steady state computed by one backend for one machine.

    Immutable: the mappings are read-only views, and two results compare equal only if they are the same
    object (compare their figures instead).

    Attributes
    ----------
    machine : Machine
        The machine that was solved.
    backend : str
        Backend and approach, e.g. ``"local"`` or ``"qmeq:2vN"``.
    rho : ndarray, shape (D, D)
        Density matrix on the basis ``occupations`` (see the module docstring for the ordering).
    occupations : ndarray, shape (D, N)
        Occupation n_i ∈ {0, 1} of every qubit in each basis state.
    particle_currents : mapping {reservoir name: float}
        Excitations per unit time flowing from the reservoir into the system (energy units, ħ = 1).
    energy_currents : mapping {reservoir name: float}
        Energy per unit time from the reservoir into the system (paper Eq. 9; energy² units).
    options : SolverOptions or mapping
        The options the backend used, defaults resolved: ``solve_steady(machine, result.options)`` (or
        ``**result.options``) solves the same problem again.
    seconds : float
        Wall time of the solve.
    health : Health
        Trace, hermiticity, positivity, residual and convergence.
    stats : mapping
        Solver statistics: sizes, iterations, grids, BLAS threads (backend-specific keys; for reading, not for
        logic: the error bar is :attr:`error`).
    statistics : {"qubit", "fermion"}
        The particle model the backend solved (default: ``machine.statistics``; the fermion-only backends
        record ``"fermion"`` for every machine). With ``machine.order`` it fixes :attr:`model`, and so how
        a reduced state is taken.
    error : ErrorEstimate or None
        The backend's own error estimate per refinement stage (backends that refine: ``heom``, ``qmeq:2vN``
        with ``converge=True``); None where the backend does not estimate one.
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
    stats: Mapping[str, Any] = field(default_factory=dict)
    statistics: Statistics | None = None
    error: ErrorEstimate | None = None

    def __post_init__(self) -> None:
        if self.statistics is None:
            object.__setattr__(self, "statistics", self.machine.statistics)
        elif self.statistics not in STATISTICS:
            raise ValueError(f"statistics must be one of {STATISTICS}, got {self.statistics!r}")
        for name in ("particle_currents", "energy_currents", "stats"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        if not isinstance(self.options, SolverOptions):
            object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        if self.health is not None and math.isnan(self.health.energy_scale):
            figures = thermodynamics(self.machine, self.particle_currents, self.energy_currents)
            object.__setattr__(self, "health", dataclasses.replace(self.health, **figures))

    @property
    def model(self) -> ParticleModel:
        """The particle model of ``rho``: spins, or fermions in the string order ``machine.order``."""
        return ParticleModel(self.statistics, self.machine.order)

    def reduced_state(self, qubits: Sequence[int]) -> np.ndarray:
        """The physical reduced state of ``qubits``: :func:`~transportbench.observables.reduced_state` in :attr:`model`.

        For a fermion model this is the fermionic partial trace, independent of the string order. Returns the
        2^k × 2^k matrix in the standard order of ``qubits`` as listed (the first is the most significant bit).
        """
        return reduced_state(self.rho, self.occupations, qubits, self.model)

    @classmethod
    def from_solve(cls, machine: Machine, backend: str, rho: np.ndarray, occupations: np.ndarray,
                   particle: Sequence[float], energy: Sequence[float], options: SolverOptions, started: float, *,
                   residual: float, converged: bool, unique: bool | None, notes: Sequence[str],
                   stats: Mapping[str, Any], statistics: Statistics | None = None,
                   error: ErrorEstimate | None = None) -> Result:
        """The end of every backend's solve: currents named by reservoir, the wall time and the health measured.

        Parameters not listed are the attributes of the same names.

        Parameters
        ----------
        particle, energy : sequence of float
            Currents per reservoir in the order of ``machine.reservoirs`` (into the system positive).
        started : float
            ``time.perf_counter()`` when the solve began; ``seconds`` is the time since.
        residual, converged, unique, notes
            The solver's evidence, for :func:`assess`.
        """
        names = [r.name for r in machine.reservoirs]
        return cls(machine=machine, backend=backend, rho=rho, occupations=occupations,
                   particle_currents=dict(zip(names, map(float, particle), strict=True)),
                   energy_currents=dict(zip(names, map(float, energy), strict=True)),
                   options=options, seconds=time.perf_counter() - started, stats=stats,
                   health=assess(rho, residual=residual, converged=converged, notes=tuple(notes), unique=unique),
                   statistics=statistics, error=error)

    def __repr__(self) -> str:
        currents = ", ".join(f"{name}={value:.4g}" for name, value in self.energy_currents.items())
        return (f"Result(backend={self.backend!r}, model={self.statistics}, qubits={self.machine.n_qubits}, "
                f"basis states={len(self.rho)}, "
                f"energy currents: {currents}, seconds={self.seconds:.3g}, health={self.health})")


class DegenerateSteadyStateWarning(TransportbenchWarning):
    """The steady state is not unique (several stationary states); the one returned depends on the method.

    Every backend emits it where it finds a degenerate steady state, and records ``Health.unique = False``.
    """


class SolveFailure(RuntimeError):
    """A backend could not solve a machine it accepted (a singular kernel, a failed factorisation, ...).

    ``compare`` and ``sweep`` record these (and :class:`~transportbench.resources.ResourceBudgetError`) in the
    failing row and go on; any other exception is a bug and propagates.
    """
