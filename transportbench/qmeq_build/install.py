"""Steps 9-10 of the QmeQ build: install the wheel into the target and verify the compiled kernels."""

from __future__ import annotations

import sys
from pathlib import Path

from transportbench.qmeq_build.common import (
    COMPILED_APPROACHES,
    EXTENSION_MODULES,
    Paths,
    StepFailed,
    Target,
    run_logged,
    run_python_json,
    say,
)

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
    remedy = (f"rebuild with '{sys.executable} -m transportbench.qmeq_build --force-rebuild --install-into "
              f"{target.python}'; "
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

