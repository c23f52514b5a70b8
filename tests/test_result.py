"""Health's thermodynamic figures: energy balance and entropy production against analytic results; error estimates."""

import dataclasses
import math

import numpy as np
import pytest

from transportbench.backends.local import solve_steady
from transportbench.model import Machine, Reservoir
from transportbench.result import Result, assess, thermodynamics


def _fermi(energy, mu, temperature):
    return 1.0 / (math.exp((energy - mu) / temperature) + 1.0)


def _single_level(mu_left=3.0, t_left=1.0, mu_right=0.0, t_right=0.5, epsilon=1.0):
    return Machine(energies=(epsilon,), reservoirs=(Reservoir("left", 0, 0.02, mu_left, t_left),
                                                   Reservoir("right", 0, 0.05, mu_right, t_right)))


def test_single_level_entropy_production_is_the_sequential_tunnelling_formula():
    """One level between two leads: I = γLγR(fL − fR)/(γL + γR), σ = −I [(ε−μL)/TL − (ε−μR)/TR] > 0."""
    machine = _single_level()
    health = solve_steady(machine).health
    f_left, f_right = _fermi(1.0, 3.0, 1.0), _fermi(1.0, 0.0, 0.5)
    current = 0.02 * 0.05 * (f_left - f_right) / 0.07
    expected = -current * ((1.0 - 3.0) / 1.0 - (1.0 - 0.0) / 0.5)
    assert expected > 0
    assert health.entropy_production == pytest.approx(expected, rel=1e-9)
    assert abs(health.energy_imbalance) < 1e-12 * health.energy_scale
    assert health.obeys_second_law() and health.conserves_energy() and health.status() == "ok"


def test_equilibrium_produces_no_entropy():
    health = solve_steady(_single_level(mu_left=0.5, t_left=0.7, mu_right=0.5, t_right=0.7)).health
    assert abs(health.entropy_production) < 1e-15
    assert health.status() == "ok"


def test_signs_infinities_and_the_ideal_limit():
    machine = _single_level(t_right=0.0)
    particle = {"left": 1e-3, "right": -1e-3}
    # heat 1e-3 (ε − μ) flows out of the T = 0 lead into the system: impossible, σ = −∞
    backwards = thermodynamics(machine, {"left": -1e-3, "right": 1e-3}, {"left": -1e-3, "right": 1e-3})
    assert backwards["entropy_production"] == -math.inf
    forwards = thermodynamics(machine, particle, {"left": 1e-3, "right": -1e-3})
    assert forwards["entropy_production"] == math.inf and forwards["energy_imbalance"] == 0.0
    ideal = thermodynamics(Machine.triple_dot(ideal_limit=True), {"hot": 1.0, "cold": -1.0}, {"hot": 1.0, "cold": -1.0})
    assert math.isnan(ideal["entropy_production"])


def test_result_fills_in_the_thermodynamics_and_status_reports_violations():
    machine = _single_level()
    rho = np.diag([0.5, 0.5]).astype(complex)
    wrong_way = Result(machine, "test", rho, np.array([[0], [1]]), {"left": -1e-3, "right": 1e-3},
                       {"left": -1e-3, "right": 2e-3}, health=assess(rho))
    assert wrong_way.health.entropy_production < 0
    assert wrong_way.health.relative_energy_imbalance() == pytest.approx(0.5)
    assert wrong_way.health.status() == "second law violated; energy not conserved (50.0%)"


def test_particle_balance_is_checked():
    machine = _single_level()
    rho = np.diag([0.5, 0.5]).astype(complex)
    leaking = Result(machine, "test", rho, np.array([[0], [1]]), {"left": 1e-3, "right": -0.5e-3},
                     {"left": 2e-3, "right": -2e-3}, health=assess(rho))
    assert leaking.health.particle_imbalance == pytest.approx(0.5e-3) and not leaking.health.conserves_particles()
    assert "particles not conserved (5.0e-01)" in leaking.health.status()
    balanced = solve_steady(machine).health
    assert balanced.conserves_particles() and abs(balanced.particle_imbalance) < 1e-15
    assert math.isnan(balanced.equilibrium_current)  # biased: no equilibrium to check


def test_a_current_at_equilibrium_is_reported():
    """Every reservoir at one μ and T: no current. The local equation of a detuned triple dot carries one."""
    equilibrium = Machine.triple_dot(mu_hot=0.3, mu_cold=0.3, T_hot=1.0, T_cold=1.0)
    resonant = solve_steady(equilibrium).health
    assert resonant.equilibrium_current < 1e-14 and resonant.status() == "ok"
    detuned = solve_steady(equilibrium.replace(energies=(1.5, 1.0, 1.0))).health
    assert detuned.equilibrium_current > 1e-4 and "current at equilibrium" in detuned.status()
    assert detuned.conserves_particles()


def test_results_are_read_only_and_compare_by_identity():
    result = solve_steady(_single_level())
    assert result == result and result != solve_steady(_single_level())
    with pytest.raises(TypeError):
        result.options["basis"] = "full"
    with pytest.raises(TypeError):
        result.particle_currents["left"] = 0.0


def test_error_estimate_adds_the_measured_stages_and_error_bars_read_it() -> None:
    from transportbench.figures import ErrorBar
    from transportbench.result import ErrorEstimate, StageChange

    estimate = ErrorEstimate((StageChange("pade", 1e-5, 2e-3), StageChange("depth", 3e-5, math.nan, rho=1e-4),
                              StageChange("iterations", rho=2e-6)))
    assert estimate.concurrence == pytest.approx(4e-5) and estimate.currents == pytest.approx(2e-3)
    assert estimate.stage("band") is None and estimate.stage("depth").rho == 1e-4
    assert math.isnan(ErrorEstimate((StageChange("iterations", rho=1e-6),)).concurrence)
    result = solve_steady(Machine.triple_dot())
    assert result.error is None and math.isnan(ErrorBar()(result))
    with_error = dataclasses.replace(result, error=estimate)
    assert ErrorBar("concurrence", "depth")(with_error) == 3e-5 and math.isnan(ErrorBar("currents", "band")(with_error))
    assert ErrorBar("currents").name == "error_I" and ErrorBar("concurrence", "pade").name == "error_C_pade"
    with pytest.raises(ValueError, match="quantity"):
        ErrorBar("fidelity")
