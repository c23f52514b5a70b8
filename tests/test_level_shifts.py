"""Second-order level shifts: limits of the principal values and the resonance they predict."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from transportbench.level_shifts import level_shift, resonance_shift_estimate
from transportbench.model import Band, Machine, Reservoir


def single_level(mu: float, temperature: float, band: Band | None = None) -> Machine:
    return Machine(energies=(1.0, 1.0), couplings={(0, 1): 0.05}, coulomb={(0, 1): 15.0},
                   reservoirs=(Reservoir("lead", 0, 0.1, mu, temperature, band or Band.wide()),))


def test_finite_band_tends_to_the_wide_band_digamma_form():
    machine = single_level(mu=8.0, temperature=1.0)
    for occupied, transition in (([0], 1.0), ([1], 16.0)):  # removal at ε = 1, addition at ε + U = 16
        wide = level_shift(machine, occupied)
        gaps = [abs(level_shift(single_level(8.0, 1.0, Band.flat(d)), occupied) - wide) for d in (1e2, 1e3, 1e4)]
        assert gaps[0] > gaps[1] > gaps[2]
        # the band edge beyond the transition: (γ/2π) ln(D / (D ± E₀)) ≈ (γ/2π) |E₀| / D
        assert gaps[2] == pytest.approx(0.1 / (2 * math.pi) * transition / 1e4, rel=0.01)


def test_zero_temperature_is_the_logarithm():
    """T = 0: P∫ = ln|E₀ − μ| − ln D on a wide band; the digamma form tends to it as T → 0."""
    cold = single_level(mu=8.0, temperature=0.0)
    assert level_shift(cold, [0]) == pytest.approx(0.1 / (2 * math.pi) * math.log(7.0), rel=1e-12)
    assert level_shift(single_level(8.0, 1e-3), [0]) == pytest.approx(level_shift(cold, [0]), rel=1e-6)
    finite = level_shift(single_level(8.0, 0.0, Band.flat(100.0)), [1])  # addition at 16: ln 8 − ln(116) + ln(100)
    assert finite == pytest.approx(0.1 / (2 * math.pi) * (math.log(8.0) - math.log(116.0) + math.log(100.0)),
                                   rel=1e-12)


def test_lorentzian_band_at_zero_temperature_is_the_direct_integral():
    """T = 0: P∫ dE L(E)/(E − E₀) below μ (empty qubit) or −∫ above μ (occupied), + ln W, L = W²/((E − μ)² + W²)."""
    width, mu = 50.0, 8.0

    def lorentzian(e: float) -> float:
        return width**2 / ((e - mu) ** 2 + width**2)

    cold = single_level(mu=mu, temperature=0.0, band=Band.lorentzian(width))
    addition = quad(lambda e: lorentzian(e) / (e - 16.0), -np.inf, mu)[0]  # qubit 0 empty, qubit 1 occupied
    removal = -quad(lambda e: lorentzian(e) / (e - 1.0), mu, np.inf)[0]  # qubit 0 occupied
    rate = 0.1 / (2 * math.pi)
    assert level_shift(cold, [1]) == pytest.approx(rate * (addition + math.log(width)), rel=1e-9)
    assert level_shift(cold, [0]) == pytest.approx(rate * (removal + math.log(width)), rel=1e-9)
    warm = single_level(mu=mu, temperature=1e-3, band=Band.lorentzian(width))
    assert level_shift(warm, [0]) == pytest.approx(level_shift(cold, [0]), rel=1e-6)


def test_lorentzian_band_tends_to_the_wide_band_as_one_over_w():
    """The Lorentzian band's shifts approach the wide band's as 1/W; the estimate of δ* too (HEOM's extrapolation)."""
    machine = Machine.triple_dot()
    wide = resonance_shift_estimate(machine)
    gaps = [resonance_shift_estimate(machine.with_band(Band.lorentzian(w))) - wide for w in (1e3, 1e4, 1e5)]
    assert gaps[1] == pytest.approx(gaps[0] / 10, rel=0.05)
    assert gaps[2] == pytest.approx(gaps[1] / 10, rel=0.01)
    for occupied in ([0], [1]):
        far = level_shift(machine.with_band(Band.lorentzian(1e6)), occupied)
        assert far == pytest.approx(level_shift(machine, occupied), abs=1e-6)


def test_estimate_vanishes_at_the_symmetric_point_and_is_odd_around_it():
    """Triple dot with equal U: δ* = (γ/2π)[φ(ε − μ) − φ(ε + U − μ)], zero at μ = ε + U/2."""
    assert resonance_shift_estimate(Machine.triple_dot(mu_hot=8.5)) == pytest.approx(0.0, abs=1e-15)
    below = resonance_shift_estimate(Machine.triple_dot(mu_hot=6.0))
    above = resonance_shift_estimate(Machine.triple_dot(mu_hot=11.0))
    assert below < 0 < above
    assert above == pytest.approx(-below, rel=1e-12)
    assert below == pytest.approx(0.1 / (2 * np.pi) * np.log(5 / 10), rel=0.1)  # ln ratio up to digamma terms
    detuned = Machine.triple_dot(mu_hot=8.5, detuning={1: 0.01})
    assert resonance_shift_estimate(detuned) == pytest.approx(-0.01, abs=1e-15)


def test_level_shift_rejects_what_it_cannot_do():
    with pytest.raises(ValueError, match="ideal limit"):
        level_shift(Machine.triple_dot(ideal_limit=True), [0])
    with pytest.raises(ValueError, match="occupied"):
        level_shift(Machine.triple_dot(), [5])
    with pytest.raises(ValueError, match="outside the band"):
        level_shift(Machine.triple_dot(band=Band.flat(10.0)), [1])
    for bad in (-100.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="bandwidth"), pytest.warns(DeprecationWarning):
            level_shift(Machine.triple_dot(), [1], bandwidth=bad)
    with pytest.raises(ValueError, match="qubit"):
        resonance_shift_estimate(Machine.triple_dot(), qubit=0)
    with pytest.raises(ValueError, match="no finite level shift"):
        level_shift(single_level(mu=1.0, temperature=0.0), [0])


def test_deprecated_bandwidth_argument_is_the_flat_band_on_every_lead():
    with pytest.warns(DeprecationWarning, match="deprecated"):
        old = resonance_shift_estimate(Machine.triple_dot(), bandwidth=93.3)
    assert old == resonance_shift_estimate(Machine.triple_dot(band=Band.flat(93.3)))
    assert old != resonance_shift_estimate(Machine.triple_dot())


@pytest.mark.qmeq
def test_2vn_resonance_follows_the_finite_band_level_shifts():
    """2vN on the band [−D, D] puts the resonance at the finite-band level-shift estimate.

    At μ = ε + U/2 the wide-band shift cancels, but the band edges move the resonance to
    (γ/2π) ln((D + ε + U)/(D − ε)) = +0.0027 at D = 93.3. Measured: 0.0028 (parabola through five detunings
    on the fixed spacing-2γ grid, 10 iterations; the grid error of δ* is ~3e-5).
    """
    from transportbench.backends.qmeq import default_bandwidth, fixed_grid_options, solve_steady
    from transportbench.comparison import summarize

    machine = Machine.triple_dot(mu_hot=8.5)
    machine = Machine.triple_dot(mu_hot=8.5, band=Band.flat(default_bandwidth(machine)))
    options = fixed_grid_options(machine, niter=10)
    detunings = np.linspace(-0.004, 0.008, 5)
    concurrences = [summarize(solve_steady(machine.replace(energies=(1.0, 1.0 + delta, 1.0)), approach="2vN",
                                           **options))["concurrence"] for delta in detunings]
    curvature, slope, _ = np.polyfit(detunings, concurrences, 2)
    assert curvature < 0
    expected = resonance_shift_estimate(machine)
    assert expected == pytest.approx(0.1 / (2 * math.pi) * math.log((93.3 + 16) / (93.3 - 1)), rel=1e-3)
    assert -slope / (2 * curvature) == pytest.approx(expected, rel=0.1)


def test_extrapolated_estimate_removes_the_one_over_w_term():
    """Linear extrapolation in 1/W from (W, 2W) leaves a band error that shrinks faster than 1/W."""
    from transportbench.level_shifts import extrapolated_estimate

    machine = Machine.triple_dot(mu_hot=13.0)
    wide = resonance_shift_estimate(machine)
    errors = [extrapolated_estimate(machine, (w, 2 * w)) - wide for w in (200.0, 400.0, 800.0)]
    raw = resonance_shift_estimate(machine.with_band(Band.lorentzian(400.0))) - wide
    assert abs(errors[1]) < abs(raw) / 10
    assert abs(errors[0]) > abs(errors[1]) > abs(errors[2])
    assert abs(errors[2]) < abs(errors[1]) / 2.5
    assert extrapolated_estimate(Machine.triple_dot(mu_hot=8.5), (100.0, 200.0)) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="widths"):
        extrapolated_estimate(machine, (200.0, 100.0))


def test_the_shifts_of_a_hierarchy_s_bath_approach_those_of_its_exact_band():
    """Many Padé poles stand in for the exact Fermi function: the bath's shifts equal the Lorentzian band's."""
    pytest.importorskip("qutip")
    from transportbench.backends.heom_shifts import resonance_estimate_on_bath

    machine = Machine.w_machine(2, U=20.0, mu_hot=8.0, T_sink=0.1)
    exact_band = resonance_shift_estimate(machine.with_band(Band.lorentzian(40.0)))
    assert resonance_estimate_on_bath(machine, 40.0, (100, 100)) == pytest.approx(exact_band, abs=1e-10)
    few, more = (abs(resonance_estimate_on_bath(machine, 40.0, (poles, poles)) - exact_band) for poles in (8, 16))
    assert 1e-8 < few and more < few  # few poles shift the estimate; more poles bring it back
