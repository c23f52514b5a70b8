"""Sweeps: grid values, resuming after a kill, never overwriting another sweep, the CLI."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from transportbench.cli import main, parse_axis
from transportbench.compare import compare
from transportbench.model import Machine
from transportbench.sweep import set_parameter, sweep

OVER = {"mu": [4.0, 8.0, 15.0], "U": [10.0, 15.0]}


def _blas_threads() -> list[int]:
    """Thread counts of the BLAS libraries loaded by NumPy/SciPy in this process."""
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS too)
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_local_workers_share_the_cpus_blas_threads():
    from concurrent.futures import ProcessPoolExecutor

    from transportbench.sweep import _limit_blas_threads, blas_threads_per_worker

    assert blas_threads_per_worker(2, cpus=2) == 1
    assert blas_threads_per_worker(3, cpus=2) == 1
    assert blas_threads_per_worker(2, cpus=8) == 4
    with pytest.raises(ValueError, match="workers"):
        blas_threads_per_worker(0)
    with ProcessPoolExecutor(1, initializer=_limit_blas_threads, initargs=(1,)) as pool:
        limited = pool.submit(_blas_threads).result()
    assert limited and limited == [1] * len(limited)


def test_sweep_points_equal_single_compares(tmp_path):
    table = sweep(Machine.triple_dot(), OVER, ["lindblad"], path=tmp_path / "s.nc", workers=2, progress=False)
    assert table.concurrence.dims == ("mu", "U", "approach")
    point = compare(Machine.triple_dot(mu_hot=15.0, coulomb_energy=15.0), ["lindblad"])
    assert float(table.concurrence.sel(mu=15.0, U=15.0, approach="lindblad")) == float(point.concurrence[0])
    assert table.mu.attrs["units"].startswith("energy")
    reread = xr.load_dataset(tmp_path / "s.nc")
    assert np.array_equal(reread.concurrence.values, table.concurrence.values)
    assert not (tmp_path / "s.nc.points.jsonl").exists()


def test_sweep_refuses_another_sweeps_file(tmp_path):
    sweep(Machine.triple_dot(), OVER, ["lindblad"], path=tmp_path / "s.nc", workers=1, progress=False)
    with pytest.raises(FileExistsError, match="different sweep"):
        sweep(Machine.triple_dot(g13=0.02), OVER, ["lindblad"], path=tmp_path / "s.nc", workers=1, progress=False)
    journal = tmp_path / "t.nc.points.jsonl"
    journal.write_text('{"fingerprint": "someone else"}\n')
    with pytest.raises(FileExistsError, match="different sweep"):
        sweep(Machine.triple_dot(), OVER, ["lindblad"], path=tmp_path / "t.nc", workers=1, progress=False)


KILLED_SWEEP = """
import sys
import numpy as np
from transportbench.model import Machine
from transportbench.sweep import sweep
sweep(Machine.w_machine(3), {"mu": np.linspace(2.0, 12.0, 12), "U": [12.0, 20.0]}, ["lindblad"],
      path=sys.argv[1], workers=1, progress=False)
