"""The journal of a sweep: every finished point, appended durably as soon as it completes.

A journal (``<output>.points.jsonl``) starts with a header line holding the sweep's :func:`fingerprint`; every
further line is one point (its grid index and the compare table's variables), tagged with the start of the
fingerprint. Damaged lines (cut, garbage, a record of the wrong shape or of another sweep) are skipped with a
:class:`JournalWarning` naming the file and the lines; the damaged file is kept next to the repaired one until
the sweep completes.
A point where an approach raised is journalled with its ``error`` and counts as failed (:func:`point_failed`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from transportbench import TransportbenchWarning
from transportbench.figures import PAPER, FigureOfMerit
from transportbench.model import Machine

TAG_LENGTH = 16
"""Characters of the fingerprint repeated in every journal record (records stay attributable without the header)."""

Index = tuple[int, ...]
"""A grid point: one index per sweep axis."""
Values = dict[str, list[Any]]
"""One point's compare variables as plain lists (JSON-ready)."""


class JournalWarning(TransportbenchWarning):
    """Damaged lines of a sweep journal were skipped (the points are computed again)."""


class JournalWriteError(RuntimeError):
    """A finished point could not be appended to the journal (a full disk, lost permissions): the sweep stops.

    Every point journalled before is kept; rerunning the same sweep resumes once the cause is fixed.
    """


def fingerprint(machine: Machine, over: Mapping[str, Sequence[float]], approaches: Sequence[str],
                options: Mapping[str, Mapping[str, Any]], figures: Sequence[FigureOfMerit] = PAPER) -> str:
    """SHA-256 of everything that defines a sweep; two sweeps share a file only if this agrees."""
    description = {"machine": repr(machine), "over": {k: [float(v) for v in vs] for k, vs in over.items()},
                   "approaches": list(approaches), "options": {k: dict(v) for k, v in options.items()}}
    if tuple(figures) != PAPER:  # the paper's figures leave the fingerprints of earlier sweeps unchanged
        description["figures"] = [repr(figure) for figure in figures]
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=repr).encode()).hexdigest()


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
        the valid records and the damaged file kept as ``<journal>.damaged`` (until the sweep completes).

        Raises
        ------
        FileExistsError
            The header names a different sweep.
        """
        if self.path.is_dir():
            raise ValueError(f"the journal {self.path} is a folder; move it away or choose another output path")
        if not self.path.exists():
            return {}
        if not os.access(self.path, os.R_OK | os.W_OK):
            raise ValueError(f"cannot append to the journal {self.path}: no permission to read and write it")
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
                      f"point(s) kept, the others are computed again; the damaged file is kept as {backup} until the "
                      "sweep completes",
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
        try:
            with self.path.open("a") as handle:
                handle.write((self._header() if fresh else "") + self._line(index, values))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            raise JournalWriteError(f"cannot append a finished point to {self.path} ({error.strerror or error}); the "
                                    "points journalled before are kept: fix the cause (e.g. free disk space) and "
                                    "rerun the same command to resume") from None

    def _header(self) -> str:
        return json.dumps({"fingerprint": self.key}) + "\n"

    def _line(self, index: Index, values: Values) -> str:
        return json.dumps({"sweep": self.tag, "index": list(index), "values": values}) + "\n"


def _parse_json(line: bytes) -> Any:
    """The JSON value of one line, or None if it is not UTF-8 JSON."""
    try:
        return json.loads(line.decode("utf-8"), parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _finite_float(text: str) -> float:
    """A JSON number that fits a float (``1e400`` is damage; the writer spells infinities ``Infinity``)."""
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} does not fit a float")
    return number


def _valid_index(index: Any, shape: tuple[int, ...]) -> bool:
    return (isinstance(index, list) and len(index) == len(shape)
            and all(type(i) is int and 0 <= i < n for i, n in zip(index, shape, strict=True)))


ITEM_TYPES: dict[str, tuple[type, ...]] = {"U": (str,), "b": (bool,), "i": (int,), "f": (int, float)}
"""The JSON item types a journalled value may hold, by the NumPy kind of its variable (no text for numbers)."""


def _fits(value: Any, variable: xr.DataArray) -> bool:
    """Whether a journalled value has the shape of ``variable`` and items of its type."""
    try:
        array = np.asarray(value, dtype=object)
    except (TypeError, ValueError):
        return False
    allowed = ITEM_TYPES.get(variable.dtype.kind, ())
    numeric = variable.dtype.kind in "if"
    return array.shape == variable.shape and all(
        isinstance(item, allowed) and not (numeric and isinstance(item, bool)) for item in array.flat)
