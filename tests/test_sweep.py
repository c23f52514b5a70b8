"""Sweeps: grid values, resuming after a kill, never overwriting another sweep, the CLI."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from transportbench.compare import compare
from transportbench.journal import JournalWarning, count_failed_points
from transportbench.model import Machine
from transportbench.sweep import SweepInterrupted, plan_sweep, run_point, sweep

OVER = {"mu": [4.0, 8.0, 15.0], "U": [10.0, 15.0]}


def _worker_settings() -> tuple[list[int], int, object]:
    """BLAS thread counts, the process-wide solve setting and the SIGINT handler of this process."""
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS too)
    from threadpoolctl import threadpool_info

    from transportbench.resources import chosen_blas_threads

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return blas, chosen_blas_threads("dense"), signal.getsignal(signal.SIGINT)


def test_local_workers_share_the_cpus_blas_threads_and_leave_interrupts_to_the_parent(monkeypatch):
    from concurrent.futures import ProcessPoolExecutor

    from transportbench.executors import _init_worker, blas_threads_per_worker

    assert blas_threads_per_worker(2, cpus=2) == 1
    assert blas_threads_per_worker(3, cpus=2) == 1
    assert blas_threads_per_worker(2, cpus=8) == 4
    with pytest.raises(ValueError, match="workers"):
        blas_threads_per_worker(0)
    monkeypatch.delenv("TRANSPORTBENCH_BLAS_THREADS", raising=False)
    with ProcessPoolExecutor(1, initializer=_init_worker, initargs=(1, os.getpid())) as pool:
        blas, per_solve, sigint = pool.submit(_worker_settings).result()
    assert blas and blas == [1] * len(blas)
    assert per_solve == 1  # backends' per-solve blas_threads("dense") respect the sweep's share
    assert sigint == signal.SIG_IGN


def test_sweep_points_equal_single_compares(tmp_path):
    table = sweep(Machine.triple_dot(), OVER, ["local"], path=tmp_path / "s.nc", workers=2, progress=False)
    assert table.concurrence.dims == ("mu", "U", "approach")
    point = compare(Machine.triple_dot(mu_hot=15.0, U=15.0), ["local"])
    assert float(table.concurrence.sel(mu=15.0, U=15.0, approach="local")) == float(point.concurrence[0])
    assert table.mu.attrs["units"].startswith("energy")
    reread = xr.load_dataset(tmp_path / "s.nc")
    assert np.array_equal(reread.concurrence.values, table.concurrence.values)
    assert not (tmp_path / "s.nc.points.jsonl").exists()


def test_sweep_refuses_another_sweeps_file(tmp_path):
    sweep(Machine.triple_dot(), OVER, ["local"], path=tmp_path / "s.nc", workers=1, progress=False)
    with pytest.raises(FileExistsError, match="different sweep"):
        sweep(Machine.triple_dot(g13=0.02), OVER, ["local"], path=tmp_path / "s.nc", workers=1, progress=False)
    journal = tmp_path / "t.nc.points.jsonl"
    journal.write_text('{"fingerprint": "someone else"}\n')
    with pytest.raises(FileExistsError, match="different sweep"):
        sweep(Machine.triple_dot(), OVER, ["local"], path=tmp_path / "t.nc", workers=1, progress=False)


KILLED_SWEEP = """
import sys
import numpy as np
from transportbench.model import Machine
from transportbench.sweep import sweep
sweep(Machine.w_machine(3), {"mu": np.linspace(2.0, 12.0, 12), "U": [12.0, 20.0]}, ["local"],
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
        resumed = sweep(Machine.w_machine(3), over, ["local"], path=path, workers=1, progress=False)
    finally:
        module.run_point = original
    assert len(calls) <= 24 - saved  # finished points are not recomputed
    fresh = sweep(Machine.w_machine(3), over, ["local"], workers=1, progress=False)
    assert np.allclose(resumed.concurrence.values, fresh.concurrence.values, rtol=0, atol=1e-12)
    assert np.allclose(resumed.energy_current.values, fresh.energy_current.values, rtol=0, atol=1e-14)


def test_sweep_axes_are_checked_before_any_point():
    machine = Machine.triple_dot()
    with pytest.raises(ValueError, match="non-empty"):
        sweep(machine, {"mu": []})
    with pytest.raises(ValueError, match="sweep parameter voltage = 1: unknown sweep parameter 'voltage'"):
        sweep(machine, {"voltage": [1.0]}, progress=False)


def test_sweep_on_a_dask_cluster_matches_local_processes(tmp_path):
    import distributed  # the 'dask' extra, installed by make setup

    over = {"mu": [4.0, 15.0], "U": [15.0]}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = sweep(Machine.triple_dot(), over, ["local"], path=tmp_path / "dask.nc",
                       scheduler=cluster.scheduler_address, progress=False)
    local = sweep(Machine.triple_dot(), over, ["local"], workers=1, progress=False)
    assert np.array_equal(remote.concurrence.values, local.concurrence.values)


SMALL = {"mu": [4.0, 8.0, 12.0], "U": [15.0]}


def _counting_run_point(monkeypatch) -> list:
    import transportbench.sweep as module

    calls = []
    original = module.run_point
    monkeypatch.setattr(module, "run_point", lambda *args: calls.append(args) or original(*args))
    return calls


def test_failed_points_are_not_cached_and_a_rerun_retries_only_them(tmp_path, monkeypatch):
    import transportbench.compare as compare_module

    real = compare_module.solve

    def out_of_memory_at_mu_8(machine, spec, **options):
        if machine.reservoir("hot").chemical_potential == 8.0:
            raise MemoryError("injected")
        return real(machine, spec, **options)

    path = tmp_path / "f.nc"
    with monkeypatch.context() as patch:
        patch.setattr(compare_module, "solve", out_of_memory_at_mu_8)
        failed = sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1, progress=False)
    assert failed.attrs["failed_points"] == 1 and count_failed_points(failed) == 1
    assert str(failed.error.sel(mu=8.0, U=15.0, approach="local").item()) == "MemoryError: injected"
    assert np.isnan(failed.concurrence.sel(mu=8.0)).all() and path.exists()
    assert (tmp_path / "f.nc.points.jsonl").exists(), "the journal must stay so that a rerun retries the failure"
    calls = _counting_run_point(monkeypatch)
    kept = sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1, progress=False, retry_failed=False)
    assert calls == [] and count_failed_points(kept) == 1  # retry_failed=False: the failure stays, unsolved
    assert (tmp_path / "f.nc.points.jsonl").exists()
    retried = sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1, progress=False)
    assert [call[2] for call in calls] == [[8.0, 15.0]]  # only the failed point is computed again
    assert count_failed_points(retried) == 0 and np.isfinite(retried.concurrence).all()
    assert count_failed_points(xr.load_dataset(path)) == 0 and not (tmp_path / "f.nc.points.jsonl").exists()


