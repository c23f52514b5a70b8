"""The HEOM backend against exact results, QuTiP's own steady state, and the first-order approaches."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.integrate import quad_vec
from textbook import lorentzian_green

from transportbench.convergence import ConvergenceWarning
from transportbench.figures import ErrorBar
from transportbench.model import Band, Machine, Reservoir
from transportbench.observables import concurrence, populations
from transportbench.resources import ResourceBudgetError, blas_threads, memory_budget
from transportbench.thermal import fermi

pytest.importorskip("qutip")

from transportbench.backends import heom, heom_solve  # noqa: E402
from transportbench.backends import heom_hierarchy as hierarchy  # noqa: E402
from transportbench.backends import heom_steady as steady  # noqa: E402

# ---------------------------------------------------------------------------- exact U = 0 result
WIDTH = 4.0
WIDE_CHAIN = Machine(
    energies=(0.3, -0.2, 0.5), couplings={(0, 1): 0.4, (1, 2): 0.3},
    reservoirs=(Reservoir("left", 0, 0.3, 1.0, 0.8), Reservoir("right", 2, 0.2, -0.5, 0.5)),
    statistics="fermion")
CHAIN = WIDE_CHAIN.with_band(Band.lorentzian(WIDTH))
LORENTZ = Band.lorentzian(93.3)
FIG3 = Machine.triple_dot(band=LORENTZ)
"""The Fig. 3 point on Lorentzian leads of half-width 93.3 (3 × the energy scale): one hierarchy per solve."""


def _landauer(machine: Machine, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ⟨c_j† c_i⟩ (matrix [i, j]), particle and energy current into the chain from each lead."""
    n = machine.n_qubits
    left, right = machine.reservoirs

    def integrand(omega: float) -> np.ndarray:
        g, (gamma_l, gamma_r) = lorentzian_green(machine, omega, width)
        f = [float(fermi(omega, r.chemical_potential, r.temperature)) for r in machine.reservoirs]
        lesser = g @ (f[0] * gamma_l + f[1] * gamma_r) @ g.conj().T  # −i G^< = G Σ_r f_r Γ_r G†
        transmission = np.trace(gamma_l @ g @ gamma_r @ g.conj().T).real
        flow = transmission * (f[0] - f[1])
        return np.concatenate([lesser.ravel(), [flow, omega * flow]]) / (2 * np.pi)

    values, _ = quad_vec(integrand, -np.inf, np.inf, epsabs=1e-13, epsrel=1e-11)
    density = values[:n * n].reshape(n, n)
    particle = np.array([values[n * n].real, -values[n * n].real])
    energy = np.array([values[n * n + 1].real, -values[n * n + 1].real])
    assert left.qubit == 0 and right.qubit == n - 1
    return density, particle, energy


def _correlation(result: object, i: int, j: int) -> complex:
    """⟨c_j† c_i⟩ of a HEOM result (Jordan–Wigner operators of the backend)."""
    c_i = hierarchy.annihilator(result.machine, i)
    c_j = hierarchy.annihilator(result.machine, j)
    return complex(np.trace(result.rho @ c_j.T @ c_i))


def test_noninteracting_chain_matches_landauer() -> None:
    result = heom.solve_steady(CHAIN, pade=14, depth=2)
    density, particle, energy = _landauer(CHAIN, WIDTH)
    occupations = populations(result.rho, result.occupations)
    np.testing.assert_allclose(occupations, density.diagonal().real, atol=1e-6)
    for i, j in ((0, 1), (1, 2), (0, 2)):
        assert abs(_correlation(result, i, j) - density[i, j]) < 1e-6
    assert abs(density[0, 1]) > 1e-2  # the coherence is not trivially zero
    np.testing.assert_allclose([result.particle_currents[r] for r in ("left", "right")], particle, atol=1e-6)
    np.testing.assert_allclose([result.energy_currents[r] for r in ("left", "right")], energy, atol=1e-6)
    assert abs(particle[0]) > 1e-2 and abs(energy[0]) > 1e-3


