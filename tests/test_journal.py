"""The journal of a sweep (``transportbench.journal``): resuming after a kill, retrying failures, damage.

Finished points are not computed again, failed ones are kept until a rerun retries them, damaged lines (and a
cut header) are skipped with a warning and computed again.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
from sweep_cases import SMALL, counting_run_point

from transportbench.journal import JournalWarning, count_failed_points
from transportbench.model import Machine
from transportbench.sweeps import plan_sweep, run_point, sweep

KILLED_SWEEP = """
import sys
import numpy as np
from transportbench.model import Machine
from transportbench.sweeps import sweep
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
    import transportbench.sweeps as module
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


def test_failed_points_are_not_cached_and_a_rerun_retries_only_them(tmp_path, monkeypatch):
    import transportbench.comparison as compare_module

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
    calls = counting_run_point(monkeypatch)
    kept = sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1, progress=False, retry_failed=False)
    assert calls == [] and count_failed_points(kept) == 1  # retry_failed=False: the failure stays, unsolved
    assert (tmp_path / "f.nc.points.jsonl").exists()
    retried = sweep(Machine.triple_dot(), SMALL, ["local"], path=path, workers=1, progress=False)
    assert [call[2] for call in calls] == [[8.0, 15.0]]  # only the failed point is computed again
    assert count_failed_points(retried) == 0 and np.isfinite(retried.concurrence).all()
    assert count_failed_points(xr.load_dataset(path)) == 0 and not (tmp_path / "f.nc.points.jsonl").exists()


# --------------------------------------------------------------------------------- damaged journals
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
    calls = counting_run_point(monkeypatch)
    with pytest.warns(JournalWarning, match=r"d\.nc\.points\.jsonl: skipped 6 damaged line\(s\) "
                                            r"\(line 2, 4, 5, 6, 7, 9\); 2 valid point"):
        table = sweep(Machine.triple_dot(), SMALL, ["local"], path=tmp_path / "d.nc", workers=1, progress=False)
    assert len(calls) == 1 and calls[0][2] == [12.0, 15.0]
    assert not (tmp_path / "d.nc.points.jsonl.damaged").exists()  # kept until the sweep completed, then removed
    fresh = sweep(Machine.triple_dot(), SMALL, ["local"], workers=1, progress=False)
    assert np.array_equal(table.concurrence.values, fresh.concurrence.values)


def test_a_cut_journal_header_is_damage_not_another_sweep(tmp_path, monkeypatch):
    journal, _ = _journal_of_two_points(tmp_path / "h.nc")
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join([lines[0][:20], *lines[1:]]) + "\n")
    calls = counting_run_point(monkeypatch)
    with pytest.warns(JournalWarning, match=r"skipped 1 damaged line\(s\) \(line 1\); 2 valid point"):
        sweep(Machine.triple_dot(), SMALL, ["local"], path=tmp_path / "h.nc", workers=1, progress=False)
    assert len(calls) == 1  # the two journalled points were recovered


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
    calls = counting_run_point(monkeypatch)
    with pytest.warns(JournalWarning, match=r"skipped 3 damaged line\(s\) \(line 2, 3, 4\); 1 valid point"):
        sweep(Machine.triple_dot(), SMALL, ["local"], path=tmp_path / "t.nc", workers=1, progress=False)
    assert len(calls) == len(list(np.ndindex(*[len(v) for v in SMALL.values()]))) - 1
