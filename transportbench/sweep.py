"""Parameter sweeps: a grid of machines through several approaches, resumable and parallel.

Every finished point is appended to a journal (``<path>.points.jsonl``) as soon as it completes, so a
killed sweep resumes without recomputing or losing a point; when the grid is complete the journal is
assembled into a NetCDF file at ``path``. Both files carry a fingerprint of the sweep (machine,
parameters, approaches, options); a sweep never writes over a file that holds a different sweep.

Points run on local processes by default, or on a Dask distributed cluster when a scheduler address is
given (see the README for ``dask scheduler`` / ``dask worker`` and a dask-jobqueue example). Local
workers share the CPUs' BLAS threads (:func:`blas_threads_per_worker`): SciPy's sparse LU calls BLAS for
its dense blocks, and two workers with two BLAS threads each on two cores made factorisations up to 20×
slower in our benchmark.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from transportbench.compare import compare, table_from_rows
from transportbench.model import Machine, Reservoir

PARAMETERS: dict[str, str] = {
    "mu": "chemical potential of the reservoir 'hot' (alias of mu.hot)",
    "U": "Coulomb energy of every Coulomb pair",
    "g": "every flip-flop coupling",
    "epsilon": "every qubit energy",
    "gamma": "rate of every reservoir",
    "T": "temperature of every reservoir",
    "mu.<reservoir>": "chemical potential of one reservoir",
    "T.<reservoir>": "temperature of one reservoir",
    "gamma.<reservoir>": "rate of one reservoir",
    "epsilon.<qubit>": "energy of one qubit (0-based index)",
    "dephasing.<qubit>": "pure-dephasing rate of one qubit",
}
"""Sweepable parameter names (all in the machine's energy unit)."""

UNITS = "energy unit of the machine (hbar = k_B = 1)"


def set_parameter(machine: Machine, name: str, value: float) -> Machine:
    """A copy of ``machine`` with the parameter ``name`` (see ``PARAMETERS``) set to ``value``."""
    value = float(value)
    head, _, tail = name.partition(".")
    if name == "mu":
        head, tail = "mu", "hot"
    if head in ("mu", "T", "gamma") and tail:
        field = {"mu": "chemical_potential", "T": "temperature", "gamma": "rate"}[head]
        machine.reservoir(tail)  # KeyError names the valid reservoirs
        reservoirs = tuple(_replace(r, field, value) if r.name == tail else r for r in machine.reservoirs)
        return machine.replace(reservoirs=reservoirs)
    if head in ("gamma", "T") and not tail:
        field = {"T": "temperature", "gamma": "rate"}[head]
        return machine.replace(reservoirs=tuple(_replace(r, field, value) for r in machine.reservoirs))
    if name == "U":
        return machine.replace(coulomb=tuple((pair, value) for pair, _ in machine.coulomb))
    if name == "g":
        return machine.replace(couplings=tuple((pair, value) for pair, _ in machine.couplings))
    if head in ("epsilon", "dephasing"):
        values = list(machine.energies if head == "epsilon" else machine.dephasing)
        if tail:
            qubit = _qubit_index(name, tail, machine.n_qubits)
            values[qubit] = value
        else:
            values = [value] * machine.n_qubits
        return machine.replace(**{"energies" if head == "epsilon" else "dephasing": tuple(values)})
    raise ValueError(f"unknown sweep parameter {name!r}; valid: {sorted(PARAMETERS)}")


def _replace(reservoir: Reservoir, field: str, value: float) -> Reservoir:
    return dataclasses.replace(reservoir, **{field: value})


def _qubit_index(name: str, text: str, n_qubits: int) -> int:
    if not text.isdigit() or int(text) >= n_qubits:
        raise ValueError(f"sweep parameter {name!r} needs a qubit index in 0..{n_qubits - 1}")
    return int(text)


def fingerprint(machine: Machine, over: Mapping[str, Sequence[float]], approaches: Sequence[str],
                options: Mapping[str, Mapping[str, Any]]) -> str:
    """SHA-256 of everything that defines a sweep; two sweeps share a file only if this agrees."""
    description = {"machine": repr(machine), "over": {k: [float(v) for v in vs] for k, vs in over.items()},
                   "approaches": list(approaches), "options": {k: dict(v) for k, v in options.items()}}
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=repr).encode()).hexdigest()


