"""The QmeQ backend's 2vN approach: iterations on nested energy grids, converged by :mod:`transportbench.convergence`.

Part of the ``qmeq`` backend (conventions and the convergence criteria in :mod:`transportbench.backends.qmeq`).
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from transportbench import TransportbenchWarning
from transportbench.backends import qmeq_budget
from transportbench.backends.qmeq_options import QmeqOptions, band_half_width, refined
from transportbench.backends.qmeq_system import Outcome, build, estimate, observe, require_success, uniqueness
from transportbench.convergence import (
    Axis,
    ConvergenceWarning,
    Observed,
    Stop,
    Tolerances,
    describe_change,
    measure_change,
    refine,
)
from transportbench.model import Machine
from transportbench.options import RunOptions
from transportbench.resources import format_bytes, memory_budget_bytes
from transportbench.result import ErrorEstimate, StageChange

MIN_NITER = 3
"""Fewest 2vN iterations (the first, local one included) before the iteration may stop."""


class BandwidthWarning(TransportbenchWarning):
    """The 2vN result changes by more than the tolerance when the band half-width D is doubled."""


def _tolerances(options: QmeqOptions) -> Tolerances:
    """The tolerances of resolved 2vN ``options``: ρ and the currents are judged, C(0, 1) only measured."""
    return Tolerances(currents=options.current_rtol, current_floor=options.current_floor, rho=options.rho_tol)


@dataclass(frozen=True)
class _GridSolve:
    """What one 2vN solve on a fixed grid gave; QmeQ's system (the memory) is not kept."""

    bandwidth: float
    kpnt: int
    iterations: int
    iteration_change: StageChange
    iterations_converged: bool
    iteration_notes: tuple[str, ...]
    observed: Observed
    uniqueness: tuple[bool | None, str | None]
    seconds: float

    def summary(self) -> str:
        """Grid, iterations, particle currents and wall time, as a note."""
        currents = ", ".join(f"{current:.5g}" for current in self.observed.particle)
        return (f"2vN grid D={self.bandwidth:g} kpnt={self.kpnt} spacing={2 * self.bandwidth / (self.kpnt - 1):.3g}: "
                f"{self.iterations} iterations, particle currents ({currents}), {self.seconds:.3g} s")

    def record(self) -> dict[str, Any]:
        """The grid as an entry of ``Result.stats["grids"]``."""
        return {"band_half_width": self.bandwidth, "kpnt": self.kpnt, "iterations": self.iterations,
                "seconds": self.seconds}


