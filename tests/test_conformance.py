"""The backend contract, checked the same way for every backend and approach.

Each approach must reproduce the analytic limits where it is exact (a single level; a two-dot chain at U = 0),
give no current at equilibrium, conserve energy, return a Hermitian state of unit trace and refuse what it
cannot represent. Where an approach is known to break a rule, the violation is declared below with its
measured size (and the test checks that size), never skipped. A new backend is done when it passes this
suite or declares what it lacks.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass

import numpy as np
import pytest

from transportbench.backends import all_approaches, exact_approaches, get_backend
from transportbench.comparison import solve, split_approach
from transportbench.model import BAND_KINDS, Band, Machine, Reservoir
from transportbench.options import RunOptions
from transportbench.resources import ResourceBudgetError


@dataclass(frozen=True)
class Declared:
    """What an approach guarantees, and its known violations with their measured sizes."""

    sequential_exact: bool = True
    """A single level is solved exactly in sequential tunnelling (first order in γ, no broadening)."""
    equilibrium_current: float = 1e-14
    """Largest |particle current| / Σγ at equilibrium on the triple dot with γ = 0.1 (round-off: 1e-14)."""
    energy_imbalance: tuple[float, float] = (0.0, 1e-9)
    """Range of |Σ_r J^E_r| / max_r |J^E_r| at the Fig. 3 point."""
    chain_rtol: float = 1e-10
    """Relative error of the current through a two-dot chain (g ≫ γ) against its weak-coupling Landauer value."""
    refuses: tuple[str, ...] = ()
    """Machine features the approach refuses with a ValueError."""
    marks: tuple = ()
    options: dict | None = None


QMEQ = (pytest.mark.qmeq,)
QMEQ_REFUSES = ("ideal_limit", "dephasing")
APPROACHES: dict[str, Declared] = {
    # the local equation misses the chain's eigenmodes: 6.8e-3 at g/T = 0.2 (it is exact for g ≪ γ)
    "local": Declared(chain_rtol=1e-2),
    "qmeq:Pauli": Declared(refuses=QMEQ_REFUSES, marks=QMEQ),
    # QmeQ's Lindblad approach leaks 7e-10 at equilibrium (γ = 0.1; 1e-12 at γ = 0.01); chain 1.3e-5
    "qmeq:Lindblad": Declared(equilibrium_current=1e-8, chain_rtol=1e-4, refuses=QMEQ_REFUSES, marks=QMEQ),
    # Redfield and 1vN with principal parts carry equilibrium currents (2e-7 and 2e-6 at γ = 0.1, ∝ γ^2.8;
    # exactly zero without principal parts); Redfield's kernels do not conserve energy (5 % at Fig. 3);
    # the principal parts shift the chain's current by 4e-4
    "qmeq:Redfield": Declared(equilibrium_current=1e-5, energy_imbalance=(0.01, 0.1), chain_rtol=1e-3,
                              refuses=QMEQ_REFUSES, marks=QMEQ),
    "qmeq:1vN": Declared(equilibrium_current=1e-4, chain_rtol=1e-3, refuses=QMEQ_REFUSES, marks=QMEQ),
    # HEOM broadens the level (not sequential, 2.1e-4 off the weak-coupling chain current); with the wide band in
    # the hierarchy its depth-2 truncation leaks 1.3e-7 at equilibrium (1.5e-9 at depth 3)
    "heom": Declared(sequential_exact=False, equilibrium_current=1e-6, chain_rtol=1e-3, refuses=QMEQ_REFUSES,
                     marks=(pytest.mark.skipif(importlib.util.find_spec("qutip") is None, reason="needs QuTiP"),),
                     options={"pade": 6, "depth": 2}),
}
"""Every approach under contract. 2vN is checked against Landauer in tests/test_qmeq_2vn.py: its grid
must resolve γ, which makes the suite's weak-coupling cases minutes long."""
EXEMPT = {"qmeq:2vN": "checked in tests/test_qmeq_2vn.py (see APPROACHES)"}