def test_noninteracting_normalisation_is_the_golden_rule_rate() -> None:
    # one level deep inside a wide band: the current is the sequential-tunnelling value Γ_L Γ_R/(Γ_L + Γ_R)
    # (a factor 2 or 2π in the normalisation would show; the tails outside the bias window cost ~3e-4)
    level = Machine(energies=(0.0,), reservoirs=(Reservoir("left", 0, 0.02, 100.0, 5.0),
                                                 Reservoir("right", 0, 0.03, -100.0, 5.0)), statistics="fermion")
    width = 2000.0
    result = heom.solve_steady(level.with_band(Band.lorentzian(width)), pade=10, depth=2)
    # the bands are centred at μ = ±100: at the level, Γ_r(0) = Γ_r W² / (μ_r² + W²)
    gamma_l, gamma_r = (r.rate * width**2 / (r.chemical_potential**2 + width**2) for r in level.reservoirs)
    assert result.particle_currents["left"] == pytest.approx(gamma_l * gamma_r / (gamma_l + gamma_r), rel=5e-4)


# ------------------------------------------------------------------------- conservation, equilibrium
def test_equilibrium_has_no_currents() -> None:
    # U = 0: the hierarchy at depth 2 is exact and the currents vanish to round-off
    free = heom.solve_steady(Machine.triple_dot(mu_hot=3.0, mu_cold=3.0, U=0.0, band=LORENTZ), pade=6,
                             depth=2)
    assert max(abs(value) for value in [*free.particle_currents.values(), *free.energy_currents.values()]) < 1e-13
    # with U the truncation leaves a small equilibrium current that shrinks with the depth
    # (measured: 2.5e-8 at depth 2, 5.5e-10 at depth 3, against 1.6e-4 out of equilibrium)
    machine = Machine.triple_dot(mu_hot=3.0, mu_cold=3.0, band=LORENTZ)
    leaks = [abs(heom.solve_steady(machine, pade=6, depth=depth).particle_currents["hot"]) for depth in (2, 3)]
    driven = heom.solve_steady(FIG3, pade=6, depth=2)
    assert abs(driven.particle_currents["hot"]) > 1e-4  # the same code gives a current out of equilibrium
    assert leaks[0] < 1e-3 * abs(driven.particle_currents["hot"]) and leaks[1] < leaks[0] / 10


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize(("machine", "pade"), [(FIG3, 4), (Machine.triple_dot(), 6)],
                         ids=["lorentzian", "wide-band-in-the-hierarchy"])
def test_energy_and_particles_are_conserved(machine: Machine, pade: int, depth: int) -> None:
    result = heom.solve_steady(machine, pade=pade, depth=depth)
    energy = np.array(list(result.energy_currents.values()))
    particle = np.array(list(result.particle_currents.values()))
    assert abs(energy.sum()) <= 1e-9 * np.abs(energy).max()
    assert abs(particle.sum()) <= 1e-9 * np.abs(particle).max()
    assert result.health.conserves_energy() and result.health.obeys_second_law()
    assert result.health.is_physical()


# --------------------------------------------------------------------------------- steady state
@pytest.fixture(scope="module")
def small_hierarchy() -> tuple[hierarchy.Hierarchy, steady.SteadyState]:
    """The Fig. 3 machine at W = 30, 2 Padé terms, depth 2 (79 ADOs), and QuTiP's steady state of it."""
    built = hierarchy.build_hierarchy(Machine.triple_dot(), 30.0, 2, 2)
    solver = hierarchy.qutip_solver(Machine.triple_dot(), 30.0, 2, 2)
    with blas_threads("sparse"):
        return built, steady.qutip_steady_state(solver, built.generator,
                                                built.layout.occupations(len(built.exponents.signs)),
                                                built.layout.kept, 8)


@pytest.mark.parametrize("method", ["direct", "iterative", "ilu"])
def test_our_steady_state_equals_qutips(method: str, small_hierarchy: tuple) -> None:
    built, theirs = small_hierarchy
    ours = steady.solve(built.equations, 8, method=method)
    assert np.max(np.abs(ours.vector - theirs.vector)) < 1e-10  # every ADO, not only ρ
    assert np.max(np.abs(theirs.vector)) > 0.1
    assert ours.unknowns < theirs.unknowns / 4  # the charge blocks cut the system
    if method == "direct":
        assert ours.unique is True


