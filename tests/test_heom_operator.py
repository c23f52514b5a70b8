"""The hierarchy applied as an operator against the assembled generator, and the solve that never stores it."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from transportbench.model import Machine

pytest.importorskip("qutip")

from transportbench.backends import heom_generator as generator  # noqa: E402
from transportbench.backends import heom_hierarchy as hierarchy  # noqa: E402
from transportbench.backends import heom_operator as operator_module  # noqa: E402
from transportbench.backends import heom_steady as steady  # noqa: E402

CASES = [(Machine.triple_dot(), 4, 3), (Machine.w_machine(2), 2, 3),
         (Machine.w_machine(3, T_sink=0.1), {"hot": 2, "sink1": 2, "sink2": 2}, 2)]


@pytest.mark.parametrize(("machine", "pade", "depth"), CASES, ids=["triple", "w2", "w3"])
def test_operator_applies_the_assembled_generator(machine: Machine, pade: int, depth: int) -> None:
    built = hierarchy.build_hierarchy(machine, math.inf, pade, depth)
    matrix = built.generator
    x = np.random.default_rng(7).normal(size=matrix.shape[0]) * (1 + 0.5j)
    applied = operator_module.HierarchyOperator(built.equations) @ x
    assert np.max(np.abs(applied - matrix @ x)) <= 1e-13 * np.max(np.abs(matrix @ x))
    # links alone, from one tier into the next: the same rows and columns of the matrix
    tiers = built.layout.tiers
    rows, columns = tiers == depth, tiers == depth - 1
    links = operator_module.HierarchyOperator(built.equations, rows=rows, columns=columns, own_blocks=False)
    unknown_rows = np.repeat(rows, np.diff(built.layout.offsets)).astype(float)
    unknown_columns = np.repeat(columns, np.diff(built.layout.offsets)).astype(float)
    expected = sp.diags(unknown_rows) @ matrix @ sp.diags(unknown_columns) @ x
    assert np.max(np.abs(links @ x - expected)) <= 1e-13 * np.max(np.abs(expected))
    assert np.max(np.abs(expected)) > 0
    # the residual check's scale: an upper bound of ‖A‖₁, not far above it
    norm = steady.one_norm(matrix)
    assert norm <= operator_module.HierarchyOperator(built.equations).one_norm_bound() <= 2 * norm


def test_iterative_solve_with_a_depth_one_base_matches_the_direct_lu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five dots factorise only the depth-1 hierarchy: forced here on the triple dot, the state is the same."""
    built = hierarchy.build_hierarchy(Machine.triple_dot(), math.inf, 4, 3)
    direct = steady.solve(built.equations, built.dim, method="direct")
    monkeypatch.setattr(steady, "BASE_SIZE", 1)
    iterative = steady.solve(built.equations, built.dim, method="iterative")
    assert "depth-1 hierarchy" in iterative.method and "generator not stored" in iterative.method
    assert np.max(np.abs(iterative.vector - direct.vector)) <= 1e-10


@pytest.mark.parametrize(("machine", "pade", "depth"), CASES[:2], ids=["triple", "w2"])
def test_iterative_solve_stays_within_its_estimate(machine: Machine, pade: int, depth: int) -> None:
    size = hierarchy.hierarchy_size(machine, pade, depth, wide=True)
    estimate = steady.solve_bytes(size, "iterative", 2**machine.n_qubits)
    built = hierarchy.build_hierarchy(machine, math.inf, pade, depth)
    steady.solve(built.equations, built.dim, method="iterative")  # caches and imports outside the measurement
    tracemalloc.start()
    try:
        steady.solve(built.equations, built.dim, method="iterative")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= estimate
    assert "generator" not in built.__dict__  # the iterative solve never assembled the whole hierarchy


def test_layout_of_a_shallower_hierarchy_is_a_prefix() -> None:
    """The preconditioner assembles the shallow hierarchy on its own: its unknowns must be the first ones."""
    signs = np.array([1, -1] * 5)
    charges = np.array([0, 1, 1, 2])
    deep, shallow = generator.layout(signs, 3, charges), generator.layout(signs, 1, charges)
    count = len(shallow.members)
    np.testing.assert_array_equal(deep.members[:count, :1], shallow.members)
    np.testing.assert_array_equal(deep.kept[:len(shallow.kept)], shallow.kept)


def test_gmres_iterations_are_reported_while_they_run() -> None:
    """The backend's progress bar shows the GMRES iteration of a long solve through this hook."""
    built = hierarchy.build_hierarchy(Machine.triple_dot(), math.inf, 2, 3)
    seen: list[int] = []
    token = steady.ON_ITERATION.set(seen.append)
    try:
        solved = steady.solve(built.equations, built.dim, method="iterative")
    finally:
        steady.ON_ITERATION.reset(token)
    count = int(solved.method.split("(")[1].split(" iterations")[0])
    assert seen == list(range(1, count + 1)) and count > 0
