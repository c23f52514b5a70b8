"""The parameter vocabulary on the machine: Machine.with_parameters and Machine.detuned.

The same names serve the constructors, sweeps and the command line.
"""

import math

import numpy as np
import pytest

from transportbench.model import Machine
from transportbench.parameters import PARAMETERS, split_parameter
from transportbench.sweeps import sweep


def _hot(machine):
    return machine.reservoir("hot")


def _cold(machine):
    return machine.reservoir("cold")


BASE = Machine.triple_dot(dephasing=(0.0, 0.0, 0.0))


@pytest.mark.parametrize(("values", "check"), [
    ({"mu": 3.0}, lambda m: _hot(m).chemical_potential == 3.0 and _cold(m).chemical_potential == 0.0),
    ({"mu_hot": 3.0}, lambda m: _hot(m).chemical_potential == 3.0),
    ({"mu.cold": -1.0}, lambda m: _cold(m).chemical_potential == -1.0 and _hot(m).chemical_potential == 8.0),
    ({"T": 0.3}, lambda m: _hot(m).temperature == _cold(m).temperature == 0.3),
    ({"T_cold": 0.2}, lambda m: _cold(m).temperature == 0.2 and _hot(m).temperature == 1.0),
    ({"T.hot": 0.0}, lambda m: _hot(m).temperature == 0.0 and _cold(m).temperature == 1.0),
    ({"gamma": 0.02}, lambda m: _hot(m).rate == _cold(m).rate == 0.02),
    ({"gamma_hot": 0.2}, lambda m: _hot(m).rate == 0.2 and _cold(m).rate == 0.1),
    ({"epsilon": 1.5}, lambda m: m.energies == (1.5, 1.5, 1.5)),
    ({"epsilon_2": 1.5}, lambda m: m.energies == (1.0, 1.0, 1.5)),
    ({"epsilon.0": 0.5}, lambda m: m.energies == (0.5, 1.0, 1.0)),
    ({"U": 7.0}, lambda m: [u for _, u in m.coulomb] == [7.0, 7.0, 7.0]),
    ({"g": 0.01}, lambda m: [g for _, g in m.couplings] == [0.01, 0.01]),
    ({"dephasing": 0.01}, lambda m: m.dephasing == (0.01, 0.01, 0.01)),
    ({"dephasing_1": 0.01}, lambda m: m.dephasing == (0.0, 0.01, 0.0)),
], ids=lambda value: next(iter(value)) if isinstance(value, dict) else "")
def test_every_family_of_the_vocabulary_sets_its_field_and_only_it(values, check):
    changed = BASE.with_parameters(values)
    assert check(changed)
    assert changed.with_parameters({name: _value_of(BASE, name) for name in values}) == BASE


def _value_of(machine, name):
    """The value ``name`` has on ``machine`` (for setting it back)."""
    head, target = split_parameter(name)
    if head in ("mu", "T", "gamma"):
        reservoirs = [machine.reservoir(target)] if target else list(machine.reservoirs)
        field = {"mu": "chemical_potential", "T": "temperature", "gamma": "rate"}[head]
        (value,) = {getattr(r, field) for r in reservoirs}
        return value
    if head in ("epsilon", "dephasing"):
        values = machine.energies if head == "epsilon" else machine.dephasing
        return values[int(target)] if target else values[0]
    pairs = machine.coulomb if head == "U" else machine.couplings
    return pairs[0][1]


def test_keywords_and_a_mapping_agree_and_keywords_come_last():
    assert BASE.with_parameters(mu_hot=9.0, T_cold=0.5) == BASE.with_parameters({"mu.hot": 9.0, "T.cold": 0.5})
    assert BASE.with_parameters({"mu": 9.0}, mu_hot=4.0) == Machine.triple_dot(mu_hot=4.0, dephasing=(0, 0, 0))
    assert BASE.with_parameters() == BASE


def test_the_vocabulary_covers_the_w_machine_reservoirs():
    machine = Machine.w_machine(3).with_parameters(T_sink2=0.5, gamma_sink1=0.3)
    assert machine.reservoir("sink2").temperature == 0.5 and machine.reservoir("sink1").temperature == 1.0
    assert machine.reservoir("sink1").rate == 0.3 and machine.reservoir("sink2").rate == 0.1


