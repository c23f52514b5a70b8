"""The ADO threshold: its a priori estimate, the filtered hierarchy's equations and solve, and its convergence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from transportbench.model import Machine
from transportbench.observables import concurrence

pytest.importorskip("qutip")

from transportbench.backends import (
    heom,  # noqa: E402
    heom_solve,  # noqa: E402
)
from transportbench.backends import heom_generator as generator  # noqa: E402
from transportbench.backends import heom_hierarchy as hierarchy  # noqa: E402
from transportbench.backends import heom_steady as steady  # noqa: E402
from transportbench.backends.heom_operator import HierarchyOperator  # noqa: E402

TRIPLE = Machine.triple_dot()
"""The Fig. 3 point on wide-band leads: its depth-3 hierarchy with 6 Padé poles has 2325 ADOs."""


def _exponents(amplitudes: list[complex], frequencies: list[complex]) -> generator.Exponents:
    """A "+" and a "−" exponent per (amplitude, frequency) pair, each the other's partner, on reservoir 0."""
    count = 2 * len(amplitudes)
    return generator.Exponents(signs=np.array([1, -1] * len(amplitudes)), reservoir=np.zeros(count, dtype=int),
                               amplitudes=np.repeat(np.array(amplitudes, dtype=complex), 2),
                               frequencies=np.repeat(np.array(frequencies, dtype=complex), 2),
                               partners=np.arange(count) ^ 1)


def test_importance_is_the_first_order_estimate_summed_over_orders() -> None:
    # exponents 0, 1 (|c| = 0.2, Re ν = 2) and 2, 3 (|c| = 0.3, Re ν = 3)
    exponents = _exponents([0.2j, -0.3], [2.0 + 5j, 3.0 - 1j])
    structure = generator.layout(exponents.signs, 2, np.array([0, 1]))
    values = generator.importance(structure, exponents)
    by_members = {tuple(row[row >= 0].tolist()): value for row, value in zip(structure.members, values, strict=True)}
    assert by_members[()] == 1.0
    assert by_members[(0,)] == pytest.approx(0.2 / 2)
    assert by_members[(2,)] == pytest.approx(0.3 / 3)
    # two ways to excite {0, 2}: through (0,) and through (2,), each damped at 2 + 3
    assert by_members[(0, 2)] == pytest.approx((0.3 * 0.1 + 0.2 * 0.1) / 5)
    assert by_members[(0, 1)] == pytest.approx(2 * 0.2 * 0.1 / 4)


def test_an_undamped_exponent_is_never_left_out() -> None:
    exponents = _exponents([0.1, 0.1], [1.0, 0.0 + 2j])
    structure = generator.layout(exponents.signs, 2, np.array([0, 1]))
    values = generator.importance(structure, exponents)
    holds_undamped = np.any(structure.members >= 2, axis=1)
    assert np.all(np.isinf(values[holds_undamped]))
    assert np.all(generator.filtered(structure, exponents, 1e3, np.array([0, 1])).present[holds_undamped])


def test_threshold_zero_keeps_every_ado_and_a_negative_one_is_refused() -> None:
    built = hierarchy.build_hierarchy(TRIPLE, math.inf, 3, 3)
    same = generator.filtered(built.layout, built.exponents, 0.0, built.equations.basis_charges)
    assert same.present.all()
    np.testing.assert_array_equal(same.offsets, built.layout.offsets)
    np.testing.assert_array_equal(same.kept, built.layout.kept)
    with pytest.raises(ValueError, match="ADO threshold must be >= 0, got -1"):
        generator.filtered(built.layout, built.exponents, -1.0, built.equations.basis_charges)


def _filtered(threshold: float, depth: int = 3, pade: int = 6) -> hierarchy.Hierarchy:
    return hierarchy.build_hierarchy(TRIPLE, math.inf, pade, depth, threshold=threshold)


