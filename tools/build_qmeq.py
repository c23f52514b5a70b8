#!/usr/bin/env python3
"""Build QmeQ 1.1 from its source package with compiled Cython kernels and install it.

QmeQ 1.1 has binary wheels only for CPython 3.6-3.9. Its source package cannot be built as shipped
on Python 3.11 with NumPy 2 (see ``shared/notes/qmeq.md``): the generated C files are too old, the
Cython declaration files (``.pxd``) are missing, and a few imports no longer exist. This script makes
the build reproducible::

    python tools/build_qmeq.py --install-into .venv/bin/python

Steps (each failure stops the script with one line naming the step and what to do, exit code 1):

1. ``target``     ask the target interpreter for its Python, NumPy and SciPy versions.
2. ``cache``      hash every build input; a wheel cached under that key skips steps 3-8.
3. ``venv``       build venv ``build/qmeq/venv`` with ``tools/qmeq/build-requirements.txt`` plus
                  numpy/scipy pinned to the target's versions.
4. ``download``   ``pip download`` the sdist, then ``checksum``: verify its SHA-256.
5. ``extract``    unpack it and normalise line endings (the sdist mixes CRLF and LF).
6. ``prepare``    add our ``.pxd`` files (``tools/qmeq/pxd``), apply ``tools/qmeq/patches``, record
                  the C layout of the shipped generated files, delete them.
7. ``cythonize``/``compile``  build the wheel (Cython 3 regenerates every C file); on x86-64 CPUs
                  that support it, with ``-march=x86-64-v3 -ffp-contract=off`` (2.5x faster 2vN).
8. ``pxd check``  the regenerated C files must have the shipped layout: every cdef class struct,
                  method table and exported C function identical to QmeQ 1.1's own binaries.
9. ``install``    ``pip install --no-deps --force-reinstall`` the wheel into the target.
10. ``verify``    every QmeQ extension module imports from a compiled file and the Builder uses
                  the compiled approaches; otherwise QmeQ is uninstalled from the target again, so
                  no silent fallback to the pure-Python kernels is ever left behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

QMEQ_VERSION = "1.1"
SDIST_NAME = f"qmeq-{QMEQ_VERSION}.tar.gz"
SDIST_SHA256 = "c51f5d2810f1102d0900a223235d1d0ce5ec27e112fbdb2442f29b9a39b8ee6f"
# Bump when the build steps below change in a way that changes the wheel.
RECIPE_VERSION = 1

REPO_ROOT = Path(__file__).resolve().parent.parent
QMEQ_TOOLS = REPO_ROOT / "tools" / "qmeq"
REQUIREMENTS_FILE = QMEQ_TOOLS / "build-requirements.txt"
PXD_ROOT = QMEQ_TOOLS / "pxd"
PATCH_DIR = QMEQ_TOOLS / "patches"

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
        The build directory (default ``build/qmeq``).
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


# ------------------------------------------------------------------------------------------------
# Step 1: target
# ------------------------------------------------------------------------------------------------

TARGET_QUERY = """
import json, sys, sysconfig
info = {"version": "%d.%d" % sys.version_info[:2], "soabi": sysconfig.get_config_var("SOABI") or "",
        "platform": sysconfig.get_platform(), "numpy": None, "scipy": None}
for name in ("numpy", "scipy"):
    try:
        info[name] = __import__(name).__version__
    except ImportError:
        pass
