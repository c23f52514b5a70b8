"""The local Lindblad backend (``backends.local``): steady states and dynamics.

Analytic limits (ideal limit, dark and W states, thermal equilibrium), the paper's Fig. 3 numbers, conservation,
independent methods that must agree (bases, solvers, a dense Liouvillian), the uniqueness of the steady state,
dynamics, and property tests on random machines. The generator itself is tested in test_local_model.py, the
settings, threads and memory budget in test_local_options.py.
"""

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from property_examples import examples
from textbook import LOWER, coherent_generator
from textbook import site as textbook_site

from transportbench.backends import local
from transportbench.model import Machine, Reservoir
from transportbench.observables import (
    concurrence,
    concurrence_x_state,
    dark_state,
    fidelity,
    populations,
    w_state,
)
from transportbench.occupation import full_basis
from transportbench.thermal import fermi


def c12(result):
    return concurrence(result.reduced_state([0, 1]))


def assert_healthy(result, tolerance=1e-9):
    assert result.health.is_physical(tolerance), result.health
    assert result.health.residual < tolerance
    assert result.health.converged


# -------------------------------------------------------------------------------------- ideal limit
@pytest.mark.parametrize(("g13", "g23"), [(0.05, 0.05), (0.02, 0.07), (0.09, 0.01)])
@pytest.mark.parametrize(("gamma_hot", "gamma_cold", "temperature"),
                         [(0.1, 0.1, 1.0), (0.01, 0.3, 0.2), (1e-3, 1e-3, 5.0)])
def test_ideal_limit_gives_the_dark_state_with_zero_current(g13, g23, gamma_hot, gamma_cold, temperature):
    machine = Machine.triple_dot(g13=g13, g23=g23, gamma_hot=gamma_hot, gamma_cold=gamma_cold,
                                 T_hot=temperature, T_cold=temperature, ideal_limit=True)
    result = local.solve_steady(machine)
    assert_healthy(result)
    assert fidelity(result.rho, result.occupations, dark_state(g13, g23), result.model) == pytest.approx(1.0, abs=1e-10)
    for name in ("hot", "cold"):
        assert abs(result.energy_currents[name]) < 1e-12
        assert abs(result.particle_currents[name]) < 1e-12
    expected_c = 2 * g13 * g23 / (g13**2 + g23**2)  # concurrence of cos θ|10⟩ − sin θ|01⟩ is |sin 2θ|
    pair = result.reduced_state([0, 1])
    assert concurrence_x_state(pair) == pytest.approx(expected_c, abs=1e-10)
    assert c12(result) == pytest.approx(expected_c, abs=1e-7)  # Wootters: √ of round-off zeros ~ 1e-8


def test_ideal_limit_is_independent_of_the_finite_parameters():
    """In the ideal limit the large energies are infinite: changing the finite U and μ changes nothing."""
    a = local.solve_steady(Machine.triple_dot(ideal_limit=True, U=2.0, mu_hot=1.5))
    b = local.solve_steady(Machine.triple_dot(ideal_limit=True, U=50.0, mu_hot=30.0))
    assert np.abs(a.rho - b.rho).max() < 1e-12
    # ... while away from the limit the same finite values give a mixed state
    mixed = local.solve_steady(Machine.triple_dot(U=2.0, mu_hot=1.5))
    assert fidelity(mixed.rho, mixed.occupations, dark_state(0.05, 0.05), mixed.model) < 0.9


@pytest.mark.parametrize("n", [3, 4])
def test_w_machine_ideal_limit_zero_temperature_sinks(n):
    couplings = [(0.05, 0.03 * j) for j in range(1, n)]
    machine = Machine.w_machine(n, couplings=couplings, ideal_limit=True, T_sink=0.0)
    result = local.solve_steady(machine)
    assert_healthy(result)
    assert len(result.occupations) == 2 * n  # only the vacuum and single excitations are reachable
    assert fidelity(result.rho, result.occupations, w_state(couplings), result.model) == pytest.approx(1.0, abs=1e-10)
    assert all(abs(q) < 1e-12 for q in result.energy_currents.values())


@pytest.mark.parametrize("n", [3, 4])
def test_w_machine_equal_couplings_gives_w_state_eq12(n):
    result = local.solve_steady(Machine.w_machine(n, ideal_limit=True, T_sink=0.0))
    amplitudes = w_state([(0.05, 0.05)] * (n - 1)).amplitudes
    assert np.allclose(np.abs(amplitudes), 1 / np.sqrt(n))
    assert np.allclose(populations(result.rho, result.occupations)[:n], 1 / n, atol=1e-10)


