"""The command line: exit statuses, one-line errors before any work, and every interrupt (in subprocesses)."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import xarray as xr

import transportbench.comparison as compare_module
import transportbench.sweeps as sweep_module
from transportbench.cli import main, parse_axis

GRID = ["--over", "mu=2:12:6", "--over", "U=12,20"]
"""12 points of the triple dot (local Lindblad: milliseconds each; the slow wrapper adds a sleep)."""
SLOW_CLI = """
import os, sys, time
import transportbench.sweeps as sweeps
real = sweeps.compare
def slow(*args, **kwargs):
    time.sleep(float(os.environ["POINT_DELAY"]))
    return real(*args, **kwargs)
sweeps.compare = slow  # inherited by the forked workers
from transportbench.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""The CLI with every sweep point slowed down, so that signals land while points are running."""


class Solved(BaseException):
    """Raised by a solve that must not happen (compare records ordinary exceptions in its table)."""


def _refuse_to_solve(monkeypatch):
    """Fail the test if anything is solved (input errors must be found before any work)."""
    def solve(*args, **kwargs):
        raise Solved("solved before the input was checked")
    monkeypatch.setattr(compare_module, "solve", solve)


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("transportbench: error: "), err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_cli_compare_validate_and_errors(tmp_path, capsys):
    assert main(["compare", "--approaches", "local", "--out", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "local" in out and (tmp_path / "c.json").exists()
    assert main(["validate", "--gamma-hot", "5"]) == 0
    assert "violated" in capsys.readouterr().out
    assert main(["compare", "--approaches", "local", "--gamma-hot", "-1"]) == 2
    _one_line_error(capsys, "rate must be >= 0")
    assert main(["sweep", "--over", "mu=1:2", "--workers", "1"]) == 2
    _one_line_error(capsys, "--over")
    assert main(["study", "no_such_study"]) == 2
    _one_line_error(capsys, "unknown study")


def test_cli_sweep_writes_netcdf_and_a_rerun_says_it_is_complete(tmp_path, capsys):
    path = tmp_path / "cli.nc"
    arguments = ["sweep", "--over", "mu=4:8:2", "--over", "U=15", "--workers", "1", "--out", str(path)]
    assert main(arguments) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    assert xr.load_dataset(path).concurrence.shape == (2, 1, 1)
    assert parse_axis("U=1,2.5")[1].tolist() == [1.0, 2.5]
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert f"already complete: {path} (nothing recomputed)" in out and "wrote" not in out


def test_cli_entry_point_help_shows_units():
    completed = subprocess.run([sys.executable, "-m", "transportbench.cli", "sweep", "--help"],
                               capture_output=True, text=True, check=True, timeout=60)
    assert "hbar = k_B = 1" in completed.stdout and "--over" in completed.stdout


def test_python_m_transportbench_and_version():
    import transportbench

    completed = subprocess.run([sys.executable, "-m", "transportbench", "--version"], capture_output=True,
                               text=True, check=True, timeout=60)
    assert completed.stdout.strip() == f"transportbench {transportbench.__version__}"


@pytest.mark.parametrize(("arguments", "fragments"), [
    (["compare", "--approaches", "qmeq:3vN"], ["3vN"]),
    (["compare", "--approaches", "lindbald"], ["lindbald"]),
    (["compare", "--approaches", "local:foo"], ["local"]),
    (["compare", "--approaches", "local", "--out", "/nonexistent/dir/c.nc"], ["/nonexistent/dir", "not exist"]),
    (["compare", "--approaches", "local", "--out", "c.txt"], [".nc or .json", "c.txt"]),
    (["sweep", *GRID, "--out", "/nonexistent/dir/s.nc"], ["/nonexistent/dir", "not exist"]),
    (["sweep", *GRID, "--out", "s.json"], [".nc"]),
    (["sweep", *GRID, "--approaches", "qmeq:3vN"], ["3vN"]),
    (["sweep", "--over", "mu=0,1", "--over", "mu=2,3"], ["--over mu", "twice"]),
    (["sweep", "--over", "mu=0,nan"], ["'mu'", "finite"]),
    (["sweep", "--over", "gamma=0.1,-1"], ["gamma = -1", "rate"]),
    (["sweep", "--over", "T.left=1,2"], ["T.left", "left"]),
    (["sweep", "--over", "mu=0,1", "--scheduler", "tcp://127.0.0.1:9"], ["127.0.0.1:9", "scheduler"]),
    (["sweep", "--over", "mu=0,1", "--workers", "x"], ["--workers"]),
    (["sweep", "--over", "mu=0,1", "--workers", "0"], ["workers"]),
])
def test_bad_input_exits_2_with_one_line_before_any_work(arguments, fragments, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    _refuse_to_solve(monkeypatch)
    assert main(arguments) == 2
    _one_line_error(capsys, *fragments)


def test_truncated_output_is_a_one_line_error_naming_the_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "cut.nc"
    assert main(["sweep", "--over", "mu=4,8", "--workers", "1", "--out", str(path)]) == 0
    path.write_bytes(path.read_bytes()[:300])
    capsys.readouterr()
    _refuse_to_solve(monkeypatch)
    assert main(["sweep", "--over", "mu=4,8", "--workers", "1", "--out", str(path)]) == 2
    _one_line_error(capsys, str(path), "cannot be read", "move or delete")


def _fail_approach(monkeypatch, spec, when=lambda machine: True):
    """Make ``spec`` raise a MemoryError in compare (where ``when(machine)``), the others solve as usual."""
    real = compare_module.solve

    def solve(machine, name, **options):
        if name == spec and when(machine):
            raise MemoryError("injected")
        return real(machine, name, **options)
    monkeypatch.setattr(compare_module, "solve", solve)


def test_compare_exits_1_when_an_approach_failed(tmp_path, monkeypatch, capsys):
    _fail_approach(monkeypatch, "qmeq:Pauli")
    out = tmp_path / "c.nc"
    assert main(["compare", "--approaches", "local", "qmeq:Pauli", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 approaches failed: qmeq:Pauli: MemoryError: injected" in err and err.count("\n") == 1
    assert list(xr.load_dataset(out).error.values) == ["", "MemoryError: injected"]


def test_sweep_exits_1_with_failed_points_and_a_rerun_retries_them(tmp_path, monkeypatch, capsys):
    path = tmp_path / "s.nc"
    arguments = ["sweep", "--over", "mu=4,8,12", "--workers", "1", "--out", str(path)]
    with monkeypatch.context() as patch:
        _fail_approach(patch, "local", lambda machine: machine.reservoir("hot").chemical_potential == 8)
        assert main(arguments) == 1
    err = capsys.readouterr().err
    assert "1 of 3 points failed" in err and "mu = 8, local: MemoryError: injected" in err
    assert main(arguments) == 0
    out = capsys.readouterr().out
    assert "already complete" not in out and f"wrote {path}" in out
    assert (xr.load_dataset(path).error == "").all()


# Interrupts: the real CLI in a subprocess, points slowed to 0.4 s, two workers.

def _start_slow_sweep(path: Path, point_delay: float = 0.4) -> subprocess.Popen:
    environment = {**os.environ, "POINT_DELAY": str(point_delay), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", SLOW_CLI, "sweep", *GRID, "--workers", "2", "--out", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                            start_new_session=True)


def _journalled(path: Path) -> int:
    journal = path.with_name(path.name + ".points.jsonl")
    return len(journal.read_text().splitlines()) - 1 if journal.exists() else 0


def _wait_for_points(process: subprocess.Popen, path: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _journalled(path) < count:
        assert process.poll() is None and time.monotonic() < deadline, "the sweep did not start in time"
        time.sleep(0.05)


def _send(process: subprocess.Popen, how: str) -> None:
    """Ctrl-C reaches the whole process group; kill(1) reaches one process."""
    with_group = {"group SIGINT": signal.SIGINT}
    try:
        if how in with_group:
            os.killpg(process.pid, with_group[how])
        else:
            process.send_signal({"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}[how])
    except ProcessLookupError:  # already ended after the first signal
        pass


@pytest.mark.parametrize(("signals", "status"), [
    (["group SIGINT"], 130),
    (["group SIGINT", "group SIGINT"], 130),
    (["SIGINT"], 130),
    (["SIGTERM"], 143),
    (["SIGKILL"], -signal.SIGKILL),
])
def test_every_interrupt_ends_promptly_keeps_finished_points_and_leaves_no_process(signals, status, tmp_path,
                                                                                  monkeypatch, capsys):
    path = tmp_path / "interrupted.nc"
    process = _start_slow_sweep(path)
    try:
        _wait_for_points(process, path, 2)
        children = psutil.Process(process.pid).children(recursive=True)
        assert children, "the sweep should run worker processes"
        sent = time.monotonic()
        for number, how in enumerate(signals):
            if number:
                time.sleep(0.1)  # lands during the clean-up of the first
            _send(process, how)
        _, err = process.communicate(timeout=20)
        assert time.monotonic() - sent < 10, "the sweep did not end promptly"
    finally:
        process.kill()
        process.wait()
    assert process.returncode == status, err
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"worker processes left behind: {alive}"
    journalled = _journalled(path)
    if status > 0:
        reported = re.search(r"interrupted: (\d+) of 12 points finished, journalled in .*; (\d) running", err)
        assert reported and "Traceback" not in err, err
        assert int(reported.group(1)) == journalled, "a point reported finished is not in the journal"
    calls = []
    real = sweep_module.run_point
    monkeypatch.setattr(sweep_module, "run_point", lambda *args: calls.append(args) or real(*args))
    assert main(["sweep", *GRID, "--workers", "1", "--out", str(path)]) == 0
    assert len(calls) == 12 - journalled, "the rerun recomputed finished points (or lost some)"
    assert np.isfinite(xr.load_dataset(path).concurrence).all()
    assert "wrote" in capsys.readouterr().out



def test_study_scripts_run_nothing_on_import(monkeypatch):
    """Under the spawn start method (macOS) sweep workers import the main script: it must only define things."""
    import importlib.util

    folder = Path(__file__).parents[1] / "studies"
    monkeypatch.syspath_prepend(str(folder))  # as running a study does
    monkeypatch.delitem(sys.modules, "_common", raising=False)
    import _common

    def ran(*args, **kwargs):
        raise AssertionError("the study ran on import")

    monkeypatch.setattr(_common, "study_arguments", ran)
    studies = sorted(path for path in folder.glob("*.py") if not path.stem.startswith("_"))
    assert studies
    for script in studies:
        spec = importlib.util.spec_from_file_location(f"study_{script.stem}", script)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)  # as an import does (dataclasses look themselves up)
        spec.loader.exec_module(module)
        assert callable(module.main), script


def test_cli_validate_passes_the_reference(monkeypatch, capsys):
    import transportbench.cli as cli_module

    seen = []
    monkeypatch.setattr(cli_module, "validate_regime", lambda machine, reference=None: seen.append(reference) or "x")
    assert main(["validate", "--reference", "heom"]) == 0 and main(["validate"]) == 0
    assert seen == ["heom", None]
    assert main(["validate", "--reference", "qutip"]) == 2  # only heom is a reference
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("arguments", [
    ["compare", "--gamma-hot", "0", "--gamma-cold", "0", "--approaches", "qmeq:Pauli", "heom"],
    ["sweep", "--over", "gamma=0.1,0", "--approaches", "heom"],
    ["sweep", "--over", "T_cold=1,0.5,0", "--approaches", "local", "heom"],
])
def test_a_point_a_backend_cannot_solve_is_refused_before_any_solve(arguments, tmp_path):
    # before: BLAS "ZTRSV parameter number 6" noise and a traceback, or two points solved before the refusal
    completed = subprocess.run([sys.executable, "-m", "transportbench", *arguments], capture_output=True, text=True,
                               timeout=120, cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("transportbench: error:"), completed.stderr
    assert "ZTRSV" not in completed.stderr and "Traceback" not in completed.stderr
    assert "sweep point" in lines[0] if arguments[0] == "sweep" else "rate γ > 0" in lines[0]


@pytest.mark.parametrize(("arguments", "fragment"), [
    (["--over", "mu=0:1:100000000"], "100,000,000 values"),
    (["--over", "mu=0:1:1000", "--over", "U=0:1:1000"], "1,000,000 points"),
])
def test_grids_beyond_the_limit_are_refused_at_once(arguments, fragment, tmp_path):
    # before: nothing for 60 s (1e8 machines were being built)
    completed = subprocess.run([sys.executable, "-m", "transportbench", "sweep", *arguments, "--approaches", "local"],
                               capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert completed.returncode == 2 and fragment in completed.stderr and "MAX_GRID_POINTS" in completed.stderr


def test_more_workers_than_cpus_are_capped_and_said(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "transportbench", "sweep", "--over", "mu=2,4", "--workers",
                                "1000", "--approaches", "local"], capture_output=True, text=True, timeout=120,
                               cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "workers=1000 capped at the" in completed.stderr


def test_a_second_sweep_on_the_same_output_is_refused_while_the_first_runs(tmp_path):
    # before: both exited 0 and the file held only the second (both appended to and deleted one journal)
    path = tmp_path / "shared.nc"
    first = _start_slow_sweep(path, point_delay=2.0)  # 12 s: the second must start while it runs, even under load
    try:
        _wait_for_points(first, path, 1)
        environment = {**os.environ, "POINT_DELAY": "0.4"}
        second = subprocess.run([sys.executable, "-c", SLOW_CLI, "sweep", *GRID, "--workers", "1", "--out",
                                 str(path)], capture_output=True, text=True, timeout=120, env=environment)
        _, err = first.communicate(timeout=120)
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2 and "another sweep (process" in second.stderr, second.stderr
    assert first.returncode == 0, err
    assert xr.load_dataset(path).sizes["mu"] == 6 and not path.with_name("shared.nc.lock").exists()


# ---------------------------------------------------------------- options, overwriting, outputs, failures
def test_backend_options_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "c.nc"
    assert main(["compare", "--approaches", "local", "--option", "local.solver=iterative", "--option",
                 "local.rtol=1e-13", "--out", str(out)]) == 0
    assert "GMRES" in xr.load_dataset(out).notes.sel(approach="local").item()
    capsys.readouterr()
    assert main(["compare", "--approaches", "local", "--option", "local.tol=1"]) == 2
    _one_line_error(capsys, "unknown LocalOptions setting(s) ['tol']")
    assert main(["compare", "--approaches", "local", "--option", "heom.pade=12"]) == 2
    _one_line_error(capsys, "options given for approaches that are not compared: ['heom']")
    assert main(["sweep", "--over", "mu=4,8", "--option", "local-solver=direct"]) == 2
    _one_line_error(capsys, "--option expects APPROACH.SETTING=VALUE")


def test_outputs_are_not_replaced_without_overwrite_and_json_is_strict(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["compare", "--approaches", "local", "--out", str(out)]) == 0
    table = json.loads(out.read_text(), parse_constant=lambda token: pytest.fail(f"{token} is not JSON"))
    assert table["data_vars"]["concurrence_uncertainty"]["data"] == [None]  # no error bar: null, not NaN
    capsys.readouterr()
    assert main(["compare", "--approaches", "local", "--out", str(out)]) == 2
    _one_line_error(capsys, "exists; give --overwrite")
    assert main(["compare", "--approaches", "local", "--out", str(out), "--overwrite"]) == 0
    long_name = tmp_path / ("x" * 300 + ".nc")
    capsys.readouterr()
    assert main(["compare", "--approaches", "local", "--out", str(long_name)]) == 2
    _one_line_error(capsys, "the file name is 303 bytes long")


def test_sweep_overwrite_starts_afresh_and_prints_a_summary(tmp_path, capsys):
    path = tmp_path / "s.nc"
    assert main(["sweep", "--over", "mu=4,8", "--workers", "1", "--out", str(path)]) == 0
    out = capsys.readouterr().out
    assert "sweep over mu (2 values): 2 points" in out and "local: C(0,1) from" in out and "every point ok" in out
    assert "concurrence C(0,1) of qubits" not in out  # the per-point list only with --verbose
    assert main(["sweep", "--over", "mu=4,6,8", "--workers", "1", "--out", str(path)]) == 2
    _one_line_error(capsys, "holds a different sweep")
    assert main(["sweep", "--over", "mu=4,6,8", "--workers", "1", "--out", str(path), "--overwrite",
                 "--verbose"]) == 0
    assert "concurrence C(0,1) of qubits" in capsys.readouterr().out
    assert xr.load_dataset(path).sizes["mu"] == 3


def test_a_failure_inside_a_solve_is_not_reported_as_bad_input(monkeypatch, capsys):
    from transportbench.backends import local

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(local, "solve_steady", broken)
    assert main(["compare", "--approaches", "local"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "failed while solving (not bad input): LinAlgError: SVD did not converge" in err


def test_validate_refuses_a_machine_without_coupling(capsys):
    assert main(["validate", "--gamma-hot", "0", "--gamma-cold", "0"]) == 2
    _one_line_error(capsys, "the regime check needs a reservoir with a rate γ > 0")


def test_a_journal_that_cannot_be_written_stops_the_sweep_in_one_line_and_keeps_its_points(tmp_path, monkeypatch,
                                                                                          capsys):
    import transportbench.journal as journal_module

    path = tmp_path / "full.nc"
    arguments = ["sweep", "--over", "mu=2,4,6,8", "--workers", "1", "--out", str(path)]
    real_fsync, calls = os.fsync, []

    def disk_full_after_two(descriptor):
        calls.append(descriptor)
        if len(calls) > 2:
            raise OSError(28, "No space left on device")
        real_fsync(descriptor)

    monkeypatch.setattr(journal_module.os, "fsync", disk_full_after_two)
    assert main(arguments) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No space left on device" in err and "rerun the same command" in err
    monkeypatch.undo()
    kept = [line for line in (tmp_path / "full.nc.points.jsonl").read_text().splitlines()[1:] if line.endswith("}")]
    assert len(kept) >= 2
    assert main(arguments) == 0 and xr.load_dataset(path).concurrence.notnull().all()


def test_a_journal_that_is_a_folder_or_read_only_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    _refuse_to_solve(monkeypatch)
    (tmp_path / "a.nc.points.jsonl").mkdir()
    assert main(["sweep", "--over", "mu=2,4", "--workers", "1", "--out", str(tmp_path / "a.nc")]) == 2
    _one_line_error(capsys, "is a folder")
    import transportbench.journal as journal_module

    journal = tmp_path / "b.nc.points.jsonl"
    journal.write_text("")
    journal.chmod(0o444)
    real_access = os.access  # root may write read-only files: the permission check is what is tested
    monkeypatch.setattr(journal_module.os, "access", lambda path, mode: False if Path(path) == journal
                        else real_access(path, mode))
    assert main(["sweep", "--over", "mu=2,4", "--workers", "1", "--out", str(tmp_path / "b.nc")]) == 2
    _one_line_error(capsys, "no permission")


def test_an_output_the_disk_cannot_hold_is_refused_in_one_line_and_the_points_are_kept(tmp_path, monkeypatch,
                                                                                        capsys):
    """A full disk during the NetCDF write crashed the process (HDF5); the free space is checked first."""
    import shutil

    import transportbench.storage as storage_module

    path = tmp_path / "big.nc"
    arguments = ["sweep", "--over", "mu=2,4", "--workers", "1", "--out", str(path)]
    real = shutil.disk_usage
    monkeypatch.setattr(storage_module.shutil, "disk_usage",
                        lambda folder: real(folder)._replace(free=1024))
    assert main(arguments) == 1
    err = capsys.readouterr().err
    messages = [line for line in err.splitlines() if "transportbench:" in line]  # the sweep's bar aside
    assert len(messages) == 1 and "Traceback" not in err
    assert "MiB are free" in messages[0] and "rerun the same command" in messages[0]
    assert not path.exists() and (tmp_path / "big.nc.points.jsonl").exists()
    monkeypatch.undo()
    with monkeypatch.context() as patch:
        _refuse_to_solve(patch)
        assert main(arguments) == 0 and path.exists()  # written from the journal, nothing solved
    assert "C(0,1) from" in capsys.readouterr().out
    mounted_json = tmp_path / "t.json"
    monkeypatch.setattr(storage_module, "_replacing", _failing_write)
    assert main(["compare", "--approaches", "local", "--out", str(mounted_json)]) == 1
    captured = capsys.readouterr()
    assert "local" in captured.out and "could not write" in captured.err and "No space left" in captured.err


@contextlib.contextmanager
def _failing_write(path):
    raise OSError(28, "No space left on device")
    yield path
