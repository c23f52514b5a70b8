"""Validation and constructors of Machine: every bad value raises ValueError naming the parameter."""

import math

import numpy as np
import pytest

from transportbench.model import Machine, Reservoir


def _valid(**changes):
    fields = dict(energies=(1.0, 1.0), couplings={(0, 1): 0.05}, coulomb={(0, 1): 10.0},
                  reservoirs=(Reservoir("hot", 0, 0.1, 5.0, 1.0),))
    fields.update(changes)
    return Machine(**fields)


@pytest.mark.parametrize(("changes", "named"), [
    ({"energies": ()}, "energies"),
    ({"energies": (1.0, math.nan)}, "energies[1]"),
    ({"energies": (1.0, math.inf)}, "energies[1]"),
    ({"couplings": {(0, 0): 0.1}}, "couples a qubit to itself"),
    ({"couplings": {(0, 2): 0.1}}, "couplings pair"),
    ({"couplings": {(0, 1): 0.1, (1, 0): 0.2}}, "duplicate"),
    ({"couplings": {(0, 1): math.nan}}, "couplings"),
    ({"coulomb": {(0, 1): -1.0}}, "coulomb"),
    ({"coulomb": {(0, 5): 1.0}}, "coulomb pair"),
    ({"reservoirs": (Reservoir("hot", 2, 0.1, 0.0, 1.0),)}, "qubit"),
    ({"reservoirs": (Reservoir("hot", 0, -0.1, 0.0, 1.0),)}, "rate"),
    ({"reservoirs": (Reservoir("hot", 0, 0.1, math.inf, 1.0),)}, "chemical_potential"),
    ({"reservoirs": (Reservoir("hot", 0, 0.1, 0.0, -1.0),)}, "temperature"),
    ({"reservoirs": (Reservoir("a", 0, 0.1, 0.0, 1.0), Reservoir("a", 1, 0.1, 0.0, 1.0))}, "unique"),
    ({"reservoirs": ("hot",)}, "Reservoir"),
    ({"dephasing": (0.1,)}, "dephasing"),
    ({"dephasing": (0.1, -0.1)}, "dephasing[1]"),
    ({"statistics": "boson"}, "statistics"),
    ({"order": (0, 0)}, "order"),
    ({"ideal_limit": 1}, "ideal_limit"),
])
def test_bad_values_raise_naming_the_parameter(changes, named):
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        _valid(**changes)


def test_constructor_arguments_are_validated():
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        Machine.w_machine(1)
    with pytest.raises(ValueError, match="couplings must give n-1"):
        Machine.w_machine(3, couplings=[(0.1, 0.1)])
    with pytest.raises(ValueError, match="U must be >= 0"):
        Machine.triple_dot(U=-1)
    with pytest.raises(ValueError, match="detuning qubit"):
        Machine.triple_dot(detuning={3: 0.1})
    with pytest.raises(ValueError, match="temperature"):
        Machine.triple_dot(T_hot=-0.5)
    with pytest.raises(ValueError, match="unknown Machine field"):
        Machine.triple_dot().replace(voltage=1.0)


def test_zero_temperature_and_rate_are_valid():
    machine = Machine.triple_dot(T_cold=0.0, gamma_cold=0.0)
    assert machine.reservoir("cold").temperature == 0.0


def test_machine_is_frozen_and_hashable():
    machine = Machine.triple_dot()
    with pytest.raises(AttributeError):
        machine.energies = (2.0, 2.0, 2.0)
    assert hash(machine) == hash(Machine.triple_dot())
    assert machine != Machine.triple_dot(g13=0.04)


def test_triple_dot_layout_matches_the_paper():
    machine = Machine.triple_dot(g13=0.03, g23=0.07, U=12.0, detuning={1: 0.2})
    assert machine.energies == (1.0, 1.2, 1.0)
    assert dict(machine.couplings) == {(0, 2): 0.03, (1, 2): 0.07}
    assert dict(machine.coulomb) == {(0, 1): 12.0, (0, 2): 12.0, (1, 2): 12.0}
    assert [(r.name, r.qubit, r.chemical_potential) for r in machine.reservoirs] == [("hot", 0, 8.0), ("cold", 2, 0.0)]
    assert machine.order == (0, 2, 1)


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_w_machine_triangles(n):
    machine = Machine.w_machine(n, couplings=[(0.01 * j, 0.02 * j) for j in range(1, n)])
    assert machine.n_qubits == 2 * n - 1
    for j in range(1, n):
        sink = n - 1 + j
        assert set(machine.coulomb_partners(sink)) == {0, j}
        assert machine.reservoir(f"sink{j}").qubit == sink
        assert dict(machine.couplings)[(0, sink)] == pytest.approx(0.01 * j)
        assert dict(machine.couplings)[(j, sink)] == pytest.approx(0.02 * j)
    assert set(machine.coulomb_partners(0)) == set(range(1, 2 * n - 1))
    assert sorted(machine.order) == list(range(2 * n - 1))
    if n <= 3:  # every hopping is between neighbours in the dot order
        position = {q: i for i, q in enumerate(machine.order)}
        assert all(abs(position[i] - position[j]) == 1 for (i, j), _ in machine.couplings)


