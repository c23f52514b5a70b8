"""Fault injection: the ``transportbench`` command under bad input and every kind of interrupt.

Runs the real command line as subprocesses in a temporary folder and prints one Markdown table:

* bad inputs (negative, NaN and infinite parameters, unknown approaches, unwritable or wrong output paths, a
  truncated NetCDF file, damaged journals, repeated ``--over``, an unreachable scheduler, …): the exit status
  (2 = refused before any work, 1 = an approach failed, 0 = done), whether stderr is one line, and whether a
  traceback appeared;
* interrupts of a 12-point sweep on two worker processes (SIGINT to the process group once, and twice
  0.3 s and 0.05 s apart, SIGINT and SIGTERM to the main process, SIGTERM then SIGINT, SIGKILL of the main
  process and of a worker): the
  exit status, the seconds to exit, worker processes left behind, the points reported finished against
  those journalled (lost = reported but not journalled, or recomputed on resume), and the resume.

The interrupted sweeps run every point 0.4 s longer (a sleep wrapped around ``compare`` in the command's
process, inherited by the forked workers) so that signals land while points are running. The script
exits with status 1 if any case differs from its expectation. It takes one to three minutes.

Usage::

    python benchmarks/fault_injection.py
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
from table_format import markdown_table

SWEEP_GRID = ["--over", "mu=2:12:6", "--over", "U=12,20"]
POINTS = 12
POINT_DELAY = 0.4
TIMEOUT = 120
WRAPPED_CLI = """
import os, sys, time
import transportbench.sweeps as sweeps
real = sweeps.compare
def wrapped(*args, **kwargs):
    time.sleep(float(os.environ.get("POINT_DELAY", "0")))
    with open(os.environ["CALL_LOG"], "a") as log:
        log.write("point\\n")
    return real(*args, **kwargs)
sweeps.compare = wrapped
from transportbench.cli import main
sys.exit(main(sys.argv[1:]))
"""
"""The command line with a delay before, and a log line for, every computed sweep point."""


@dataclasses.dataclass
class Outcome:
    """What one run of the command did."""

    status: int
    stderr: str

    @property
    def messages(self) -> list[str]:
        """Lines of stderr without the progress bar."""
        lines = re.split(r"[\r\n]", self.stderr)
        return [line for line in lines if line.strip() and not line.startswith("sweep:")]

    @property
    def one_line(self) -> bool:
        """Whether stderr (progress bar aside) is exactly one ``transportbench: …`` line."""
        return len(self.messages) == 1 and self.messages[0].startswith("transportbench: ")

    @property
    def traceback(self) -> bool:
        """Whether a traceback was printed."""
        return "Traceback" in self.stderr


def run_cli(arguments: list[str], folder: Path, environment: dict[str, str] | None = None) -> Outcome:
    """Run the wrapped command line to the end."""
    completed = subprocess.run([sys.executable, "-c", WRAPPED_CLI, *arguments], cwd=folder, capture_output=True,
                               text=True, timeout=TIMEOUT, env=_environment(folder, environment or {}))
    return Outcome(completed.returncode, completed.stderr)


def _environment(folder: Path, extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "CALL_LOG": str(folder / "calls.log"), "PYTHONUNBUFFERED": "1", **extra}


def _tiny_memory_budget(folder: Path) -> None:
    """Mark the folder for a run under a 1 MiB memory budget (QmeQ's fixed buffers alone exceed it)."""
    (folder / "memory_budget_gib").write_text("0.001")


def _write_truncated_netcdf(folder: Path) -> None:
    run_cli(["sweep", "--over", "mu=4,8", "--workers", "1", "--out", "cut.nc"], folder)
    path = folder / "cut.nc"
    path.write_bytes(path.read_bytes()[:300])


def _write_damaged_journal(folder: Path) -> None:
    """A damaged journal of a 2-point sweep interrupted after its first point.

    Its header is cut; an empty record, a record with a scalar where an array belongs, binary garbage and a
    torn last line follow the one valid record.
    """
    process = _start_sweep(folder, ["--over", "mu=4,8"], "damaged.nc", workers="1")
    journal = folder / "damaged.nc.points.jsonl"
    try:
        _wait_until(lambda: _records(journal) >= 1, process)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=TIMEOUT)
    finally:
        _end(process)
    header, line = journal.read_text().splitlines()[:2]
    record = json.loads(line)
    scalar = {**record, "values": {**record["values"], "concurrence": 0.5}}
    damaged = [header[:25], line, "{}", json.dumps(scalar), "\x00\x01 garbage", '{"sweep": "cut']
    journal.write_text("\n".join(damaged) + "\n")


