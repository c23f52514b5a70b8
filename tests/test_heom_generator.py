"""Our assembly of the HEOM generator against QuTiP's ``HEOMSolver``, entry by entry, and the ADO layout."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from transportbench.model import Band, Machine, Reservoir

pytest.importorskip("qutip")

from transportbench.backends import heom_generator as generator  # noqa: E402
from transportbench.backends import heom_hierarchy as hierarchy  # noqa: E402

ONE_DOT_TWO_LEADS = Machine(energies=(0.2,), statistics="fermion",
                            reservoirs=(Reservoir("left", 0, 0.05, 1.0, 1.0), Reservoir("right", 0, 0.03, -1.0, 0.5)))
"""Both leads on one dot: ADOs of charge ±2 have no coupled elements at all."""


@pytest.mark.parametrize(("machine", "band_width", "pade", "depth"), [
    (Machine.triple_dot(), 30.0, 2, 3),
    (Machine.triple_dot(), math.inf, 2, 3),
    (Machine.triple_dot(U=0.0, band=Band.lorentzian(10.0)), 10.0, 3, 4),
    (ONE_DOT_TWO_LEADS, 50.0, 2, 3),
    (Machine.w_machine(2), math.inf, 2, 2),
], ids=["triple-lorentzian", "triple-wide", "triple-U0-depth4", "one-dot-two-leads", "w2-wide"])
def test_assembled_generator_is_qutips(machine: Machine, band_width: float, pade: int, depth: int) -> None:
    built = hierarchy.build_hierarchy(machine, band_width, pade, depth)
    theirs = hierarchy.qutip_generator(machine, band_width, pade, depth, built)
    difference = abs(built.generator - theirs).max()
    assert difference <= 1e-13 * abs(theirs).max()
    entries = sp.coo_matrix(theirs)
    entries = entries.multiply(abs(entries) > 0).tocoo()
    ado_of = np.repeat(np.arange(built.n_ados), np.diff(built.layout.offsets))
    links = np.count_nonzero(ado_of[entries.row] != ado_of[entries.col])
    assert links > entries.nnz / 3  # the links between ADOs were compared, not only the diagonal blocks


def test_layout_lists_every_ado_once_by_tier() -> None:
    signs = np.array([1, -1] * 4)
    layout = generator.layout(signs, 3, np.array([0, 1]))
    assert len(layout.members) == hierarchy.count_ados(8, 3) == 1 + 8 + 28 + 56
    assert len({tuple(row) for row in layout.members}) == len(layout.members)
    assert np.all(np.diff(layout.tiers) >= 0)
    np.testing.assert_array_equal(layout.tier_starts, [0, 1, 9, 37, 93])
    members = [set(row[row >= 0].tolist()) for row in layout.members]
    links = generator._links(layout, 8)
    for child, parent, exponent in zip(links.child, links.parent, links.exponent, strict=True):
        assert members[parent] | {int(exponent)} == members[child] and exponent not in members[parent]
    assert len(links.child) == 8 + 2 * 28 + 3 * 56  # t links per ADO of tier t


def test_kept_unknowns_are_the_coupled_charge_blocks() -> None:
    # one dot, a "+" and a "−" exponent, depth 1: ρ keeps ΔN = 0, its diagonal elements (0, 0) and (1, 1) at
    # positions 0 and 3; the "+" ADO keeps (1, 0) (N_a − N_b = 1) at 4 + 1, the "−" ADO (0, 1) at 8 + 2
    layout = generator.layout(np.array([1, -1]), 1, np.array([0, 1]))
    np.testing.assert_array_equal(layout.kept, [0, 3, 5, 10])
    np.testing.assert_array_equal(layout.charges, [0, 1, -1])
    np.testing.assert_array_equal(layout.offsets, [0, 2, 3, 4])


@pytest.mark.parametrize(("machine", "pade", "depth"), [(Machine.triple_dot(), 6, 3), (Machine.w_machine(2), 2, 3)],
                         ids=["triple", "w2"])
def test_assembly_stays_within_its_estimate(machine: Machine, pade: int, depth: int) -> None:
    """The estimate that the budget check refuses by covers the assembly's measured peak and its nonzeros."""
    import tracemalloc

    size = hierarchy.hierarchy_size(machine, pade, depth, wide=True)
    built = hierarchy.build_hierarchy(machine, math.inf, pade, depth)
    tracemalloc.start()
    try:
        matrix = generator.assemble(built.equations)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size.reduced_unknowns == matrix.shape[0]
    assert matrix.nnz <= size.generator_nonzeros
    assert peak <= size.generator_bytes
    assert peak >= size.generator_bytes / 10  # an estimate, not a bound far off


def test_bad_layouts_and_masks_are_refused_by_name() -> None:
    from transportbench.backends.heom_operator import HierarchyOperator

    with pytest.raises(ValueError, match="depth must be an integer >= 0, got -1"):
        generator.layout(np.array([1, -1]), -1, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"signs must all be \+1 or -1, got \[2\]"):
        generator.layout(np.array([1, 2]), 1, np.array([0, 1]))
    built = hierarchy.build_hierarchy(Machine.triple_dot(), math.inf, 2, 2)
    with pytest.raises(ValueError, match=r"rows must hold one bool per ADO \(37\)"):
        generator.assemble(built.equations, rows=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="columns must hold one bool per ADO"):
        HierarchyOperator(built.equations, columns=np.ones(built.n_ados))
