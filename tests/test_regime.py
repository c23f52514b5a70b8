"""The regime validator: its conditions, its calibrated thresholds and the comparison with the exact reference."""

import math

import pytest

from transportbench.comparison import compare
from transportbench.model import Band, Machine
from transportbench.regime import (
    THRESHOLDS,
    cotunnelling_rate,
    detuning_conditions,
    exact_error,
    lamb_shifted,
    validate_regime,
)


def test_regime_validator_margins_and_verdicts():
    valid = validate_regime(Machine.triple_dot(gamma_hot=0.01, gamma_cold=0.01, g13=0.01, g23=0.01, mu_hot=8.5))
    assert valid.status == "valid"
    assert not [w for w in valid.warnings if "cotunnelling" not in w]
    violated = validate_regime(Machine.triple_dot(gamma_hot=5.0))
    assert violated.status == "violated"
    hot_weak = next(c for c in violated.conditions if c.name == "weak coupling" and c.reservoir == "hot")
    assert hot_weak.ratio == pytest.approx(5.0 / max(1.0, min(abs(1 + 0.05 - 8), abs(1 - 0.05 - 8))))
    assert any("hot" in w for w in violated.warnings)
    marginal = validate_regime(Machine.triple_dot(gamma_cold=0.3), safe=0.1, marginal=0.5)
    assert marginal.status == "marginal"
    with pytest.raises(ValueError, match="safe"):
        validate_regime(Machine.triple_dot(), safe=0.5, marginal=0.1)


def test_regime_validator_flags_a_lamb_shift_beyond_the_coupling():
    """Weak g next to the hot lead's level shift: the paper's inequalities hold, the Lamb-shift one does not."""
    fig3 = validate_regime(Machine.triple_dot())
    lamb = next(c for c in fig3.conditions if c.name == "Lamb shift")
    assert lamb.large == 1.0 and lamb.ratio == pytest.approx(0.0031, abs=2e-4)  # C: 0.9934 -> 0.9904 (1vN 0.9909)
    weak_g = validate_regime(Machine.triple_dot(mu_hot=6.0, g13=0.01, g23=0.01))
    assert weak_g.status == "violated"
    assert all(c.ratio < 0.11 for c in weak_g.conditions if c.name in ("weak coupling", "local coupling"))
    assert any(w.startswith("Lamb shift for machine") for w in weak_g.warnings)
    symmetric = validate_regime(Machine.triple_dot(mu_hot=8.5, g13=0.01, g23=0.01))  # μ = ε + U/2: no δ*
    assert next(c for c in symmetric.conditions if c.name == "Lamb shift").ratio < 0.02
    assert not any(c.name == "Lamb shift" for c in validate_regime(Machine.triple_dot(ideal_limit=True)).conditions)


def test_lamb_shifted_local_equation_follows_1vn():
    """The local equation with the leads' level shifts in the qubit energies is close to QmeQ's 1vN."""
    for detuning in (0.0, 0.05):
        machine = Machine.triple_dot(detuning={0: detuning})
        table = compare(machine, ["local", "qmeq:1vN"])
        shifted = compare(lamb_shifted(machine), ["local"])
        one_vn, bare = float(table.concurrence.sel(approach="qmeq:1vN")), float(table.concurrence.sel(approach="local"))
        assert abs(float(shifted.concurrence[0]) - one_vn) < 0.25 * abs(bare - one_vn)  # 22 % at Δ = 0, 3 % at Δ = 0.05


def test_detuning_condition_flags_spurious_equilibrium_currents():
    """Qubit 0 detuned at equilibrium: the local equation carries a current the exact one does not."""
    detuned = validate_regime(Machine.triple_dot(mu_hot=0.0, detuning={0: 0.05}))
    condition = next(c for c in detuned.conditions if c.name == "detuning")
    assert condition.reservoir == "hot/cold" and condition.large == 0.0 and math.isinf(condition.ratio)
    assert condition.currents_only and detuned.current_status == "violated"  # the state is fine (|ΔC| < 0.003)
    assert any("detuning" in w for w in detuned.warnings)
    fig3 = next(c for c in validate_regime(Machine.triple_dot()).conditions if c.name == "detuning")
    assert fig3.ratio == 0.0
    # spurious bias |f_cold(1.05) − f_cold(1)| against the real one f_hot(1.025) − f_cold(1.025)
    slightly = detuning_conditions(Machine.triple_dot(detuning={0: 0.05}))[0]
    assert slightly.small == pytest.approx(0.0097, rel=0.01) and slightly.ratio == pytest.approx(0.0132, rel=0.01)
    # no reservoir on qubit 1: its detuning drives no spurious current (the Lamb-shift condition covers it)
    assert not detuning_conditions(Machine.triple_dot(mu_hot=0.0, detuning={1: 0.05}))[0].small


