"""The QmeQ build (transportbench.qmeq_build): compiled kernels are in use and agree with QmeQ's Python kernels.

QmeQ silently falls back to its pure-Python kernels when a Cython module does not import, so these
tests prove the compiled ones are installed and picked by the Builder, and that both kernel sets solve
the paper's triple dot (``Machine.triple_dot()`` through ``backends.qmeq.build_system``, band half-width
1000) to the same state and currents.
"""

from __future__ import annotations

import importlib
import importlib.machinery
from pathlib import Path

import numpy as np
import pytest

from transportbench.backends.qmeq import build_system
from transportbench.model import Band, Machine

pytestmark = pytest.mark.qmeq

#: Number of Cython modules in QmeQ 1.1 (the list in its setup.py).
QMEQ_CYTHON_MODULE_COUNT = 16
#: Compiled approach module chosen by the Builder for each kerntype.
COMPILED_APPROACH_MODULE = {
    "Pauli": "qmeq.approach.base.c_pauli",
    "Lindblad": "qmeq.approach.base.c_lindblad",
    "Redfield": "qmeq.approach.base.c_redfield",
    "1vN": "qmeq.approach.base.c_neumann1",
    "2vN": "qmeq.approach.base.c_neumann2",
}
#: Small 2vN grid for the comparisons (the pure-Python 2vN costs ~3 s per iteration here).
SMALL_KPNT, SMALL_NITER = 128, 3
RTOL = 1e-10
#: QmeQ's 2vN evaluates Fermi functions as 1/(exp((E-μ)/T)+1) on the whole band (|E| <= 1000, T = 1):
#: exp overflows to inf and gives f = 0, the correct limit. Only this warning is ignored, and only here.
ignore_fermi_overflow = pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")


def triple_dot_builder(kerntype: str, kpnt: int | None = None):
    """The Fig. 3 triple dot for QmeQ's ``kerntype``; a ``"py"`` prefix selects the pure-Python kernels."""
    python = kerntype.startswith("py")
    return build_system(Machine.triple_dot(band=Band.flat(1000.0)), approach=kerntype.removeprefix("py"), kpnt=kpnt,
                        python_kernels=python)


def cython_module_names() -> list[str]:
    """Dotted names of the QmeQ modules that ship a .pyx source next to them."""
    import qmeq

    root = Path(qmeq.__file__).parent
    return sorted(".".join(("qmeq", *pyx.relative_to(root).with_suffix("").parts))
                  for pyx in root.rglob("*.pyx"))


def is_compiled(module_name: str) -> bool:
    """Return True if the module was loaded from a compiled extension file."""
    path = getattr(importlib.import_module(module_name), "__file__", None) or ""
    return path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def solve(kerntype: str, kpnt: int = SMALL_KPNT, niter: int = SMALL_NITER):
    """Solve the triple dot; ``kpnt`` and ``niter`` apply to 2vN only."""
    system = triple_dot_builder(kerntype, kpnt=kpnt)
    if kerntype.endswith("2vN"):
        system.solve(niter=niter)
    else:
        system.solve()
    return system


def relative_deviation(actual: np.ndarray, reference: np.ndarray) -> float:
    """Largest absolute difference relative to the largest reference magnitude."""
    return float(np.max(np.abs(actual - reference)) / np.max(np.abs(reference)))


def test_every_cython_module_is_compiled():
    """Each QmeQ module shipped with a .pyx source imports from a compiled extension file."""
    names = cython_module_names()
    assert len(names) == QMEQ_CYTHON_MODULE_COUNT, names
    not_compiled = [name for name in names if not is_compiled(name)]
    assert not_compiled == []


@ignore_fermi_overflow
@pytest.mark.parametrize("kerntype", sorted(COMPILED_APPROACH_MODULE))
def test_builder_runs_the_compiled_kernel(kerntype):
    """The Builder picks the approach class of the compiled c_* module, and it solves."""
    system = solve(kerntype, kpnt=16, niter=1)
    approach_module = type(system.appr).__module__
    assert approach_module == COMPILED_APPROACH_MODULE[kerntype]
    assert is_compiled(approach_module)
    assert system.success


def test_python_kerntypes_select_python_kernels():
    """The 'py' prefix must reach QmeQ's Python kernels, else the comparisons below compare nothing."""
    for kerntype in COMPILED_APPROACH_MODULE:
        module = type(triple_dot_builder("py" + kerntype, kpnt=16).appr).__module__
        assert module.startswith("qmeq.approach.base.") and not is_compiled(module), module


@ignore_fermi_overflow
@pytest.mark.parametrize("kerntype", sorted(COMPILED_APPROACH_MODULE))
def test_compiled_and_python_kernels_agree(kerntype):
    """Compiled and pure-Python kernels give the same state and currents (relative 1e-10)."""
    compiled, python = solve(kerntype), solve("py" + kerntype)
    assert relative_deviation(compiled.phi0, python.phi0) <= RTOL
    assert relative_deviation(compiled.current, python.current) <= RTOL
