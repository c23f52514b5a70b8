"""The HEOM steady-state solver: the tier-ordered GMRES against the direct LU, and the residual check's norm."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from transportbench.model import Machine

pytest.importorskip("qutip")

from transportbench.backends import heom_hierarchy as hierarchy  # noqa: E402
from transportbench.backends import heom_steady as steady  # noqa: E402

TRIPLE = Machine.triple_dot()
"""The Fig. 3 point, wide-band leads (the wide band in the hierarchy)."""


def _solved(pade: int, depth: int, method: str) -> tuple[hierarchy.Hierarchy, steady.SteadyState]:
    built = hierarchy.build_hierarchy(TRIPLE, math.inf, pade, depth)
    return built, steady.solve(built.equations, built.dim, method=method)


@pytest.mark.parametrize(("pade", "depth"), [(4, 3), (2, 4)])
def test_tier_gmres_matches_the_direct_lu(pade: int, depth: int) -> None:
    """GMRES on the unknowns in tier order (one tier per slice) gives the direct LU's state to 1e-10."""
    _, direct = _solved(pade, depth, "direct")
    _, iterative = _solved(pade, depth, "iterative")
    assert iterative.method.startswith("GMRES preconditioned by the depth-")
    assert "blocks by shifted;" in iterative.method  # every deeper tier inverted through its shifted blocks
    assert np.max(np.abs(iterative.vector - direct.vector)) <= 1e-10
    assert iterative.relative_residual <= steady.RESIDUAL_RTOL


def test_one_norm_is_scipys() -> None:
    """The residual check's ‖𝓛‖₁ equals SciPy's, also for a matrix with duplicate entries."""
    built, _ = _solved(2, 2, "direct")
    assert steady.one_norm(built.generator) == pytest.approx(spla.norm(built.generator, 1), rel=1e-14)
    duplicated = sp.csr_matrix((np.array([1.0, -3.0, 2.0j]), np.array([0, 0, 1]), np.array([0, 2, 3])),
                               shape=(2, 2))
    assert not duplicated.has_canonical_format
    assert steady.one_norm(duplicated) == pytest.approx(2.0)