@pytest.mark.parametrize("n", [3, 4])
def test_w_machine_warm_sinks_break_the_w_state(n):
    """Warm sinks break the W state for n >= 3 (found here).

    A sink is not Coulomb-coupled to the other triangles' qubits, so a warm sink is excited thermally
    while the W excitation sits elsewhere; the W state needs T_sink << ε.
    """
    fidelities = []
    for t_sink in (0.05, 0.3, 1.0):
        result = local.solve_steady(Machine.w_machine(n, ideal_limit=True, T_sink=t_sink))
        assert_healthy(result)
        fidelities.append(fidelity(result.rho, result.occupations, w_state([(0.05, 0.05)] * (n - 1)), result.model))
    assert fidelities[0] > 0.9999
    assert fidelities[0] > fidelities[1] > fidelities[2]
    assert fidelities[2] < 0.5


def test_triple_dot_dark_state_survives_warm_sink():
    """N = 2 is different: the sink's partners are both entangled qubits, so any T works (paper)."""
    result = local.solve_steady(Machine.w_machine(2, ideal_limit=True, T_sink=3.0))
    target = w_state([(0.05, 0.05)])
    assert fidelity(result.rho, result.occupations, target, result.model) == pytest.approx(1.0, abs=1e-10)


# ----------------------------------------------------------------------------------- paper's Fig. 3
def test_fig3_large_concurrence_at_u15_mu8():
    result = local.solve_steady(Machine.triple_dot(U=15.0, mu_hot=8.0))
    assert_healthy(result)
    assert c12(result) > 0.99


def test_fig3_concurrence_quarter_at_u15_mu15():
    result = local.solve_steady(Machine.triple_dot(U=15.0, mu_hot=15.0))
    assert_healthy(result)
    assert c12(result) == pytest.approx(0.25, abs=0.01)


# ------------------------------------------------------------------------------ thermal equilibrium
@pytest.mark.parametrize("temperature", [0.0, 0.3, 2.0])
@pytest.mark.parametrize("mu", [-1.0, 1.0, 2.5])
def test_single_qubit_follows_the_fermi_function(temperature, mu):
    machine = Machine(energies=(1.0,), reservoirs=(Reservoir("lead", 0, 0.2, mu, temperature),))
    result = local.solve_steady(machine)
    assert populations(result.rho, result.occupations)[0] == pytest.approx(float(fermi(1.0, mu, temperature)),
                                                                            abs=1e-13)
    assert abs(result.energy_currents["lead"]) < 1e-14


def test_equilibrium_reservoirs_give_the_gibbs_state():
    """Commuting H (g = 0), every qubit on a reservoir at the same μ, T: ρ ∝ exp(−(H − μN)/T) exactly."""
    mu, temperature = 4.0, 1.3
    machine = Machine(energies=(1.0, 1.5, 0.7), coulomb={(0, 1): 3.0, (0, 2): 2.0, (1, 2): 5.0},
                      reservoirs=tuple(Reservoir(f"r{q}", q, 0.1 * (q + 1), mu, temperature) for q in range(3)))
    result = local.solve_steady(machine, basis="full")
    basis = full_basis(3)
    energy = basis @ np.array(machine.energies) + 3.0 * basis[:, 0] * basis[:, 1] \
        + 2.0 * basis[:, 0] * basis[:, 2] + 5.0 * basis[:, 1] * basis[:, 2]
    weights = np.exp(-(energy - mu * basis.sum(axis=1)) / temperature)
    assert np.allclose(result.rho, np.diag(weights / weights.sum()), atol=1e-13)
    assert all(abs(q) < 1e-13 for q in result.particle_currents.values())


# ------------------------------------------------------------------------------ conservation, signs
def test_currents_are_conserved_and_flow_from_hot_to_cold():
    result = local.solve_steady(Machine.triple_dot(U=15.0, mu_hot=15.0))
    hot, cold = result.energy_currents["hot"], result.energy_currents["cold"]
    assert hot > 1e-4 and cold < 0
    assert hot + cold == pytest.approx(0.0, abs=1e-14)
    assert sum(result.particle_currents.values()) == pytest.approx(0.0, abs=1e-14)


