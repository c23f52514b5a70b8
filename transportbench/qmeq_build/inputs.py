"""Steps 1-2 of the QmeQ build: describe the target interpreter and hash every build input."""

from __future__ import annotations

import json
import re
from pathlib import Path

from transportbench.qmeq_build.common import (
    PATCH_DIR,
    PXD_ROOT,
    QMEQ_VERSION,
    RECIPE_VERSION,
    REQUIREMENTS_FILE,
    SDIST_NAME,
    SDIST_SHA256,
    X86_64_V3_CFLAGS,
    X86_64_V3_CPU_FLAGS,
    Paths,
    StepFailed,
    Target,
    file_sha256,
    run_python_json,
    sha256_of,
)

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
                             f"install transportbench into it first: {python} -m pip install transportbench "
                             "(in a clone: make setup)")
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
    if not REQUIREMENTS_FILE.is_file():
        raise StepFailed("cache", f"the build's data file {REQUIREMENTS_FILE} is missing",
                         "reinstall transportbench (pip install --force-reinstall transportbench)")
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
