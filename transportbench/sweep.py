"""Parameter sweeps: a grid of machines through several approaches, resumable and parallel.

Every finished point is appended to a journal (``<path>.points.jsonl``) as soon as it completes, so a
killed sweep resumes without recomputing or losing a point; when every point has a result the journal is
assembled into a NetCDF file at ``path``. Both files carry a fingerprint of the sweep (machine,
parameters, approaches, options); a sweep never writes over a file that holds a different sweep.

Failed points are not finished: a point where an approach raised is journalled with its ``error`` (for
information) and written to the NetCDF with NaNs and the error visible, but the journal is kept and a
rerun of the same sweep computes those points again (and only those). ``count_failed_points`` counts them.

Everything is checked before the first point is solved (:func:`plan_sweep`): the approaches and options,
every value of every axis (the machine is built at every grid point, and every approach's backend is asked
whether it can represent it), the output folder, an existing output
file, the journal, and the reachability of a Dask scheduler. Damaged journal lines (cut, garbage, a record
of the wrong shape) are skipped with a :class:`JournalWarning` naming the file and the lines; the damaged
file is kept next to the repaired one.

Points run on local processes by default, or on a Dask distributed cluster when a scheduler address is
given (see the README for ``dask scheduler`` / ``dask worker`` and a dask-jobqueue example). Local
workers share the CPUs' BLAS threads (:func:`blas_threads_per_worker`, also set process-wide with
:func:`~transportbench.resources.set_blas_threads`): SciPy's sparse LU calls BLAS for its dense blocks, and
two workers with two BLAS threads each on two cores made factorisations up to 20× slower in our benchmark.

Interrupts: on Ctrl-C (``KeyboardInterrupt``) the local workers are terminated at once (they ignore SIGINT
themselves and die with the parent process), finished results are journalled, and
:class:`SweepInterrupted` reports how many points finished and how many running ones were stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import hashlib
import importlib.util
import itertools
import json
import math
import os
import signal
import socket
import sys
import threading
import urllib.parse
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from transportbench import TransportbenchWarning
from transportbench.compare import check_approach, check_comparison, compare, table_from_rows
from transportbench.figures import PAPER, FigureOfMerit, check_figures
from transportbench.model import Machine
from transportbench.parameters import PARAMETERS, split_parameter
from transportbench.resources import set_blas_threads
from transportbench.validation import integer

UNITS = "energy unit of the machine (hbar = k_B = 1)"
SCHEDULER_TIMEOUT = 5.0
"""Seconds to wait for a Dask scheduler to accept a connection before the sweep is refused."""
STOP_TIMEOUT = 5.0
"""Seconds a terminated worker process gets to exit before it is killed."""
MAX_GRID_POINTS = 100_000
"""Largest sweep grid accepted (every point's machine is built and checked before the first solve)."""
TAG_LENGTH = 16
"""Characters of the fingerprint repeated in every journal record (records stay attributable without the header)."""

Index = tuple[int, ...]
Values = dict[str, list[Any]]


class JournalWarning(TransportbenchWarning):
    """Damaged lines of a sweep journal were skipped (the points are computed again)."""


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


def fingerprint(machine: Machine, over: Mapping[str, Sequence[float]], approaches: Sequence[str],
                options: Mapping[str, Mapping[str, Any]], figures: Sequence[FigureOfMerit] = PAPER) -> str:
    """SHA-256 of everything that defines a sweep; two sweeps share a file only if this agrees."""
    description = {"machine": repr(machine), "over": {k: [float(v) for v in vs] for k, vs in over.items()},
                   "approaches": list(approaches), "options": {k: dict(v) for k, v in options.items()}}
    if tuple(figures) != PAPER:  # the paper's figures leave the fingerprints of earlier sweeps unchanged
        description["figures"] = [repr(figure) for figure in figures]
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=repr).encode()).hexdigest()


