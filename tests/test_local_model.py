"""The local Lindblad generator (``backends.local_model``), checked against dense textbook constructions.

Zero couplings (the reachable basis against the full one), the coherence between the jumps of the Coulomb-partner
patterns (continuous in U, the Kossakowski rule at U ~ γ, paper Eq. 2 once the patterns are resolved), the
Jordan–Wigner signs (qubit against fermion statistics) and the golden-rule rates of banded leads.
"""

import itertools

import numpy as np
import pytest
from textbook import LOWER, coherent_generator
from textbook import site as textbook_site

from transportbench.backends import local
from transportbench.model import Machine, Reservoir
from transportbench.observables import (
    concurrence,
    populations,
)
from transportbench.thermal import fermi


def dense_kossakowski_liouvillian(machine, width_per_rate=1.0):
    """Textbook 𝓛 (qubit model) with the coherence rule written out: C_pq = √(γ_p γ_q) K_pq per reservoir.

    K_pq = exp(−Σ_l U_kl² (n_l^p − n_l^q)² / (2 (γ·width_per_rate)²)) over every pair of partner patterns.
    """
    n = machine.n_qubits
    lower = LOWER
    identity = np.eye(2**n)

    def site(op, q):
        return textbook_site(op, q, n)

    generator = coherent_generator(machine)
    for reservoir in machine.reservoirs:
        k, gamma = reservoir.qubit, reservoir.rate
        partners = [q for q in range(n) if q != k]
        shifts = np.array([machine.coulomb_energy(k, q) for q in partners])
        patterns = list(itertools.product((0, 1), repeat=len(partners)))
        projectors = []
        for pattern in patterns:
            projector = identity
            for q, occupied in zip(partners, pattern, strict=True):
                projector = projector @ site(np.diag([1.0 - occupied, float(occupied)]), q)
            projectors.append(projector)
        filled = np.array([float(fermi(machine.energies[k] + shifts @ np.array(p), reservoir.chemical_potential,
                                       reservoir.temperature)) for p in patterns])
        distance = np.array([[np.sum(shifts**2 * (np.array(p) != np.array(q))) for q in patterns] for p in patterns])
        kernel = np.exp(-distance / (2 * (gamma * width_per_rate) ** 2))
        for rates, raising in ((gamma * filled, True), (gamma * (1 - filled), False)):
            jumps = [(site(lower.T, k) if raising else site(lower, k)) @ projector for projector in projectors]
            weights = np.sqrt(np.outer(rates, rates)) * kernel
            for (p, a), (q, b) in itertools.product(enumerate(jumps), repeat=2):
                product = b.conj().T @ a
                generator = generator + weights[p, q] * (
                    np.kron(a, b.conj()) - 0.5 * np.kron(product, identity) - 0.5 * np.kron(identity, product.T))
    return generator


def steady_state_of(generator):
    values, vectors = np.linalg.eig(generator)
    vector = vectors[:, np.argmin(np.abs(values))]
    dimension = int(round(np.sqrt(len(vector))))
    rho = vector.reshape(dimension, dimension)
    return rho / np.trace(rho)


# ----------------------------------------------------------------------------------- zero couplings
def test_zero_coupling_g13_solves_on_the_reachable_basis_and_agrees_with_the_full_basis():
    machine = Machine.triple_dot(g13=0.0)
    reachable = local.solve_steady(machine)
    full = local.solve_steady(machine, basis="full")
    positions = [int("".join(map(str, row)), 2) for row in reachable.occupations]
    assert np.abs(full.rho[np.ix_(positions, positions)] - reachable.rho).max() < 1e-12


@pytest.mark.parametrize(("g13", "g23"), [(0.05, 0.0), (0.0, 0.0)])
def test_zero_coupling_g23_solves_with_the_default_reachable_basis(g13, g23):
    """g23 = 0 isolates qubit 1: its occupation is conserved, so the state reached from the vacuum has n_1 = 0."""
    machine = Machine.triple_dot(g13=g13, g23=g23)
    with pytest.warns(local.DegenerateSteadyStateWarning, match="not unique"):
        result = local.solve_steady(machine)
    assert result.health.is_physical(1e-10) and result.health.residual < 1e-12
    assert populations(result.rho, result.occupations)[1] == pytest.approx(0.0, abs=1e-14)
    dense = dense_kossakowski_liouvillian(machine)
    full = np.zeros((8, 8), dtype=complex)
    positions = [int("".join(map(str, row)), 2) for row in result.occupations]
    full[np.ix_(positions, positions)] = result.rho
    assert np.linalg.norm(dense @ full.reshape(-1)) < 1e-12  # stationary in an independent 𝓛