def test_every_registered_approach_is_under_contract():
    # a backend registered (built in or by entry point) but not declared here would escape the suite
    assert set(all_approaches()) == set(APPROACHES) | set(EXEMPT)
    assert exact_approaches() == ("heom",)


def _params(condition=lambda declared: True):
    return [pytest.param(spec, declared, id=spec, marks=declared.marks)
            for spec, declared in APPROACHES.items() if condition(declared)]


def _fermi(energy: float, mu: float, temperature: float) -> float:
    return 1.0 / (math.exp((energy - mu) / temperature) + 1.0)


def _solve(machine: Machine, spec: str, declared: Declared):
    return solve(machine, spec, **(declared.options or {}))


@pytest.mark.parametrize(("spec", "declared"), _params(lambda d: d.sequential_exact))
def test_single_level_on_one_lead_is_fermi_filled(spec, declared):
    machine = Machine(energies=(0.5,), reservoirs=(Reservoir("lead", 0, 1e-3, 0.0, 1.0),), statistics="fermion")
    result = _solve(machine, spec, declared)
    occupation = float(np.real(np.diag(result.rho))[list(result.occupations[:, 0]).index(1)])
    assert occupation == pytest.approx(_fermi(0.5, 0.0, 1.0), abs=1e-12)
    assert abs(result.particle_currents["lead"]) < 1e-15


@pytest.mark.parametrize(("spec", "declared"), _params(lambda d: d.sequential_exact))
def test_single_level_between_two_leads_carries_the_sequential_current(spec, declared):
    """I = γLγR (fL − fR)/(γL + γR), energy current ε I, both leads balanced."""
    machine = Machine(energies=(0.5,), statistics="fermion",
                      reservoirs=(Reservoir("left", 0, 2e-3, 2.0, 1.0), Reservoir("right", 0, 1e-3, -1.0, 0.5)))
    result = _solve(machine, spec, declared)
    expected = 2e-3 * 1e-3 / 3e-3 * (_fermi(0.5, 2.0, 1.0) - _fermi(0.5, -1.0, 0.5))
    assert result.particle_currents["left"] == pytest.approx(expected, rel=1e-10)
    assert result.particle_currents["right"] == pytest.approx(-expected, rel=1e-10)
    assert result.energy_currents["left"] == pytest.approx(0.5 * expected, rel=1e-10)
    assert result.health.entropy_production > 0 and result.health.status() == "ok"


@pytest.mark.parametrize(("spec", "declared"), _params())
def test_two_dot_chain_carries_the_landauer_current_of_its_eigenmodes(spec, declared):
    """U = 0, g = 0.2 ≫ γ: the weak-coupling Landauer current of the chain's eigenmodes.

    The modes (|10⟩ ± |01⟩)/√2 at ε ± g each see half of each lead's rate:
    I = Σ_± (γL/2)(γR/2)/((γL + γR)/2) (fL − fR)(ε ± g).
    """
    rates = (1e-3, 2e-3)
    machine = Machine(energies=(0.5, 0.5), couplings={(0, 1): 0.2}, statistics="fermion",
                      reservoirs=(Reservoir("left", 0, rates[0], 2.0, 1.0), Reservoir("right", 1, rates[1], -1.0, 0.5)))
    left, right = rates[0] / 2, rates[1] / 2
    expected = sum(left * right / (left + right) * (_fermi(energy, 2.0, 1.0) - _fermi(energy, -1.0, 0.5))
                   for energy in (0.3, 0.7))
    error = abs(_solve(machine, spec, declared).particle_currents["left"] / expected - 1)
    assert error <= declared.chain_rtol
    if declared.chain_rtol > 1e-9:  # a declared deviation is measured, not a loose bound
        assert error > declared.chain_rtol / 100


@pytest.mark.parametrize(("spec", "declared"), _params())
def test_equilibrium_carries_no_current(spec, declared):
    machine = Machine.triple_dot(mu_hot=0.3, mu_cold=0.3, T_hot=0.8, T_cold=0.8, statistics="fermion")
    result = _solve(machine, spec, declared)
    largest = max(abs(value) for value in result.particle_currents.values()) / 0.2
    assert largest <= declared.equilibrium_current
    if declared.equilibrium_current > 1e-10:  # a declared leak is measured, not a loose bound
        assert largest > declared.equilibrium_current / 100