"""


def test_killed_sweep_resumes_without_losing_or_recomputing_points(tmp_path):
    path = tmp_path / "killed.nc"
    journal = tmp_path / "killed.nc.points.jsonl"
    process = subprocess.Popen([sys.executable, "-c", KILLED_SWEEP, str(path)])
    deadline = time.time() + 120
    while time.time() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 4):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    saved = len(journal.read_text().splitlines()) - 1
    assert 3 <= saved < 24 and not path.exists(), "the sweep should have been killed mid-way"
    over = {"mu": np.linspace(2.0, 12.0, 12), "U": [12.0, 20.0]}
    calls = []
    import transportbench.sweep as module
    original = module.run_point
    module.run_point = lambda *args: calls.append(args) or original(*args)
    try:
        resumed = sweep(Machine.w_machine(3), over, ["lindblad"], path=path, workers=1, progress=False)
    finally:
        module.run_point = original
    assert len(calls) <= 24 - saved  # finished points are not recomputed
    fresh = sweep(Machine.w_machine(3), over, ["lindblad"], workers=1, progress=False)
    assert np.allclose(resumed.concurrence.values, fresh.concurrence.values, rtol=0, atol=1e-12)
    assert np.allclose(resumed.energy_current.values, fresh.energy_current.values, rtol=0, atol=1e-14)


def test_set_parameter_vocabulary():
    machine = Machine.triple_dot()
    assert set_parameter(machine, "mu", 3.0).reservoir("hot").chemical_potential == 3.0
    assert set_parameter(machine, "T.cold", 0.2).reservoir("cold").temperature == 0.2
    assert all(u == 7.0 for _, u in set_parameter(machine, "U", 7.0).coulomb)
    assert set_parameter(machine, "epsilon.1", 1.1).energies == (1.0, 1.1, 1.0)
    assert set_parameter(machine, "dephasing.0", 0.01).dephasing == (0.01, 0.0, 0.0)
    with pytest.raises(ValueError, match="unknown sweep parameter"):
        set_parameter(machine, "voltage", 1.0)
    with pytest.raises(KeyError, match="no reservoir"):
        set_parameter(machine, "mu.left", 1.0)
    with pytest.raises(ValueError, match="rate"):
        set_parameter(machine, "gamma", -1.0)
    with pytest.raises(ValueError, match="non-empty"):
        sweep(machine, {"mu": []})


def test_cli_compare_validate_and_errors(tmp_path, capsys):
    assert main(["compare", "--approaches", "lindblad", "--out", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "lindblad" in out and "C_12" in out and (tmp_path / "c.json").exists()
    assert main(["validate", "--gamma-hot", "5"]) == 0
    assert "violated" in capsys.readouterr().out
    assert main(["compare", "--approaches", "lindblad", "--gamma-hot", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rate must be >= 0" in err and "Traceback" not in err
    assert main(["sweep", "--over", "mu=1:2", "--workers", "1"]) == 2
    assert "--over" in capsys.readouterr().err
    assert main(["compare", "--approaches", "lindblad", "--out", str(tmp_path / "c.txt")]) == 2
    assert main(["study", "no_such_study"]) == 2


def test_cli_sweep_writes_netcdf(tmp_path, capsys):
    path = tmp_path / "cli.nc"
    assert main(["sweep", "--over", "mu=4:8:2", "--over", "U=15", "--workers", "1", "--out", str(path)]) == 0
    table = xr.load_dataset(path)
    assert table.concurrence.shape == (2, 1, 1)
    assert parse_axis("U=1,2.5")[1].tolist() == [1.0, 2.5]


def test_cli_entry_point_help_shows_units():
    completed = subprocess.run([sys.executable, "-m", "transportbench.cli", "sweep", "--help"],
                               capture_output=True, text=True, check=True)
    assert "hbar = k_B = 1" in completed.stdout and "--over" in completed.stdout


def test_sweep_on_a_dask_cluster_matches_local_processes(tmp_path):
    import distributed  # the 'dask' extra, installed by make setup

    over = {"mu": [4.0, 15.0], "U": [15.0]}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = sweep(Machine.triple_dot(), over, ["lindblad"], path=tmp_path / "dask.nc",
                       scheduler=cluster.scheduler_address, progress=False)
    local = sweep(Machine.triple_dot(), over, ["lindblad"], workers=1, progress=False)
    assert np.array_equal(remote.concurrence.values, local.concurrence.values)


def test_quick_studies_write_apart_from_full_ones(monkeypatch):
    from transportbench.reporting import study_arguments

    monkeypatch.setattr(sys, "argv", ["study"])
    assert study_arguments("doc").results == "results"
    monkeypatch.setattr(sys, "argv", ["study", "--quick"])
    assert study_arguments("doc").results == "results/quick"
    monkeypatch.setattr(sys, "argv", ["study", "--quick", "--results", "elsewhere"])
    assert study_arguments("doc").results == "elsewhere"
