"""The wide band in the HEOM hierarchy: its exponents, its time-local term, and the exact U = 0 result."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from textbook import wide_band_landauer

from transportbench.model import Band, Machine, Reservoir
from transportbench.observables import concurrence, populations

pytest.importorskip("qutip")

from transportbench.backends import heom  # noqa: E402
from transportbench.backends import heom_hierarchy as hierarchy  # noqa: E402

CHAIN = Machine(
    energies=(0.3, -0.2, 0.5), couplings={(0, 1): 0.4, (1, 2): 0.3},
    reservoirs=(Reservoir("left", 0, 0.3, 1.0, 0.8), Reservoir("right", 2, 0.2, -0.5, 0.5)),
    statistics="fermion")
"""Three dots in a row, two wide-band leads at different μ and T (the band is ``Band.wide()`` by default)."""
TRIPLE_FREE = Machine.triple_dot(U=0.0, statistics="fermion")
"""The triple dot's geometry (order (0, 2, 1), leads on dots 0 and 2) at U = 0."""
SLOW = pytest.mark.slow  # ~30 s: `make slow` runs it; the fixed-hierarchy comparison covers the same path
PADE = 10
"""Padé terms of the U = 0 checks (measured: occupations and coherences within 6e-7, currents within 1e-13)."""


def _correlation(result: object, i: int, j: int) -> complex:
    """⟨c_j† c_i⟩ of a HEOM result (Jordan–Wigner operators of the backend)."""
    c_i = hierarchy.annihilator(result.machine, i)
    c_j = hierarchy.annihilator(result.machine, j)
    return complex(np.trace(result.rho @ c_j.T @ c_i))


# ------------------------------------------------------------------------------ the expansion
@pytest.mark.parametrize("count", [1, 2, 5, 12])
def test_pade_poles_are_qutips_lorentzian_expansion_without_the_band_pole(count: int) -> None:
    from qutip.core.environment import LorentzianEnvironment

    reservoir = CHAIN.reservoirs[0]
    width = 50.0
    theirs = LorentzianEnvironment(reservoir.temperature, reservoir.chemical_potential, reservoir.rate,
                                   width).approx_by_pade(count)
    plus, nu_plus, minus, nu_minus = hierarchy.wide_band_exponents(reservoir, count)
    for sign, amplitudes, rates in (("+", plus, nu_plus), ("-", minus, nu_minus)):
        exponents = [e for e in theirs.exponents if e.type == e.types[sign]]
        assert len(exponents) == count + 1 and abs(exponents[0].exponent.real - width) < 1e-12  # the band pole
        np.testing.assert_allclose([e.exponent for e in exponents[1:]], rates, rtol=1e-12)
        # QuTiP's Padé amplitudes carry J(μ ± iξT) = Γ W²/(W² − ξ²T²); the wide band has J = Γ
        band = width**2 / (width**2 - (rates.real) ** 2)
        np.testing.assert_allclose([e.coefficient for e in exponents[1:]], amplitudes * band, rtol=1e-10)
    kappa, xi = hierarchy.pade_poles(count)
    x = np.linspace(-4.0, 4.0, 9)
    approximant = 0.5 - np.sum(2 * kappa * x[:, None] / (x[:, None] ** 2 + xi**2), axis=1)
    assert np.max(np.abs(approximant - 1 / (np.exp(x) + 1))) < {1: 0.1, 2: 1e-2, 5: 1e-12, 12: 1e-12}[count]


