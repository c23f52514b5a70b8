"""One refinement engine for every backend that converges in its numerical parameters.

A refining backend solves once, then raises one declared axis at a time (HEOM: Padé exponents, then the
hierarchy depth; 2vN: the iterations on each energy grid, then the grid) until one step changes the
observables by no more than the tolerances, or a budget stops the axis. What each step changed is compared
the same way for every backend (:func:`measure_change`), and the last change of every axis is that axis's
error estimate (:class:`~transportbench.result.StageChange` in the result's
:class:`~transportbench.result.ErrorEstimate`). A budget that stops an axis first emits the one
:class:`ConvergenceWarning` of the package.

Conventions
-----------
Observables
    ρ on the project's full basis, the particle currents (per unit time) and energy currents (energy per
    unit time) of every reservoir, and C(0, 1) of the fermionic modes (NaN where not measured).
Changes
    ρ: max_ij |Δρ_ij| (absolute). C: |ΔC| (absolute). Currents: the largest change of a particle current
    relative to max(largest particle current, floor), and likewise for the energy currents; the floor is
    ``current_floor`` × Σ_r γ_r for particle currents and that × :func:`~transportbench.model.energy_scale`
    for energy currents, so that currents near zero are judged absolutely.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from transportbench import TransportbenchWarning
from transportbench.model import Machine, energy_scale
from transportbench.result import ErrorEstimate, StageChange

State = TypeVar("State")


class ConvergenceWarning(TransportbenchWarning):
    """A budget stopped a refinement before its tolerances were met.

    The budget is a largest Padé count, depth, grid, iteration count, ADO count or the memory; the result keeps
    the finest solve and says so in ``Health.converged`` and its notes.
    """


@dataclass(frozen=True)
class Observed:
    """What one solve gave that a refinement compares.

    Attributes
    ----------
    rho : numpy.ndarray
        Density matrix on the project's full basis.
    particle, energy : numpy.ndarray
        Particle and energy currents per reservoir, in the order of ``machine.reservoirs`` (into the system
        positive; energy units and energy² units).
    concurrence : float
        C(0, 1) of the fermionic modes (NaN: not measured).
    """

    rho: np.ndarray
    particle: np.ndarray
    energy: np.ndarray
    concurrence: float = math.nan


@dataclass(frozen=True)
class Tolerances:
    """When a refinement step counts as converged.

    Attributes
    ----------
    concurrence : float
        Largest |ΔC(0, 1)| (absolute); ``inf``: C is measured but not judged.
    rho : float
        Largest max_ij |Δρ_ij| (absolute); ``inf``: not judged.
    currents : float
        Largest relative change of a particle or energy current (see the module's conventions).
    current_floor : float
        The floor of the relative current changes, as a fraction of Σ_r γ_r (dimensionless).
    """

    currents: float
    current_floor: float
    concurrence: float = math.inf
    rho: float = math.inf

    def met(self, change: StageChange, fraction: float = 1.0) -> bool:
        """Whether every judged change is at most ``fraction`` of its tolerance (an unmeasured NaN passes)."""
        return all(not getattr(change, name) > fraction * getattr(self, name)
                   for name in ("concurrence", "rho", "currents"))

    def describe(self) -> str:
        """The judged tolerances in words."""
        judged = [f"{name} {getattr(self, name):g}" for name in ("concurrence", "rho")
                  if math.isfinite(getattr(self, name))]
        return ", ".join([*judged, f"currents {self.currents:g} (relative, floor {self.current_floor:g} × Σγ)"])


def measure_change(machine: Machine, new: Observed, old: Observed, floor: float, stage: str = "") -> StageChange:
    """The change from ``old`` to ``new`` as a :class:`~transportbench.result.StageChange` named ``stage``.

    ``floor`` is the current floor as a fraction of Σ_r γ_r (see the module's conventions).
    """
    particle_floor = floor * sum(r.rate for r in machine.reservoirs)
    energy_floor = particle_floor * energy_scale(machine)
    relative = max(_relative(new.particle, old.particle, particle_floor),
                   _relative(new.energy, old.energy, energy_floor))
    return StageChange(stage, concurrence=abs(new.concurrence - old.concurrence), currents=relative,
                       rho=float(np.max(np.abs(new.rho - old.rho))))


def _relative(new: np.ndarray, old: np.ndarray, floor: float) -> float:
    """The change relative to the new size: max |new − old| / max(max |new|, floor); no change is 0."""
    change = float(np.max(np.abs(new - old), initial=0.0))
    return change / max(float(np.max(np.abs(new), initial=0.0)), floor) if change else 0.0


@dataclass(frozen=True)
class Stop:
    """Why an axis cannot take another step (a budget: ``max_depth``, the memory, …), in words."""

    reason: str


@dataclass(frozen=True)
class Axis(Generic[State]):
    """One parameter a refinement raises.

    Attributes
    ----------
    name : str
        The stage's name in the error estimate (``"pade"``, ``"depth"``, ``"grid"``, ``"iterations"``).
    label : str
        The parameter in words, for notes and warnings.
    step : callable
        The next, finer solve from the current one, or a :class:`Stop` saying which budget forbids it.
    minimum_steps : int
        Steps always taken before a change may end the axis.
    fraction : float
        The axis stops once a step's changes are within this fraction of the tolerances.
    """

    name: str
    label: str
    step: Callable[[State], State | Stop]
    minimum_steps: int = 1
    fraction: float = 1.0


@dataclass(frozen=True)
class Refinement(Generic[State]):
    """The outcome of :func:`refine`.

    Attributes
    ----------
    final : State
        The finest solve reached.
    solves : tuple of State
        Every solve, in order (the first solve first).
    error : ErrorEstimate
        The last change of every axis that took a step.
    converged : bool
        Whether every axis ended within its tolerances.
    notes : tuple of str
        Each step's change, and each budget that stopped an axis.
    stopped_by : mapping {axis name: str}
        The budget that stopped each axis that did not converge, in words.
    """

    final: State
    solves: tuple[State, ...]
    error: ErrorEstimate
    converged: bool
    notes: tuple[str, ...]
    stopped_by: Mapping[str, str]


def refine(first: State, axes: Sequence[Axis[State]], observe: Callable[[State], Observed], machine: Machine,
           tolerances: Tolerances, who: str, *, describe: Callable[[State], str] = str,
           warn: bool = True) -> Refinement[State]:
    """Raise each axis of ``axes`` in turn, from the solve ``first``, until one step is within ``tolerances``.

    Parameters
    ----------
    first : State
        The first solve (any object the axes' ``step`` understands).
    axes : sequence of Axis
        Refined one after another; each starts from the finest solve of the one before.
    observe : callable
        The :class:`Observed` of a solve.
    machine : Machine
        The machine solved (its rates set the current floor).
    tolerances : Tolerances
        What counts as converged.
    who : str
        The solver's name, for notes and warnings (e.g. ``"HEOM"``).
    describe : callable
        A solve in words (its parameters), for the note of each step.
    warn : bool
        Emit a :class:`ConvergenceWarning` for each axis a budget stopped (else only ``converged`` and the
        notes say so, for a caller that judges the outcome itself).

    Returns
    -------
    Refinement
        The finest solve, every solve, the error estimate, whether every axis converged, and the notes.
    """
    current, solves, notes, stages = first, [first], [], []
    stopped_by: dict[str, str] = {}
    for axis in axes:
        last: StageChange | None = None
        steps, reason = 0, ""
        while last is None or steps < axis.minimum_steps or not tolerances.met(last, axis.fraction):
            finer = axis.step(current)
            if isinstance(finer, Stop):
                reason = finer.reason
                break
            last = measure_change(machine, observe(finer), observe(current), tolerances.current_floor, axis.name)
            current, steps = finer, steps + 1
            solves.append(finer)
            notes.append(f"{describe(finer)}; the {axis.label} step changed {describe_change(last)}")
        if last is not None:
            stages.append(last)
        if last is not None and tolerances.met(last, axis.fraction):
            notes.append(f"error estimate from the {axis.label}: {describe_change(last)}")
            continue
        stopped_by[axis.name] = reason
        message = (f"{who}: the {axis.label} did not converge within the budget ({reason}); last change "
                   f"{describe_change(last) if last else 'not measured'} (tolerances: {tolerances.describe()}"
                   f"{'' if axis.fraction == 1 else f', × {axis.fraction:g} per step'})")
        if warn:
            warnings.warn(message, ConvergenceWarning, stacklevel=3)
        notes.append(message)
    return Refinement(current, tuple(solves), ErrorEstimate(tuple(stages)), not stopped_by, tuple(notes), stopped_by)


def describe_change(change: StageChange) -> str:
    """A change in words: |ΔC|, max |Δρ_ij| (where measured) and the relative current change."""
    parts = [f"|ΔC| {change.concurrence:.1e}" * math.isfinite(change.concurrence),
             f"max |Δρ_ij| {change.rho:.1e}" * math.isfinite(change.rho), f"currents {change.currents:.1e} (relative)"]
    return ", ".join(part for part in parts if part)