def test_every_documented_name_is_understood():
    for name in PARAMETERS:
        concrete = name.replace("<reservoir>", "cold").replace("<qubit>", "1")
        BASE.with_parameters({concrete: 0.5})


@pytest.mark.parametrize(("values", "error", "named"), [
    ({"voltage": 1.0}, ValueError, "'voltage'"),
    ({"epsilon_3": 1.0}, ValueError, "'epsilon_3' needs a qubit index in 0..2"),
    ({"epsilon_x": 1.0}, ValueError, "'epsilon_x' needs a qubit index"),
    ({"mu.left": 1.0}, KeyError, "no reservoir named 'left'"),
    ({"gamma": -1.0}, ValueError, "rate"),
    ({"T_hot": -0.1}, ValueError, "temperature"),
    ({"U": -2.0}, ValueError, "coulomb"),
    ({"dephasing_0": -0.1}, ValueError, "dephasing"),
    ({"mu": math.nan}, ValueError, "mu must be finite"),
    ({"epsilon": "1"}, ValueError, "epsilon must be a real number"),
    ({"g": True}, ValueError, "g must be a real number"),
])
def test_bad_names_and_values_are_refused_by_name(values, error, named):
    with pytest.raises(error, match=named):
        BASE.with_parameters(values)


def test_detuned_changes_only_the_given_qubits():
    machine = Machine.w_machine(3, epsilon=1.0)
    assert machine.detuned({}) == machine
    one = machine.detuned({1: 0.25})
    assert one.energies == (1.0, 1.25, 1.0, 1.0, 1.0)
    arms = machine.detuned({1: -0.1, 2: -0.1})
    assert arms.energies == (1.0, 0.9, 0.9, 1.0, 1.0)
    assert arms.couplings == machine.couplings and arms.reservoirs == machine.reservoirs
    assert machine.detuned({2: np.float64(0.5)}).energies[2] == 1.5
    assert one.detuned({1: -0.25}).energies == machine.energies  # adds to the energy it has


def test_detuned_equals_the_constructor_detuning():
    assert Machine.triple_dot().detuned({0: 0.05, 1: -0.02}) == Machine.triple_dot(detuning={0: 0.05, 1: -0.02})


@pytest.mark.parametrize(("deltas", "named"), [
    ({3: 0.1}, "qubit index in 0..2"),
    ({-1: 0.1}, "qubit index in 0..2"),
    ({"1": 0.1}, "qubit index"),
    ({1: math.inf}, "detuning"),
    ({1: "0.1"}, "detuning"),
])
def test_detuned_refuses_bad_qubits_and_deltas(deltas, named):
    with pytest.raises(ValueError, match=named):
        Machine.triple_dot().detuned(deltas)


def test_one_vocabulary_for_constructors_sweeps_and_the_command_line():
    from transportbench.cli import build_parser, machine_from
    base = Machine.triple_dot()
    assert base.with_parameters(mu_hot=9.0) == Machine.triple_dot(mu_hot=9.0) == base.with_parameters({"mu.hot": 9.0})
    assert base.with_parameters(T_cold=0.5) == Machine.triple_dot(T_cold=0.5)
    assert base.with_parameters(gamma_hot=0.2) == Machine.triple_dot(gamma_hot=0.2)
    assert base.with_parameters(U=12.0) == Machine.triple_dot(U=12.0)
    assert base.with_parameters(epsilon_1=1.1).energies == (1.0, 1.1, 1.0)
    arguments = build_parser().parse_args(["compare", "--U", "12", "--mu-hot", "9", "--T-cold", "0.5"])
    assert machine_from(arguments) == Machine.triple_dot(U=12.0, mu_hot=9.0, T_cold=0.5)
    with pytest.raises(ValueError, match="'mu_hot' and 'mu.hot' are the same parameter"):
        sweep(base, {"mu_hot": [1.0], "mu.hot": [2.0]}, progress=False)