def test_time_local_term_on_rho_is_half_the_tunnelling_rates() -> None:
    # ρ (even): Σ_r (Γ_r/2)(D[c] + D[c†]) with D[L]ρ = LρL† − ½{L†L, ρ}; an odd ADO: the jumps change sign
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    term = hierarchy.wide_band_term(CHAIN)
    even, odd = ((term[parity] @ x.reshape(-1, order="F")).reshape((8, 8), order="F") for parity in (1, -1))

    def dissipator(jump: np.ndarray, state: np.ndarray) -> np.ndarray:
        return jump @ state @ jump.conj().T - (jump.conj().T @ jump @ state + state @ jump.conj().T @ jump) / 2

    expected_even = np.zeros((8, 8), dtype=complex)
    expected_odd = np.zeros((8, 8), dtype=complex)
    for r in CHAIN.reservoirs:
        c = hierarchy.annihilator(CHAIN, r.qubit)
        expected_even += r.rate / 2 * (dissipator(c, x) + dissipator(c.T, x))
        expected_odd += r.rate / 2 * (-c @ x @ c.T - c.T @ x @ c - x)
    np.testing.assert_allclose(even, expected_even, atol=1e-14)
    np.testing.assert_allclose(odd, expected_odd, atol=1e-14)


def test_time_local_term_is_the_elimination_of_the_lorentzian_band_pole() -> None:
    """Λ equals Σ_k (link up)(link down)/ν_k of QuTiP's own Lorentzian pole, up to O(1/W), for ρ and every ADO.

    Two dots with U (the Jordan–Wigner string and the odd ADOs' signs matter), one Padé term, depth 3: the
    ADOs of tiers 0–2 without the band pole are compared block by block.
    """
    machine = Machine(energies=(0.3, -0.2), couplings={(0, 1): 0.4}, coulomb={(0, 1): 1.0}, statistics="fermion",
                      reservoirs=(Reservoir("left", 0, 0.3, 1.0, 0.8), Reservoir("right", 1, 0.2, -0.5, 0.5)))
    errors, sign_blind = [], []
    for width in (1e3, 1e4):
        solver = hierarchy.qutip_solver(machine, width, 1, 3)
        generator, nn = sp.csr_matrix(solver.rhs(0).data.as_scipy()), 4**machine.n_qubits
        labels, frequencies = solver.ados.labels, np.array(solver.ados.vk)
        band_poles = [k for k, nu in enumerate(frequencies) if nu.real > width / 2]
        assert len(band_poles) == 4  # a "+" and a "−" per lead
        term = hierarchy.wide_band_term(machine)
        worst = blind = 0.0
        tiers = set()
        for i, label in enumerate(labels):
            if sum(label) > 2 or any(label[k] for k in band_poles):
                continue
            eliminated = sp.csr_matrix((nn, nn), dtype=complex)
            for k in band_poles:
                j = solver.ados.idx(tuple(v + (q == k) for q, v in enumerate(label)))
                up = generator[i * nn:(i + 1) * nn, j * nn:(j + 1) * nn]
                down = generator[j * nn:(j + 1) * nn, i * nn:(i + 1) * nn]
                eliminated = eliminated + up @ down / frequencies[k]
            ours = term[1 - 2 * (sum(label) % 2)]
            scale = abs(ours).max()
            worst = max(worst, abs(eliminated - ours).max() / scale)
            blind = max(blind, abs(eliminated - term[1]).max() / scale)
            tiers.add(sum(label))
        assert tiers == {0, 1, 2}
        errors.append(worst)
        sign_blind.append(blind)
    assert errors[0] < 2e-3 and errors[1] < errors[0] / 5  # measured 8e-4, 8e-5: O(1/W)
    assert min(sign_blind) > 0.5  # without the odd ADOs' sign the term is wrong at O(1)


# ------------------------------------------------------------------------------ exact at U = 0
@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("machine", [CHAIN, TRIPLE_FREE], ids=["chain", "triple_dot"])
def test_u0_matches_the_exact_wide_band_result(machine: Machine, depth: int) -> None:
    result = heom.solve_steady(machine, pade=PADE, depth=depth)
    assert result.stats["wide_band"] == "direct" and result.stats["band_widths"] == (math.inf,)
    assert result.error.stage("band") is None
    density, particle, energy = wide_band_landauer(machine)
    occupations = populations(result.rho, result.occupations)
    np.testing.assert_allclose(occupations, density.diagonal().real, atol=1e-6)
    for i, j in ((0, 1), (1, 2), (0, 2)):
        assert abs(_correlation(result, i, j) - density[i, j]) < 1e-6
    assert max(abs(density[0, 1]), abs(density[1, 2])) > 1e-2  # a coherence that is not trivially zero
    names = [r.name for r in machine.reservoirs]
    np.testing.assert_allclose([result.particle_currents[n] for n in names], particle, atol=1e-6)
    np.testing.assert_allclose([result.energy_currents[n] for n in names], energy, atol=1e-6)
    assert abs(particle[0]) > 1e-2 and abs(energy[0]) > 1e-3


