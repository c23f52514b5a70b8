"""The rational (AAA) expansion of the Fermi function for cold wide-band leads, and HEOM with it."""

from __future__ import annotations

import numpy as np
import pytest
from textbook import wide_band_landauer

from transportbench.backends import heom_fermi
from transportbench.model import Band, Machine, Reservoir
from transportbench.observables import populations
from transportbench.result import Result

pytest.importorskip("qutip")

from transportbench.backends import heom  # noqa: E402
from transportbench.backends import heom_hierarchy as hierarchy  # noqa: E402

COLD = 0.02
"""Temperature of the cold chain's leads (energy units)."""
COLD_CHAIN = Machine(
    energies=(0.3, -0.2, 0.5), couplings={(0, 1): 0.4, (1, 2): 0.3},
    reservoirs=(Reservoir("left", 0, 0.3, 1.0, COLD), Reservoir("right", 2, 0.2, -0.5, COLD)),
    statistics="fermion")
"""Three dots in a row between two cold wide-band leads at different μ (windows |x| ≤ 839)."""
FIT_POLES = 22
"""Poles of the fit in the U = 0 check (measured: occupations within 4.2e-7, coherence 5.5e-8, currents 2.5e-8)."""


def _fermi(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 - np.tanh(x / 2))


# ------------------------------------------------------------------------------ the expansion
@pytest.mark.parametrize(("window", "count"), [(30.0, 6), (30.0, 10), (300.0, 14), (839.0, 22), (2000.0, 24)])
def test_fit_reproduces_the_fermi_function_to_its_stated_error(window: float, count: int) -> None:
    fit = heom_fermi.aaa_expansion(count, window)
    assert len(fit.xi) == len(fit.kappa) == count and fit.window == window
    x = np.random.default_rng(1).uniform(-window, window, 20_000)
    assert np.max(np.abs(fit(x) - _fermi(x))) <= 1.01 * fit.error + 1e-15
    # measured 2.5e-5, 3.5e-8, 1.8e-6, 1.1e-6, 1.0e-6 (the last three fitted on a widened window)
    assert fit.error < {6: 1e-4, 10: 1e-7, 14: 1e-5, 22: 1e-5, 24: 1e-5}[count]
    # poles ±iξ off the real axis, no closer than the first Matsubara pole iπ (measured: ξ_min = π to 1e-6)
    assert np.all(np.isfinite(fit.xi)) and fit.xi.min() > 3.0
    assert np.all(np.diff(fit.xi) > 0)


def test_fit_needs_far_fewer_poles_than_pade_for_a_cold_lead() -> None:
    window = heom_fermi.lead_windows(COLD_CHAIN)[0]
    fit = heom_fermi.poles_for("aaa", window, 1e-6)
    pade = heom_fermi.poles_for("pade", window, 1e-6)
    assert fit.error <= 1e-6 and pade.error <= 1e-6
    assert heom_fermi.pade_expansion(len(pade.xi) - 1, window).error > 1e-6  # the fewest Padé poles
    assert 2 * len(fit.xi) <= len(pade.xi)  # measured 18-19 against 38 (it moves with the SciPy release)
    np.testing.assert_allclose(heom_fermi.pade_expansion(5, 8.0)(np.array([0.0, 8.0])), _fermi(np.array([0.0, 8.0])),
                               atol=1e-9)


def test_window_covers_every_transition_energy_and_the_level_widths() -> None:
    levels = np.linalg.eigvalsh(np.array([[0.3, 0.4, 0.0], [0.4, -0.2, 0.3], [0.0, 0.3, 0.5]]))
    for qubit in (0, 2):  # U = 0: the transitions are the single-particle levels
        energies = heom_fermi.transition_energies(COLD_CHAIN, qubit)
        distances = np.abs(energies[:, None] - levels[None, :])
        assert np.max(np.min(distances, axis=1)) < 1e-12 and np.max(np.min(distances, axis=0)) < 1e-12
    margin = heom_fermi.WINDOW_MARGIN * 0.5
    for window, reservoir in zip(heom_fermi.lead_windows(COLD_CHAIN), COLD_CHAIN.reservoirs, strict=True):
        reach = np.max(np.abs(levels - reservoir.chemical_potential))
        assert window * COLD == pytest.approx(reach + margin)