def test_filtered_hierarchy_keeps_rho_the_first_tier_and_a_parent_of_every_ado() -> None:
    built = _filtered(1e-5)
    layout, tiers = built.layout, built.layout.tiers
    assert layout.present[tiers <= 1].all()
    assert 0 < (~layout.present).sum() and built.n_ados < len(layout.members)
    links = generator._links(layout, len(built.exponents.signs))
    fed = np.zeros(len(tiers), dtype=bool)
    fed[links.child[layout.present[links.parent]]] = True
    assert fed[layout.present & (tiers >= 1)].all()
    sizes = np.diff(layout.offsets)
    assert np.all(sizes[~layout.present] == 0)
    assert sizes[layout.present].sum() == len(layout.kept)


def test_filtering_deletes_the_left_out_ados_rows_and_columns_from_the_generator() -> None:
    full, built = _filtered(0.0), _filtered(1e-5)
    positions = np.searchsorted(full.layout.kept, built.layout.kept)
    np.testing.assert_array_equal(full.layout.kept[positions], built.layout.kept)
    expected = full.generator[positions][:, positions]
    difference = abs(built.generator - expected).max()
    assert difference <= 1e-14 * abs(expected).max()
    assert built.generator.shape[0] < full.generator.shape[0] / 2
    x = np.random.default_rng(3).standard_normal(built.generator.shape[0]) + 0j
    np.testing.assert_allclose(HierarchyOperator(built.equations) @ x, built.generator @ x, atol=1e-12)


def test_truncated_layout_is_the_shallow_hierarchy_with_the_same_filter() -> None:
    signs = np.array([1, -1] * 5)
    charges = np.array([0, 1, 1, 2])
    deep, shallow = generator.layout(signs, 3, charges), generator.layout(signs, 1, charges)
    cut = deep.truncated(1)
    for name in ("members", "tier_starts", "charges", "offsets", "kept", "present"):
        np.testing.assert_array_equal(getattr(cut, name), getattr(shallow, name))
    built = _filtered(1e-5)
    two = built.layout.truncated(2)
    np.testing.assert_array_equal(two.present, built.layout.present[:len(two.members)])
    with pytest.raises(ValueError, match="cannot be truncated at depth 4"):
        built.layout.truncated(4)


@pytest.mark.parametrize(("pade", "threshold"), [(4, 1e-4), (4, 1e-6)], ids=["tier-2-filtered", "tiers-3-4-filtered"])
def test_iterative_solve_of_a_filtered_hierarchy_matches_its_direct_lu(monkeypatch: pytest.MonkeyPatch, pade: int,
                                                                       threshold: float) -> None:
    """The GMRES preconditioner's shallow base is filtered like the hierarchy; emptied tiers are no obstacle."""
    built = _filtered(threshold, depth=4, pade=pade)
    tiers, present = built.layout.tiers, built.layout.present
    assert not all(present[tiers == tier].all() for tier in (2, 3, 4))
    direct = steady.solve(built.equations, built.dim, method="direct")
    iterative = steady.solve(built.equations, built.dim, method="iterative")
    assert np.max(np.abs(iterative.vector - direct.vector)) <= 1e-10
    monkeypatch.setattr(steady, "BASE_SIZE", 1)
    shallow = steady.solve(built.equations, built.dim, method="iterative")
    assert "depth-1 hierarchy" in shallow.method
    assert np.max(np.abs(shallow.vector - direct.vector)) <= 1e-10


def test_filtered_answer_converges_to_the_full_hierarchys_as_the_threshold_falls() -> None:
    full = heom_solve.solve_hierarchy(TRIPLE, math.inf, 6, 3)
    concurrence_errors, current_errors, counts = [], [], []
    for threshold in (1e-4, 1e-6, 1e-8):
        solved = heom_solve.solve_hierarchy(TRIPLE, math.inf, 6, 3, threshold=threshold)
        concurrence_errors.append(abs(solved.concurrence - full.concurrence))
        current_errors.append(float(np.max(np.abs(solved.particle - full.particle) / np.max(np.abs(full.particle)))))
        counts.append(solved.ados)
    assert counts[0] < counts[1] < counts[2] <= full.ados
    assert counts[1] < full.ados  # 1e-6 still leaves ADOs out
    for errors in (concurrence_errors, current_errors):
        assert errors[0] > errors[1] > errors[2]
        assert errors[2] <= 1e-6
    assert concurrence_errors[1] <= 1e-4 and current_errors[1] <= 1e-3