def _existing_output(folder: Path) -> None:
    (folder / "exists.json").write_text("{}")


def _journal_folder(folder: Path) -> None:
    (folder / "j.nc.points.jsonl").mkdir()


BAD_INPUTS: list[tuple[str, list[str], int, Callable[[Path], None] | None]] = [
    ("file name longer than the file system allows", ["compare", "--approaches", "local", "--out", "x" * 300 + ".nc"],
     2, None),
    ("compare --out exists, no --overwrite", ["compare", "--approaches", "local", "--out", "exists.json"], 2,
     _existing_output),
    ("sweep journal path is a folder", ["sweep", "--over", "mu=4,8", "--workers", "1", "--out", "j.nc"], 2,
     _journal_folder),
    ("no reservoir coupled (every backend)", ["compare", "--gamma-hot", "0", "--gamma-cold", "0", "--approaches",
                                              "qmeq:Pauli", "heom"], 2, None),
    ("no reservoir coupled (validate)", ["validate", "--gamma-hot", "0", "--gamma-cold", "0"], 2, None),
    ("unknown --option", ["compare", "--approaches", "local", "--option", "local.tol=1"], 2, None),
    ("sweep grid beyond the limit", ["sweep", "--over", "mu=0:1:100000000"], 2, None),
    ("negative rate", ["compare", "--approaches", "local", "--gamma-hot", "-1"], 2, None),
    ("NaN temperature", ["compare", "--approaches", "local", "--T-hot", "nan"], 2, None),
    ("infinite temperature", ["compare", "--approaches", "local", "--T-cold", "inf"], 2, None),
    ("infinite chemical potential", ["compare", "--approaches", "local", "--mu", "inf"], 2, None),
    ("NaN coupling", ["compare", "--approaches", "local", "--g13", "nan"], 2, None),
    ("infinite qubit energy", ["compare", "--approaches", "local", "--epsilon", "-inf"], 2, None),
    ("unknown QmeQ approach", ["compare", "--approaches", "qmeq:3vN"], 2, None),
    ("misspelled backend", ["compare", "--approaches", "lindbald"], 2, None),
    ("approach of a backend without approaches", ["compare", "--approaches", "local:foo"], 2, None),
    ("compare --out in a missing folder", ["compare", "--approaches", "local", "--out", "/nonexistent/dir/c.nc"],
     2, None),
    ("compare --out with a wrong suffix", ["compare", "--approaches", "local", "--out", "c.txt"], 2, None),
    ("sweep --out in a missing folder", ["sweep", *SWEEP_GRID, "--out", "/nonexistent/dir/s.nc"], 2, None),
    ("sweep --out with a wrong suffix", ["sweep", *SWEEP_GRID, "--out", "s.json"], 2, None),
    ("repeated --over", ["sweep", "--over", "mu=0,1", "--over", "mu=2,3"], 2, None),
    ("mu and its alias mu.hot", ["sweep", "--over", "mu=0,1", "--over", "mu.hot=2,3"], 2, None),
    ("empty axis", ["sweep", "--over", "mu=0:20:0"], 2, None),
    ("NaN on an axis", ["sweep", "--over", "mu=0,nan"], 2, None),
    ("negative rate on an axis", ["sweep", "--over", "gamma=0.1,-1"], 2, None),
    ("unknown parameter", ["sweep", "--over", "voltage=1,2"], 2, None),
    ("unknown reservoir", ["sweep", "--over", "T.left=1,2"], 2, None),
    ("unreadable axis", ["sweep", "--over", "mu=0:1:x"], 2, None),
    ("no worker", ["sweep", "--over", "mu=0,1", "--workers", "0"], 2, None),
    ("non-integer workers", ["sweep", "--over", "mu=0,1", "--workers", "x"], 2, None),
    ("unreachable scheduler", ["sweep", "--over", "mu=0,1", "--scheduler", "tcp://127.0.0.1:9"], 2, None),
    ("truncated .nc output", ["sweep", "--over", "mu=4,8", "--workers", "1", "--out", "cut.nc"], 2,
     _write_truncated_netcdf),
    ("unknown study", ["study", "no_such_study"], 2, None),
    ("QmeQ cannot solve the ideal limit", ["compare", "--ideal", "--approaches", "local", "qmeq:Pauli"], 2, None),
    ("approach over the memory budget (1 MiB)", ["compare", "--approaches", "local", "qmeq:Pauli"], 1,
     _tiny_memory_budget),
    ("every sweep point over the budget", ["sweep", "--over", "mu=4,8", "--approaches", "qmeq:Pauli",
                                           "--workers", "1"], 1, _tiny_memory_budget),
    ("damaged journal (cut header, garbage, {}, scalar)", ["sweep", "--over", "mu=4,8", "--workers", "1",
                                                           "--out", "damaged.nc"], 0, _write_damaged_journal),
]
"""(case, arguments, expected exit status, preparation of the folder)."""