def test_two_leads_on_one_dot_keep_the_documented_energy_current_error() -> None:
    """Two leads on one dot: ρ and the particle currents are exact, the energy current keeps a Padé-tail error.

    The energy current between leads on one dot at different T keeps Γa Γb ln(Ta/Tb)/(2π), independent of the
    Padé terms, and the notes say so.
    """
    level = Machine(energies=(0.5,), statistics="fermion",
                    reservoirs=(Reservoir("left", 0, 0.2, 2.0, 1.0), Reservoir("right", 0, 0.1, -1.0, 0.5)))
    density, particle, energy = wide_band_landauer(level)
    expected_error = 0.2 * 0.1 * math.log(1.0 / 0.5) / (2 * math.pi)
    for pade in (10, 20):
        result = heom.solve_steady(level, pade=pade, depth=2)
        assert abs(populations(result.rho, result.occupations)[0] - density[0, 0].real) < 1e-6
        np.testing.assert_allclose(list(result.particle_currents.values()), particle, atol=1e-6)
        error = energy[0] - result.energy_currents["left"]
        assert error == pytest.approx(expected_error, rel=0.02)
        assert any("share a dot at different temperatures" in note for note in result.health.notes)
    assert not any("share a dot" in note for note in heom.solve_steady(CHAIN, pade=6, depth=2).health.notes)


def test_leads_sharing_a_dot_at_one_temperature_match_the_exact_energy_current() -> None:
    """Leads a, b on dot 0 at one T (their exchange checks the terms of exponents on one dot), c on dot 1."""
    machine = Machine(energies=(0.3, -0.2), couplings={(0, 1): 0.4}, statistics="fermion",
                      reservoirs=(Reservoir("a", 0, 0.2, 1.0, 0.7), Reservoir("b", 0, 0.1, -1.0, 0.7),
                                  Reservoir("c", 1, 0.15, 0.2, 0.4)))
    _, particle, energy = wide_band_landauer(machine)
    result = heom.solve_steady(machine, pade=PADE, depth=2)  # measured: within 6e-8 and 5e-8
    np.testing.assert_allclose(list(result.particle_currents.values()), particle, atol=1e-6)
    np.testing.assert_allclose(list(result.energy_currents.values()), energy, atol=1e-6)
    assert min(np.abs(energy)) > 4e-3
    assert not any("share a dot" in note for note in result.health.notes)


# ------------------------------------------------------------------------ the Fig. 3 point
def _fig3_pair(**settings: object) -> tuple[object, object]:
    machine = Machine.triple_dot()
    return (heom.solve_steady(machine, wide_band="direct", **settings),
            heom.solve_steady(machine, wide_band="extrapolate", **settings))


def _assert_within_the_extrapolation_error(direct: object, extrapolated: object) -> None:
    pair = [concurrence(result.reduced_state([0, 1])) for result in (direct, extrapolated)]
    assert abs(pair[0] - pair[1]) <= extrapolated.error.concurrence
    for kind in ("particle_currents", "energy_currents"):
        ours, theirs = (np.array(list(getattr(result, kind).values())) for result in (direct, extrapolated))
        assert np.max(np.abs(ours - theirs)) <= extrapolated.error.currents * np.max(np.abs(theirs))


