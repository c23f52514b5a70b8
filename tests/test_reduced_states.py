"""Reduced states of fermion-model results: the fermionic partial trace, whatever the Jordan–Wigner order.

The same physical machine written in another string order must give the same concurrence and fidelities in
every backend that solves fermions; at U = 0 the state is Gaussian and its two-mode reduced state follows from
the single-particle correlations (Wick), computed here independently of the backends. The partial trace
itself (``observables``) is tested in test_observables.py.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from textbook import gaussian_pair_state, local_gaussian_density, lorentzian_density

from transportbench.backends import local
from transportbench.comparison import compare, solve
from transportbench.figures import Concurrence, Fidelity
from transportbench.model import Band, Machine
from transportbench.observables import concurrence, tensor_partial_trace

FIGURES = (Concurrence(0, 1), Concurrence(0, 2), Fidelity())
ORDERS = [order for order in itertools.permutations(range(3)) if order != (0, 2, 1)]


def _figures(result) -> np.ndarray:
    return np.array([figure(result) for figure in FIGURES])


@pytest.mark.parametrize(("approach", "band", "options", "tolerance"), [
    ("local", Band.wide(), {}, 1e-10),
    ("qmeq:Pauli", Band.wide(), {}, 1e-10),
    ("qmeq:1vN", Band.wide(), {}, 1e-10),
    ("heom", Band.lorentzian(20.0), {"pade": 4, "depth": 2, "converge": False}, 1e-9),
])
def test_figures_do_not_depend_on_the_string_order(approach: str, band: Band, options: dict, tolerance: float) -> None:
    if approach.startswith("qmeq"):
        pytest.importorskip("qmeq")
    if approach == "heom":
        pytest.importorskip("qutip")
    machine = Machine.triple_dot(U=15, mu_hot=8, statistics="fermion", band=band)
    reference = solve(machine, approach, **options)
    expected = _figures(reference)
    assert expected[0] > 0.9  # the Fig. 3 point: the pair is entangled
    plain = tensor_partial_trace(reference.rho, reference.occupations, [0, 1])
    assert abs(concurrence(plain) - expected[0]) > 1e-5  # the string-ordered trace differs in the default order
    for order in ORDERS:
        result = solve(machine.replace(order=order), approach, **options)
        np.testing.assert_allclose(_figures(result), expected, atol=tolerance, err_msg=f"order {order}")


def test_w_machine_figures_do_not_depend_on_the_string_order() -> None:
    machine = Machine.w_machine(3, statistics="fermion", T_sink=0.5)
    figures = (Concurrence(0, 1), Concurrence(1, 2), Concurrence(0, 4), Fidelity())
    expected = [figure(local.solve_steady(machine)) for figure in figures]
    for order in [(0, 1, 2, 3, 4), (4, 3, 2, 1, 0), (3, 0, 4, 2, 1)]:
        result = local.solve_steady(machine.replace(order=order))
        np.testing.assert_allclose([figure(result) for figure in figures], expected, atol=1e-10)


def test_local_fermion_model_at_u0_is_the_gaussian_state() -> None:
    machine = Machine.triple_dot(U=0, statistics="fermion")
    result = local.solve_steady(machine)
    density = local_gaussian_density(machine)
    assert abs(density[0, 1]) > 0.1  # a coherence that a sign error would show
    for pair in ([0, 1], [1, 0], [0, 2], [2, 1]):
        np.testing.assert_allclose(result.reduced_state(pair), gaussian_pair_state(density, *pair), atol=1e-10)
    exact = concurrence(gaussian_pair_state(density, 0, 1))
    assert Concurrence(0, 1)(result) == pytest.approx(exact, abs=1e-10)
    assert exact > 5e-3  # the plain trace of the string order (0, 2, 1) gives 0 here
    assert concurrence(tensor_partial_trace(result.rho, result.occupations, [0, 1])) == 0.0


def test_heom_at_u0_is_the_gaussian_state_of_its_lorentzian_leads() -> None:
    pytest.importorskip("qutip")
    from transportbench.backends import heom

    width = 10.0
    machine = Machine.triple_dot(U=0, statistics="fermion", band=Band.lorentzian(width))
    # depth 2 is exact for ⟨c_j† c_i⟩ at U = 0 but not for ⟨n_0 n_1⟩ (4e-6 off here); depth 3 is (3e-8)
    result = heom.solve_steady(machine, pade=6, depth=3, converge=False)
    density = lorentzian_density(machine, width)
    for pair in ([0, 1], [0, 2], [2, 1]):
        np.testing.assert_allclose(result.reduced_state(pair), gaussian_pair_state(density, *pair), atol=1e-6)
    exact = concurrence(gaussian_pair_state(density, 0, 1))
    assert exact > 0.02
    assert Concurrence(0, 1)(result) == pytest.approx(exact, abs=1e-5)


def test_results_record_the_model_they_solved() -> None:
    qubit = local.solve_steady(Machine.triple_dot())
    fermion = local.solve_steady(Machine.triple_dot(statistics="fermion"))
    assert (qubit.statistics, qubit.model.order) == ("qubit", ())
    assert (fermion.statistics, fermion.model.order) == ("fermion", (0, 2, 1))
    with pytest.raises(ValueError, match="statistics"):
        dataclasses.replace(qubit, statistics="boson")


def test_compare_table_names_each_rows_model() -> None:
    pytest.importorskip("qmeq")
    table = compare(Machine.triple_dot(), ["local", "qmeq:Pauli"])
    assert list(table.model.values) == ["qubit", "fermion"]
    fermion_table = compare(Machine.triple_dot(statistics="fermion"), ["local", "qmeq:Pauli"])
    assert list(fermion_table.model.values) == ["fermion", "fermion"]