def run_point(machine: Machine, names: Sequence[str], values: Sequence[float], approaches: Sequence[str],
              options: Mapping[str, Mapping[str, Any]], figures: Sequence[FigureOfMerit] = PAPER) -> Values:
    """Compare the approaches at one grid point; returns the table's variables as plain lists."""
    machine = machine.with_parameters(dict(zip(names, values, strict=True)))
    table = compare(machine, approaches, options, figures, progress=False)  # the sweep has its own bar
    return {name: table[name].values.tolist() for name in table.data_vars}


def point_failed(values: Mapping[str, Any]) -> bool:
    """Whether any approach of one journalled point raised (its ``error`` is not empty)."""
    return any(values["error"])


def count_failed_points(dataset: xr.Dataset) -> int:
    """Grid points of a sweep (or compare) table where at least one approach failed."""
    failed = dataset["error"].astype(str) != ""
    return int(failed.any("approach").sum())


class Journal:
    """Append-only record of computed points: a header line with the fingerprint, then one line per point.

    Parameters
    ----------
    path : Path
        The journal file.
    key : str
        The sweep's fingerprint.
    template : xarray.Dataset
        A compare table of the sweep's machine and approaches: every record must hold its variables with
        their shapes.
    shape : tuple of int
        The grid's shape: every record's index must lie in it.
    """

    def __init__(self, path: Path, key: str, template: xr.Dataset, shape: tuple[int, ...]) -> None:
        self.path, self.key, self.template, self.shape = path, key, template, shape

    @property
    def tag(self) -> str:
        """The start of the fingerprint that every record carries."""
        return self.key[:TAG_LENGTH]

    def load(self) -> dict[Index, Values]:
        """Journalled points by grid index, failed ones included (a later record of an index wins).

        Damaged lines (a torn last line of a killed sweep, garbage, records of the wrong shape or of another
        sweep, a cut header) are skipped with a :class:`JournalWarning`; the journal is then rewritten with
        the valid records and the damaged file kept as ``<journal>.damaged``.

        Raises
        ------
        FileExistsError
            The header names a different sweep.
        """
        if not self.path.exists():
            return {}
        lines = self.path.read_bytes().splitlines()
        if not lines:  # killed before the header was written
            return {}
        header = _parse_json(lines[0])
        fingerprint = header.get("fingerprint") if isinstance(header, dict) else None
        if isinstance(fingerprint, str) and fingerprint != self.key:
            raise FileExistsError(f"{self.path} belongs to a different sweep (fingerprint {fingerprint[:12]}…); "
                                  "choose another output path")
        header_intact = fingerprint == self.key
        points, damaged = {}, [] if header_intact else [1]
        for number, line in enumerate(lines[1:], start=2):
            record = self._record(line, header_intact)
            if record is None:
                damaged.append(number)
            else:
                points[record[0]] = record[1]
        if damaged:
            self._repair(points, damaged)
        return points

    def _record(self, line: bytes, header_intact: bool) -> tuple[Index, Values] | None:
        """(index, values) of one journal line, or None if it is damaged or belongs to another sweep."""
        record = _parse_json(line)
        if not isinstance(record, dict):
            return None
        if record.get("sweep", None if header_intact else "") not in (None, self.tag):
            return None  # records written before tags existed are trusted under an intact header only
        index, values = record.get("index"), record.get("values")
        if not _valid_index(index, self.shape) or not isinstance(values, dict):
            return None
        if not all(_fits(values.get(name), variable) for name, variable in self.template.data_vars.items()):
            return None
        return tuple(index), {name: values[name] for name in self.template.data_vars}

    def _repair(self, points: dict[Index, Values], damaged: list[int]) -> None:
        backup = self.path.with_name(self.path.name + ".damaged")
        shown = ", ".join(map(str, damaged[:10])) + (", …" if len(damaged) > 10 else "")
        warnings.warn(f"{self.path}: skipped {len(damaged)} damaged line(s) (line {shown}); {len(points)} valid "
                      f"point(s) kept, the others are computed again; the damaged file is kept as {backup}",
                      JournalWarning, stacklevel=4)
        repaired = self.path.with_name(self.path.name + ".repaired")
        with repaired.open("w") as handle:
            handle.write(self._header())
            handle.writelines(self._line(index, values) for index, values in points.items())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(self.path, backup)
        os.replace(repaired, self.path)

    def append(self, index: Index, values: Values) -> None:
        """Write one computed point durably (flushed and fsynced)."""
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a") as handle:
            handle.write((self._header() if fresh else "") + self._line(index, values))
            handle.flush()
            os.fsync(handle.fileno())

    def _header(self) -> str:
        return json.dumps({"fingerprint": self.key}) + "\n"

    def _line(self, index: Index, values: Values) -> str:
        return json.dumps({"sweep": self.tag, "index": list(index), "values": values}) + "\n"