def test_cotunnelling_condition_bounds_the_currents_only():
    fig3 = validate_regime(Machine.triple_dot())
    cotunnelling = next(c for c in fig3.conditions if c.name == "cotunnelling")
    assert cotunnelling.currents_only
    assert cotunnelling.small == pytest.approx(0.01 / (2 * math.pi) * (1 / 7 + 1 / 8) ** 2)
    assert cotunnelling.large == pytest.approx(6.765e-5, rel=1e-3)  # the local equation's current
    assert fig3.current_status == "violated"  # the local current is 60 % below exact there
    assert fig3.status == "marginal"  # |ΔC| = 0.016 against exact: not "valid"
    assert cotunnelling_rate(Machine.triple_dot(mu_hot=0.0)) == 0.0  # no reservoir inside its Coulomb gap
    assert cotunnelling_rate(Machine.triple_dot(ideal_limit=True)) > 0
    assert not any(c.name == "cotunnelling" for c in validate_regime(Machine.triple_dot(ideal_limit=True)).conditions)


def expected_status(conditions) -> str:
    """The verdict ``THRESHOLDS`` imply for these conditions."""
    codes = [0 if c.ratio <= THRESHOLDS[c.name][0] else 1 if c.ratio <= THRESHOLDS[c.name][1] else 2
             for c in conditions]
    return ("valid", "marginal", "violated")[max(codes, default=0)]


@pytest.mark.parametrize("machine", [Machine.triple_dot(), Machine.triple_dot(gamma_hot=0.3, gamma_cold=0.3),
                                     Machine.triple_dot(g13=0.01, g23=0.01), Machine.triple_dot(detuning={0: 0.2}),
                                     Machine.triple_dot(gamma_hot=0.01, gamma_cold=0.01, g13=0.2, g23=0.2)])
def test_thresholds_are_respected(machine):
    verdict = validate_regime(machine)
    assert verdict.status == expected_status([c for c in verdict.conditions if not c.currents_only])
    assert verdict.current_status == expected_status(verdict.conditions)
    unsafe = [c for c in verdict.conditions if c.ratio > THRESHOLDS[c.name][0]]
    assert len(verdict.warnings) == len(unsafe)
    loose = validate_regime(machine, safe=1e9, marginal=1e9)
    assert loose.status == loose.current_status == "valid" and not loose.warnings
    assert validate_regime(machine, safe=1e-9, marginal=1e-9).current_status == "violated"
    between = validate_regime(machine, safe=1e-9, marginal=1e9)
    assert between.current_status == "marginal"


def test_reference_heom_gives_the_exact_error_of_a_direct_compare():
    machine = Machine.triple_dot(gamma_hot=0.05, gamma_cold=0.05, band=Band.lorentzian(50.0))  # one hierarchy
    options = {"pade": 6, "depth": 2, "converge": False}
    verdict = validate_regime(machine, reference="heom", options=options)
    table = compare(machine, ["local", "heom"], options={"heom": options})
    local, heom = table.sel(approach="local"), table.sel(approach="heom")
    exact = verdict.exact
    assert exact.concurrence_error == pytest.approx(abs(float(local.concurrence - heom.concurrence)), abs=1e-12)
    hot_local = float(local.particle_current.sel(reservoir="hot"))
    hot_exact = float(heom.particle_current.sel(reservoir="hot"))
    assert exact.current_error == pytest.approx(abs(hot_local - hot_exact) / abs(hot_exact), rel=1e-9)
    assert not exact.converged  # a fixed hierarchy is not assessed
    assert "against heom" in str(verdict)


def test_unknown_reference_is_refused():
    with pytest.raises(ValueError, match="reference"):
        validate_regime(Machine.triple_dot(), reference="2vN")
    with pytest.raises(ValueError, match="reference"):
        validate_regime(Machine.triple_dot(), options={"pade": 6})
    with pytest.raises(ValueError, match="reference"):
        exact_error(Machine.triple_dot(), reference="qmeq:2vN")