def test_threshold_convergence_refines_it_and_reports_its_error() -> None:
    result = heom.solve_steady(TRIPLE, pade=6, depth=2, converge=True, ado_threshold=1e-6, progress=False)
    assert result.stats["ado_threshold"] < 1e-6
    stage = result.error.stage("threshold")
    assert stage is not None and stage.concurrence <= heom.DEFAULT_TOL
    assert any("ADO threshold step changed" in note for note in result.health.notes)
    depth = result.stats["depth"]
    assert depth >= 3  # the depth steps were not passed off as converged by tiers the threshold emptied
    full = heom.solve_steady(TRIPLE, pade=result.stats["pade"], depth=depth, converge=False, progress=False)
    filtered_c, full_c = (concurrence(r.reduced_state([0, 1])) for r in (result, full))
    assert abs(filtered_c - full_c) <= result.error.concurrence


def test_threshold_options_are_checked_and_sized_before_solving() -> None:
    with pytest.raises(ValueError, match="ado_threshold"):
        heom.HeomOptions(ado_threshold=-1.0).check()
    with pytest.raises(ValueError, match="solver='qutip'"):
        heom.HeomOptions(ado_threshold=1e-6, solver="qutip").check()
    filtered = heom.estimate_memory(TRIPLE, heom.HeomOptions(pade=6, depth=4, ado_threshold=1e-4))
    assert filtered < heom.estimate_memory(TRIPLE, heom.HeomOptions(pade=6, depth=4))
    with pytest.raises(ValueError, match=r"ADO threshold 1e-06 has \d+ ADOs, above max_ados=10"):
        heom_solve.solve_hierarchy(TRIPLE, math.inf, 6, 3, threshold=1e-6, max_ados=10, solver="direct")


def _kept_in_tier(threshold: float, tier: int) -> int:
    layout = _filtered(threshold, depth=tier).layout
    return int(layout.present[layout.tiers == tier].sum())


def test_a_depth_step_lowers_a_threshold_that_would_empty_its_new_tier() -> None:
    # pade 6: at 1e-4 no ADO of tier 3 is kept, at 1e-5 some are (168 of 2024)
    assert _kept_in_tier(1e-4, 3) == 0
    lowered = heom.threshold_reaching(TRIPLE, math.inf, 6, 3, 1e-4)
    assert 1e-5 <= lowered < 1e-4
    assert _kept_in_tier(lowered, 3) > 0 and _kept_in_tier(lowered * heom.THRESHOLD_STEP, 3) == 0
    assert heom.threshold_reaching(TRIPLE, math.inf, 6, 2, 1e-4) == 1e-4
    assert heom.threshold_reaching(TRIPLE, math.inf, 6, 3, 0.0) == 0.0


def test_too_many_listed_ados_are_refused_before_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hierarchy, "ENUMERATION_LIMIT", 100)
    with pytest.raises(ValueError, match="lists 2325 ADOs before the ADO threshold filters them"):
        hierarchy.build_hierarchy(TRIPLE, math.inf, 6, 3, threshold=1e-6)
    assert hierarchy.build_hierarchy(TRIPLE, math.inf, 1, 2).n_ados == 1 + 4 + 6  # unfiltered: max_ados decides


def test_threshold_sized_hierarchy_counts_its_links_and_unknowns() -> None:
    built = _filtered(1e-5)
    size = hierarchy.layout_size(TRIPLE, built.layout)
    assert size.ados == built.n_ados
    assert size.reduced_unknowns == built.generator.shape[0]
    assert sum(size.unknowns_by_tier) == size.reduced_unknowns
    assert sp.csr_matrix(built.generator).nnz <= size.generator_nonzeros
