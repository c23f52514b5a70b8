"""The output file of a sweep (``transportbench.storage``): never another sweep's, recomputed from older versions.

Interrupts and a second sweep on the same file while the first runs are tested through the command line in
test_cli.py.
"""

import numpy as np
import pytest
import xarray as xr
from sweep_cases import OVER, SMALL, counting_run_point

from transportbench.journal import JournalWarning
from transportbench.model import Machine
from transportbench.sweeps import sweep


def test_sweep_refuses_another_sweeps_file(tmp_path):
    sweep(Machine.triple_dot(), OVER, ["local"], path=tmp_path / "s.nc", workers=1, progress=False)
    with pytest.raises(FileExistsError, match="different sweep"):
        sweep(Machine.triple_dot(g13=0.02), OVER, ["local"], path=tmp_path / "s.nc", workers=1, progress=False)
    journal = tmp_path / "t.nc.points.jsonl"
    journal.write_text('{"fingerprint": "someone else"}\n')
    with pytest.raises(FileExistsError, match="different sweep"):
        sweep(Machine.triple_dot(), OVER, ["local"], path=tmp_path / "t.nc", workers=1, progress=False)


def test_a_sweep_file_of_an_earlier_version_is_computed_again(tmp_path, monkeypatch):
    # files written before the fermionic partial trace have no "model" variable and string-ordered concurrences
    path = tmp_path / "old.nc"
    table = sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1, progress=False)
    old = table.drop_vars("model").assign(concurrence=table.concurrence * 0 + 0.5)
    old.to_netcdf(path, engine="h5netcdf")
    calls = counting_run_point(monkeypatch)
    with pytest.warns(JournalWarning, match="earlier transportbench .*lacks model"):
        again = sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1, progress=False)
    assert len(calls) == 3
    assert np.array_equal(again.concurrence.values, table.concurrence.values)
    assert list(xr.load_dataset(path, engine="h5netcdf").model.values.ravel()) == ["qubit"] * 3


def test_a_stale_sweep_of_ones_own_folder_is_replaced_on_request(tmp_path):
    """A study whose sweep changed replaces its old file (with a warning); the same sweep still resumes."""
    path = tmp_path / "own.nc"
    sweep(Machine.triple_dot(), {"mu": [4.0, 8.0]}, ["local"], path=path, workers=1, progress=False)
    with pytest.raises(FileExistsError, match="holds a different sweep"):
        sweep(Machine.triple_dot(), {"mu": [4.0, 6.0]}, ["local"], path=path, workers=1, progress=False)
    with pytest.warns(JournalWarning, match="replaced"):
        changed = sweep(Machine.triple_dot(), {"mu": [4.0, 6.0]}, ["local"], path=path, workers=1, progress=False,
                        replace_stale=True)
    assert list(changed.mu.values) == [4.0, 6.0] and list(xr.load_dataset(path).mu.values) == [4.0, 6.0]