def _journal_of_two_points(path) -> tuple:
    """A journal of SMALL on the triple dot holding its first two points, and the plan."""
    plan = plan_sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1)
    for index in plan.grid[:2]:
        plan.record(index, run_point(plan.machine, list(plan.axes), plan.values(index), plan.approaches, {}))
    return plan.journal.path, plan


def test_damaged_journal_lines_are_skipped_with_a_warning_and_computed_again(tmp_path, monkeypatch):
    journal, plan = _journal_of_two_points(tmp_path / "d.nc")
    lines = journal.read_text().splitlines()
    good = json.loads(lines[1])
    scalar = {**good, "values": {**good["values"], "concurrence": 0.5}}
    missing = {**good, "values": {k: v for k, v in good["values"].items() if k != "energy_current"}}
    outside = {**good, "index": [7, 0]}
    damaged = [json.dumps(line).encode() for line in ({}, scalar, missing, outside)]
    journal.write_bytes(b"\n".join([lines[0].encode(), damaged[0], lines[1].encode(), *damaged[1:],
                                    b"\xff\xfe\x00 binary garbage", lines[2].encode(), b'{"sweep": "cut sh']))
    calls = _counting_run_point(monkeypatch)
    with pytest.warns(JournalWarning, match=r"d\.nc\.points\.jsonl: skipped 6 damaged line\(s\) "
                                            r"\(line 2, 4, 5, 6, 7, 9\); 2 valid point"):
        table = sweep(Machine.triple_dot(), SMALL, ["local"], path=tmp_path / "d.nc", workers=1, progress=False)
    assert len(calls) == 1 and calls[0][2] == [12.0, 15.0]
    assert (tmp_path / "d.nc.points.jsonl.damaged").exists()
    fresh = sweep(Machine.triple_dot(), SMALL, ["local"], workers=1, progress=False)
    assert np.array_equal(table.concurrence.values, fresh.concurrence.values)