def bad_input_row(case: str, arguments: list[str], expected: int, prepare: Callable[[Path], None] | None,
                  root: Path) -> tuple[list[str], bool]:
    """One table row for a bad input, and whether it behaved as expected."""
    folder = Path(tempfile.mkdtemp(dir=root))
    if prepare is not None:
        prepare(folder)
    budget = folder / "memory_budget_gib"
    outcome = run_cli(arguments, folder, {"TRANSPORTBENCH_MEMORY_GIB": budget.read_text()} if budget.exists() else None)
    as_expected = outcome.status == expected and outcome.one_line and not outcome.traceback
    return [case, f"exit {expected}", str(outcome.status), "yes" if outcome.one_line else "NO",
            "YES" if outcome.traceback else "no", "—", "—", "—"], as_expected


def _start_sweep(folder: Path, grid: list[str], name: str, workers: str = "2") -> subprocess.Popen[str]:
    arguments = [sys.executable, "-c", WRAPPED_CLI, "sweep", *grid, "--workers", workers, "--out", name]
    return subprocess.Popen(arguments, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=_environment(folder, {"POINT_DELAY": str(POINT_DELAY)}), start_new_session=True)


def _records(journal: Path) -> int:
    """Valid-looking records of a journal (lines after the header that parse as JSON)."""
    if not journal.exists():
        return 0
    count = 0
    for line in journal.read_text(errors="replace").splitlines()[1:]:
        try:
            count += isinstance(json.loads(line), dict)
        except ValueError:
            pass
    return count


