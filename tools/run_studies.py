"""Run every study in ``studies/`` as its own process, a few at a time, and time each one.

``make studies`` calls this. Each study runs with one BLAS thread and a stated memory budget
(``TRANSPORTBENCH_MEMORY_GIB``), so that its results do not depend on the machine's size and two studies side
by side fit in the RAM. The longest studies start first (a scheduling hint, ``COST_HINT_MINUTES``) so that the
lanes finish together. Each study's output goes to ``<results>/logs/<study>.log``; the wall time, CPU time and
peak resident memory of each study are printed as a Markdown table at the end and appended to
``<results>/timings.txt`` (the table of the last full run is pasted into ``docs/studies.md``). A failed study
does not stop the others; the exit status is non-zero if any failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from transportbench.resources import BLAS_THREAD_VARIABLES, MEMORY_ENVIRONMENT, THREADS_ENVIRONMENT

ROOT = Path(__file__).resolve().parents[1]

# one-core CPU minutes of a full run, only to start the long studies first; unknown studies count as long
COST_HINT_MINUTES = {"regime_map": 40, "lamb_shift_resonance": 30, "fig3_concurrence_map": 26,
                     "lamb_shift_band": 20, "cotunnelling_leakage": 15, "bandwidth_2vn": 9, "w_machine_exact": 12,
                     "fig3_point_exact": 3, "w_states": 1, "si_variations": 1, "fig2_dynamics": 1}
UNKNOWN_COST_MINUTES = 60
DEFAULT_MEMORY_GIB = 3.0
MEMORY_GIB = {"w_machine_exact": 8.0}  # its n = 3 hierarchies need more than the default budget


@dataclass(frozen=True)
class StudyRun:
    """One finished study: its times (seconds), peak resident memory (MiB) and exit status."""

    name: str
    wall_s: float
    cpu_s: float
    peak_mib: float
    memory_gib: float
    returncode: int

    @property
    def status(self) -> str:
        """"ok", or the exit code and where the log is."""
        return "ok" if self.returncode == 0 else f"FAILED (exit {self.returncode}; see logs/{self.name}.log)"


def schedule(studies: list[Path]) -> list[Path]:
    """The studies, longest expected first (ties alphabetically)."""
    return sorted(studies, key=lambda path: (-COST_HINT_MINUTES.get(path.stem, UNKNOWN_COST_MINUTES), path.stem))


def study_environment(name: str) -> dict[str, str]:
    """The environment of one study: one BLAS thread and its memory budget."""
    environment = dict(os.environ)
    for variable in (*BLAS_THREAD_VARIABLES, THREADS_ENVIRONMENT):
        environment[variable] = "1"
    environment.setdefault(MEMORY_ENVIRONMENT, str(MEMORY_GIB.get(name, DEFAULT_MEMORY_GIB)))
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


RUNNING: set[int] = set()  # process ids (= process-group ids) of the studies running now


def run_study(script: Path, extra_arguments: list[str], logs: Path) -> StudyRun:
    """Run one study to completion; its own rusage gives CPU time and peak memory."""
    environment = study_environment(script.stem)
    log_path = logs / f"{script.stem}.log"
    print(f"start  {script.stem} (memory budget {environment[MEMORY_ENVIRONMENT]} GiB, log {log_path})",
          flush=True)
    start = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, str(script), *extra_arguments], stdout=log,
                                   stderr=subprocess.STDOUT, env=environment, cwd=ROOT, start_new_session=True)
        RUNNING.add(process.pid)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            RUNNING.discard(process.pid)
    process.returncode = os.waitstatus_to_exitcode(status)
    run = StudyRun(script.stem, time.perf_counter() - start, usage.ru_utime + usage.ru_stime,
                   usage.ru_maxrss / 1024, float(environment[MEMORY_ENVIRONMENT]), process.returncode)
    print(f"finish {run.name}: {run.wall_s / 60:.1f} min wall, {run.cpu_s / 60:.1f} min CPU, {run.status}",
          flush=True)
    return run


def timing_table(runs: list[StudyRun], jobs: int, total_wall_s: float, arguments: list[str]) -> str:
    """The runs as a Markdown table with a header line saying how they ran."""
    load = os.getloadavg()
    lines = [f"{time.strftime('%Y-%m-%d %H:%M')}: `make studies`{' ' + ' '.join(arguments) if arguments else ''}, "
             f"{jobs} at a time on {os.cpu_count()} CPUs, one BLAS thread each (Python {platform.python_version()}); "
             f"total wall time {total_wall_s / 60:.1f} min; load average at the end "
             f"{load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}",
             "",
             "| study | wall min | CPU min | peak MiB | memory budget GiB | status |",
             "|---|---:|---:|---:|---:|---|"]
    for run in sorted(runs, key=lambda run: -run.wall_s):
        lines.append(f"| `{run.name}` | {run.wall_s / 60:.1f} | {run.cpu_s / 60:.1f} | {run.peak_mib:.0f} "
                     f"| {run.memory_gib:g} | {run.status} |")
    return "\n".join(lines)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the studies (command line: see ``--help``); 0 if every study succeeded, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="studies at a time (default 2: one per core)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to every study (a smoke run)")
    parser.add_argument("--studies-dir", type=Path, default=ROOT / "studies", help="folder of study scripts")
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="folder for logs and timings.txt")
    parser.add_argument("only", nargs="*", help="run only these studies (names without .py)")
    arguments = parser.parse_args(argv)
    if arguments.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {arguments.jobs}")
    # files starting with "_" are the studies' shared plumbing (_common.py), not studies
    studies = sorted(path for path in arguments.studies_dir.glob("*.py") if not path.stem.startswith("_"))
    if arguments.only:
        unknown = set(arguments.only) - {path.stem for path in studies}
        if unknown:
            parser.error(f"no such studies in {arguments.studies_dir}: {', '.join(sorted(unknown))}")
        studies = [path for path in studies if path.stem in arguments.only]
    extra = ["--quick"] if arguments.quick else []
    logs = arguments.results / ("quick" if arguments.quick else "") / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pool = ThreadPoolExecutor(max_workers=arguments.jobs)
    try:
        runs = list(pool.map(lambda script: run_study(script, extra, logs), schedule(studies)))
    except BaseException:  # Ctrl-C or SIGTERM: stop every running study's process group, start no more
        pool.shutdown(wait=False, cancel_futures=True)
        for pid in list(RUNNING):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        raise
    pool.shutdown()
    table = timing_table(runs, arguments.jobs, time.perf_counter() - start, extra)
    print("\n" + table)
    with open(arguments.results / "timings.txt", "a") as timings:
        timings.write(table + "\n\n")
    return 0 if all(run.returncode == 0 for run in runs) else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _raise_interrupt)  # `kill` stops the studies too, as Ctrl-C does
    sys.exit(main())