def test_a_cut_journal_header_is_damage_not_another_sweep(tmp_path, monkeypatch):
    journal, _ = _journal_of_two_points(tmp_path / "h.nc")
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join([lines[0][:20], *lines[1:]]) + "\n")
    calls = _counting_run_point(monkeypatch)
    with pytest.warns(JournalWarning, match=r"skipped 1 damaged line\(s\) \(line 1\); 2 valid point"):
        sweep(Machine.triple_dot(), SMALL, ["local"], path=tmp_path / "h.nc", workers=1, progress=False)
    assert len(calls) == 1  # the two journalled points were recovered


def test_an_interrupted_sweep_reports_and_keeps_its_finished_points(tmp_path, monkeypatch):
    import transportbench.sweep as module

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


def test_sweep_computes_the_figures_asked_for_in_worker_processes(tmp_path):
    from transportbench.figures import Concurrence, SinkPopulation

    figures = [Concurrence(0, 2), SinkPopulation()]
    table = sweep(Machine.triple_dot(), {"mu": [6.0, 8.0]}, ["local"], workers=2, figures=figures, progress=False,
                  path=tmp_path / "f.nc")
    assert set(table.attrs["figures"].split(", ")) == {"concurrence_0_2", "sink_population"}
    assert "concurrence" not in table and np.all(table.concurrence_0_2.values < 0.05)
    paper = sweep(Machine.triple_dot(), {"mu": [6.0, 8.0]}, ["local"], workers=1, progress=False)
    assert np.allclose(table.sink_population.values, paper.sink_population.values, rtol=1e-12)


def test_one_vocabulary_for_constructors_sweeps_and_the_command_line():
    from transportbench.cli import build_parser, machine_from
    base = Machine.triple_dot()
    assert base.with_parameters(mu_hot=9.0) == Machine.triple_dot(mu_hot=9.0) == base.with_parameters({"mu.hot": 9.0})
    assert base.with_parameters(T_cold=0.5) == Machine.triple_dot(T_cold=0.5)
    assert base.with_parameters(gamma_hot=0.2) == Machine.triple_dot(gamma_hot=0.2)
    assert base.with_parameters(U=12.0) == Machine.triple_dot(U=12.0)
    assert base.with_parameters(epsilon_1=1.1).energies == (1.0, 1.1, 1.0)
    arguments = build_parser().parse_args(["compare", "--U", "12", "--mu-hot", "9", "--T-cold", "0.5"])
    assert machine_from(arguments) == Machine.triple_dot(U=12.0, mu_hot=9.0, T_cold=0.5)
    with pytest.raises(ValueError, match="'mu_hot' and 'mu.hot' are the same parameter"):
        sweep(base, {"mu_hot": [1.0], "mu.hot": [2.0]}, progress=False)


def test_a_sweep_file_of_an_earlier_version_is_computed_again(tmp_path, monkeypatch):
    # files written before the fermionic partial trace have no "model" variable and string-ordered concurrences
    path = tmp_path / "old.nc"
    table = sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1, progress=False)
    old = table.drop_vars("model").assign(concurrence=table.concurrence * 0 + 0.5)
    old.to_netcdf(path, engine="h5netcdf")
    calls = _counting_run_point(monkeypatch)
    with pytest.warns(JournalWarning, match="earlier transportbench .*lacks model"):
        again = sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1, progress=False)
    assert len(calls) == 3
    assert np.array_equal(again.concurrence.values, table.concurrence.values)
    assert list(xr.load_dataset(path, engine="h5netcdf").model.values.ravel()) == ["qubit"] * 3


def test_journal_values_of_the_wrong_type_are_damage(tmp_path, monkeypatch):
    """Text where a number belongs, "no" for a boolean, or a number beyond a float were read as values."""
    journal, _ = _journal_of_two_points(tmp_path / "t.nc")
    lines = journal.read_text().splitlines()
    good = json.loads(lines[1])
    values = good["values"]
    text_number = {**good, "values": {**values, "concurrence": ["0.5"]}}
    text_flag = {**good, "values": {**values, "converged": ["no"]}}
    overflow = json.dumps({**good, "values": {**values, "seconds": [123.0]}}).replace("123.0", "1e400")
    journal.write_text("\n".join([lines[0], json.dumps(text_number), json.dumps(text_flag), overflow, lines[2]]) + "\n")
    calls = _counting_run_point(monkeypatch)
    with pytest.warns(JournalWarning, match=r"skipped 3 damaged line\(s\) \(line 2, 3, 4\); 1 valid point"):
        sweep(Machine.triple_dot(), SMALL, ["local"], path=tmp_path / "t.nc", workers=1, progress=False)
    assert len(calls) == len(list(np.ndindex(*[len(v) for v in SMALL.values()]))) - 1
