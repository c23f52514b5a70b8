"""The scans (``transportbench.scans``): the resonance search and the cotunnelling leakage against γ.

The local Lindblad resonance at zero detuning and its sequential leakage; the Lamb-shifted 1vN resonance and its
leakage (QmeQ); the bracket centred on an estimate, and the exact resonance with HEOM; power-law fits; options and
figures of merit per scan.
"""

import math

import numpy as np
import pytest
import xarray as xr

from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Machine
from transportbench.scans import (
    leakage_vs_gamma,
    locate_resonance,
    power_law,
    resonance_error_bar,
    resonance_scan,
    resonance_vs_gamma,
)


# --------------------------------------------------------------------------------- resonance search
def test_the_error_bar_of_a_resonance_adds_its_checks_where_they_were_solved():
    nan = np.nan
    table = xr.Dataset({"delta_star": (("approach", "gamma"), [[-1.0e-3, -2.0e-3, -4.0e-3, nan],
                                                               [nan, -2.0e-3 + 5e-7, -4.0e-3 - 1e-8, nan],
                                                               [nan, nan, -4.0e-3 + 3e-7, nan]])},
                       coords={"approach": ["heom", "heom, 2 × W", "heom, depth 3"], "gamma": [0.02, 0.05, 0.1, 0.2]})
    band = xr.DataArray([1e-7, -2e-7, -4e-7, -8e-7], coords={"gamma": table.gamma})
    error = resonance_error_bar(table, "heom", band, "heom, 2 × W", ["heom, depth 3"])
    # the band error alone; the band check where larger; the band error and the depth check; no δ*: no error bar
    np.testing.assert_allclose(error.values[:3], [1e-7, 5e-7, 4e-7 + 3e-7], rtol=1e-6)
    assert np.isnan(error.values[3]) and error.dims == ("gamma",)


def test_local_lindblad_resonance_is_at_zero_detuning():
    resonance = locate_resonance(Machine.triple_dot(), "local", precision=1e-7)
    assert abs(resonance.delta) < 1e-6
    assert abs(resonance.current_delta) < 1e-6
    assert resonance.concurrence == pytest.approx(0.9934473418, abs=1e-8)
    table = resonance_vs_gamma(Machine.triple_dot(), ["local"], [0.05, 0.1], precision=1e-7, progress=False)
    assert np.all(np.abs(table.delta_star) < 1e-6)
    assert np.all(np.abs(table.current_delta_star) < 1e-6)
    assert abs(float(table.slope.sel(approach="local"))) < 1e-4
    over_mu = resonance_scan(Machine.triple_dot(), ["local"], "mu", [6.0, 11.0], precision=1e-7, progress=False,
                             current=False)
    assert over_mu.delta_star.dims == ("approach", "mu")
    assert np.all(np.abs(over_mu.delta_star) < 1e-6)
    assert np.all(np.isnan(over_mu.current_delta_star))


def test_resonance_rejects_bad_options():
    with pytest.raises(ValueError, match="grid"):
        locate_resonance(Machine.triple_dot(), grid=4)
    with pytest.raises(ValueError, match="edge"):
        locate_resonance(Machine.triple_dot(detuning={1: 0.5}), half_width=0.05)


def test_a_bracket_centred_away_from_the_resonance_still_finds_it():
    """Local Lindblad: δ* = 0 exactly; a bracket 0.003 ± 0.01 contains it and gives it back."""
    found = locate_resonance(Machine.triple_dot(), "local", centre=0.003, half_width=0.01, grid=5, precision=1e-8,
                             current=False)
    assert abs(found.delta) < 1e-7
    assert found.evaluations < 30


def test_the_centre_may_be_a_function_of_the_machine_at_each_point():
    """A callable centre is evaluated on each scanned machine (here: the bare detuning of a detuned machine)."""
    seen = []

    def centre(machine: Machine) -> float:
        seen.append(machine.energies[1])
        return machine.energies[0] - machine.energies[1]

    table = resonance_scan(Machine.triple_dot(), ["local"], "epsilon_1", [0.98, 1.03], centre=centre,
                           half_width=0.01, grid=5, precision=1e-8, current=False, progress=False)
    assert seen == pytest.approx([0.98, 1.03])
    np.testing.assert_allclose(table.delta_star.sel(approach="local").values, [0.02, -0.03], atol=1e-7)