def test_dephasing_reduces_the_concurrence():
    clean = c12(local.solve_steady(Machine.triple_dot()))
    dephased = c12(local.solve_steady(Machine.triple_dot(dephasing=(0.001, 0.001, 0.0))))
    assert dephased < clean - 0.01


# ------------------------------------------------------------------------ independent methods agree
def test_reachable_and_full_basis_agree():
    machine = Machine.w_machine(3, ideal_limit=True, T_sink=0.2)
    reachable = local.solve_steady(machine)
    full = local.solve_steady(machine, basis="full")
    assert len(reachable.occupations) < len(full.occupations)
    positions = [int("".join(map(str, row)), 2) for row in reachable.occupations]
    assert np.abs(full.rho[np.ix_(positions, positions)] - reachable.rho).max() < 1e-12
    assert np.isclose(np.trace(full.rho[np.ix_(positions, positions)]), 1.0, atol=1e-12)


def test_direct_and_iterative_solvers_agree():
    machine = Machine.w_machine(3)
    direct = local.solve_steady(machine, solver="direct")
    iterative = local.solve_steady(machine, solver="iterative")
    assert iterative.options["solver"] == "iterative"
    assert_healthy(iterative)
    assert np.abs(direct.rho - iterative.rho).max() < 1e-11


def test_steady_state_is_the_kernel_of_a_dense_liouvillian():
    """Independent check: build 𝓛 densely from Kronecker products (qubit model) and compare."""
    machine = Machine.triple_dot(U=6.0, mu_hot=4.0, detuning={1: 0.02}, dephasing=(0.002, 0, 0.001))
    result = local.solve_steady(machine, basis="full")
    dense = _dense_liouvillian(machine)
    assert np.linalg.norm(dense @ result.rho.reshape(-1)) < 1e-12
    spectrum = np.linalg.eigvals(dense)
    assert local.relaxation_rate(machine) == pytest.approx(np.sort(-spectrum.real)[1], rel=1e-8)


def _dense_liouvillian(machine):
    """Textbook construction from σ± Kronecker products, one jump operator per partner pattern."""
    n = machine.n_qubits
    lower = LOWER

    def site(op, q):
        return textbook_site(op, q, n)

    identity = np.eye(2**n)
    generator = coherent_generator(machine)

    def dissipator(jump, rate):
        product = jump.conj().T @ jump
        return rate * (np.kron(jump, jump.conj()) - 0.5 * np.kron(product, identity)
                       - 0.5 * np.kron(identity, product.T))

    for reservoir in machine.reservoirs:
        k = reservoir.qubit
        partners = machine.coulomb_partners(k)
        for pattern in np.ndindex(*(2,) * len(partners)):
            projector = identity
            for q, occupied in zip(partners, pattern, strict=True):
                projector = projector @ site(np.diag([1.0 - occupied, float(occupied)]), q)
            level = machine.energies[k] + sum(machine.coulomb_energy(k, q) * o
                                              for q, o in zip(partners, pattern, strict=True))
            filled = float(fermi(level, reservoir.chemical_potential, reservoir.temperature))
            raising = site(lower.T, k) @ projector
            generator = generator + dissipator(raising, reservoir.rate * filled)
            generator = generator + dissipator(raising.T, reservoir.rate * (1 - filled))
    for q, kappa in enumerate(machine.dephasing):
        generator = generator + dissipator(site(np.diag([1.0, -1.0]), q), kappa)
    return generator


# ------------------------------------------------------------------- uniqueness of the steady state
@pytest.mark.parametrize("solver", ["direct", "iterative"])
def test_degenerate_steady_state_warns(solver):
    """Two qubits, one filled reservoir, ideal blockade: the excitation oscillates forever (paper Eq. 8).

    Connected, with a driven qubit: no conserved excitation number, so only the solver can see it.
    """
    machine = Machine(energies=(1.0, 1.0), couplings={(0, 1): 0.05}, coulomb={(0, 1): 10.0},
                      reservoirs=(Reservoir("hot", 0, 0.1, 5.0, 1.0),), ideal_limit=True)
    with pytest.warns(local.DegenerateSteadyStateWarning, match="not unique"):
        result = local.solve_steady(machine, solver=solver)
    assert result.health.unique is False and "not unique" in result.health.status()
    assert result.health.residual < 1e-12  # still a stationary state, and the solver met its tolerance
    assert result.health.converged