def test_fig3_point_agrees_with_the_extrapolation_at_fixed_pade_and_depth() -> None:
    # measured: ΔC = 5.0e-5 against the extrapolation's band error 9.2e-5; currents 1.6e-3 against 2.6e-3
    direct, extrapolated = _fig3_pair(pade=8, depth=3)
    assert [change.stage for change in extrapolated.error.stages] == ["band"]
    assert direct.error.stages == () and direct.stats["ados"] < extrapolated.stats["ados"]  # and one hierarchy, not 3
    _assert_within_the_extrapolation_error(direct, extrapolated)


@SLOW
def test_converged_fig3_point_agrees_with_the_converged_extrapolation() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # both converge within their budgets
        direct, extrapolated = _fig3_pair()
    assert [change.stage for change in direct.error.stages] == ["pade", "depth"]
    assert direct.error.concurrence < extrapolated.error.concurrence
    _assert_within_the_extrapolation_error(direct, extrapolated)


# ------------------------------------------------------------------ equilibrium, conservation
def test_equilibrium_has_no_currents() -> None:
    free = heom.solve_steady(Machine.triple_dot(mu_hot=3.0, mu_cold=3.0, U=0.0), pade=6, depth=2)
    assert max(abs(v) for v in [*free.particle_currents.values(), *free.energy_currents.values()]) < 1e-13
    # with U the truncation leaves a small equilibrium current that shrinks with the depth
    # (measured: 3.3e-9 at depth 2, 8.2e-10 at depth 3, against 1.7e-4 out of equilibrium)
    machine = Machine.triple_dot(mu_hot=3.0, mu_cold=3.0)
    leaks = [abs(heom.solve_steady(machine, pade=6, depth=depth).particle_currents["hot"]) for depth in (2, 3)]
    driven = heom.solve_steady(Machine.triple_dot(), pade=6, depth=2)
    assert abs(driven.particle_currents["hot"]) > 1e-4
    assert leaks[0] < 1e-4 * abs(driven.particle_currents["hot"]) and leaks[1] < leaks[0] / 3



# ------------------------------------------------------------------------- counts and options
def test_ado_count_is_exact() -> None:
    machine = Machine.triple_dot()
    size = hierarchy.hierarchy_size(machine, 3, 3, wide=True)
    built = hierarchy.build_hierarchy(machine, math.inf, 3, 3)
    assert hierarchy.n_exponents(machine, 3, wide=True) == len(built.exponents.signs) == 12  # 2 × pade per lead
    assert size.ados == built.n_ados == 1 + 12 + 66 + 220
    assert size.reduced_unknowns == len(built.layout.kept)
    assert built.generator.nnz < size.generator_nonzeros


def test_wide_band_options() -> None:
    machine = Machine.triple_dot()
    assert heom.HeomOptions().resolved(machine).wide_band == "direct"
    assert heom.HeomOptions().resolved(machine).wide_band_width is None
    implied = heom.HeomOptions(wide_band_width=20.0).resolved(machine)
    assert (implied.wide_band, implied.wide_band_width) == ("extrapolate", 20.0)
    assert heom.HeomOptions(wide_band="extrapolate").resolved(machine).wide_band_width == heom.default_band_width(
        machine)
    assert heom.HeomOptions(wide_band="direct").resolved(machine.with_band(Band.lorentzian(30.0))).wide_band is None
    with pytest.raises(ValueError, match="wide_band"):
        heom.solve_steady(machine, wide_band="magic")
    with pytest.raises(ValueError, match="wide_band_width applies only"):
        heom.solve_steady(machine, wide_band="direct", wide_band_width=20.0)
    with pytest.raises(ValueError, match="solver='qutip' cannot solve the wide band"):
        heom.solve_steady(machine, pade=2, depth=2, solver="qutip")
    result = heom.solve_steady(machine, pade=4, depth=2)
    assert result.options.wide_band == "direct"
    assert any(note.startswith("wide band: in the hierarchy") for note in result.health.notes)
    np.testing.assert_allclose(heom.solve_steady(result.machine, result.options).rho, result.rho, atol=1e-13)
