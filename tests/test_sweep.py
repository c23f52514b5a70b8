"""Sweeps (``transportbench.sweeps``): grid values, checks before any point, figures, interrupts.

Where the points run is tested in test_executors.py, the journal that lets a sweep resume in test_journal.py,
the output file in test_storage.py, the command line in test_cli.py.
"""

import numpy as np
import pytest
import xarray as xr
from sweep_cases import OVER

from transportbench.comparison import compare
from transportbench.model import Machine
from transportbench.sweeps import SweepInterrupted, plan_sweep, sweep


def test_sweep_points_equal_single_compares(tmp_path):
    table = sweep(Machine.triple_dot(), OVER, ["local"], path=tmp_path / "s.nc", workers=2, progress=False)
    assert table.concurrence.dims == ("mu", "U", "approach")
    point = compare(Machine.triple_dot(mu_hot=15.0, U=15.0), ["local"])
    assert float(table.concurrence.sel(mu=15.0, U=15.0, approach="local")) == float(point.concurrence[0])
    assert table.mu.attrs["units"].startswith("energy")
    reread = xr.load_dataset(tmp_path / "s.nc")
    assert np.array_equal(reread.concurrence.values, table.concurrence.values)
    assert not (tmp_path / "s.nc.points.jsonl").exists()


def test_sweep_computes_the_figures_asked_for_in_worker_processes(tmp_path):
    from transportbench.figures import Concurrence, SinkPopulation

    figures = [Concurrence(0, 2), SinkPopulation()]
    table = sweep(Machine.triple_dot(), {"mu": [6.0, 8.0]}, ["local"], workers=2, figures=figures, progress=False,
                  path=tmp_path / "f.nc")
    assert set(table.attrs["figures"].split(", ")) == {"concurrence_0_2", "sink_population"}
    assert "concurrence" not in table and np.all(table.concurrence_0_2.values < 0.05)
    paper = sweep(Machine.triple_dot(), {"mu": [6.0, 8.0]}, ["local"], workers=1, progress=False)
    assert np.allclose(table.sink_population.values, paper.sink_population.values, rtol=1e-12)


# -------------------------------------------------------------------------- checks before any point
def test_sweep_axes_are_checked_before_any_point():
    machine = Machine.triple_dot()
    with pytest.raises(ValueError, match="non-empty"):
        sweep(machine, {"mu": []})
    with pytest.raises(ValueError, match="sweep parameter voltage = 1: unknown sweep parameter 'voltage'"):
        sweep(machine, {"voltage": [1.0]}, progress=False)


def test_a_sweep_is_checked_completely_before_any_point_is_solved(tmp_path):
    machine = Machine.triple_dot()
    with pytest.raises(ValueError, match="'mu' and 'mu.hot' are the same parameter"):
        plan_sweep(machine, {"mu": [1.0], "mu.hot": [2.0]})
    with pytest.raises(ValueError, match=r"sweep parameter T = -1: .*temperature"):
        plan_sweep(machine, {"mu": [1.0, 2.0], "T": [1.0, -1.0]})
    with pytest.raises(ValueError, match="folder .* does not exist"):
        plan_sweep(machine, {"mu": [1.0]}, path=tmp_path / "missing" / "x.nc")
    with pytest.raises(ValueError, match="no Dask scheduler answers at tcp://127.0.0.1:9"):
        plan_sweep(machine, {"mu": [1.0]}, scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ValueError, match="unknown approach"):
        plan_sweep(machine, {"mu": [1.0]}, ["qmeq:3vN"])


# --------------------------------------------------------------------------------------- interrupts
def test_an_interrupted_sweep_reports_and_keeps_its_finished_points(tmp_path, monkeypatch):
    import transportbench.sweeps as module

    original = module.run_point
    calls = []

    def interrupted_at_the_third_point(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(module, "run_point", interrupted_at_the_third_point)
    with pytest.raises(SweepInterrupted, match=r"interrupted: 2 of 6 points finished, journalled in .*i\.nc\."
                                               r"points\.jsonl; 1 running point\(s\) were stopped"):
        sweep(Machine.triple_dot(), OVER, ["local"], path=tmp_path / "i.nc", workers=1, progress=False)
    assert len((tmp_path / "i.nc.points.jsonl").read_text().splitlines()) == 3  # header and two points