def test_ideal_limit_with_two_filled_partner_reservoirs_has_absorbing_states():
    """Two Coulomb partners on μ > 0 reservoirs in the ideal limit: |10⟩ and |01⟩ both absorb."""
    machine = Machine(energies=(1.0, 1.0), coulomb={(0, 1): 5.0}, ideal_limit=True,
                      reservoirs=(Reservoir("a", 0, 1.0, 1.0, 1.0), Reservoir("b", 1, 1.0, 1.0, 1.0)))
    with pytest.warns(local.DegenerateSteadyStateWarning):
        local.solve_steady(machine, solver="direct")


def _with_idle_qubit(machine):
    """The machine plus a qubit that nothing touches: its occupation is conserved, two steady states at least."""
    return Machine(energies=(*machine.energies, 1.3), couplings=machine.couplings, coulomb=machine.coulomb,
                   reservoirs=machine.reservoirs)


UNDRIVEN = [
    Machine.triple_dot(gamma_hot=0.0, gamma_cold=0.0),
    Machine.triple_dot().replace(reservoirs=()),
    _with_idle_qubit(Machine.triple_dot()),
]


@pytest.mark.parametrize("solver", ["direct", "iterative"])
@pytest.mark.parametrize("basis", ["reachable", "full"])
@pytest.mark.parametrize("machine", UNDRIVEN, ids=["all gamma 0", "no reservoirs", "idle qubit"])
def test_conserved_excitation_number_is_reported_as_not_unique(machine, basis, solver):
    """Before: the reachable basis returned the vacuum (or the idle qubit's n = 0 state) with no word."""
    with pytest.warns(local.DegenerateSteadyStateWarning, match="not unique"):
        result = local.solve_steady(machine, basis=basis, solver=solver)
    assert result.health.unique is False
    assert result.health.status().startswith("not unique")
    assert result.health.residual < 1e-12 and result.health.is_physical(1e-10)


@pytest.mark.parametrize("machine", UNDRIVEN[1:], ids=["no reservoirs", "idle qubit"])
def test_iterative_probe_alone_detects_a_singular_system(machine):
    """The probe solve of the iterative path sees the degeneracy by itself (full basis: B is singular)."""
    with pytest.warns(local.DegenerateSteadyStateWarning):
        result = local.solve_steady(machine, basis="full", solver="iterative")
    assert any("bordered system is singular" in note for note in result.health.notes)


@pytest.mark.parametrize("solver", ["direct", "iterative"])
def test_unique_steady_state_is_marked_unique(solver):
    result = local.solve_steady(Machine.w_machine(3), solver=solver)  # every pattern reachable
    assert result.health.unique is True
    assert result.health.status() == "ok"


def test_reachable_subspace_alone_leaves_uniqueness_unchecked():
    """Only the patterns reachable from the vacuum are kept: unique there, the rest is not checked."""
    machine = Machine.w_machine(3, ideal_limit=True, T_sink=0.2)
    reachable = local.solve_steady(machine, solver="iterative")
    assert len(reachable.occupations) < 2**machine.n_qubits
    assert reachable.health.unique is None
    assert any("reachable from the vacuum" in note for note in reachable.health.notes)
    assert local.solve_steady(machine, basis="full").health.unique is True


# ----------------------------------------------------------------------------------------- dynamics
def test_dynamics_preserves_trace_and_positivity_and_reaches_the_steady_state():
    machine = Machine.triple_dot(U=15.0, mu_hot=8.0, gamma_hot=0.3, gamma_cold=0.3)
    times = np.linspace(0, 600, 61)
    evolution = local.evolve(machine, times, basis="full")
    for rho in evolution.states:
        assert abs(np.trace(rho) - 1) < 1e-12
        assert np.abs(rho - rho.conj().T).max() < 1e-12
        assert np.linalg.eigvalsh(rho).min() > -1e-12
    steady = local.solve_steady(machine, basis="full")
    assert np.abs(evolution.states[-1] - steady.rho).max() < 1e-6
    assert evolution.energy_currents["hot"][-1] == pytest.approx(steady.energy_currents["hot"], rel=1e-4)