def _parse_json(line: bytes) -> Any:
    """The JSON value of one line, or None if it is not UTF-8 JSON."""
    try:
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _valid_index(index: Any, shape: tuple[int, ...]) -> bool:
    return (isinstance(index, list) and len(index) == len(shape)
            and all(type(i) is int and 0 <= i < n for i, n in zip(index, shape, strict=True)))


def _fits(value: Any, variable: xr.DataArray) -> bool:
    """Whether a journalled value has the shape and type of ``variable``."""
    text = variable.dtype.kind == "U"
    try:
        array = np.asarray(value, dtype=object if text else variable.dtype)
    except (TypeError, ValueError, OverflowError):
        return False
    return array.shape == variable.shape and (not text or all(isinstance(item, str) for item in array.flat))


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
        with _exclusive(self.output):
            return self._run(progress, retry_failed)

    def _run(self, progress: bool, retry_failed: bool) -> xr.Dataset:
        todo = self.todo if retry_failed else [index for index in self.grid if index not in self.points]
        bar = tqdm(total=len(self.grid), initial=len(self.grid) - len(todo), desc="sweep", disable=not progress)

        def record(index: Index, values: Values) -> None:
            self.record(index, values)
            bar.update()

        try:
            _execute(self, todo, record)
        except SweepInterrupted:
            raise
        except KeyboardInterrupt as interrupt:
            raise SweepInterrupted(self, running=0) from interrupt
        finally:
            bar.close()
        dataset = _assemble(self)
        if self.output is not None and self.journal is not None:
            save_netcdf(dataset, self.output)
            if not self.failed:  # failed points stay journalled so that a rerun retries them
                self.journal.path.unlink(missing_ok=True)
        return dataset


def plan_sweep(machine: Machine, over: Mapping[str, Sequence[float]], approaches: Sequence[str] = ("local",),
               *, path: str | os.PathLike[str] | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
               workers: int | None = None, scheduler: str | None = None,
               figures: Sequence[FigureOfMerit] = PAPER) -> SweepPlan:
    """Check a sweep completely and load what is already computed, before any point is solved.

    The parameters are those of :func:`sweep`. Raises ``ValueError`` (or ``KeyError`` for an unknown
    reservoir, ``ImportError`` for a missing Dask) naming the offending input, ``FileExistsError`` when the
    output or its journal belongs to a different sweep; warns (:class:`JournalWarning`) about damaged
    journal lines.
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
    figures = check_figures(figures)
    key = fingerprint(machine, axes, approaches, options, figures)
    template = table_from_rows(machine, approaches, [{"error": ""} for _ in approaches], figures)
    plan = SweepPlan(machine, axes, approaches, options, key, template, workers=workers, scheduler=scheduler,
                     figures=figures)
    if path is None:
        return plan
    plan.output = Path(path)
    check_output_folder(plan.output)
    existing = _read_output(plan.output, key)
    missing = sorted(set(template.data_vars) - set(existing.data_vars)) if existing is not None else []
    if missing:  # written before these variables existed, e.g. before the fermionic partial trace (no "model")
        warnings.warn(f"{plan.output} was written by an earlier transportbench (it lacks {', '.join(missing)}); "
                      "its points are computed again and the file is replaced", JournalWarning, stacklevel=2)
        existing = None
    if existing is not None and not count_failed_points(existing):
        plan.existing = existing
        return plan
    shape = tuple(len(values) for values in axes.values())
    plan.journal = Journal(plan.output.with_name(plan.output.name + ".points.jsonl"), key, template, shape)
    plan.points = plan.journal.load()
    return plan


def sweep(machine: Machine, over: Mapping[str, Sequence[float]], approaches: Sequence[str] = ("local",), *,
          path: str | os.PathLike[str] | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
          workers: int | None = None, scheduler: str | None = None, progress: bool = True,
          figures: Sequence[FigureOfMerit] = PAPER, retry_failed: bool = True) -> xr.Dataset:
    """Run :func:`~transportbench.compare.compare` on every point of a parameter grid.

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
                      figures=figures)
    return plan.run(progress=progress, retry_failed=retry_failed)