@pytest.mark.parametrize(("spec", "declared"), _params())
def test_fig3_point_is_a_state_and_balances_energy(spec, declared):
    result = _solve(Machine.triple_dot(statistics="fermion"), spec, declared)
    health = result.health
    assert health.trace_error < 1e-10 and health.hermiticity_error < 1e-10
    low, high = declared.energy_imbalance
    assert low <= health.relative_energy_imbalance() <= high
    assert abs(sum(result.particle_currents.values())) < 1e-10 * max(map(abs, result.particle_currents.values()))


@pytest.mark.parametrize(("spec", "declared"), _params(lambda d: bool(d.refuses)))
def test_declared_refusals_are_value_errors_naming_the_feature(spec, declared):
    cases = {"ideal_limit": (Machine.triple_dot(ideal_limit=True), "ideal limit"),
             "dephasing": (Machine.triple_dot(dephasing=(0.01, 0.0, 0.0)), "dephasing")}
    for feature in declared.refuses:
        machine, named = cases[feature]
        with pytest.raises(ValueError, match=named):
            _solve(machine, spec, declared)


@pytest.mark.parametrize(("spec", "declared"), _params())
def test_options_round_trip_and_statistics_are_reported(spec, declared):
    machine = Machine.triple_dot(statistics="fermion")
    first = _solve(machine, spec, declared)
    again = solve(first.machine, spec, **first.options)
    assert np.array_equal(again.rho, first.rho) and dict(again.options) == dict(first.options)
    assert first.stats and first.backend == spec


@pytest.mark.parametrize(("spec", "declared"), _params())
def test_bands_and_statistics_a_backend_lacks_are_refused(spec, declared):
    capabilities = get_backend(split_approach(spec)[0]).CAPABILITIES
    widths = {"flat": 200.0, "lorentzian": 200.0}
    for kind in set(BAND_KINDS) - set(capabilities.bands):
        with pytest.raises(ValueError, match=f"cannot represent the {kind} band"):
            _solve(Machine.triple_dot(band=Band(kind, widths[kind])), spec, declared)
    crossing = Machine.triple_dot(statistics="qubit").replace(order=(0, 1, 2))  # the (0, 2) hop crosses dot 1
    if "qubit" in capabilities.statistics:
        assert _solve(crossing, spec, declared).health.trace_error < 1e-10
    else:
        with pytest.raises(ValueError, match="flip-flop crosses another dot"):
            _solve(crossing, spec, declared)


@pytest.mark.parametrize(("spec", "declared"), _params())
def test_run_options_set_threads_and_budget_for_every_backend(spec, declared):
    """One RunOptions for every backend: the thread count is used and recorded, a tiny budget refuses the solve."""
    machine = Machine.triple_dot(statistics="fermion")
    backend = get_backend(split_approach(spec)[0])
    approach = {"approach": split_approach(spec)[1]} if split_approach(spec)[1] else {}
    settings = {**approach, **(declared.options or {})}
    result = backend.solve_steady(machine, run=RunOptions(threads=2, progress=False), **settings)
    assert result.stats["blas_threads"] == 2 and not set(RunOptions.names()) & set(result.options)
    with pytest.raises(ResourceBudgetError, match="above the memory budget of 1 KiB"):
        backend.solve_steady(machine, run=RunOptions(memory_gib=2**-20), **settings)


def test_declared_capabilities_match_what_the_module_provides():
    """``dynamics`` means an ``evolve`` function; ``exact`` backends are the references compare measures against."""
    for name in {spec.partition(":")[0] for spec in all_approaches()}:
        module = get_backend(name)
        assert module.CAPABILITIES.dynamics == callable(getattr(module, "evolve", None)), name
    assert all(get_backend(spec.partition(":")[0]).CAPABILITIES.exact for spec in exact_approaches())