print(json.dumps(info))
"""


def query_target(python: str) -> Target:
    """Describe the target interpreter.

    Parameters
    ----------
    python : str
        Path of the target interpreter.

    Returns
    -------
    Target
        Its version, ABI, platform and NumPy/SciPy versions.
    """
    remedy = "pass a working interpreter, e.g. --install-into .venv/bin/python (run 'make setup')"
    info = run_python_json(python, TARGET_QUERY, "target", remedy)
    for package in ("numpy", "scipy"):
        if info[package] is None:
            raise StepFailed("target", f"{package} is not installed in {python}",
                             f"install the project first: {python} -m pip install -e .")
    return Target(python=python, **info)


# ------------------------------------------------------------------------------------------------
# Step 2: cache key
# ------------------------------------------------------------------------------------------------


def pinned_requirements(target: Target) -> list[str]:
    """Return the build requirements: the pinned tools plus the target's numpy and scipy.

    Parameters
    ----------
    target : Target
        The interpreter the wheel is built for.

    Returns
    -------
    list of str
        Requirement lines, one per package.
    """
    lines = [line.split("#", 1)[0].strip() for line in REQUIREMENTS_FILE.read_text().splitlines()]
    pins = [line for line in lines if line]
    for pin in pins:
        name = re.split(r"[=<>!~ \[]", pin, maxsplit=1)[0].lower()
        if name in {"numpy", "scipy"}:
            raise StepFailed("cache", f"{REQUIREMENTS_FILE.name} pins {name}",
                             f"remove it: {name} is pinned to the target's version automatically")
        if "==" not in pin:
            raise StepFailed("cache", f"'{pin}' in {REQUIREMENTS_FILE.name} is not an exact pin",
                             "pin every build tool with '=='")
    return [*pins, f"numpy=={target.numpy}", f"scipy=={target.scipy}"]


def optimisation_cflags(target: Target) -> list[str]:
    """Return extra C compiler flags for the kernels: x86-64-v3 code if this CPU runs it.

    Parameters
    ----------
    target : Target
        The interpreter (and so the machine) the wheel is built for.

    Returns
    -------
    list of str
        Flags for ``CFLAGS``; empty (baseline code) on other platforms or older CPUs.
    """
    if target.platform != "linux-x86_64":
        return []
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flag_lines = [line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")]
    if flag_lines and X86_64_V3_CPU_FLAGS <= set(flag_lines[0]):
        return list(X86_64_V3_CFLAGS)
    return []


def tree_digest(root: Path, pattern: str) -> dict[str, str]:
    """Map each file below ``root`` matching ``pattern`` (relative path) to its SHA-256."""
    return {path.relative_to(root).as_posix(): file_sha256(path)
            for path in sorted(root.rglob(pattern)) if path.is_file()}


def build_inputs(target: Target, requirements: list[str], cflags: list[str]) -> dict:
    """Collect everything the wheel depends on.

    Parameters
    ----------
    target : Target
        The interpreter the wheel is built for.
    requirements : list of str
        Pinned build requirements.
    cflags : list of str
        Extra C compiler flags.

    Returns
    -------
    dict
        JSON-serialisable description of all build inputs.
    """
    return {
        "recipe": RECIPE_VERSION,
        "sdist": {"name": SDIST_NAME, "sha256": SDIST_SHA256},
        "requirements": requirements,
        "pxd": tree_digest(PXD_ROOT, "*.pxd"),
        "patches": tree_digest(PATCH_DIR, "*.patch"),
        "cflags": cflags,
        "target": {"python": target.version, "soabi": target.soabi, "platform": target.platform,
                   "numpy": target.numpy, "scipy": target.scipy},
    }


def cache_key(inputs: dict) -> str:
    """Return a short hash of the build inputs (the wheel cache key)."""
    return sha256_of(json.dumps(inputs, sort_keys=True).encode())[:16]


def cached_wheel(paths: Paths, key: str) -> Path | None:
    """Return the cached wheel for ``key``, or None."""
    wheels = sorted((paths.wheels / key).glob(f"qmeq-{QMEQ_VERSION}-*.whl"))
    return wheels[0] if wheels else None


# ------------------------------------------------------------------------------------------------
# Step 3: build venv
# ------------------------------------------------------------------------------------------------


def ensure_build_venv(paths: Paths, target: Target, requirements: list[str]) -> None:
    """Create (or reuse) the build venv with exactly the pinned requirements.

    Parameters
    ----------
    paths : Paths
        Build directory layout.
    target : Target
        Its interpreter is the base of the build venv (same Python version and ABI).
    requirements : list of str
        Pinned build requirements.
    """
    stamp = paths.venv / ".build-requirements"
    wanted = "\n".join([f"# python {target.version} {target.soabi} {target.platform}", *requirements]) + "\n"
    if paths.venv_python.exists() and stamp.is_file() and stamp.read_text() == wanted:
        say(f"venv: reusing {paths.venv}")
        return
    say(f"venv: creating {paths.venv} with {', '.join(requirements)}")
    shutil.rmtree(paths.venv, ignore_errors=True)
    run_logged([target.python, "-m", "venv", paths.venv], "venv", paths.logs / "venv.log",
               "make sure the target's Python has the venv module (apt-get install python3-venv)")
    requirements_lock = paths.root / "build-requirements.lock"
    requirements_lock.write_text("\n".join(requirements) + "\n")
    run_logged([paths.venv_python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                "-r", requirements_lock], "venv", paths.logs / "venv-install.log",
               "check that PyPI is reachable (network, pip config) and the pins in "
               "tools/qmeq/build-requirements.txt exist for this Python")
    stamp.write_text(wanted)


# ------------------------------------------------------------------------------------------------
# Step 4: download and checksum
# ------------------------------------------------------------------------------------------------


def fetch_sdist(paths: Paths) -> Path:
    """Download the QmeQ sdist (unless already present) and verify its SHA-256.

    Parameters
    ----------
    paths : Paths
        Build directory layout.

    Returns
    -------
    Path
        The verified archive.
    """
    archive = paths.downloads / SDIST_NAME
    if not archive.is_file():
        say(f"download: qmeq=={QMEQ_VERSION} source package")
        paths.downloads.mkdir(parents=True, exist_ok=True)
        run_logged([paths.venv_python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "--no-build-isolation", "--no-input", "--disable-pip-version-check",
                    "-d", paths.downloads, f"qmeq=={QMEQ_VERSION}"],
                   "download", paths.logs / "download.log",
                   "check that PyPI is reachable (network, pip config); the download needs "
                   "setuptools<61, numpy and Cython in the build venv")
        if not archive.is_file():
            raise StepFailed("download", f"pip did not produce {SDIST_NAME}",
                             "check the log; the package name or version may have changed",
                             paths.logs / "download.log")
    digest = file_sha256(archive)
    if digest != SDIST_SHA256:
        archive.unlink()
        raise StepFailed("checksum", f"{SDIST_NAME} has SHA-256 {digest}, expected {SDIST_SHA256}",
                         "the archive was deleted; rerun to download it again, and if the hash still "
                         "differs, stop: the published source package is not the one this build trusts")
    say(f"checksum: {SDIST_NAME} sha256 ok")
    return archive


# ------------------------------------------------------------------------------------------------
# Step 5: extract
# ------------------------------------------------------------------------------------------------


def extract_sdist(archive: Path, paths: Paths) -> Path:
    """Unpack the sdist into a fresh work tree and normalise line endings to LF.

    Parameters
    ----------
    archive : Path
        Verified sdist.
    paths : Paths
        Build directory layout.

    Returns
    -------
    Path
        Root of the unpacked source tree.
    """
    shutil.rmtree(paths.work, ignore_errors=True)
    paths.work.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(paths.work, filter="data")
            else:  # Python < 3.11.4: no extraction filters; the archive's hash was verified
                tar.extractall(paths.work)
    except (tarfile.TarError, OSError) as error:
        raise StepFailed("extract", f"cannot unpack {archive.name}: {error}",
                         f"delete {archive} and rerun to download it again") from error
    source = paths.work / f"qmeq-{QMEQ_VERSION}"
    if not (source / "setup.py").is_file():
        raise StepFailed("extract", f"{archive.name} has no qmeq-{QMEQ_VERSION}/setup.py",
                         "the source package layout changed; update tools/build_qmeq.py")
    for path in source.rglob("*"):
        if path.suffix in TEXT_SUFFIXES and path.is_file():
            path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n"))
    return source


# ------------------------------------------------------------------------------------------------
# Step 6: prepare (pxd files, patches, shipped C layout)
# ------------------------------------------------------------------------------------------------


def module_source(source: Path, module: str, suffix: str) -> Path:
    """Return the file of ``module`` (dotted name) with ``suffix`` in the source tree."""
    return source.joinpath(*module.split(".")).with_suffix(suffix)


def add_pxd_files(source: Path) -> None:
    """Copy our declaration files next to the ``.pyx`` files; require exactly one per module.

    Parameters
    ----------
    source : Path
        Root of the unpacked source tree.
    """
    ours = {path.relative_to(PXD_ROOT).with_suffix("").as_posix().replace("/", ".")
            for path in PXD_ROOT.rglob("*.pxd")}
    missing, extra = set(EXTENSION_MODULES) - ours, ours - set(EXTENSION_MODULES)
    if missing or extra:
        raise StepFailed("prepare", f"tools/qmeq/pxd does not match QmeQ's Cython modules "
                         f"(missing: {sorted(missing)}, unexpected: {sorted(extra)})",
                         "add or remove .pxd files under tools/qmeq/pxd/qmeq/")
    for module in EXTENSION_MODULES:
        if not module_source(source, module, ".pyx").is_file():
            raise StepFailed("prepare", f"the sdist has no {module}.pyx",
                             "the source package changed; update EXTENSION_MODULES")
        pxd = PXD_ROOT.joinpath(*module.split(".")).with_suffix(".pxd")
        shutil.copyfile(pxd, module_source(source, module, ".pxd"))


def apply_patches(source: Path, paths: Paths) -> None:
    """Apply ``tools/qmeq/patches/*.patch`` in name order with GNU patch.

    Parameters
    ----------
    source : Path
        Root of the unpacked source tree.
    paths : Paths
        Build directory layout (for the logs).
    """
    if shutil.which("patch") is None:
        raise StepFailed("patch", "the 'patch' program is not installed", "apt-get install patch")
    for patch_file in sorted(PATCH_DIR.glob("*.patch")):
        run_logged(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", patch_file],
                   "patch", paths.logs / f"patch-{patch_file.stem}.log",
                   f"update {patch_file.relative_to(REPO_ROOT)} so it applies to qmeq-{QMEQ_VERSION}",
                   cwd=source)
        say(f"patch: applied {patch_file.name}")


def mangled_module(module: str) -> str:
    """Return Cython's C name prefix of a module, e.g. ``4qmeq_8wrappers_8c_lapack``."""
    return "_".join(f"{len(part)}{part}" for part in module.split("."))


STRUCT_RE = re.compile(r"^struct (__pyx_(?:obj|vtabstruct|opt_args)_\w+) \{\n(.*?)^\};", re.S | re.M)
EXPORT_RE = re.compile(r'__Pyx_Export(?:Function|VoidPtr)\((?:"(\w+)"|[\w>-]*?_n_[su]_(\w+)),[^"]*"([^"]*)"')


def c_layout(c_file: Path, module: str) -> dict[str, str]:
    """Read the binary interface of a Cython module from its generated C file.

    The interface is what other modules rely on: the C struct of every cdef class, its method
    table (vtab), optional-argument structs, and the exported C functions and variables.

    Parameters
    ----------
    c_file : Path
        Generated C file.
    module : str
        Dotted module name.

    Returns
    -------
    dict
        Struct or export name -> normalised declaration text.
    """
    text = c_file.read_text(errors="replace")
    own = re.compile(rf"__pyx_(?:obj|vtabstruct|opt_args)_{mangled_module(module)}_\w+$")
    layout = {}
    for match in STRUCT_RE.finditer(text):
        if own.match(match.group(1)):
            body = [line.strip() for line in match.group(2).splitlines() if line.strip()]
            layout[match.group(1)] = "\n".join(body)
    for match in EXPORT_RE.finditer(text):
        layout[f"export {match.group(1) or match.group(2)}"] = match.group(3)
    return layout


def record_and_delete_shipped_c(source: Path) -> dict[str, dict[str, str]]:
    """Record the C layout of each shipped generated file, then delete all shipped C files.

    Parameters
    ----------
    source : Path
        Root of the unpacked source tree.

    Returns
    -------
    dict
        Module -> layout (see `c_layout`).
    """
    layouts = {}
    for module in EXTENSION_MODULES:
        c_file = module_source(source, module, ".c")
        if not c_file.is_file():
            raise StepFailed("prepare", f"the sdist has no generated {module}.c to check against",
                             "the source package changed; update tools/build_qmeq.py")
        layouts[module] = c_layout(c_file, module)
    for c_file in (source / "qmeq").rglob("*.c"):
        c_file.unlink()
    return layouts


# ------------------------------------------------------------------------------------------------
# Step 7: cythonize and compile
# ------------------------------------------------------------------------------------------------

COMPILER_QUERY = """
import json, os, shutil, sysconfig
cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
include = sysconfig.get_paths()["include"]
print(json.dumps({"cc": cc, "cc_found": shutil.which(cc) is not None,
                  "python_h": os.path.isfile(os.path.join(include, "Python.h")), "include": include}))
"""


def check_toolchain(paths: Paths) -> None:
    """Fail early with a clear message if there is no C compiler or no Python headers."""
    remedy = "recreate the build venv: rm -rf " + str(paths.venv)
    info = run_python_json(paths.venv_python, COMPILER_QUERY, "compile", remedy)
    if not info["cc_found"]:
        raise StepFailed("compile", f"no C compiler: '{info['cc']}' is not on PATH",
                         "install one, e.g. apt-get install gcc")
    if not info["python_h"]:
        raise StepFailed("compile", f"Python headers missing (no Python.h in {info['include']})",
                         "install the development headers of this Python (e.g. apt-get install python3-dev)")


CYTHON_ERROR_RE = re.compile(r"^\s*(qmeq/\S+\.(?:pyx|pxd):\d+:\d+: .*)$", re.M)


def first_cython_error(log: Path) -> str | None:
    """Return the first Cython error message in a build log, or None if Cython did not fail."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    if "Error compiling Cython file" not in text:
        return None
    match = CYTHON_ERROR_RE.search(text.split("Error compiling Cython file", 1)[1])
    return match.group(1).strip() if match else "see the log"


def build_wheel(source: Path, paths: Paths, cflags: list[str]) -> Path:
    """Cythonize and compile the patched source tree into a wheel.

    Parameters
    ----------
    source : Path
        Root of the prepared source tree.
    paths : Paths
        Build directory layout.
    cflags : list of str
        Extra C compiler flags (appended to Python's own through ``CFLAGS``).

    Returns
    -------
    Path
        The built wheel (in the work tree).
    """
    check_toolchain(paths)
    dist = paths.work / "dist"
    log = paths.logs / "compile.log"
    env = {**os.environ, "CFLAGS": " ".join([os.environ.get("CFLAGS", ""), *cflags]).strip()}
    say(f"compile: cythonizing and compiling {len(EXTENSION_MODULES)} modules with extra CFLAGS "
        f"{' '.join(cflags) or '(none)'} (1-2 minutes; log: {log})")
    try:
        run_logged([paths.venv_python, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
                    "--no-cache-dir", "--no-input", "--disable-pip-version-check", "-w", dist, source],
                   "compile", log, "read the compiler errors in the log (compiler, OpenMP, headers)", env=env)
    except StepFailed as failure:
        cython_error = first_cython_error(log)
        if cython_error is not None:
            raise StepFailed("cythonize", f"Cython rejected the sources ({cython_error})",
                             "fix the declarations in tools/qmeq/pxd or the patches in tools/qmeq/patches",
                             log) from failure
        raise
    wheels = sorted(dist.glob(f"qmeq-{QMEQ_VERSION}-*.whl"))
    if not wheels:
        raise StepFailed("compile", "pip reported success but produced no wheel", "read the log", log)
    return wheels[0]


# ------------------------------------------------------------------------------------------------
# Step 8: pxd check
# ------------------------------------------------------------------------------------------------


def check_layouts(source: Path, shipped: dict[str, dict[str, str]]) -> None:
    """Compare the regenerated C layouts with those of the shipped files.

    Parameters
    ----------
    source : Path
        Root of the built source tree (holds the regenerated C files).
    shipped : dict
        Layouts recorded from the shipped C files by `record_and_delete_shipped_c`.
    """
    differences = []
    for module in EXTENSION_MODULES:
        c_file = module_source(source, module, ".c")
        if not c_file.is_file():
            differences.append(f"{module}: no regenerated C file")
            continue
        rebuilt = c_layout(c_file, module)
        for name in sorted(set(shipped[module]) | set(rebuilt)):
            if shipped[module].get(name) != rebuilt.get(name):
                differences.append(f"{module}: {name}")
    if differences:
        shown = "; ".join(differences[:5]) + (" ..." if len(differences) > 5 else "")
        raise StepFailed("pxd check", f"{len(differences)} C declaration(s) differ from QmeQ "
                         f"{QMEQ_VERSION}'s own generated code ({shown})",
                         "make tools/qmeq/pxd declare the same attributes and methods, in the same order "
                         "and with the same types, as the cdef classes of the shipped .c files")
    count = sum(len(layout) for layout in shipped.values())
    say(f"pxd check: {count} struct/method-table/export declarations identical to QmeQ {QMEQ_VERSION}'s")


def store_in_cache(wheel: Path, paths: Paths, key: str, inputs: dict) -> Path:
    """Move a freshly built wheel into the cache under ``key``.

    Parameters
    ----------
    wheel : Path
        Built wheel.
    paths : Paths
        Build directory layout.
    key : str
        Cache key.
    inputs : dict
        Build inputs, stored next to the wheel for reference.

    Returns
    -------
    Path
        The cached wheel.
    """
    final = paths.wheels / key
    staging = paths.wheels / f"{key}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(wheel, staging / wheel.name)
    (staging / "inputs.json").write_text(json.dumps(inputs, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return final / wheel.name


# ------------------------------------------------------------------------------------------------
# Steps 9-10: install and verify
# ------------------------------------------------------------------------------------------------


def install_wheel(wheel: Path, target: Target, paths: Paths) -> None:
    """Install the wheel into the target interpreter (no dependencies, always reinstall)."""
    run_logged([target.python, "-m", "pip", "install", "--no-deps", "--force-reinstall", "--no-input",
                "--disable-pip-version-check", wheel], "install", paths.logs / "install.log",
               f"check that {target.python} has pip and its site-packages is writable")
    say(f"install: {wheel.name} into {target.python}")


VERIFY_SNIPPET = """
import importlib, importlib.machinery, json, sys
modules = {modules!r}
approaches = {approaches!r}
suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
problems = []
for name in modules:
    try:
        module = importlib.import_module(name)
    except Exception as error:
        problems.append(f"{{name}} does not import ({{type(error).__name__}}: {{error}})")
        continue
    path = getattr(module, "__file__", None) or ""
    if not path.endswith(suffixes):
        problems.append(f"{{name}} is not compiled ({{path or 'no file'}})")
if not problems:
    import qmeq
    from qmeq.builder import builder_base
    for attribute, module in approaches.items():
        actual = getattr(builder_base, attribute).__module__
        if actual != module:
            problems.append(f"Builder uses {{actual}}.{{attribute}}, not {{module}}")
    system = qmeq.Builder(nsingle=1, hsingle={{(0, 0): 0.0}}, nleads=2, tleads={{(0, 0): 0.1, (1, 0): 0.1}},
                          mulst={{0: 0.5, 1: -0.5}}, tlst={{0: 1.0, 1: 1.0}}, dband=100.0, kerntype="Pauli")
    system.solve()
    if type(system.appr).__module__ != approaches["ApproachPauli"] or not system.appr.success:
        problems.append("a compiled Pauli solve of a single dot failed")
print(json.dumps({{"problems": problems}}))
"""


def verify_installation(target: Target, paths: Paths) -> None:
    """Require compiled kernels in the target; uninstall QmeQ again if they are not in use.

    Parameters
    ----------
    target : Target
        The interpreter QmeQ was installed into.
    paths : Paths
        Build directory layout (for the uninstall log).
    """
    code = VERIFY_SNIPPET.format(modules=list(EXTENSION_MODULES), approaches=COMPILED_APPROACHES)
    remedy = (f"rebuild with 'python tools/build_qmeq.py --force-rebuild --install-into {target.python}'; "
              "QmeQ was uninstalled so nothing silently falls back to its Python kernels")
    try:
        problems = run_python_json(target.python, code, "verify", remedy)["problems"]
    except StepFailed:
        uninstall_qmeq(target, paths)
        raise
    if problems:
        uninstall_qmeq(target, paths)
        shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
        raise StepFailed("verify", f"{len(problems)} problem(s): {shown}", remedy)
    say(f"verify: all {len(EXTENSION_MODULES)} QmeQ extension modules are compiled; "
        "the Builder uses the compiled approaches")


def uninstall_qmeq(target: Target, paths: Paths) -> None:
    """Remove QmeQ from the target (best effort; the caller reports the failure)."""
    log = paths.logs / "uninstall.log"
    try:
        run_logged([target.python, "-m", "pip", "uninstall", "--yes", "qmeq"], "verify", log, "")
        say(f"verify: uninstalled qmeq from {target.python}")
    except StepFailed:
        say(f"verify: could not uninstall qmeq from {target.python}; see {log}")


# ------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------


def build_fresh_wheel(paths: Paths, target: Target, key: str, inputs: dict) -> Path:
    """Run steps 3-8 and cache the resulting wheel.

    Parameters
    ----------
    paths : Paths
        Build directory layout.
    target : Target
        The interpreter the wheel is built for.
    key : str
        Cache key of ``inputs``.
    inputs : dict
        All build inputs (see `build_inputs`).

    Returns
    -------
    Path
        The cached wheel.
    """
    ensure_build_venv(paths, target, inputs["requirements"])
    archive = fetch_sdist(paths)
    source = extract_sdist(archive, paths)
    add_pxd_files(source)
    apply_patches(source, paths)
    shipped = record_and_delete_shipped_c(source)
    wheel = build_wheel(source, paths, inputs["cflags"])
    check_layouts(source, shipped)
    return store_in_cache(wheel, paths, key, inputs)


def build_and_install(target_python: str, build_dir: Path, force_rebuild: bool) -> None:
    """Build (or reuse) the QmeQ wheel and install it into ``target_python``.

    Parameters
    ----------
    target_python : str
        Interpreter to install into.
    build_dir : Path
        Build directory (venv, downloads, wheel cache, logs).
    force_rebuild : bool
        Ignore a cached wheel.
    """
    started = time.monotonic()
    paths = Paths(build_dir)
    target = query_target(target_python)
    say(f"target: Python {target.version} ({target.soabi}), numpy {target.numpy}, scipy {target.scipy}")
    inputs = build_inputs(target, pinned_requirements(target), optimisation_cflags(target))
    key = cache_key(inputs)
    wheel = None if force_rebuild else cached_wheel(paths, key)
    if wheel is not None:
        say(f"cache: reusing {wheel.relative_to(paths.root)}")
    else:
        say(f"cache: no wheel for key {key}; building")
        wheel = build_fresh_wheel(paths, target, key, inputs)
    install_wheel(wheel, target, paths)
    verify_installation(target, paths)
    say(f"done in {time.monotonic() - started:.1f} s (wheel {wheel.relative_to(paths.root)})")


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--install-into", required=True, metavar="PYTHON",
                        help="interpreter to install QmeQ into, e.g. .venv/bin/python")
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build" / "qmeq",
                        help="build directory (default: build/qmeq in the repository)")
    parser.add_argument("--force-rebuild", action="store_true", help="ignore a cached wheel")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the build; return the process exit status."""
    arguments = parse_arguments(argv)
    # Keep the interpreter path unresolved: a venv's bin/python is a symlink to the base interpreter.
    target_python = os.path.abspath(arguments.install_into)
    try:
        build_and_install(target_python, arguments.build_dir.resolve(), arguments.force_rebuild)
    except StepFailed as failure:
        if failure.log is not None:
            print_log_tail(failure.log)
        print(failure.one_line(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("build_qmeq: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