@pytest.mark.parametrize(("build", "named"), [
    (lambda: Machine.triple_dot(T_hot="1"), "temperature"),
    (lambda: Machine.triple_dot(gamma_hot=True), "rate"),
    (lambda: Machine.triple_dot(U=np.True_), "U must be a real number"),
    (lambda: Machine.triple_dot(gamma_cold=1e300), "rate"),
    (lambda: Machine.triple_dot(epsilon=-1e101), "epsilon"),
    (lambda: Machine.w_machine(3.0), "n"),
    (lambda: Machine.w_machine(True), "n"),
    (lambda: _valid(reservoirs=(Reservoir("", 0, 0.1, 0.0, 1.0),)), "reservoir names"),
    (lambda: _valid(reservoirs=(Reservoir("hot", 0.0, 0.1, 0.0, 1.0),)), "qubit"),
])
def test_strings_booleans_and_huge_values_are_not_numbers(build, named):
    with pytest.raises(ValueError, match=named):
        build()


def test_numpy_numbers_are_accepted():
    machine = Machine.w_machine(np.int64(3), g=np.float32(0.05), U=np.int32(15))
    assert machine.n_qubits == 5 and machine.coulomb_energy(0, 1) == 15.0
    reservoir = Machine(energies=(np.float64(1.0),), reservoirs=(Reservoir("a", np.int64(0), np.float64(0.1), 0, 1),),
                        order=(np.int64(0),)).reservoirs[0]
    assert reservoir.qubit == 0 and type(reservoir.qubit) is int and type(reservoir.rate) is float
    ordered = Machine.triple_dot().replace(order=np.array([0, 2, 1]))  # was "truth value … is ambiguous"
    assert ordered.order == (0, 2, 1) and all(type(q) is int for q in ordered.order)


def test_wrong_container_types_are_named_value_errors():
    with pytest.raises(ValueError, match=r"detuning must map qubits to δ, e\.g\. \{1: 0\.02\}, got list"):
        Machine.triple_dot(detuning=[0.1, 0.2])  # was an AttributeError


def test_bands_are_validated_and_carried_by_every_lead():
    from transportbench.model import Band

    machine = Machine.triple_dot(band=Band.lorentzian(50.0))
    assert {r.band for r in machine.reservoirs} == {Band("lorentzian", 50.0)}
    assert Machine.triple_dot().reservoir("hot").band == Band.wide()
    assert str(Band.flat(93.3)) == "flat band of width 93.3"
    for bad, named in [(lambda: Band("gaussian", 1.0), "band kind"), (lambda: Band.flat(-1.0), "flat band width"),
                       (lambda: Band.lorentzian(math.inf), "lorentzian band width"),
                       (lambda: Band("wide", 3.0), "wide band has no width"),
                       (lambda: _valid(reservoirs=(Reservoir("hot", 0, 0.1, 0, 1, band=100.0),)), "must be a Band")]:
        with pytest.raises(ValueError, match=named):
            bad()


def test_random_triple_dots_are_seeded_and_inside_their_ranges():
    from transportbench.samples import RANDOM_RANGES, random_triple_dots

    machines = random_triple_dots(30, seed=5)
    assert [repr(m) for m in machines] == [repr(m) for m in random_triple_dots(30, seed=5)]
    assert [repr(m) for m in machines] != [repr(m) for m in random_triple_dots(30, seed=6)]
    for machine in machines:
        hot = machine.reservoirs[0]
        assert RANDOM_RANGES["gamma_hot"][0] <= hot.rate <= RANDOM_RANGES["gamma_hot"][1]
        assert RANDOM_RANGES["mu_hot"][0] <= hot.chemical_potential <= RANDOM_RANGES["mu_hot"][1]
        assert all(RANDOM_RANGES["g"][0] <= g <= RANDOM_RANGES["g"][1] for _, g in machine.couplings)
        assert RANDOM_RANGES["U"][0] <= machine.coulomb_energy(0, 1) <= RANDOM_RANGES["U"][1]
    with pytest.raises(ValueError, match="count must be an integer >= 0, got -1"):
        random_triple_dots(-1)
    with pytest.raises(ValueError, match="seed must be an integer"):
        random_triple_dots(3, seed=1.5)


def test_large_w_machine_is_built_without_a_dense_coulomb_table() -> None:
    # a dense N x N table of Python floats took 1.5 GiB at n = 5000; the sparse one grows with the pairs
    import tracemalloc

    tracemalloc.start()
    machine = Machine.w_machine(2000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20
    assert machine.coulomb_energy(0, 1) == 15.0 and machine.coulomb_energy(1, 2) == 0.0
    assert machine.coulomb_partners(1) == (0, 2000)


def test_at_equilibrium_means_one_mu_and_t_and_nothing_else_driving():
    assert not Machine.triple_dot().at_equilibrium  # μ_hot = 8 drives it
    assert Machine.triple_dot(mu_hot=0.0).at_equilibrium
    assert not Machine.triple_dot(mu_hot=0.0, T_cold=0.5).at_equilibrium
    assert not Machine.triple_dot(mu_hot=0.0, dephasing=(0.01, 0.0, 0.0)).at_equilibrium