def test_a_bad_centre_is_refused_and_the_edge_message_names_the_bracket():
    with pytest.raises(ValueError, match="centre"):
        locate_resonance(Machine.triple_dot(), centre=math.nan)
    with pytest.raises(ValueError, match=r"edge of \+0\.05 ± 0\.01"):
        locate_resonance(Machine.triple_dot(), centre=0.05, half_width=0.01, grid=5, current=False)


def test_scans_take_the_figure_of_merit():
    from transportbench.figures import Fidelity

    machine = Machine.triple_dot()
    fidelity = locate_resonance(machine, "local", figure=Fidelity(), current=False, precision=1e-7)
    assert abs(fidelity.delta) < 1e-6  # the local equation is symmetric in the detuning for F as for C
    assert fidelity.concurrence == pytest.approx(0.996, abs=1e-3)  # the fidelity at its maximum
    table = leakage_vs_gamma(machine, ["local"], [0.01, 0.02], figure=Fidelity(), progress=False)
    assert "fidelity_loss" in table and "concurrence_loss" not in table
    assert np.all((table.fidelity_loss.values > 0) & (table.fidelity_loss.values < 0.05))


# ---------------------------------------------- Lamb-shifted resonance: 1vN (QmeQ) and exact (HEOM)
@pytest.mark.qmeq
def test_lamb_shift_moves_the_resonance_and_vanishes_without_principal_parts():
    """1vN: δ* ∝ γ with principal parts (measured slope ≈ −0.022).

    Without them δ* stays below 1e-5 (a γ-independent −2.5e-6 remains) for every γ.
    """
    labels = ["qmeq:1vN", "1vN without Lamb shift"]
    table = resonance_vs_gamma(Machine.triple_dot(), labels, [0.02, 0.1], precision=1e-7, progress=False,
                               specs={"1vN without Lamb shift": "qmeq:1vN"},
                               options={"1vN without Lamb shift": {"lamb_shift": False}})
    shifted = table.delta_star.sel(approach="qmeq:1vN").values
    unshifted = table.delta_star.sel(approach="1vN without Lamb shift").values
    assert np.all(np.abs(unshifted) < 1e-5)
    assert np.all(np.abs(shifted) > 20 * np.abs(unshifted))
    assert shifted[1] / shifted[0] == pytest.approx(5.0, rel=0.05)  # linear in γ
    assert float(table.slope.sel(approach="qmeq:1vN")) == pytest.approx(-0.0223, rel=0.05)


@pytest.mark.qmeq
def test_1vn_resonance_follows_the_wide_band_level_shifts():
    """1vN (wide band) puts the resonance at the level-shift estimate, within 3 %.

    δ* = s(|100⟩) − s(|010⟩) of :mod:`transportbench.level_shifts` is zero at μ = ε + U/2 = 8.5, which is
    why the paper's μ = 8 resonance barely moves.
    """
    for mu in (6.0, 8.5, 11.0):
        machine = Machine.triple_dot(mu_hot=mu)
        found = locate_resonance(machine, "qmeq:1vN", precision=1e-7)
        assert found.delta == pytest.approx(resonance_shift_estimate(machine), rel=0.03, abs=5e-5)


def test_heom_resonance_with_fixed_hierarchy_is_near_the_level_shift_estimate():
    """Exact (HEOM, Padé 6, depth 2, wide band by extrapolation) δ* at the Fig. 3 point: within 2 % of the estimate.

    Measured −0.002309 against the estimate −0.002296 (W = 93.3; the band extrapolation leaves ~7e-6).
    """
    pytest.importorskip("qutip")
    machine = Machine.triple_dot()
    found = locate_resonance(machine, "heom", options={"pade": 6, "depth": 2, "converge": False},
                             centre=resonance_shift_estimate, half_width=0.005, grid=5, precision=1e-6,
                             current=False)
    assert found.delta == pytest.approx(resonance_shift_estimate(machine), rel=0.02)
    assert found.concurrence > 0.977  # above C at δ = 0 (0.9772): the detuning compensates the Lamb shift


# -------------------------------------------------------------------------------- leakage against γ
def test_local_lindblad_leakage_is_sequential():
    """Local Lindblad: the dark-state leak at finite μ, U is sequential, so the current is linear in γ."""
    table = leakage_vs_gamma(Machine.triple_dot(), ["local"], [0.005, 0.01, 0.02], progress=False)
    assert float(table.current_exponent.sel(approach="local")) == pytest.approx(1.0, abs=0.05)
    assert bool(table.converged.all())
    assert float(table.min_eigenvalue.min()) > -1e-12