def test_iterative_depth3_equals_direct() -> None:
    machine = Machine.triple_dot(gamma_hot=0.2)
    built = hierarchy.build_hierarchy(machine, 30.0, 2, 3)
    direct = steady.solve(built.equations, 8, method="direct")
    iterative = steady.solve(built.equations, 8, method="iterative")
    assert "depth-2 hierarchy" in iterative.method
    assert np.max(np.abs(direct.vector - iterative.vector)) < 1e-10


def test_qutip_solver_option_gives_the_same_result() -> None:
    machine = Machine.triple_dot(band=Band.lorentzian(30.0))
    ours = heom.solve_steady(machine, pade=2, depth=2)
    theirs = heom.solve_steady(machine, pade=2, depth=2, solver="qutip")
    assert np.max(np.abs(ours.rho - theirs.rho)) < 1e-10
    assert ours.particle_currents["hot"] == pytest.approx(theirs.particle_currents["hot"], rel=1e-9)


def test_residual_check_rejects_a_wrong_state() -> None:
    machine = Machine.triple_dot()
    built = hierarchy.build_hierarchy(machine, 30.0, 2, 2)
    vector = np.zeros(built.generator.shape[0], dtype=complex)
    vector[0] = 1.0  # the empty state alone is not stationary
    with pytest.raises(steady.SteadyStateError, match="residual"):
        steady._checked(built.generator, vector, len(vector), "test", math.nan, 0.0)


# -------------------------------------------------------------------------------- convergence
def test_fig3_point_converges_within_tolerances() -> None:
    result = heom.solve_steady(FIG3)
    assert result.health.converged and result.health.status() == "ok"
    assert result.stats["pade"] == 10 and result.stats["depth"] == 3
    assert [change.stage for change in result.error.stages] == ["pade", "depth"]  # a Lorentzian band: no band step
    assert result.error.stage("depth").concurrence < 1e-4
    assert result.error.concurrence == pytest.approx(sum(change.concurrence for change in result.error.stages))
    notes = "\n".join(result.health.notes)
    assert "error estimate from the Padé terms" in notes and "error estimate from the depth" in notes
    assert "final: W=93.3, pade=10, depth=3" in notes
    pair = concurrence(result.reduced_state([0, 1]))
    assert 0.97 < pair < 0.99  # 2vN (D = 93.3) gives 0.982, 1vN 0.991
    assert result.particle_currents["hot"] == pytest.approx(1.62e-4, rel=0.02)


def test_convergence_budget_warns() -> None:
    with pytest.warns(ConvergenceWarning, match="did not converge within the budget"):
        result = heom.solve_steady(FIG3, converge=True, pade=4, max_pade=4, max_depth=2)
    assert not result.health.converged


def test_convergence_at_small_gamma_stops_at_depth_3() -> None:
    machine = Machine.triple_dot(gamma_hot=0.02, gamma_cold=0.02, band=LORENTZ)
    result = heom.solve_steady(machine, max_depth=3)
    assert result.health.converged
    assert "final: W=93.3, pade=10, depth=3" in "\n".join(result.health.notes)


def test_wide_band_extrapolation_reports_its_error() -> None:
    result = heom.solve_steady(WIDE_CHAIN, wide_band_width=20.0, pade=10, depth=2)  # a width: wide_band="extrapolate"
    assert result.options.wide_band == "extrapolate" and result.stats["wide_band"] == "extrapolate"
    assert any(note.startswith("wide band: extrapolated in 1/W from W = 20, 40, 80") for note in result.health.notes)
    assert result.stats["band_widths"] == (20.0, 40.0, 80.0) and result.error.stage("band").currents < 2e-3
    assert [change.stage for change in result.error.stages] == ["band"]  # fixed pade and depth: no such steps
    assert ErrorBar("currents")(result) == pytest.approx(result.error.currents)
    assert ErrorBar("currents", "band")(result) == result.error.stage("band").currents
    # U = 0, wide band: the Landauer current with energy-independent rates
    _, particle, _ = _landauer(WIDE_CHAIN, 1e5)
    assert result.particle_currents["left"] == pytest.approx(particle[0], rel=2e-3)