@contextlib.contextmanager
def _exclusive(output: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on ``<output>.lock`` while a sweep writes its journal and output.

    A second sweep on the same output (the same sweep or another) is refused with FileExistsError instead of
    both appending to one journal and the last one overwriting the file. The lock dies with the process.
    """
    if output is None:
        yield
        return
    path = output.with_name(output.name + ".lock")
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            raise FileExistsError(f"another sweep (process {owner}) is writing {output}; wait for it to finish or "
                                  "choose another output path") from None
        if not path.exists() or os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino:
            raise FileExistsError(f"another sweep finished with {output} while this one started; run it again")
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


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


def check_output_folder(path: Path) -> None:
    """ValueError unless ``path`` can be written: its folder exists and is writable, and it is no folder."""
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: the folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: no permission to write in {folder}")
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder; give a file name")


def check_scheduler(address: str) -> None:
    """ImportError without the ``dask`` extra; ValueError if a tcp/tls scheduler does not answer in time."""
    if importlib.util.find_spec("distributed") is None:
        raise ImportError("a Dask scheduler needs the 'dask' extra: pip install 'transportbench[dask]'")
    parts = urllib.parse.urlsplit(address)
    if parts.scheme not in ("tcp", "tls"):
        return  # inproc:// and other transports cannot be probed with a socket
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if host is None or port is None:
        raise ValueError(f"scheduler address {address!r} needs a host and a port, e.g. tcp://10.0.0.5:8786")
    try:
        socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT).close()
    except OSError as error:
        raise ValueError(f"no Dask scheduler answers at {address} within {SCHEDULER_TIMEOUT:g} s ({error}); "
                         "start one with `dask scheduler` or check the address") from None


def _read_output(output: Path, key: str) -> xr.Dataset | None:
    """The existing NetCDF output of this sweep, or None if there is none."""
    if not output.exists():
        return None
    try:
        existing = xr.load_dataset(output, engine="h5netcdf")
    except (OSError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{output} exists but cannot be read as NetCDF ({reason}); it may be cut short: move "
                         "or delete it and rerun (points journalled next to it are kept)") from None
    if existing.attrs.get("fingerprint") != key:
        raise FileExistsError(f"{output} holds a different sweep; choose another output path")
    return existing


def save_netcdf(dataset: xr.Dataset, path: Path) -> None:
    """Write ``dataset`` to a temporary file next to ``path`` and rename it: never a truncated ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        dataset.to_netcdf(temporary, engine="h5netcdf")
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def blas_threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """BLAS threads each of ``workers`` local processes may use: the CPUs shared out, at least one."""
    workers = integer("workers", workers, minimum=1)
    return max(1, (cpus or os.cpu_count() or 1) // workers)


def _init_worker(threads: int, parent: int) -> None:
    """Worker initialiser: leave interrupts to the parent, die with it, and use ``threads`` BLAS threads.

    SIGINT is ignored (Ctrl-C reaches the whole process group; the parent stops the workers), SIGTERM
    gets its default action back (a handler inherited by fork would raise in the worker), and on Linux
    the kernel kills the worker when the parent dies, even by SIGKILL. threadpoolctl limits only the
    libraries already loaded, so SciPy's own BLAS is loaded first.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    import scipy.linalg  # noqa: F401

    set_blas_threads(threads)
    threadpool_limits(limits=threads)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in the block (main thread only): a second Ctrl-C cannot cut the clean-up short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def _execute(plan: SweepPlan, todo: list[Index], record: Callable[[Index, Values], None]) -> None:
    if plan.scheduler is not None:
        _execute_dask(plan, todo, record)
    elif plan.workers == 1 or len(todo) <= 1:
        for index in todo:
            try:
                values = run_point(plan.machine, list(plan.axes), plan.values(index), plan.approaches, plan.options,
                                   plan.figures)
            except KeyboardInterrupt as interrupt:
                raise SweepInterrupted(plan, running=1) from interrupt
            record(index, values)
    else:
        _execute_local(plan, todo, record, min(plan.workers or os.cpu_count() or 1, len(todo)))


def _execute_local(plan: SweepPlan, todo: list[Index], record: Callable[[Index, Values], None],
                   processes: int) -> None:
    pool = ProcessPoolExecutor(max_workers=processes, initializer=_init_worker,
                               initargs=(blas_threads_per_worker(processes), os.getpid()))
    futures: dict[Future[Values], Index] = {}
    try:
        for index in todo:
            futures[pool.submit(run_point, plan.machine, list(plan.axes), plan.values(index), plan.approaches,
                                plan.options, plan.figures)] = index
        for future in as_completed(list(futures)):
            record(futures.pop(future), future.result())
    except BaseException as error:
        running = min(processes, sum(future.running() for future in futures))
        with _sigint_ignored():
            _stop(pool)
            _harvest(futures, record)
        if isinstance(error, KeyboardInterrupt):
            raise SweepInterrupted(plan, running) from error
        if isinstance(error, BrokenProcessPool):
            journal = plan.journal.path if plan.journal else "nowhere (the sweep has no path)"
            raise WorkerDied(f"a worker process died (killed, out of memory, or crashed in compiled code); "
                             f"{len(plan.points)} of {len(plan.grid)} points are journalled in {journal}; rerun "
                             "to resume (with 1 worker to see the crash)") from error
        raise
    pool.shutdown()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued points and terminate the workers now (the executor has no public way to do so).

    The executor's manager thread is joined at the end: ``shutdown(wait=False)`` forgets it, and a manager
    thread still closing its wake-up pipe at interpreter exit raced ``concurrent.futures``' exit hook
    ("OSError: Bad file descriptor" printed after an interrupted sweep).
    """
    processes = list((pool._processes or {}).values())
    manager = pool._executor_manager_thread
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(STOP_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()
    if manager is not None:
        manager.join(STOP_TIMEOUT)  # it sees the dead workers, closes its pipes and ends


def _harvest(futures: Mapping[Future[Values], Index], record: Callable[[Index, Values], None]) -> None:
    """Record the points that finished but were not recorded yet."""
    for future, index in futures.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            record(index, future.result())


def _execute_dask(plan: SweepPlan, todo: list[Index], record: Callable[[Index, Values], None]) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(plan.scheduler) as client:
        futures = {client.submit(run_point, plan.machine, list(plan.axes), plan.values(index), plan.approaches,
                                 plan.options, plan.figures, pure=False): index for index in todo}
        try:
            for future in dask_completed(list(futures)):
                record(futures.pop(future), future.result())
        except KeyboardInterrupt as interrupt:
            with _sigint_ignored():
                client.cancel(list(futures))
            raise SweepInterrupted(plan, running=None) from interrupt


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