@pytest.mark.qmeq
def test_1vn_leakage_at_the_shifted_resonance_is_second_order():
    """1vN leaks ∝ γ³ through its Lamb-shift detuning, ∝ γ² at the shifted resonance.

    Near the ideal point (U = 40, μ = 20) the Lamb shift detunes the dark state; detuned back to the
    estimated resonance 1vN leaks 14–46× less, ∝ γ² (measured exponent 2.08); Pauli (sequential) ∝ γ.
    """
    from transportbench.scans import at_shifted_resonance

    table = leakage_vs_gamma(Machine.triple_dot(U=40.0, mu_hot=20.0),
                             ["qmeq:1vN", "at resonance", "qmeq:Pauli"], [0.01, 0.02, 0.04], progress=False,
                             specs={"at resonance": "qmeq:1vN"}, adjust={"at resonance": at_shifted_resonance()})
    exponents = table.current_exponent.to_pandas()
    assert exponents["qmeq:1vN"] == pytest.approx(3.0, abs=0.1)
    assert exponents["at resonance"] == pytest.approx(2.0, abs=0.15)
    assert exponents["qmeq:Pauli"] == pytest.approx(1.0, abs=0.02)
    assert np.all(table.current.sel(approach="qmeq:1vN") > 10 * table.current.sel(approach="at resonance"))


def test_scan_options_may_depend_on_the_machine_at_each_gamma():
    seen = []

    def options(machine: Machine) -> dict:
        seen.append(tuple(r.rate for r in machine.reservoirs))
        return {"solver": "direct"}

    table = leakage_vs_gamma(Machine.triple_dot(), ["local"], [0.005, 0.01], options={"local": options},
                             progress=False)
    assert seen == [(0.005, 0.005), (0.01, 0.01)]
    fixed = leakage_vs_gamma(Machine.triple_dot(), ["local"], [0.005, 0.01], progress=False)
    assert np.allclose(table.current, fixed.current, rtol=1e-8)


# --------------------------------------------------------------------------------------- power laws
def test_power_law_fit_recovers_the_exponent():
    gammas = np.array([0.01, 0.02, 0.04, 0.08])
    assert power_law(gammas, 3.0 * gammas**2)[0] == pytest.approx(2.0)
    assert np.isnan(power_law(gammas, -gammas)[0])


def test_power_law_error_is_the_standard_error_of_the_slope():
    gammas = np.geomspace(0.01, 0.1, 6)
    noise = np.array([1, -1, 1, -1, 1, -1]) * 0.05
    fit = power_law(gammas, 2.0 * gammas**3 * np.exp(noise))
    slope, covariance = np.polyfit(np.log(gammas), np.log(2.0 * gammas**3) + noise, 1, cov="unscaled")
    residual = np.log(2.0 * gammas**3) + noise - np.polyval(slope, np.log(gammas))
    expected = np.sqrt(covariance[0, 0] * np.sum(residual**2) / (len(gammas) - 2))
    assert fit.exponent == pytest.approx(slope[0]) and fit.exponent_error == pytest.approx(expected)
    assert fit.exponent_error > 0
    assert power_law(gammas, gammas**2).exponent_error == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(power_law(gammas[:2], gammas[:2] ** 2).exponent_error)


def test_the_parabolic_maximum_finds_the_vertex_and_extends_past_an_edge():
    from transportbench.scans import parabolic_maximum

    calls = []

    def figure(delta):
        calls.append(delta)
        return 1.0 - (delta - 0.0137) ** 2, 1e-4 * delta

    found = parabolic_maximum("parabola", figure, [-0.02, 0.0, 0.02], refinements=2)
    assert found.delta_star == pytest.approx(0.0137, abs=1e-12) and found.f_star == pytest.approx(1.0, abs=1e-8)
    assert found.at(0.0) == pytest.approx(1.0 - 0.0137**2) and np.isnan(found.at(0.5))
    beyond = parabolic_maximum("shifted", lambda d: (1.0 - (d - 0.05) ** 2, 0.0), [-0.02, 0.0, 0.02], refinements=0)
    assert len(beyond.deltas) == 5 and beyond.delta_star == pytest.approx(0.05, abs=1e-12)  # two points added
    with pytest.raises(ValueError, match="lies at the edge"):
        parabolic_maximum("far", lambda d: (1.0 - (d - 1.0) ** 2, 0.0), [-0.02, 0.0, 0.02])