def _wait_until(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the sweep ended or stalled before it could be interrupted")
        time.sleep(0.05)


def _end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


INTERRUPTS: dict[str, tuple[list[tuple[str, signal.Signals]], float, int]] = {
    "Ctrl-C (SIGINT to the process group)": ([("group", signal.SIGINT)], 0, 130),
    "Ctrl-C twice, 0.3 s apart": ([("group", signal.SIGINT)] * 2, 0.3, 130),
    "Ctrl-C twice, 0.05 s apart (during the clean-up)": ([("group", signal.SIGINT)] * 2, 0.05, 130),
    "SIGINT to the main process only": ([("main", signal.SIGINT)], 0, 130),
    "SIGTERM to the main process": ([("main", signal.SIGTERM)], 0, 143),
    "SIGTERM, then Ctrl-C 0.05 s later": ([("main", signal.SIGTERM), ("group", signal.SIGINT)], 0.05, 143),
    "SIGKILL to the main process": ([("main", signal.SIGKILL)], 0, -signal.SIGKILL),
    "SIGKILL to a worker process": ([("worker", signal.SIGKILL)], 0, 1),
}
"""Case: ((whom, signal) in order, seconds between them, expected exit status)."""


def _send(process: subprocess.Popen[str], workers: list[psutil.Process], whom: str, number: signal.Signals) -> None:
    try:
        if whom == "group":
            os.killpg(process.pid, number)
        elif whom == "worker":
            workers[0].send_signal(number)
        else:
            process.send_signal(number)
    except (ProcessLookupError, psutil.NoSuchProcess):  # already ended after an earlier signal
        pass


def interrupt_row(case: str, signals: list[tuple[str, signal.Signals]], gap: float, expected: int,
                  root: Path) -> tuple[list[str], bool, int]:
    """One table row for an interrupted and resumed sweep, whether it behaved as expected, and points lost."""
    folder = Path(tempfile.mkdtemp(dir=root))
    journal = folder / "s.nc.points.jsonl"
    process = _start_sweep(folder, SWEEP_GRID, "s.nc")
    try:
        _wait_until(lambda: _records(journal) >= 2, process)
        workers = psutil.Process(process.pid).children(recursive=True)
        sent = time.monotonic()
        for number, (whom, signal_number) in enumerate(signals):
            time.sleep(gap if number else 0)
            _send(process, workers, whom, signal_number)
        _, stderr = process.communicate(timeout=TIMEOUT)
        seconds = time.monotonic() - sent
    finally:
        _end(process)
    _, left = psutil.wait_procs(workers, timeout=10)
    outcome = Outcome(process.returncode, stderr)
    reported = re.search(r"interrupted: (\d+) of", stderr) or re.search(r"; (\d+) of \d+ points are journalled",
                                                                         stderr)
    journalled = _records(journal)
    finished = int(reported.group(1)) if reported else journalled  # SIGKILL: nothing is reported
    (folder / "calls.log").unlink(missing_ok=True)
    resume = run_cli(["sweep", *SWEEP_GRID, "--workers", "2", "--out", "s.nc"], folder)
    recomputed = len((folder / "calls.log").read_text().splitlines())
    lost = max(finished - journalled, 0) + max(recomputed - (POINTS - journalled), 0)
    one_line = outcome.one_line or expected < 0
    as_expected = (outcome.status == expected and one_line and not outcome.traceback and not left and lost == 0
                   and resume.status == 0 and seconds < 15)
    return [case, f"exit {expected}", f"{outcome.status} after {seconds:.1f} s", "yes" if one_line else "NO",
            "YES" if outcome.traceback else "no", f"{finished} / {lost}", str(len(left)),
            f"exit {resume.status}, {recomputed} computed"], as_expected, lost


@contextlib.contextmanager
def _listener(answer: bytes | None) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that is no Dask scheduler: silent (``answer`` None) or replying and closing."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        connections = []
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connections.append(connection)
            if answer is not None:
                connection.sendall(answer)
                connection.close()
        for connection in connections:
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        server.close()


SCHEDULERS = {"scheduler address is a silent TCP server": None,
              "scheduler address is an HTTP server": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"}
"""Listeners that accept connections but are no Dask scheduler, and what they answer."""


def scheduler_row(case: str, answer: bytes | None, root: Path) -> tuple[list[str], bool]:
    """One row: a sweep pointed at a listener that is not a scheduler is refused (exit 2, one line, in seconds)."""
    folder = Path(tempfile.mkdtemp(dir=root))
    with _listener(answer) as address:
        start = time.monotonic()
        outcome = run_cli(["sweep", "--over", "mu=0,1", "--scheduler", address], folder)
        seconds = time.monotonic() - start
    as_expected = outcome.status == 2 and outcome.one_line and not outcome.traceback and seconds < 30
    return [case, "exit 2", f"{outcome.status} after {seconds:.1f} s", "yes" if outcome.one_line else "NO",
            "YES" if outcome.traceback else "no", "—", "—", "—"], as_expected


def twovn_interrupt_row(case: str, number: signal.Signals, expected: int, root: Path) -> tuple[list[str], bool]:
    """One row: SIGINT/SIGTERM during QmeQ's compiled 2vN iteration ends ``compare`` promptly with 128 + signal."""
    folder = Path(tempfile.mkdtemp(dir=root))
    process = subprocess.Popen([sys.executable, "-c", WRAPPED_CLI, "compare", "--approaches", "qmeq:2vN"],
                               cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_environment(folder, {}))
    try:
        time.sleep(5.0)  # inside the converged 2vN solve (about a minute)
        sent = time.monotonic()
        process.send_signal(number)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        seconds = time.monotonic() - sent
    finally:
        _end(process)
    swallowed = "Exception ignored" in stderr or "qmeq:2vN" in stdout
    outcome = Outcome(process.returncode, stderr)
    as_expected = outcome.status == expected and not outcome.traceback and not swallowed and seconds < 15
    return [case, f"exit {expected}", f"{outcome.status} after {seconds:.1f} s", "—",
            "YES" if outcome.traceback else "no", "swallowed" if swallowed else "—", "—", "—"], as_expected


FULL_DISK = {"NetCDF output larger than a 256 KiB tmpfs": (["sweep", "--over", "mu=2:10:5", "--workers", "1",
                                                              "--approaches", "local", "--out", "s.nc"], False),
             "--out x.json on a full tmpfs": (["compare", "--approaches", "local", "--out", "c.json"], True),
             "sweep on a full tmpfs (no room for its lock)": (["sweep", "--over", "mu=2,4", "--workers", "1",
                                                               "--approaches", "local", "--out", "t.nc"], True)}
"""(case, (arguments, fill the disk first)): the CLI on a real tmpfs in a private mount namespace."""


def full_disk_row(case: str, arguments: list[str], fill: bool, root: Path) -> tuple[list[str], bool]:
    """One row: the command on a 256 KiB tmpfs (``unshare``; filled first if ``fill``) exits 1 in one line."""
    folder = Path(tempfile.mkdtemp(dir=root))
    command = " ".join(shlex.quote(part) for part in [sys.executable, "-c", WRAPPED_CLI, *arguments])
    filling = "dd if=/dev/zero of=fill bs=4k 2>/dev/null; " if fill else ""
    script = (f"mount -t tmpfs -o size=256k tmpfs {shlex.quote(str(folder))} && cd {shlex.quote(str(folder))} && "
              f"{filling}exec {command}")
    completed = subprocess.run(["unshare", "--map-root-user", "--mount", "sh", "-c", script], capture_output=True,
                               text=True, timeout=TIMEOUT, env=_environment(root, {}))
    if "mount:" in completed.stderr or "unshare:" in completed.stderr:
        return [case, "exit 1", "no tmpfs here", "—", "—", "—", "—", "—"], False
    outcome = Outcome(completed.returncode, completed.stderr)
    as_expected = outcome.status == 1 and outcome.one_line and not outcome.traceback
    return [case, "exit 1", str(outcome.status), "yes" if outcome.one_line else "NO",
            "YES" if outcome.traceback else "no", "—", "—", "—"], as_expected


def main() -> int:
    """Run every case, print the table and the totals; 1 if any case differs from its expectation."""
    header = ["case", "expected", "exit", "one-line message", "traceback", "points finished / lost",
              "workers left", "resume"]
    rows, failures, survived, lost_total = [header], 0, 0, 0
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        for case, arguments, expected, prepare in BAD_INPUTS:
            row, as_expected = bad_input_row(case, arguments, expected, prepare, root)
            rows.append(row)
            failures += not as_expected
        for case, answer in SCHEDULERS.items():
            row, as_expected = scheduler_row(case, answer, root)
            rows.append(row)
            failures += not as_expected
        for case, (arguments, fill) in FULL_DISK.items():
            row, as_expected = full_disk_row(case, arguments, fill, root)
            rows.append(row)
            failures += not as_expected
        for case, number, expected in (("SIGINT during the compiled 2vN iteration", signal.SIGINT, 130),
                                       ("SIGTERM during the compiled 2vN iteration", signal.SIGTERM, 143)):
            row, as_expected = twovn_interrupt_row(case, number, expected, root)
            rows.append(row)
            failures += not as_expected
        for case, (signals, gap, expected) in INTERRUPTS.items():
            row, as_expected, lost = interrupt_row(case, signals, gap, expected, root)
            rows.append(row)
            failures += not as_expected
            survived += as_expected
            lost_total += lost
    print(f"Fault injection: {POINTS}-point sweeps on 2 workers, {POINT_DELAY} s per point; Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print(markdown_table(rows))
    print(f"\nbad inputs tried: {len(BAD_INPUTS) + len(SCHEDULERS)}; full disks (real tmpfs): {len(FULL_DISK)}; "
          "2vN interrupts: 2; sweep interrupts survived "
          "(ended promptly as expected, no traceback, no process left, resumed): "
          f"{survived} of {len(INTERRUPTS)}; points lost: {lost_total}; cases not as expected: {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
