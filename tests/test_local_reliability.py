"""Local Lindblad backend, reliability (issue 10): zero couplings, continuity in U, uniqueness, budgets, options."""

import itertools
import time
import tracemalloc

import numpy as np
import pytest
import threadpoolctl
from textbook import LOWER, coherent_generator
from textbook import site as textbook_site

from transportbench.backends import local
from transportbench.model import Machine, Reservoir
from transportbench.observables import concurrence, populations
from transportbench.resources import ResourceBudgetError, memory_budget
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


# ------------------------------------------------------------------------------- item 4: g = 0
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


# ------------------------------------------------------------------- item 13: continuity in U
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


# ------------------------------------------------------------------ item 5: uniqueness is checked
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


# ------------------------------------------------------------------------ item 2: memory budget
def test_w_machine_100_is_refused_during_the_basis_search_with_the_estimate():
    """Before: 90 s of searching, then a failed 3.45 GiB allocation. Refused even with a 64 GiB budget."""
    start = time.perf_counter()
    with memory_budget(64), pytest.raises(ResourceBudgetError, match=r"199 qubits.*needs an estimated .*budget of 64"):
        local.solve_steady(Machine.w_machine(100))
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("call", [local.solve_steady, local.relaxation_rate,
                                  lambda machine, basis: local.evolve(machine, [0.0, 1.0], basis=basis)],
                         ids=["solve_steady", "relaxation_rate", "evolve"])
@pytest.mark.parametrize("basis", ["reachable", "full"])
def test_every_entry_point_refuses_beyond_a_small_budget(call, basis):
    with memory_budget(1e-4), pytest.raises(ResourceBudgetError, match="needs an estimated"):
        call(Machine.w_machine(4), basis=basis)


def test_full_basis_is_estimated_without_building_it():
    """40 qubits: 2^40 patterns, ΔN = 0 sector C(80, 40) ≈ 1.08e23 elements, refused at once."""
    machine = Machine(energies=(1.0,) * 40, reservoirs=(Reservoir("lead", 0, 0.1, 0.0, 1.0),))
    with pytest.raises(ResourceBudgetError, match=r"1\.08e\+23 elements"):
        local.solve_steady(machine, basis="full")


@pytest.mark.parametrize("solver", ["direct", "iterative"])
def test_the_estimate_is_the_threshold_of_refusal(solver):
    machine = Machine.w_machine(3)
    counts = np.bincount(local.solve_steady(machine).occupations.sum(axis=1))
    estimate = local.steady_state_bytes(machine, counts, solver) / 2**30
    with memory_budget(estimate * 0.99), pytest.raises(ResourceBudgetError):
        local.solve_steady(machine, solver=solver)
    with memory_budget(estimate * 1.01):
        local.solve_steady(machine, solver=solver)


def test_the_estimate_bounds_the_traced_peak_memory():
    """NumPy/SciPy arrays (tracemalloc) of the iterative solve of the n = 4 W machine stay within the estimate."""
    machine = Machine.w_machine(4)
    local.solve_steady(machine)  # imports and caches outside the trace
    tracemalloc.start()
    result = local.solve_steady(machine)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    counts = np.bincount(result.occupations.sum(axis=1))
    assert peak < local.steady_state_bytes(machine, counts, "iterative")


# -------------------------------------------------------------------- item 8: threads, round trip
def test_options_round_trip():
    """Before: solve_steady(machine, **result.options) raised TypeError on 'sector_size'."""
    machine = Machine.w_machine(3)
    first = local.solve_steady(machine, threads=1)
    again = local.solve_steady(machine, **first.options)
    assert again.options == first.options
    assert np.abs(again.rho - first.rho).max() < 1e-13
    assert any("ΔN = 0 sector of 252 elements" in note for note in first.health.notes)


@pytest.mark.parametrize("threads", [1, 2])
def test_blas_threads_are_limited_during_the_solve(monkeypatch, threads):
    seen = []
    original = local.liouvillian_terms

    def spy(*args):
        seen.append({pool["num_threads"] for pool in threadpoolctl.threadpool_info()})
        return original(*args)

    monkeypatch.setattr(local, "liouvillian_terms", spy)
    result = local.solve_steady(Machine.triple_dot(), threads=threads)
    assert seen and all(counts <= {threads} for counts in seen)
    assert any(f"{threads} BLAS thread(s)" in note for note in result.health.notes)


def test_blas_threads_default_to_one_and_follow_the_environment(monkeypatch):
    monkeypatch.delenv("TRANSPORTBENCH_BLAS_THREADS", raising=False)
    assert any("; 1 BLAS thread(s)" in note for note in local.solve_steady(Machine.triple_dot()).health.notes)
    monkeypatch.setenv("TRANSPORTBENCH_BLAS_THREADS", "2")
    assert any("; 2 BLAS thread(s)" in note for note in local.solve_steady(Machine.triple_dot()).health.notes)