# ---------------------------------------------------------------------------------- weak coupling
@pytest.mark.qmeq
def test_weak_coupling_approaches_first_order() -> None:
    pytest.importorskip("qmeq")
    from transportbench.backends import qmeq

    scales = np.array([0.5, 0.25, 0.125])
    relative, absolute, state = [], [], []
    for scale in scales:
        machine = Machine.triple_dot(gamma_hot=0.1 * scale, gamma_cold=0.1 * scale, statistics="fermion")
        exact = heom.solve_steady(machine.with_band(LORENTZ), pade=10, depth=2)
        first = qmeq.solve_steady(machine, approach="1vN")
        difference = abs(exact.particle_currents["hot"] - first.particle_currents["hot"])
        absolute.append(difference)
        relative.append(difference / abs(first.particle_currents["hot"]))
        state.append(np.max(np.abs(exact.rho - first.rho)))
    slope = {name: np.polyfit(np.log(scales), np.log(values), 1)[0]
             for name, values in (("relative", relative), ("absolute", absolute), ("state", state))}
    # measured: relative current error ∝ γ^0.9, absolute ∝ γ^2 (cotunnelling), ρ ∝ γ^1.0
    assert slope["relative"] > 0.8 and slope["absolute"] > 1.8 and slope["state"] > 0.9
    assert relative[-1] < 0.15


# ------------------------------------------------------------------------------- refusals, options
def test_refuses_what_heom_cannot_represent() -> None:
    with pytest.raises(ValueError, match="ideal limit"):
        heom.solve_steady(Machine.triple_dot(ideal_limit=True))
    with pytest.raises(ValueError, match="dephasing"):
        heom.solve_steady(Machine.triple_dot(dephasing=(0.1, 0.0, 0.0)))
    with pytest.raises(ValueError, match="T > 0"):
        heom.solve_steady(Machine.triple_dot(T_cold=0.0))
    with pytest.raises(ValueError, match="reservoir with a rate"):
        heom.solve_steady(Machine(energies=(1.0,)))
    with pytest.raises(ValueError, match="cannot represent the flat band of width 50"):
        heom.solve_steady(Machine.triple_dot(band=Band.flat(50.0)))
    mixed = FIG3.replace(reservoirs=(FIG3.reservoirs[0], Machine.triple_dot().reservoirs[1]))
    with pytest.raises(ValueError, match="one band for every lead"):
        heom.solve_steady(mixed)


def test_memory_and_ado_budgets_refuse_before_building() -> None:
    with memory_budget(1e-6), pytest.raises(ResourceBudgetError, match="HEOM hierarchy"):
        heom.solve_steady(FIG3, pade=6, depth=2)
    with pytest.raises(ValueError, match="max_ados"):
        heom.solve_steady(FIG3, pade=6, depth=3, max_ados=1000)


@pytest.mark.parametrize(("option", "value"), [("wide_band_width", -1.0), ("wide_band", "exact"), ("depth", 0),
                                               ("pade", 1.5), ("tol", 0),
                                               ("solver", "magic"), ("converge", "yes"), ("max_ados", True)])