def test_fit_exponents_decay_and_pair_with_their_conjugates() -> None:
    reservoir = COLD_CHAIN.reservoirs[0]
    fit = heom_fermi.aaa_expansion(8, 200.0)
    plus, nu_plus, minus, nu_minus = hierarchy.wide_band_exponents(reservoir, fit)
    assert np.all(nu_plus.real > 0) and np.all(nu_minus.real > 0)
    np.testing.assert_allclose(nu_minus, np.conj(nu_plus))  # QuTiP pairs "+" k with "−" k (σ̄ partner)
    np.testing.assert_allclose(plus, minus)
    np.testing.assert_allclose(plus, -1j * fit.kappa * reservoir.temperature * reservoir.rate)
    with hierarchy.fermi_expansion("aaa"):
        fitted = hierarchy.lead_expansions(COLD_CHAIN, 8)
    assert [e.window for e in fitted] == pytest.approx(list(heom_fermi.lead_windows(COLD_CHAIN)))
    assert hierarchy.lead_expansions(COLD_CHAIN, 8)[0].xi == pytest.approx(np.sort(hierarchy.pade_poles(8)[1]))


# ------------------------------------------------------------------------------ HEOM with it
def _deviations(result: Result) -> tuple[float, float, float, float]:
    """Largest deviation from the exact U = 0 result: occupations, coherences, particle and energy currents."""
    machine = result.machine
    density, particle, energy = wide_band_landauer(machine)
    occupations = populations(result.rho, result.occupations)
    c = [hierarchy.annihilator(machine, q) for q in range(machine.n_qubits)]
    coherence = max(abs(complex(np.trace(result.rho @ c[j].T @ c[i])) - density[i, j])
                    for i, j in ((0, 1), (1, 2), (0, 2)))
    names = [r.name for r in machine.reservoirs]
    return (float(np.max(np.abs(occupations - density.diagonal().real))), coherence,
            float(np.max(np.abs([result.particle_currents[n] for n in names] - particle))),
            float(np.max(np.abs([result.energy_currents[n] for n in names] - energy))))


def test_cold_u0_chain_matches_the_exact_result_with_fewer_exponents_than_pade() -> None:
    fitted = heom.solve_steady(COLD_CHAIN, pade=FIT_POLES, depth=2, expansion="aaa")
    assert max(_deviations(fitted)) < 1e-6
    assert fitted.stats["expansion"] == "aaa" and max(fitted.stats["fermi_error"].values()) < 1e-5
    assert fitted.stats["fermi_window"]["left"] == pytest.approx(heom_fermi.lead_windows(COLD_CHAIN)[0] * COLD)
    assert any(note.startswith("Fermi functions (rational-fit (AAA)") for note in fitted.health.notes)
    # Padé with as many poles misses the cold Fermi function (measured: occupations off by 2.6e-5 at 20 poles;
    # 40 poles still leave 1.6e-6)
    pade = heom.solve_steady(COLD_CHAIN, pade=FIT_POLES, depth=2)
    assert pade.stats["expansion"] == "pade" and min(pade.stats["fermi_error"].values()) > 1e-3
    assert _deviations(pade)[0] > 1e-5


def test_equilibrium_has_no_currents_with_the_fit() -> None:
    free = heom.solve_steady(Machine.triple_dot(mu_hot=3.0, mu_cold=3.0, U=0.0, T_hot=0.1, T_cold=0.1),
                             pade=10, depth=2, expansion="aaa")
    assert max(abs(v) for v in [*free.particle_currents.values(), *free.energy_currents.values()]) < 1e-13
    # with U the depth-2 truncation leaves the declared leak, far below the driven current
    leak = heom.solve_steady(Machine.triple_dot(mu_hot=3.0, mu_cold=3.0), pade=8, depth=2, expansion="aaa")
    driven = heom.solve_steady(Machine.triple_dot(), pade=8, depth=2, expansion="aaa")
    assert abs(leak.particle_currents["hot"]) < 1e-4 * abs(driven.particle_currents["hot"])
    energy = np.array(list(driven.energy_currents.values()))
    assert abs(energy.sum()) <= 1e-9 * np.abs(energy).max()


def test_expansion_option() -> None:
    machine = Machine.triple_dot()
    assert heom.HeomOptions().resolved(machine).expansion == "pade"
    with pytest.raises(ValueError, match="expansion must be one of"):
        heom.solve_steady(machine, pade=4, depth=2, expansion="matsubara")
    with pytest.raises(ValueError, match="needs wide-band leads solved in the hierarchy"):
        heom.solve_steady(machine, pade=4, depth=2, expansion="aaa", wide_band="extrapolate")
    with pytest.raises(ValueError, match="needs wide-band leads solved in the hierarchy"):
        heom.solve_steady(machine.with_band(Band.lorentzian(30.0)), pade=4, depth=2, expansion="aaa")
    result = heom.solve_steady(machine, pade=8, depth=2, expansion="aaa")
    assert result.options.expansion == "aaa"
    np.testing.assert_allclose(heom.solve_steady(result.machine, result.options).rho, result.rho, atol=1e-13)
