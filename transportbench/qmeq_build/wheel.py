"""Steps 7-8 of the QmeQ build: cythonize and compile the wheel, check its C layout, cache it."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from transportbench.qmeq_build.common import (
    EXTENSION_MODULES,
    PATCH_DIR,
    PXD_ROOT,
    QMEQ_VERSION,
    Paths,
    StepFailed,
    run_logged,
    run_python_json,
    say,
)
from transportbench.qmeq_build.source import c_layout, module_source

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
                             f"fix the declarations in {PXD_ROOT} or the patches in {PATCH_DIR}",
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
                         f"make {PXD_ROOT} declare the same attributes and methods, in the same order "
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