def test_dynamics_from_vacuum_fig2_initial_current_and_fidelity():
    gamma = 0.01
    machine = Machine.triple_dot(gamma_hot=gamma, gamma_cold=gamma, ideal_limit=True)
    evolution = local.evolve(machine, np.linspace(0, 10000, 21))
    assert evolution.energy_currents["hot"][0] == pytest.approx(gamma * 1.0)  # |000⟩ is filled at rate γ, ε = 1
    infidelity = 1 - np.array([fidelity(rho, evolution.occupations, dark_state(0.05, 0.05), evolution.model)
                               for rho in evolution.states])
    assert infidelity[0] == 1.0 and infidelity[-1] < 1e-5
    late_decay_rate = np.log(infidelity[-3] / infidelity[-1]) / (evolution.times[-1] - evolution.times[-3])
    assert late_decay_rate == pytest.approx(local.relaxation_rate(machine), rel=1e-6)  # the Liouvillian gap
    assert abs(evolution.energy_currents["hot"][-1]) < 1e-6


def test_dynamics_matches_the_dense_propagator_with_coherent_initial_state():
    machine = Machine.triple_dot(U=4.0, mu_hot=3.0)
    ket = np.zeros(8, dtype=complex)
    ket[0], ket[4] = 0.6, 0.8j  # (0.6|000⟩ + 0.8i|100⟩): coherence between N = 0 and N = 1
    times = np.array([0.0, 0.7, 3.1, 40.0])
    evolution = local.evolve(machine, times, ket, basis="full")
    dense = _dense_liouvillian(machine)
    for t, rho in zip(times, evolution.states, strict=True):
        expected = (scipy.linalg.expm(dense * t) @ np.outer(ket, ket.conj()).reshape(-1)).reshape(8, 8)
        assert np.abs(rho - expected).max() < 1e-10


def test_relaxation_rate_of_a_single_qubit_is_half_gamma():
    """Population relaxes at γ, the coherence at γ/2: the gap is γ/2."""
    machine = Machine(energies=(1.0,), reservoirs=(Reservoir("lead", 0, 0.2, 0.0, 1.0),))
    assert local.relaxation_rate(machine) == pytest.approx(0.1, rel=1e-12)


# ----------------------------------------------------------------- random machines (property tests)
@st.composite
def machines(draw):
    n = draw(st.integers(1, 4))
    energy = st.floats(-2.0, 5.0)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    couplings = {p: draw(st.floats(-0.3, 0.3)) for p in pairs if draw(st.booleans())}
    coulomb = {p: draw(st.floats(0.0, 20.0)) for p in pairs if draw(st.booleans())}
    # every qubit on a reservoir (the ideal limit is left out: with two filled reservoirs on Coulomb partners it
    # has absorbing states, see the uniqueness tests above); a cold reservoir far from its level can still
    # make the steady state numerically degenerate (rates ~e^-32 of the others), which the backend must declare
    reservoirs = tuple(Reservoir(f"r{q}", q, draw(st.floats(0.01, 1.0)), draw(st.floats(-10.0, 20.0)),
                                 draw(st.floats(0.05, 10.0))) for q in range(n))
    return Machine(energies=tuple(draw(energy) for _ in range(n)), couplings=couplings, coulomb=coulomb,
                   reservoirs=reservoirs, dephasing=tuple(draw(st.floats(0.0, 0.2)) for _ in range(n)),
                   statistics=draw(st.sampled_from(["qubit", "fermion"])))


@pytest.mark.property
@pytest.mark.filterwarnings("ignore::transportbench.result.DegenerateSteadyStateWarning")
@settings(max_examples=examples(60))
@given(machine=machines())
def test_random_machines_give_valid_steady_states(machine):
    result = local.solve_steady(machine, basis="full")
    if result.health.unique is False:  # declared, never silent
        assert "not unique" in result.health.status()
        return
    assert result.health.is_physical(1e-9), result.health
    assert result.health.residual < 1e-10
    assert abs(sum(result.particle_currents.values())) < 1e-10  # particles are conserved


@pytest.mark.property
@settings(max_examples=examples(15))
@given(machine=machines())
def test_random_dynamics_stays_physical(machine):
    evolution = local.evolve(machine, np.linspace(0.0, 20.0, 5), basis="full")
    for rho in evolution.states:
        assert abs(np.trace(rho) - 1) < 1e-10
        assert np.linalg.eigvalsh((rho + rho.conj().T) / 2).min() > -1e-10


# ------------------------------------------------------------------------------------------ imports
def test_import_does_not_import_qmeq():
    code = "import sys, transportbench.backends.local; assert 'qmeq' not in sys.modules, 'qmeq imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