@dataclass(frozen=True)
class _Iterate:
    """The state after ``count`` 2vN iterations on one grid (``system`` is QmeQ's, iterated in place)."""

    system: Any
    count: int
    observed: Observed


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
        with _signals_held():
            system.solve(niter=1)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while QmeQ's compiled 2vN iteration runs; deliver them when it returns.

    The compiled iteration cannot pass an exception on: a KeyboardInterrupt raised inside it is printed as
    "Exception ignored" and lost, and the solve would run to its end. Held here, the signal reaches its own
    handler (Python's, the CLI's, or the default action) as soon as the iteration is over. Only the main
    thread can handle signals; elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {number: signal.signal(number, lambda received, frame: pending.append(received))
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if pending:
            signal.raise_signal(pending[0])


def _solve_grid(machine: Machine, bandwidth: float, kpnt: int, niter: int, tolerances: Tolerances,
                stop_early: bool, bar: Any) -> _GridSolve:
    """Iterate 2vN on one grid of [−D, D] (D = ``bandwidth``), advancing the progress bar ``bar`` per iteration.

    Runs ``niter`` iterations, or fewer with ``stop_early``: once one iteration changes ρ and the currents
    by at most half their tolerance (after ``MIN_NITER`` iterations), an axis of
    :func:`transportbench.convergence.refine` whose verdict the caller reports.
    """
    start = time.perf_counter()
    where = f"kpnt={kpnt}, D={bandwidth:g}"
    bar.set_description_str(f"2vN kpnt={kpnt} D={bandwidth:g}")
    system = build(machine, "2vN", True, bandwidth, kpnt)
    _first_iteration(system)
    require_success(system, f"2vN iteration 0 ({where})")
    bar.update()

    def iterate(current: _Iterate) -> _Iterate | Stop:
        if current.count >= niter:
            return Stop(f"niter={niter}")
        with _signals_held():
            system.solve(qdq=False, restartq=False, niter=1)
        require_success(system, f"2vN iteration {current.count} ({where})")
        bar.update()
        return _Iterate(system, current.count + 1, observe(system, machine))

    steps = MIN_NITER - 1 if stop_early else niter - 1
    axis = Axis("iterations", f"2vN iterations ({where})", iterate, minimum_steps=steps, fraction=0.5)
    refinement = refine(_Iterate(system, 1, observe(system, machine)), (axis,), lambda state: state.observed,
                        machine, tolerances, "2vN", warn=False)
    last = refinement.error.stage("iterations") or StageChange("iterations")
    bar.set_postfix_str(f"drho={last.rho:.1e} dI={last.currents:.1e}", refresh=False)
    return _GridSolve(bandwidth, kpnt, refinement.final.count, last, refinement.converged, refinement.notes,
                      refinement.final.observed, uniqueness(system), time.perf_counter() - start)


def _grid_axis(machine: Machine, options: QmeqOptions, tolerances: Tolerances, bar: Any) -> Axis[_GridSolve]:
    """Halving the grid spacing (nested grids) up to ``max_kpnt`` or the memory budget (checked before building)."""

    def halve(current: _GridSolve) -> _GridSolve | Stop:
        finer = refined(current.kpnt)
        if finer > options.max_kpnt:
            return Stop(f"max_kpnt={options.max_kpnt}")
        cost = estimate(machine, "2vN", current.bandwidth, finer)
        if not cost.fits():
            return Stop(f"the memory budget ({format_bytes(memory_budget_bytes())}; kpnt={finer} would need "
                        f"{format_bytes(cost.bytes)})")
        return _solve_grid(machine, current.bandwidth, finer, options.niter, tolerances, True, bar)

    return Axis("grid", "energy grid", halve)


def _bandwidth_check(machine: Machine, reference: _GridSolve, niter: int, tolerances: Tolerances,
                     bar: Any) -> tuple[str, _GridSolve, StageChange]:
    """Solve on [−2D, 2D] with the spacing of ``reference`` (a grid shown to be fine enough); compare in a note."""
    double = _solve_grid(machine, 2 * reference.bandwidth, refined(reference.kpnt), niter, tolerances, True, bar)
    change = measure_change(machine, double.observed, reference.observed, tolerances.current_floor, "band")
    note = (f"bandwidth check: D = {reference.bandwidth:g} -> {double.bandwidth:g} (same spacing, kpnt "
            f"{reference.kpnt} -> {double.kpnt}) changed {describe_change(change)}")
    if not tolerances.met(change):
        warnings.warn(f"the 2vN result depends on the band half-width D beyond the tolerance; {note}. D is part of "
                      "the 2vN model here; it is recorded in Result.stats['band_half_width']", BandwidthWarning,
                      stacklevel=5)
    return note, double, change


def _converge_2vN(machine: Machine, bandwidth: float, options: QmeqOptions, tolerances: Tolerances,
                  bar: Any) -> tuple[_GridSolve, bool, list[str], dict[str, Any], ErrorEstimate]:
    """Refine the grid, check the iterations and (optionally) the bandwidth; warn where the budget ran out.

    Returns the finest grid's solve, whether the tolerances were met, the notes (error estimates, every
    grid solved, the bandwidth check), the statistics and the error estimate (grid and iteration stages;
    the band half-width D is part of the 2vN model, so its check stays a note and a warning).
    """
    first = _solve_grid(machine, bandwidth, options.kpnt, options.niter, tolerances, True, bar)
    refinement = refine(first, (_grid_axis(machine, options, tolerances, bar),), lambda grid: grid.observed,
                        machine, tolerances, "2vN", describe=_GridSolve.summary)
    final, solves = refinement.final, refinement.solves
    notes = [f"2vN on [-{bandwidth:g}, {bandwidth:g}] with kpnt={final.kpnt} (spacing "
             f"{2 * bandwidth / (final.kpnt - 1):.3g}) and {final.iterations} iterations; the last iteration "
             f"changed {describe_change(final.iteration_change)}", first.summary(), *refinement.notes]
    if not final.iterations_converged:
        warnings.warn(final.iteration_notes[-1], ConvergenceWarning, stacklevel=4)
        notes.extend(final.iteration_notes)
    grid_met = refinement.converged
    stats: dict[str, Any] = {"refinement_limit": refinement.stopped_by.get("grid")}
    grids = [solve.record() for solve in solves]
    if options.check_bandwidth and grid_met:
        note, double, change = _bandwidth_check(machine, solves[-2], options.niter, tolerances, bar)
        notes.append(note)
        grids.append(double.record())
        stats.update(bandwidth_rho_change=change.rho, bandwidth_current_change=change.currents)
    stats["grids"] = tuple(grids)
    error = ErrorEstimate((*refinement.error.stages, final.iteration_change))
    return final, grid_met and final.iterations_converged, notes, stats, error


def solve_2vN(machine: Machine, options: QmeqOptions, run: RunOptions) -> Outcome:
    """Solve 2vN with resolved ``options``: one fixed grid, or the converged refinement (progress bar per ``run``)."""
    bandwidth = band_half_width(machine)
    tolerances = _tolerances(options)
    cost = estimate(machine, "2vN", bandwidth, options.kpnt)
    stats: dict[str, Any] = {"memory_estimate_bytes": cost.bytes,
                             "seconds_per_iteration_estimate": cost.seconds_per_iteration}
    with tqdm(desc="2vN", unit="iteration", file=sys.stderr, leave=False, disable=run.bar_disabled) as bar:
        if options.converge:
            final, converged, notes, refinement, error = _converge_2vN(machine, bandwidth, options, tolerances, bar)
            stats.update(refinement)
        else:
            final = _solve_grid(machine, bandwidth, options.kpnt, options.niter, tolerances, False, bar)
            converged = False
            notes = [f"fixed 2vN grid kpnt={final.kpnt} and niter={final.iterations} (converge=False): convergence "
                     f"not assessed; the last iteration changed {describe_change(final.iteration_change)}",
                     final.summary()]
            stats["grids"] = (final.record(),)
            error = ErrorEstimate((final.iteration_change,))
    stats.update(kpnt=final.kpnt, iterations=final.iterations)
    notes.append(f"cost estimate of the first grid (kpnt={options.kpnt}): {format_bytes(cost.bytes)}, about "
                 f"{qmeq_budget.format_seconds(cost.seconds_per_iteration)} per iteration")
    unique, note = final.uniqueness
    return Outcome(final.observed, math.nan, converged, unique, (*notes, *(note,) * (note is not None)), stats,
                    error)
