"""Local Lindblad backend: analytic limits, the paper's numbers, and agreement between methods."""

import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
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


# ---------------------------------------------------------------------------------- ideal limit
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


# ------------------------------------------------------------------------------- paper's Fig. 3
def test_fig3_large_concurrence_at_u15_mu8():
    result = local.solve_steady(Machine.triple_dot(U=15.0, mu_hot=8.0))
    assert_healthy(result)
    assert c12(result) > 0.99


def test_fig3_concurrence_quarter_at_u15_mu15():
    result = local.solve_steady(Machine.triple_dot(U=15.0, mu_hot=15.0))
    assert_healthy(result)
    assert c12(result) == pytest.approx(0.25, abs=0.01)


# ------------------------------------------------------------------------- thermal equilibrium
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


# ---------------------------------------------------------------------------- conservation, signs
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


def test_qubit_and_fermion_statistics_agree_in_order_132():
    qubit = local.solve_steady(Machine.triple_dot(U=10.0, mu_hot=12.0))
    fermion = local.solve_steady(Machine.triple_dot(U=10.0, mu_hot=12.0, statistics="fermion"))
    assert np.abs(qubit.rho - fermion.rho).max() < 1e-13


def test_fermion_signs_matter_in_order_123():
    """In the order (1, 2, 3) the hop 1–3 passes dot 2: a Jordan–Wigner sign changes the state."""
    machine = Machine.triple_dot(U=10.0, mu_hot=12.0, statistics="fermion").replace(order=(0, 1, 2))
    fermion = local.solve_steady(machine)
    qubit = local.solve_steady(Machine.triple_dot(U=10.0, mu_hot=12.0))
    assert np.abs(qubit.rho - fermion.rho).max() > 1e-3


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


# ---------------------------------------------------------------------------------------- dynamics
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


def test_evolve_rejects_bad_input():
    machine = Machine.triple_dot()
    with pytest.raises(ValueError, match="times"):
        local.evolve(machine, [1.0, 0.5])
    with pytest.raises(ValueError, match="norm 1"):
        local.evolve(machine, [0.0], np.ones(8))
    with pytest.raises(ValueError, match="initial_state"):
        local.evolve(machine, [0.0], np.ones((3, 3)))
    with pytest.raises(ValueError, match="basis"):
        local.solve_steady(machine, basis="tiny")
    with pytest.raises(ValueError, match="solver"):
        local.solve_steady(machine, solver="magic")
    with pytest.raises(ValueError, match="rtol must be > 0"):
        local.solve_steady(machine, rtol=0)
    with pytest.raises(ValueError, match=r"unknown LocalOptions setting\(s\) \['tol'\]"):
        local.solve_steady(machine, tol=1e-9)
    with pytest.raises(ValueError, match="iterative solver only"):
        local.LocalOptions(solver="direct", maxiter=10)
    with pytest.raises(ValueError, match="threads"):
        local.solve_steady(machine, threads=True)
    with pytest.raises(ValueError, match="memory_gib"):
        local.solve_steady(machine, memory_gib=-1.0)
    with pytest.raises(ValueError, match="run must be a RunOptions"):
        local.solve_steady(machine, run={"threads": 1})


def test_options_objects_round_trip_and_statistics_are_separate():
    machine = Machine.w_machine(4)
    first = local.solve_steady(machine, local.LocalOptions(rtol=1e-10))
    assert first.options == local.LocalOptions(solver="iterative", rtol=1e-10, maxiter=50,
                                                  secular_window=local.default_secular_window(machine))
    assert first.stats["solver"] == "iterative" and first.stats["sector_size"] == 3432 and first.stats["iterations"] > 0
    again = local.solve_steady(first.machine, first.options)
    assert np.array_equal(again.rho, first.rho)
    assert local.solve_steady(machine, **first.options).options == first.options
    small = local.solve_steady(Machine.triple_dot(), rtol=1e-10)  # "auto" picks LU: rtol did not apply
    assert small.options.solver == "direct" and small.options.rtol is None and "condition_estimate" in small.stats


def test_bands_set_the_golden_rule_rates_at_each_jump_energy():
    """Golden-rule rates at each jump's energy: flat bands cut transitions, Lorentzian ones scale them.

    A Lorentzian band centred at μ scales every rate by W² / ((E − μ)² + W²): a single level then carries
    the current scaled by it. A flat band that ends below ε + U switches the transitions to doubly excited
    states off.
    """
    from transportbench.model import Band

    def single(band):
        return Machine(energies=(0.5,), reservoirs=(Reservoir("left", 0, 2e-3, 2.0, 1.0, band),
                                                    Reservoir("right", 0, 1e-3, -1.0, 0.5, band)))

    wide = local.solve_steady(single(Band.wide()))
    lorentz = local.solve_steady(single(Band.lorentzian(3.0)))
    left, right = 9.0 / (1.5**2 + 9.0), 9.0 / (1.5**2 + 9.0)  # both at |E − μ| = 1.5
    assert left == right
    assert lorentz.particle_currents["left"] == pytest.approx(left * wide.particle_currents["left"], rel=1e-12)
    # Fig. 3 transitions: 1 (empty partners), 16 (one excited), 31 (two); a band edge at 40 cuts none
    assert local.solve_steady(Machine.triple_dot(band=Band.flat(40.0))).particle_currents["hot"] == \
        pytest.approx(local.solve_steady(Machine.triple_dot()).particle_currents["hot"], rel=1e-12)
    cut = local.solve_steady(Machine.triple_dot(mu_hot=20.0, band=Band.flat(10.0)))  # only the one at 1 is left
    assert cut.occupations.sum(axis=1).max() == 1  # no lead adds a second excitation: the dark-state subspace
    with pytest.raises(ValueError, match="wide bands"):
        local.solve_steady(Machine.triple_dot(ideal_limit=True, band=Band.flat(10.0)))


def test_relaxation_rate_of_a_single_qubit_is_half_gamma():
    """Population relaxes at γ, the coherence at γ/2: the gap is γ/2."""
    machine = Machine(energies=(1.0,), reservoirs=(Reservoir("lead", 0, 0.2, 0.0, 1.0),))
    assert local.relaxation_rate(machine) == pytest.approx(0.1, rel=1e-12)


def test_import_does_not_import_qmeq():
    code = "import sys, transportbench.backends.local; assert 'qmeq' not in sys.modules, 'qmeq imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
