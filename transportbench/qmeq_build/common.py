"""Constants, data files, errors and small helpers shared by the steps of the QmeQ build."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

QMEQ_VERSION = "1.1"
SDIST_NAME = f"qmeq-{QMEQ_VERSION}.tar.gz"
SDIST_SHA256 = "c51f5d2810f1102d0900a223235d1d0ce5ec27e112fbdb2442f29b9a39b8ee6f"
# Bump when the build steps below change in a way that changes the wheel.
RECIPE_VERSION = 1

# The build's data files ship inside the package (installed wheels are unpacked, so this is a directory).
DATA_ROOT = Path(str(files(__package__) / "data"))
REQUIREMENTS_FILE = DATA_ROOT / "build-requirements.txt"
PXD_ROOT = DATA_ROOT / "pxd"
PATCH_DIR = DATA_ROOT / "patches"

# The 16 Cython modules of QmeQ 1.1 (the list in its setup.py).
EXTENSION_MODULES = (
    "qmeq.approach.c_aprclass",
    "qmeq.approach.c_kernel_handler",
    "qmeq.approach.base.c_pauli",
    "qmeq.approach.base.c_lindblad",
    "qmeq.approach.base.c_redfield",
    "qmeq.approach.base.c_neumann1",
    "qmeq.approach.base.c_neumann2",
    "qmeq.approach.base.c_RTD",
    "qmeq.specfunc.c_specfunc",
    "qmeq.approach.elph.c_pauli",
    "qmeq.approach.elph.c_lindblad",
    "qmeq.approach.elph.c_redfield",
    "qmeq.approach.elph.c_neumann1",
    "qmeq.specfunc.c_specfunc_elph",
    "qmeq.wrappers.c_lapack",
    "qmeq.wrappers.c_mytypes",
)
# Builder attribute -> module that must define it when the compiled kernels are in use.
COMPILED_APPROACHES = {
    "ApproachPauli": "qmeq.approach.base.c_pauli",
    "ApproachLindblad": "qmeq.approach.base.c_lindblad",
    "ApproachRedfield": "qmeq.approach.base.c_redfield",
    "Approach1vN": "qmeq.approach.base.c_neumann1",
    "Approach2vN": "qmeq.approach.base.c_neumann2",
    "ApproachRTD": "qmeq.approach.base.c_RTD",
}
TEXT_SUFFIXES = {".py", ".pyx", ".cfg", ".toml", ".in", ".txt"}
# CPU features of the x86-64-v3 level (/proc/cpuinfo names; LZCNT is reported as abm).
X86_64_V3_CPU_FLAGS = {"avx", "avx2", "bmi1", "bmi2", "fma", "f16c", "movbe", "abm", "xsave"}
# VEX-encoded (AVX) code runs the 2vN kernel about 2.5x faster here than the baseline SSE2 code
# (measured: 3.0 s -> 1.2 s for kpnt=256, niter=10). No FMA contraction, so the floating-point
# results stay those of the baseline build (gcc never reassociates without -ffast-math).
X86_64_V3_CFLAGS = ("-march=x86-64-v3", "-ffp-contract=off")
LOG_TAIL_LINES = 25


class StepFailed(Exception):
    """A build step failed; carries the one-line diagnosis shown to the user.

    Parameters
    ----------
    step : str
        Name of the step (``venv``, ``download``, ``compile``, ...).
    problem : str
        What went wrong.
    remedy : str
        What to do about it.
    log : Path, optional
        Log file with the full output of the failed command.
    """

    def __init__(self, step: str, problem: str, remedy: str, log: Path | None = None) -> None:
        super().__init__(f"{step}: {problem}")
        self.step, self.problem, self.remedy, self.log = step, problem, remedy, log

    def one_line(self) -> str:
        """Return the single line that names the step, the problem and the remedy."""
        where = f" (log: {self.log})" if self.log else ""
        return f"build_qmeq: step '{self.step}' failed: {self.problem}{where}. To fix: {self.remedy}"


@dataclass(frozen=True)
class Target:
    """The interpreter QmeQ is installed into.

    Parameters
    ----------
    python : str
        Path of the interpreter exactly as given (a venv's ``bin/python`` is not resolved).
    version : str
        ``major.minor`` of the interpreter.
    soabi : str
        ABI tag of its extension modules (e.g. ``cpython-311-x86_64-linux-gnu``).
    platform : str
        ``sysconfig.get_platform()`` of the interpreter.
    numpy : str
        Installed NumPy version.
    scipy : str
        Installed SciPy version.
    """

    python: str
    version: str
    soabi: str
    platform: str
    numpy: str
    scipy: str


@dataclass(frozen=True)
class Paths:
    """Locations under the build directory.

    Parameters
    ----------
    root : Path
        The build directory (default: the user cache, see `default_build_dir`).
    """

    root: Path

    @property
    def venv(self) -> Path:
        """Build virtual environment."""
        return self.root / "venv"

    @property
    def venv_python(self) -> Path:
        """Interpreter of the build virtual environment."""
        return self.venv / "bin" / "python"

    @property
    def downloads(self) -> Path:
        """Downloaded source packages."""
        return self.root / "downloads"

    @property
    def work(self) -> Path:
        """Scratch tree of one build (recreated on every build)."""
        return self.root / "work"

    @property
    def wheels(self) -> Path:
        """Wheel cache, one sub-directory per cache key."""
        return self.root / "wheels"

    @property
    def logs(self) -> Path:
        """Logs of the commands run by the last invocation."""
        return self.root / "logs"


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------


def say(message: str) -> None:
    """Print a progress line.

    Parameters
    ----------
    message : str
        Text after the ``build_qmeq:`` prefix.
    """
    print(f"build_qmeq: {message}", flush=True)


def sha256_of(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """Return the hex SHA-256 of a file's bytes."""
    return sha256_of(path.read_bytes())


def run_logged(cmd: Sequence[str | Path], step: str, log: Path, remedy: str,
               cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    """Run a command with its output in a log file; raise `StepFailed` if it fails.

    Parameters
    ----------
    cmd : sequence of str or Path
        Command and arguments.
    step : str
        Step name used in the failure message.
    log : Path
        File that receives stdout and stderr (overwritten).
    remedy : str
        What to do if the command fails.
    cwd : Path, optional
        Working directory.
    env : dict, optional
        Environment of the command (default: this process's).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(part) for part in cmd]
    with log.open("w") as stream:
        stream.write("$ " + " ".join(argv) + "\n")
        stream.flush()
        try:
            completed = subprocess.run(argv, cwd=cwd, env=env, stdout=stream, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, check=False)
        except OSError as error:
            raise StepFailed(step, f"cannot run {argv[0]} ({error.strerror})", remedy, log) from error
    if completed.returncode != 0:
        short = " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv[:4]))
        raise StepFailed(step, f"'{short} ...' exited with status {completed.returncode}", remedy, log)


def run_python_json(python: str | Path, code: str, step: str, remedy: str) -> dict:
    """Run a snippet in an interpreter and return the JSON object it prints last.

    Parameters
    ----------
    python : str or Path
        Interpreter to run.
    code : str
        Python source; its last output line must be a JSON object.
    step : str
        Step name used in the failure message.
    remedy : str
        What to do if the snippet fails.

    Returns
    -------
    dict
        The decoded JSON object.
    """
    try:
        completed = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                                   stdin=subprocess.DEVNULL, cwd=tempfile.gettempdir(), check=False)
    except OSError as error:
        raise StepFailed(step, f"cannot run {python} ({error.strerror})", remedy) from error
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise StepFailed(step, f"{python} failed: {detail}", remedy)
    return json.loads(lines[-1])


def print_log_tail(log: Path) -> None:
    """Print the last lines of a log to stderr, indented, so CI output shows the cause."""
    if not log.is_file():
        return
    lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    print(f"--- last {len(lines)} lines of {log} ---", file=sys.stderr)
    for line in lines:
        print(f"    {line}", file=sys.stderr)

