"""The output file of a sweep: checked before a sweep starts, written atomically, locked while it is written.

A sweep never leaves a truncated NetCDF file (:func:`save_netcdf` writes a temporary file and renames it),
never writes over a file that holds a different sweep (:func:`read_output` compares fingerprints), and two
sweeps never write one output at once (:func:`output_lock`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xarray as xr


def check_output_folder(path: Path) -> None:
    """ValueError unless ``path`` can be written: its folder exists and is writable, and it is no folder."""
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: the folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {path}: no permission to write in {folder}")
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder; give a file name")


def read_output(output: Path, key: str) -> xr.Dataset | None:
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


FREE_SPACE_FACTOR = 3.0
"""A NetCDF file is written only where at least this many times the dataset's in-memory size (plus 1 MiB) is
free: the HDF5 library crashes the process, rather than raising, when the disk fills during a write."""


class OutputWriteError(OSError):
    """An output file could not be written (no space, no permission); the results in memory are unaffected."""


class LockWriteError(RuntimeError):
    """A sweep's lock file could not be created or written (a full disk, no permission): nothing was solved."""


def save_netcdf(dataset: xr.Dataset, path: Path) -> None:
    """Write ``dataset`` to a temporary file next to ``path`` and rename it: never a truncated ``path``.

    Raises :class:`OutputWriteError` (one line: what and why) when the folder lacks the space
    (``FREE_SPACE_FACTOR``), checked before HDF5 starts, or when the write fails.
    """
    needed = FREE_SPACE_FACTOR * dataset.nbytes + 2**20
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise OutputWriteError(errno.ENOSPC, f"{path} needs about {needed / 2**20:.1f} MiB, {free / 2**20:.1f} MiB "
                                             "are free")
    try:
        with _replacing(path) as temporary:
            dataset.to_netcdf(temporary, engine="h5netcdf")
    except OSError as error:
        raise OutputWriteError(error.errno, f"{path}: {error.strerror or error}") from None


def save_json(data: Any, path: Path) -> None:
    """Write ``data`` as strict JSON (NaN and infinities as null), atomically like :func:`save_netcdf`."""
    text = json.dumps(_strict(data), indent=1, default=str, allow_nan=False)
    try:
        with _replacing(path) as temporary:
            temporary.write_text(text)
    except OSError as error:
        raise OutputWriteError(error.errno, f"{path}: {error.strerror or error}") from None


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """A temporary file next to ``path`` to write; on success it is flushed to disk and renamed to ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _strict(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, through lists and dicts."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(item) for item in value]
    return value


@contextlib.contextmanager
def output_lock(output: Path | None) -> Iterator[None]:
    """Hold an exclusive lock on ``<output>.lock`` while a sweep writes its journal and output.

    A second sweep on the same output (the same sweep or another) is refused with FileExistsError instead of
    both appending to one journal and the last one overwriting the file. The lock dies with the process.
    """
    if output is None:
        yield
        return
    path = output.with_name(output.name + ".lock")
    try:
        handle = open(path, "a+")
    except OSError as error:
        raise LockWriteError(f"could not start the sweep: its lock file {path} cannot be created "
                             f"({error.strerror}); nothing was solved") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            raise FileExistsError(f"another sweep (process {owner}) is writing {output}; wait for it to finish or "
                                  "choose another output path") from None
        if not path.exists() or os.stat(path).st_ino != os.fstat(handle.fileno()).st_ino:
            raise FileExistsError(f"another sweep finished with {output} while this one started; run it again")
        try:
            os.ftruncate(handle.fileno(), 0)  # unbuffered: a failed write must not fail again on close
            os.pwrite(handle.fileno(), str(os.getpid()).encode(), 0)
        except OSError as error:
            path.unlink(missing_ok=True)
            raise LockWriteError(f"could not start the sweep: its lock file {path} cannot be written "
                                 f"({error.strerror}); nothing was solved") from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