def test_bad_option_values_name_the_option(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        heom.solve_steady(FIG3, **{option: value})


def test_unknown_option_is_an_error_before_any_work() -> None:
    with pytest.raises(ValueError, match=r"unknown HeomOptions setting\(s\) \['band_width'\]"):
        heom.solve_steady(FIG3, band_width=10.0)


def test_options_round_trip_and_statistics_note() -> None:
    first = heom.solve_steady(FIG3, pade=4, depth=2)
    again = heom.solve_steady(first.machine, first.options)
    np.testing.assert_allclose(again.rho, first.rho, atol=1e-13)
    assert first.options == heom.HeomOptions(converge=False, depth=2, pade=4)
    assert any("solves fermion statistics" in note for note in first.health.notes)
    fermions = heom.solve_steady(FIG3.replace(statistics="fermion"), pade=4, depth=2)
    assert not any("solves fermion statistics" in note for note in fermions.health.notes)
    with pytest.raises(ValueError, match="flip-flop crosses another dot"):
        heom.solve_steady(FIG3.replace(order=(0, 1, 2)), pade=4, depth=2)


def test_ado_count_is_exact() -> None:
    machine = Machine.triple_dot()
    size = hierarchy.hierarchy_size(machine, 3, 3)
    built = hierarchy.build_hierarchy(machine, 30.0, 3, 3)
    assert size.ados == built.n_ados == 1 + 16 + 120 + 560
    assert size.reduced_unknowns == len(built.layout.kept)
    assert built.generator.nnz < size.generator_nonzeros


def test_import_does_not_import_qutip_or_qmeq() -> None:
    code = ("import sys, transportbench.backends.heom; "
            "print(any(m.split('.')[0] in ('qutip', 'qmeq') for m in sys.modules))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_missing_qutip_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "qutip", None)
    with pytest.raises(ImportError, match=r"transportbench\[heom\]"):
        hierarchy.import_qutip()


def test_compare_measures_every_approach_against_heom() -> None:
    from transportbench.comparison import compare, format_table

    table = compare(FIG3, ["local", "heom"], options={"heom": {"pade": 6, "depth": 2}})
    assert table.attrs["reference"] == "heom"
    assert float(table.concurrence_error.sel(approach="heom")) == 0.0
    local_error = float(table.concurrence_error.sel(approach="local"))
    assert local_error == pytest.approx(float(table.concurrence.sel(approach="local") - table.concurrence.sel(
        approach="heom")), abs=0)
    assert local_error > 0.005  # the local equation misses the cotunnelling leak through the dark state
    assert "ΔC(0,1)" in format_table(table)


def test_padé_terms_per_reservoir_serve_a_cold_lead() -> None:
    """A cold lead (T = 0.02) needs more Padé terms than a warm one; per-lead terms match Landauer with fewer ADOs."""
    left, right = WIDE_CHAIN.reservoirs
    cold = Machine(energies=WIDE_CHAIN.energies, couplings=dict(WIDE_CHAIN.couplings),
                   reservoirs=(left, Reservoir("right", 2, 0.2, -0.5, 0.02)),
                   statistics="fermion").with_band(Band.lorentzian(WIDTH))
    _, particle, energy = _landauer(cold, WIDTH)
    few = heom.solve_steady(cold, pade=6, depth=2)
    per_lead = heom.solve_steady(cold, pade={"left": 6, "right": 20}, depth=2)
    uniform = heom.solve_steady(cold, pade=20, depth=2)
    assert abs(few.particle_currents["left"] - particle[0]) > 1e-5  # 6 terms are too few for the cold lead
    for result in (per_lead, uniform):
        np.testing.assert_allclose([result.particle_currents[r] for r in ("left", "right")], particle, atol=1e-10)
        np.testing.assert_allclose([result.energy_currents[r] for r in ("left", "right")], energy, atol=1e-10)
    assert per_lead.stats["pade"] == {"left": 6, "right": 20} and uniform.stats["pade"] == 20
    assert per_lead.stats["ados"] == hierarchy.hierarchy_size(cold, {"left": 6, "right": 20}, 2).ados
    assert per_lead.stats["ados"] < uniform.stats["ados"]
    same = heom.solve_steady(cold, pade={"left": 6, "right": 6}, depth=2)
    assert np.array_equal(same.rho, few.rho) and same.stats["pade"] == 6


def test_padé_terms_per_reservoir_are_checked_and_raised_together() -> None:
    for bad, message in (({"hot": 8}, "missing \\['cold'\\]"), ({"hot": 8, "cold": 8, "sink": 8}, "unknown"),
                         ({"hot": 0, "cold": 8}, "pade\\['hot'\\]"), ({}, "empty")):
        with pytest.raises(ValueError, match=message):
            heom.solve_steady(FIG3, pade=bad, depth=2)
    with pytest.warns(ConvergenceWarning) as caught:
        result = heom.solve_steady(FIG3, converge=True, pade={"hot": 6, "cold": 8}, max_pade=10, max_depth=2,
                                   tol=1e-12, current_rtol=1e-12)
    assert any("max_pade=10 reached" in str(w.message) for w in caught)
    assert result.stats["pade"] == 10  # hot 6 → 10, cold 8 → 10: every lead raised, capped at max_pade
    assert any("pade={'hot': 6, 'cold': 8} depth=2" in note for note in result.health.notes)
    assert any("pade=10 depth=2" in note for note in result.health.notes)


def test_auto_solver_falls_back_to_the_direct_lu_when_gmres_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = heom.solve_steady(FIG3, pade=4, depth=3, solver="direct")

    def failing(*args: object, **kwargs: object) -> None:
        raise steady.SteadyStateError("GMRES did not converge (forced by the test)")

    monkeypatch.setattr(steady, "_gmres", failing)
    with pytest.raises(steady.SteadyStateError, match="forced"):
        heom.solve_steady(FIG3, pade=4, depth=3, solver="iterative")
    with pytest.warns(heom_solve.DirectFallbackWarning, match=r"forced.*factorising the hierarchy directly .*"
                                                              r"estimated .*can take minutes"):
        fallback = heom.solve_steady(FIG3, pade=4, depth=3)  # "auto": iterative at depth 3, then the direct LU
    np.testing.assert_allclose(fallback.rho, reference.rho, atol=1e-12)
    assert any("direct" in note and "iterative solve failed" in note and "forced" in note
               for note in fallback.health.notes)
    iterative_bytes = heom_solve.hierarchy_bytes(FIG3, 4, 3, "iterative")
    direct_bytes = heom_solve.hierarchy_bytes(FIG3, 4, 3, "direct")
    assert iterative_bytes < direct_bytes
    with memory_budget((iterative_bytes + direct_bytes) / 2 / 2**30), \
            pytest.raises(ResourceBudgetError, match="after the iterative solve failed"):
        heom.solve_steady(FIG3, pade=4, depth=3)  # the LU does not fit: the refusal says why it was tried


def test_progress_shows_every_hierarchy_with_its_settings(capsys: pytest.CaptureFixture[str]) -> None:
    heom.solve_steady(CHAIN, pade=6, depth=2, progress=True)
    shown = capsys.readouterr().err
    assert "HEOM" in shown and "W=4 pade=6 depth=2" in shown
    heom.solve_steady(CHAIN, pade=6, depth=2, progress=False)
    assert capsys.readouterr().err == ""


def test_a_temperature_too_small_for_the_pade_expansion_is_named() -> None:
    # before: OverflowError "complex exponentiation" from the bath's exponents
    machine = Machine.triple_dot(T_hot=1e-250, band=LORENTZ)
    with pytest.raises(ValueError, match=r"reservoir 'hot': T = 1e-250 is too small"):
        heom.solve_steady(machine, pade=2, depth=1)


def test_fixed_hierarchy_options_for_scans() -> None:
    """One fixed hierarchy (no refinement) for a scan; the wide band extrapolated only when a width is given."""
    machine = Machine.triple_dot()
    direct = heom.fixed_hierarchy_options(machine, pade=6, depth=2)
    assert direct == {"pade": 6, "depth": 2, "converge": False}
    extrapolated = heom.fixed_hierarchy_options(machine, pade=6, depth=2, width_factor=4.0)
    assert extrapolated["wide_band_width"] == pytest.approx(4.0 * heom.default_band_width(machine))
    result = heom.solve_steady(machine, **direct)
    assert result.stats["pade"] == 6 and result.stats["depth"] == 2 and not result.health.converged
    with pytest.raises(ValueError, match="width_factor must be > 0"):
        heom.fixed_hierarchy_options(machine, pade=6, depth=2, width_factor=0.0)


def test_equilibrium_converges_without_a_false_alarm() -> None:
    """At equilibrium the currents are the truncation's leak: only C is judged, the leak goes to the health."""
    import warnings

    machine = Machine.triple_dot(mu_hot=0.3, mu_cold=0.3, T_hot=0.8, T_cold=0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # it used to end every time in a ConvergenceWarning
        result = heom.solve_steady(machine)
    assert result.health.converged and result.health.status() == "ok"
    assert result.health.equilibrium_current < 1e-6 and result.error.stage("depth") is not None