def run_point(machine: Machine, names: Sequence[str], values: Sequence[float], approaches: Sequence[str],
              options: Mapping[str, Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Compare the approaches at one grid point; returns the table's variables as plain lists."""
    for name, value in zip(names, values, strict=True):
        machine = set_parameter(machine, name, value)
    table = compare(machine, approaches, options)
    return {name: table[name].values.tolist() for name in table.data_vars}


class Journal:
    """Append-only record of finished points: a header line with the fingerprint, then one line per point."""

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key

    def load(self) -> dict[tuple[int, ...], dict[str, list[Any]]]:
        """Finished points by grid index; a torn last line (killed mid-write) is ignored."""
        if not self.path.exists():
            return {}
        lines = self.path.read_text().splitlines()
        if not lines:  # killed before the header was written
            return {}
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            header = {}
        if header.get("fingerprint") != self.key:
            raise FileExistsError(f"{self.path} belongs to a different sweep (fingerprint "
                                  f"{header.get('fingerprint', '?')[:12]}…); choose another output path")
        points = {}
        for line in lines[1:]:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            points[tuple(record["index"])] = record["values"]
        return points

    def append(self, index: tuple[int, ...], values: dict[str, list[Any]]) -> None:
        """Write one finished point durably (flushed and fsynced)."""
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a") as handle:
            if fresh:
                handle.write(json.dumps({"fingerprint": self.key}) + "\n")
            handle.write(json.dumps({"index": list(index), "values": values}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def sweep(machine: Machine, over: Mapping[str, Sequence[float]], approaches: Sequence[str] = ("lindblad",), *,
          path: str | os.PathLike[str] | None = None, options: Mapping[str, Mapping[str, Any]] | None = None,
          workers: int | None = None, scheduler: str | None = None, progress: bool = True) -> xr.Dataset:
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
        ``FileExistsError``.
    options : mapping, optional
        Backend options per approach (as in ``compare``).
    workers : int, optional
        Local worker processes (default: the number of CPUs; 1 runs in this process).
    scheduler : str, optional
        Address of a Dask distributed scheduler (e.g. ``"tcp://10.0.0.5:8786"``); needs the ``dask`` extra.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    xarray.Dataset
        The compare variables with the swept parameters as leading coordinates (units in attributes).
    """
    options = {k: dict(v) for k, v in (options or {}).items()}
    if not over:
        raise ValueError("over must name at least one parameter to sweep")
    axes = {name: np.asarray(values, dtype=float) for name, values in over.items()}
    for name, values in axes.items():
        if values.ndim != 1 or not values.size or not np.isfinite(values).all():
            raise ValueError(f"values of {name!r} must be a non-empty 1-d list of finite numbers")
        set_parameter(machine, name, float(values[0]))  # validates the name and the value
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    key = fingerprint(machine, axes, approaches, options)
    output = Path(path) if path is not None else None
    if output is not None and output.exists():
        existing = xr.load_dataset(output)
        if existing.attrs.get("fingerprint") != key:
            raise FileExistsError(f"{output} holds a different sweep; choose another output path")
        return existing
    journal = Journal(output.with_name(output.name + ".points.jsonl"), key) if output is not None else None
    done = journal.load() if journal is not None else {}
    names = list(axes)
    grid = list(itertools.product(*(range(len(v)) for v in axes.values())))
    todo = [index for index in grid if index not in done]
    bar = tqdm(total=len(grid), initial=len(grid) - len(todo), desc="sweep", disable=not progress)
    for index, values in _execute(machine, names, axes, todo, approaches, options, workers, scheduler):
        done[index] = values
        if journal is not None:
            journal.append(index, values)
        bar.update()
    bar.close()
    dataset = _assemble(machine, axes, approaches, options, done, key)
    if output is not None:
        dataset.to_netcdf(output, engine="h5netcdf")
        journal.path.unlink(missing_ok=True)  # the NetCDF now holds every point
    return dataset


def blas_threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """BLAS threads each of ``workers`` local processes may use: the CPUs shared out, at least one."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    return max(1, (cpus or os.cpu_count() or 1) // workers)


def _limit_blas_threads(threads: int) -> None:
    """Worker initialiser: cap the BLAS (and OpenMP) thread pools of this process at ``threads``.

    threadpoolctl limits only the libraries already loaded, so SciPy's own BLAS is loaded first.
    """
    import scipy.linalg  # noqa: F401

    threadpool_limits(limits=threads)


def _execute(machine: Machine, names: list[str], axes: dict[str, np.ndarray], todo: list[tuple[int, ...]],
             approaches: Sequence[str], options: dict[str, dict[str, Any]], workers: int | None,
             scheduler: str | None) -> Iterator[tuple[tuple[int, ...], dict[str, list[Any]]]]:
    def point(index: tuple[int, ...]) -> list[float]:
        return [float(axes[name][i]) for name, i in zip(names, index, strict=True)]

    if scheduler is not None:
        yield from _execute_dask(scheduler, machine, names, todo, point, approaches, options)
        return
    if workers == 1 or len(todo) <= 1:
        for index in todo:
            yield index, run_point(machine, names, point(index), approaches, options)
        return
    processes = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=processes, initializer=_limit_blas_threads,
                             initargs=(blas_threads_per_worker(processes),)) as pool:
        futures = {pool.submit(run_point, machine, names, point(index), approaches, options): index
                   for index in todo}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _execute_dask(scheduler: str, machine: Machine, names: list[str], todo: list[tuple[int, ...]],
                  point: Callable[[tuple[int, ...]], list[float]], approaches: Sequence[str],
                  options: dict[str, dict[str, Any]]) -> Iterator[tuple[tuple[int, ...], dict[str, list[Any]]]]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as error:
        raise ImportError("a Dask scheduler needs the 'dask' extra: pip install 'transportbench[dask]'") from error
    with Client(scheduler) as client:
        futures = {client.submit(run_point, machine, names, point(index), approaches, options, pure=False): index
                   for index in todo}
        for future in dask_completed(futures):
            yield futures[future], future.result()


def _assemble(machine: Machine, axes: dict[str, np.ndarray], approaches: Sequence[str],
              options: dict[str, dict[str, Any]], done: dict[tuple[int, ...], dict[str, list[Any]]],
              key: str) -> xr.Dataset:
    template = table_from_rows(machine, list(approaches), [{"error": ""} for _ in approaches])
    shape = tuple(len(v) for v in axes.values())
    variables = {}
    for name, variable in template.data_vars.items():
        dtype = object if variable.dtype.kind == "U" else variable.dtype
        stacked = np.stack([np.asarray(done[index][name], dtype=dtype)
                            for index in itertools.product(*(range(n) for n in shape))])
        stacked = stacked.astype(str) if dtype is object else stacked
        variables[name] = ((*axes, *variable.dims), stacked.reshape(shape + variable.shape), variable.attrs)
    coords = {name: (name, values, {"units": UNITS, "description": PARAMETERS.get(name.split(".")[0], name)})
              for name, values in axes.items()}
    coords.update({dim: template[dim].values for dim in template.dims})
    return xr.Dataset(variables, coords=coords,
                      attrs={**template.attrs, "fingerprint": key, "approaches": ", ".join(approaches),
                             "options": json.dumps(options, default=repr)})
