"""Expensive results computed once and kept: a rerun with the same settings reads them back.

For work that is not a sweep (a study's parts, or points with settings that differ per point): a whole
dataset kept as NetCDF with the settings it was made with (:func:`cached_dataset`), or records appended one
per line to a JSON-lines file as soon as each is computed (:class:`PointCache`), so that an interrupted run
resumes. A result is reused only when its key, a string of every setting it depends on, is the same.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xarray as xr

from transportbench import TransportbenchWarning
from transportbench.storage import save_netcdf

KEY_ATTRIBUTE = "cache_key"
"""The dataset attribute that holds the settings a cached dataset was made with."""


class CacheWarning(TransportbenchWarning):
    """A damaged cache entry was skipped (it is computed again)."""


def cached_dataset(path: Path, key: str, compute: Callable[[], xr.Dataset]) -> tuple[xr.Dataset, bool]:
    """The dataset kept at ``path`` if it was made with ``key``, else ``compute()`` kept there.

    Parameters
    ----------
    path : Path
        The NetCDF file (its folder is created).
    key : str
        Every setting the dataset depends on; stored in its ``cache_key`` attribute.
    compute : callable
        Makes the dataset when there is no usable copy.

    Returns
    -------
    (xarray.Dataset, bool)
        The dataset, and whether it was read back (True) or computed now (False). A file that cannot be read
        is computed again, with a :class:`CacheWarning`.
    """
    if path.exists():
        try:
            kept = xr.load_dataset(path, engine="h5netcdf")
        except (OSError, ValueError) as error:
            warnings.warn(f"{path} cannot be read ({str(error).splitlines()[0] if str(error) else error!r}); "
                          "computing it again", CacheWarning, stacklevel=2)
        else:
            if kept.attrs.get(KEY_ATTRIBUTE) == key:
                return kept, True
    dataset = compute()
    dataset.attrs[KEY_ATTRIBUTE] = key
    path.parent.mkdir(parents=True, exist_ok=True)
    save_netcdf(dataset, path)
    return dataset, False


class PointCache:
    """Records by key in a JSON-lines file, each appended (and flushed to disk) as soon as it is computed.

    Parameters
    ----------
    path : Path
        The file; one line ``{"key": ..., "record": {...}}`` per computed record. Damaged lines (a cut last
        line after an interruption) are skipped with a :class:`CacheWarning`; records are JSON objects of
        numbers and strings (non-finite numbers are kept as the strings ``"nan"``, ``"inf"``, ``"-inf"``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        if path.exists():
            damaged = []
            for number, line in enumerate(path.read_bytes().splitlines(), start=1):
                try:
                    entry = json.loads(line)
                    self.records[str(entry["key"])] = {name: _number(value) for name, value in entry["record"].items()}
                except (ValueError, KeyError, TypeError, AttributeError):
                    damaged.append(number)
            if damaged:
                warnings.warn(f"{path}: skipped damaged line(s) {damaged}; those records are computed again",
                              CacheWarning, stacklevel=2)

    def get(self, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The record kept under ``key``, or ``compute()`` appended under it."""
        if key not in self.records:
            record = compute()
            line = json.dumps({"key": key, "record": {name: _plain(value) for name, value in record.items()}},
                              allow_nan=False)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as handle:
                if handle.seek(0, os.SEEK_END) > 0:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":
                        line = "\n" + line  # after a line cut short, start a new one
                handle.write((line + "\n").encode())
                handle.flush()
                os.fsync(handle.fileno())
            self.records[key] = record
        return self.records[key]


def _plain(value: Any) -> Any:
    """A JSON value: NumPy scalars as Python numbers, non-finite floats as strings."""
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else str(number)


def _number(value: Any) -> Any:
    """Inverse of :func:`_plain` for the non-finite floats."""
    return float(value) if value in ("nan", "inf", "-inf") else value