# ------------------------------------------------- coherence between pattern jumps: continuity in U
def test_current_is_continuous_at_zero_coulomb_energy():
    """Before: I_hot = 1.693e-2 at U = 0 and 1.618e-2 at U = 1e-12 (jumps merged only at U = 0 exactly)."""
    at_zero = local.solve_steady(Machine.triple_dot(U=0.0))
    tiny = local.solve_steady(Machine.triple_dot(U=1e-12))
    assert tiny.particle_currents["hot"] == pytest.approx(at_zero.particle_currents["hot"], abs=1e-9)
    assert np.abs(tiny.rho - at_zero.rho).max() < 1e-9


def test_small_coulomb_energy_recovers_the_merged_single_jump_equation():
    """U → 0: one jump a_k† per reservoir (the textbook equation of a machine without Coulomb pairs)."""
    machine = Machine.triple_dot(U=1e-12)
    merged = Machine(energies=machine.energies, couplings=machine.couplings, reservoirs=machine.reservoirs)
    expected = steady_state_of(dense_kossakowski_liouvillian(merged))
    result = local.solve_steady(machine, basis="full")
    assert np.abs(result.rho - expected).max() < 1e-9


@pytest.mark.parametrize("coulomb_energy", [0.05, 0.2, 0.4])
def test_intermediate_coulomb_energy_follows_the_kossakowski_rule(coulomb_energy):
    """U ~ γ: partial coherence between pattern jumps, checked against a dense Kossakowski construction."""
    machine = Machine.triple_dot(U=coulomb_energy, mu_hot=0.6, gamma_hot=0.15, gamma_cold=0.08)
    result = local.solve_steady(machine, basis="full")
    assert result.health.is_physical(1e-12)
    assert np.abs(result.rho - steady_state_of(dense_kossakowski_liouvillian(machine))).max() < 1e-10


def test_resolved_patterns_reproduce_eq2_and_the_paper_concurrence():
    """U = 15 ≫ γ = 0.1: kernel exp(−11250) = 0, one jump per pattern (paper Eq. 2), C unchanged.

    0.9934473418244352 is C(U = 15, μ = 8) computed before the coherence rule existed (commit 012eb8b).
    """
    machine = Machine.triple_dot(U=15.0, mu_hot=8.0)
    result = local.solve_steady(machine)
    assert concurrence(result.reduced_state([0, 1])) == pytest.approx(
        0.9934473418244352, abs=1e-10)
    separated = steady_state_of(dense_kossakowski_liouvillian(machine, width_per_rate=1e-3))
    full = local.solve_steady(machine, basis="full")
    assert np.abs(full.rho - separated).max() < 1e-10


# --------------------------------------------------------------------- qubit and fermion statistics
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


@pytest.mark.parametrize(("coulomb_energy", "bound"), [(15.0, 1e-14), (0.5, 1e-10)])
def test_qubit_and_fermion_coincide_once_the_sink_resolves_qubit_0(coulomb_energy, bound):
    """Triple dot, order (0, 2, 1): the sink's jump carries the Jordan–Wigner sign (−1)^n_0.

    It is a phase of each pattern jump when U_02 ≫ γ_cold (the patterns of n_0 are separate jumps), so the
    models coincide; at U ≲ γ the merged jump mixes both signs and they differ.
    """
    qubit = local.solve_steady(Machine.triple_dot(U=coulomb_energy))
    fermion = local.solve_steady(Machine.triple_dot(U=coulomb_energy, statistics="fermion"))
    assert np.abs(qubit.rho - fermion.rho).max() < bound


def test_qubit_and_fermion_differ_when_the_sink_jump_is_merged():
    qubit = local.solve_steady(Machine.triple_dot(U=0.0))
    fermion = local.solve_steady(Machine.triple_dot(U=0.0, statistics="fermion"))
    assert np.abs(qubit.rho - fermion.rho).max() > 1e-2


# -------------------------------------------------------------------------------------------- bands
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
