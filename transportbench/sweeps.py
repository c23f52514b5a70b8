"""Parameter sweeps: a grid of machines through several approaches, resumable and parallel.

Every finished point is appended to a journal (``<path>.points.jsonl``) as soon as it completes, so a
killed sweep resumes without recomputing or losing a point; when every point has a result the journal is
assembled into a NetCDF file at ``path``. Both files carry a fingerprint of the sweep (machine,
parameters, approaches, options); a sweep never writes over a file that holds a different sweep.

Failed points are not finished: a point where an approach raised is journalled with its ``error`` (for
information) and written to the NetCDF with NaNs and the error visible, but the journal is kept and a
rerun of the same sweep computes those points again (and only those).
:func:`~transportbench.journal.count_failed_points` counts them.

Everything is checked before the first point is solved (:func:`plan_sweep`): the approaches and options,
every value of every axis (the machine is built at every grid point with
:meth:`~transportbench.model.Machine.with_parameters`, and every approach's backend is asked whether it can
represent it), the output folder, an existing output file, the journal (:mod:`transportbench.journal`), and
the reachability of a Dask scheduler.

Points run on local processes by default, or on a Dask distributed cluster when a scheduler address is
given (see docs/usage.md, "Sweeps on a cluster", for ``dask scheduler`` / ``dask worker`` and a dask-jobqueue
example); see :mod:`transportbench.executors`. The output file is written and locked by :mod:`transportbench.storage`.

Interrupts: on Ctrl-C (``KeyboardInterrupt``) the local workers are terminated at once, finished results are
journalled, and :class:`SweepInterrupted` reports how many points finished and how many running ones were
stopped.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from transportbench import TransportbenchWarning
from transportbench.comparison import check_approach, check_comparison, compare, table_from_rows
from transportbench.executors import ExecutionInterrupted, SchedulerLost, check_scheduler, execute
from transportbench.figures import PAPER, FigureOfMerit, check_figures
from transportbench.journal import (
    Index,
    Journal,
    JournalWarning,
    Values,
    count_failed_points,
    fingerprint,
    point_failed,
)
from transportbench.model import Machine
from transportbench.parameters import PARAMETERS, split_parameter
from transportbench.storage import check_output_folder, output_lock, read_output, save_netcdf
from transportbench.validation import integer

UNITS = "energy unit of the machine (hbar = k_B = 1)"
MAX_GRID_POINTS = 100_000
"""Largest sweep grid accepted (every point's machine is built and checked before the first solve)."""


class WorkersCappedWarning(TransportbenchWarning):
    """More local workers were asked for than there are CPUs or points; the sweep uses fewer."""


class WorkerDied(RuntimeError):
    """A local worker process died (killed, out of memory, or crashed in compiled code) during a sweep."""


class SweepInterrupted(KeyboardInterrupt):
    """A sweep stopped by an interrupt; every finished point is journalled (when the sweep has a path).

    Parameters
    ----------
    plan : SweepPlan
        The interrupted sweep (its ``points`` hold what finished, failures included).
    running : int or None
        Points that were being computed and were stopped (None: not known, e.g. on a Dask cluster).
    """

    def __init__(self, plan: SweepPlan, running: int | None) -> None:
        super().__init__(plan, running)
        self.plan, self.running = plan, running

    def __str__(self) -> str:
        plan = self.plan
        total, finished, failed = len(plan.grid), len(plan.points), plan.failed
        where = f"journalled in {plan.journal.path}" if plan.journal else "not saved (the sweep has no path)"
        failures = f", {failed} of them failed" if failed else ""
        stopped = f"; {self.running} running point(s) were stopped" if self.running is not None else ""
        return (f"interrupted: {finished} of {total} points finished{failures}, {where}{stopped}; rerun the same "
                f"sweep to compute the other {total - finished + failed}")


def run_point(machine: Machine, names: Sequence[str], values: Sequence[float], approaches: Sequence[str],
              options: Mapping[str, Mapping[str, Any]], figures: Sequence[FigureOfMerit] = PAPER) -> Values:
    """Compare the approaches at one grid point; returns the table's variables as plain lists."""
    machine = machine.with_parameters(dict(zip(names, values, strict=True)))
    table = compare(machine, approaches, options, figures, progress=False)  # the sweep has its own bar
    return {name: table[name].values.tolist() for name in table.data_vars}


@dataclasses.dataclass
class SweepPlan:
    """A checked sweep: its grid and what is already computed. Made by :func:`plan_sweep`; run with :meth:`run`.

    Attributes
    ----------
    machine, axes, approaches, options
        The sweep (axes as float arrays).
    key : str
        Its fingerprint.
    template : xarray.Dataset
        An empty compare table of the machine and approaches (the variables of every point).
    output : Path or None
        The NetCDF output.
    journal : Journal or None
        The journal next to the output.
    points : dict
        Computed points by grid index, failed ones included (from the journal, then from this run).
    existing : xarray.Dataset or None
        The output file when it already holds this sweep complete and without failures.
    workers, scheduler
        Where the points run.
    figures : tuple of FigureOfMerit
        The figures of merit computed at every point.
    """

    machine: Machine
    axes: dict[str, np.ndarray]
    approaches: list[str]
    options: dict[str, dict[str, Any]]
    key: str
    template: xr.Dataset
    output: Path | None = None
    journal: Journal | None = None
    points: dict[Index, Values] = dataclasses.field(default_factory=dict)
    existing: xr.Dataset | None = None
    workers: int | None = None
    scheduler: str | None = None
    figures: tuple[FigureOfMerit, ...] = PAPER

    @property
    def grid(self) -> list[Index]:
        """Every grid index, in row-major order."""
        return list(itertools.product(*(range(len(values)) for values in self.axes.values())))

    @property
    def todo(self) -> list[Index]:
        """Grid indices without a successful result (never computed, or failed)."""
        return [index for index in self.grid if index not in self.points or point_failed(self.points[index])]

    @property
    def failed(self) -> int:
        """Computed points where an approach failed."""
        return sum(point_failed(values) for values in self.points.values())

    @property
    def complete(self) -> bool:
        """Whether the output file already holds this sweep, every point successful (nothing to compute)."""
        return self.existing is not None

    def values(self, index: Index) -> list[float]:
        """The swept parameters' values at a grid index."""
        return [float(values[i]) for values, i in zip(self.axes.values(), index, strict=True)]

    def arguments(self, index: Index) -> tuple[Any, ...]:
        """The arguments of :func:`run_point` at a grid index."""
        return self.machine, list(self.axes), self.values(index), self.approaches, self.options, self.figures

    def record(self, index: Index, values: Values) -> None:
        """Keep one computed point and journal it."""
        self.points[index] = values
        if self.journal is not None:
            self.journal.append(index, values)

    def run(self, progress: bool = True, retry_failed: bool = True) -> xr.Dataset:
        """Compute the points still to do and return the assembled table (written to the output, if any).

        ``retry_failed=False`` computes only the points never computed: those that failed before stay failed
        (in the table, the output and the journal) instead of being solved again.

        Raises
        ------
        SweepInterrupted
            On ``KeyboardInterrupt`` (the computed points are journalled first).
        WorkerDied
            A local worker process died; the computed points are journalled.
        """
        if self.existing is not None:
            return self.existing
        with output_lock(self.output):
            return self._run(progress, retry_failed)

    def _run(self, progress: bool, retry_failed: bool) -> xr.Dataset:
        todo = self.todo if retry_failed else [index for index in self.grid if index not in self.points]
        bar = tqdm(total=len(self.grid), initial=len(self.grid) - len(todo), desc="sweep", disable=not progress)

        def record(index: Index, values: Values) -> None:
            self.record(index, values)
            bar.update()

        try:
            execute(run_point, self.arguments, todo, record, workers=self.workers, scheduler=self.scheduler)
        except ExecutionInterrupted as interrupt:
            raise SweepInterrupted(self, interrupt.running) from interrupt
        except BrokenProcessPool as error:
            journal = self.journal.path if self.journal else "nowhere (the sweep has no path)"
            raise WorkerDied(f"a worker process died (killed, out of memory, or crashed in compiled code); "
                             f"{len(self.points)} of {len(self.grid)} points are journalled in {journal}; rerun "
                             "to resume (with 1 worker to see the crash)") from error
        except SchedulerLost as error:
            journal = self.journal.path if self.journal else "nowhere (the sweep has no path)"
            raise WorkerDied(f"{error}; {len(self.points)} of {len(self.grid)} points are journalled in {journal}; "
                             "rerun when the scheduler is back to resume") from error
        except KeyboardInterrupt as interrupt:
            raise SweepInterrupted(self, running=0) from interrupt
        finally:
            bar.close()
        dataset = _assemble(self)
        if self.output is not None and self.journal is not None:
            save_netcdf(dataset, self.output)
            if not self.failed:  # failed points stay journalled so that a rerun retries them
                self.journal.path.unlink(missing_ok=True)
                self.journal.path.with_name(self.journal.path.name + ".damaged").unlink(missing_ok=True)
        return dataset


def plan_sweep(machine: Machine, over: Mapping[str, Sequence[float]], approaches: Sequence[str] = ("local",),
               *, path: str | os.PathLike[str] | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
               workers: int | None = None, scheduler: str | None = None,
               figures: Sequence[FigureOfMerit] = PAPER, replace_stale: bool = False) -> SweepPlan:
    """Check a sweep completely and load what is already computed, before any point is solved.

    The parameters are those of :func:`sweep`. Raises ``ValueError`` (or ``KeyError`` for an unknown
    reservoir, ``ImportError`` for a missing Dask) naming the offending input, ``FileExistsError`` when the
    output or its journal belongs to a different sweep (unless ``replace_stale``: then both are deleted, with a
    :class:`JournalWarning`); warns (:class:`JournalWarning`) about damaged journal lines.
    """
    approaches, options = check_comparison(approaches, options, machine)
    axes = _check_axes(machine, over, approaches, options)
    if workers is not None:
        workers = integer("workers", workers, minimum=1)
        cpus = os.cpu_count() or 1
        if workers > cpus:
            warnings.warn(f"workers={workers} capped at the {cpus} CPUs of this machine (and at the number of "
                          "points still to compute)", WorkersCappedWarning, stacklevel=3)
            workers = cpus
    if scheduler is not None:
        check_scheduler(scheduler)
    figures = check_figures(figures, machine)
    key = fingerprint(machine, axes, approaches, options, figures)
    template = table_from_rows(machine, approaches, [{"error": ""} for _ in approaches], figures)
    plan = SweepPlan(machine, axes, approaches, options, key, template, workers=workers, scheduler=scheduler,
                     figures=figures)
    if path is None:
        return plan
    plan.output = Path(path)
    check_output_folder(plan.output)
    journal_path = plan.output.with_name(plan.output.name + ".points.jsonl")
    shape = tuple(len(values) for values in axes.values())
    journal = Journal(journal_path, key, template, shape)
    try:
        existing = read_output(plan.output, key)
        points = journal.load()  # a different sweep's journal raises here too
    except FileExistsError as stale:
        if not replace_stale:
            raise
        warnings.warn(f"{stale}: replaced (replace_stale=True); the new sweep starts afresh", JournalWarning,
                      stacklevel=2)
        for old in (plan.output, journal_path):
            old.unlink(missing_ok=True)
        existing, points = None, {}
    missing = sorted(set(template.data_vars) - set(existing.data_vars)) if existing is not None else []
    if missing:  # written before these variables existed, e.g. before the fermionic partial trace (no "model")
        warnings.warn(f"{plan.output} was written by an earlier transportbench (it lacks {', '.join(missing)}); "
                      "its points are computed again and the file is replaced", JournalWarning, stacklevel=2)
        existing = None
    if existing is not None and not count_failed_points(existing):
        plan.existing = existing
        return plan
    plan.journal, plan.points = journal, points
    return plan


def sweep(machine: Machine, over: Mapping[str, Sequence[float]], approaches: Sequence[str] = ("local",), *,
          path: str | os.PathLike[str] | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
          workers: int | None = None, scheduler: str | None = None, progress: bool = True,
          figures: Sequence[FigureOfMerit] = PAPER, retry_failed: bool = True,
          replace_stale: bool = False) -> xr.Dataset:
    """Run :func:`~transportbench.comparison.compare` on every point of a parameter grid.

    Parameters
    ----------
    machine : Machine
        The base machine; each point changes the swept parameters only.
    over : mapping {parameter: values}
        Grid axes, e.g. ``{"mu": np.linspace(0, 20, 41), "U": [10, 15]}``; names in ``PARAMETERS``.
    approaches : sequence of str
        Approaches to compare at every point.
    path : path, optional
        NetCDF output. With a path, points are journalled to ``<path>.points.jsonl`` as they finish and
        an interrupted sweep resumes from it; an existing file of a different sweep raises
        ``FileExistsError``. Points where an approach failed are written with their ``error`` and stay
        journalled: rerunning the sweep computes them (only them) again.
    options : mapping, optional
        Backend options per approach (as in ``compare``).
    workers : int, optional
        Local worker processes (default: the number of CPUs; 1 runs in this process). More than the CPUs
        are capped at the CPUs (:class:`WorkersCappedWarning`), and never more than the points to compute.
    scheduler : str, optional
        Address of a Dask distributed scheduler (e.g. ``"tcp://10.0.0.5:8786"``); needs the ``dask`` extra.
    progress : bool
        Show a tqdm progress bar.
    figures : sequence of FigureOfMerit
        Figures of merit per point (:mod:`transportbench.figures`; default the paper's).
    retry_failed : bool
        Solve journalled points that failed again (default); ``False`` keeps them failed, e.g. when a
        failure is deterministic and costly (a solver that does not converge).
    replace_stale : bool
        Delete an output and journal at ``path`` that belong to a *different* sweep (with a
        :class:`~transportbench.journal.JournalWarning`) instead of raising ``FileExistsError``; the same
        sweep's files are still resumed. For a folder of one's own whose sweeps change, e.g. a study's.

    Returns
    -------
    xarray.Dataset
        The compare variables with the swept parameters as leading coordinates (units in attributes);
        the attribute ``failed_points`` counts the points where an approach failed.

    Raises
    ------
    SweepInterrupted
        On Ctrl-C; the finished points are journalled.
    """
    plan = plan_sweep(machine, over, approaches, path=path, options=options, workers=workers, scheduler=scheduler,
                      figures=figures, replace_stale=replace_stale)
    return plan.run(progress=progress, retry_failed=retry_failed)


def _check_axes(machine: Machine, over: Mapping[str, Sequence[float]], approaches: Sequence[str] = (),
                options: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, np.ndarray]:
    """The axes as float arrays, after building the machine at every grid point.

    Every approach's backend is asked whether it can represent each point (ValueError naming the point).
    """
    if not over:
        raise ValueError("over must name at least one parameter to sweep")
    axes = {}
    for name, values in over.items():
        try:
            array = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            array = np.array([np.nan])
        if array.ndim != 1 or not array.size or not np.isfinite(array).all():
            raise ValueError(f"values of {name!r} must be a non-empty 1-d list of finite numbers, got {values!r}")
        axes[name] = array
    points = math.prod(len(values) for values in axes.values())
    if points > MAX_GRID_POINTS:
        raise ValueError(f"the sweep grid has {points:,} points, more than MAX_GRID_POINTS = {MAX_GRID_POINTS:,}; "
                         "split it into several sweeps")
    spellings: dict[tuple[str, str], str] = {}
    for name in axes:
        earlier = spellings.setdefault(split_parameter(name), name)
        if earlier != name:
            raise ValueError(f"{earlier!r} and {name!r} are the same parameter; sweep it once")
    for point in itertools.product(*axes.values()):
        current = machine
        for name, value in zip(axes, point, strict=True):
            try:
                current = current.with_parameters({name: value})
            except (ValueError, KeyError) as error:
                message = error.args[0] if error.args else error
                raise ValueError(f"sweep parameter {name} = {value:g}: {message}") from None
        for spec in approaches:
            try:
                check_approach(spec, (options or {}).get(spec), current)
            except ValueError as error:
                where = ", ".join(f"{name} = {value:g}" for name, value in zip(axes, point, strict=True))
                raise ValueError(f"sweep point {where}: {error}") from None
    return axes


def _assemble(plan: SweepPlan) -> xr.Dataset:
    shape = tuple(len(values) for values in plan.axes.values())
    variables = {}
    for name, variable in plan.template.data_vars.items():
        dtype = object if variable.dtype.kind == "U" else variable.dtype
        stacked = np.stack([np.asarray(plan.points[index][name], dtype=dtype) for index in plan.grid])
        stacked = stacked.astype(str) if dtype is object else stacked
        variables[name] = ((*plan.axes, *variable.dims), stacked.reshape(shape + variable.shape), variable.attrs)
    coords = {name: (name, values, {"units": UNITS, "description": PARAMETERS.get(name.split(".")[0], name)})
              for name, values in plan.axes.items()}
    coords.update({dim: plan.template[dim].values for dim in plan.template.dims})
    return xr.Dataset(variables, coords=coords,
                      attrs={**plan.template.attrs, "fingerprint": plan.key, "approaches": ", ".join(plan.approaches),
                             "options": json.dumps(plan.options, default=repr), "failed_points": plan.failed})
