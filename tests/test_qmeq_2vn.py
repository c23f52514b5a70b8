"""The QmeQ backend's 2vN approach (``qmeq_2vn``): grids, iterations, the band, convergence and interrupts.

Exactness for a non-interacting level (Landauer), the converged Fig. 3 point (the refinement path and the
bandwidth check), fixed grids and their settings, the machine's flat band, budgets (max_kpnt, memory),
equilibrium and the current floor, the Fermi table's overflow, progress output, and interrupts during the
compiled 2vN loop. Apart from the converged runs, 2vN runs here only on tiny grids (band D = 40, ≤ 257 points).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from qmeq_cases import TINY_2VN, TINY_BAND, c01, fermi, single_level
from scipy.integrate import quad

from transportbench.backends import qmeq as qmeq_backend
from transportbench.backends import qmeq_budget, qmeq_options
from transportbench.convergence import ConvergenceWarning, Observed, measure_change
from transportbench.model import Band, Machine, energy_scale
from transportbench.resources import memory_budget

pytestmark = pytest.mark.qmeq


# ------------------------------------------------------------------------------------ exact results
def test_2vN_is_exact_for_a_noninteracting_level():
    """2vN against the Landauer formula on the same flat band [−D, D] (with the band's real self-energy).

    T(E) = Γ_L Γ_R / ((E − ε − Re Σ)² + (Γ/2)²), Re Σ = (Γ/2π) ln|(E + D)/(E − D)|; measured agreement
    5e-7 (particle) and 6e-6 (energy current) relative at rho_tol=current_rtol=1e-4 (the default wide band is
    represented by the flat band of half-width default_bandwidth, stated in stats).
    """
    epsilon, (gamma_l, mu_l, temperature), (gamma_r, mu_r, _) = 1.0, (0.1, 2.0, 0.5), (0.05, -1.0, 0.5)
    result = qmeq_backend.solve_steady(single_level(), rho_tol=1e-4, current_rtol=1e-4, check_bandwidth=False)
    assert result.health.converged and result.options.rho_tol == 1e-4
    band, gamma = result.stats["band_half_width"], gamma_l + gamma_r
    assert band == qmeq_backend.default_bandwidth(single_level())

    def landauer(energy, power):
        shift = gamma / (2 * np.pi) * np.log(abs((energy + band) / (energy - band)))
        transmission = gamma_l * gamma_r / ((energy - epsilon - shift) ** 2 + (gamma / 2) ** 2)
        window = fermi(energy, mu_l, temperature) - fermi(energy, mu_r, temperature)
        return energy**power * transmission * window / (2 * np.pi)

    for power, currents in ((0, result.particle_currents), (1, result.energy_currents)):
        exact = quad(landauer, -band, band, args=(power,), points=[epsilon, mu_l, mu_r], limit=500, epsabs=1e-14)[0]
        assert currents["left"] == pytest.approx(exact, rel=2e-5)


def test_2vN_fig3_point_converged():
    """Converged 2vN at the Fig. 3 point at the default D = 93.3: the refinement path, and the paper's C > 0.98.

    Doubling D changes the currents by more than current_rtol: hence the BandwidthWarning. The measured values
    and their D dependence are in docs/benchmarks.md (QmeQ backend) and docs/findings/bandwidth_2vn.md.
    """
    with pytest.warns(qmeq_backend.BandwidthWarning, match="depends on the band half-width"):
        result = qmeq_backend.solve_steady(Machine.triple_dot())
    assert result.health.converged and result.health.is_physical(1e-8)
    stats = result.stats
    assert stats["band_half_width"] == pytest.approx(93.3) and "wide band only slowly" in stats["bandwidth"]
    assert stats["kpnt"] == 7473 and stats["iterations"] == 4 and stats["refinement_limit"] is None
    assert [grid["kpnt"] for grid in stats["grids"]] == [935, 1869, 3737, 7473, 7473]  # the last: D = 186.6
    assert result.options.kpnt == 935 and result.options.rho_tol == qmeq_options.DEFAULT_RHO_TOL
    refinement = result.error.stage("grid")
    assert refinement.rho == pytest.approx(1.7e-5, rel=0.1) and refinement.currents < 1e-2
    grid = re.search(r"error estimate from the energy grid: \|ΔC\| (\S+), max \|Δρ_ij\| (\S+), currents (\S+) "
                     r"\(relative\)", " ".join(result.health.notes))
    assert float(grid[2]) == pytest.approx(refinement.rho, rel=0.1) and float(grid[3]) < 1e-2
    assert 0 < refinement.concurrence < 1e-3  # ΔC of the fermionic pair between the last two grids
    iterations = result.error.stage("iterations")
    assert iterations.rho <= qmeq_options.DEFAULT_RHO_TOL / 2 and iterations.currents <= 0.5e-2
    assert c01(result) > 0.98  # paper SI (2vN); the fermionic C of modes 0 and 1
    assert result.particle_currents["hot"] == pytest.approx(1.317e-4, rel=0.01)
    assert any("bandwidth check" in note for note in result.health.notes)
    assert stats["bandwidth_rho_change"] == pytest.approx(6.4e-3, rel=0.1)
    assert stats["bandwidth_current_change"] == pytest.approx(0.035, rel=0.1)


# ------------------------------------------------------------- grids, iterations and their settings
def test_2vN_fixed_grid_records_its_settings():
    result = qmeq_backend.solve_steady(Machine.triple_dot(), converge=False, kpnt=129, niter=3)
    assert result.options["kpnt"] == 129 and result.options["niter"] == 3 and result.options["converge"] is False
    assert result.options.max_kpnt is None and result.options.check_bandwidth is None  # refinement only
    assert any(note.startswith("2vN grid D=93.3 kpnt=129") and "3 iterations" in note for note in result.health.notes)
    assert not result.health.converged and "convergence not assessed" in result.health.notes[1]
    assert result.health.notes[0].startswith("2vN band: wide band represented by the flat band [-D, D], D = 93.3")
    assert {"kpnt", "iterations", "grids", "band_half_width", "bandwidth", "blas_threads", "memory_estimate_bytes",
            "seconds_per_iteration_estimate"} <= set(result.stats)
    assert [stage.stage for stage in result.error.stages] == ["iterations"]
    assert result.stats["kpnt"] == 129 and result.stats["iterations"] == 3 and len(result.stats["grids"]) == 1
    assert np.isnan(result.health.residual)


def test_fixed_grid_options_nest_and_validate():
    machine = Machine.triple_dot()
    coarse = qmeq_backend.fixed_grid_options(machine)
    assert set(coarse) == {"converge", "kpnt", "niter"} and coarse["converge"] is False
    assert 2 * 93.3 / (coarse["kpnt"] - 1) <= 2 * 0.1  # spacing ≤ min(T, 2γ) on the default D
    finer = qmeq_backend.fixed_grid_options(machine, halvings=2, niter=5)
    assert finer["kpnt"] - 1 == 4 * (coarse["kpnt"] - 1) and finer["niter"] == 5
    wider = qmeq_backend.fixed_grid_options(machine.with_band(Band.flat(200.0)))
    assert wider["kpnt"] > coarse["kpnt"] and "bandwidth" not in wider
    with pytest.warns(DeprecationWarning, match="bandwidth=D is deprecated|is deprecated"):
        deprecated = qmeq_backend.fixed_grid_options(machine, bandwidth=200.0)
    assert deprecated == {**wider, "bandwidth": 200.0}  # so that solve_steady puts the leads on that band too
    for bad, message in (({"halvings": -1}, "halvings"), ({"niter": 0}, "niter")):
        with pytest.raises(ValueError, match=message):
            qmeq_backend.fixed_grid_options(machine, **bad)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="bandwidth must"):
        qmeq_backend.fixed_grid_options(machine, bandwidth=5.0)


def test_converged_2vN_options_repeat_the_refinement():
    machine = Machine.triple_dot().with_band(TINY_BAND)
    settings = {"kpnt": 33, "max_kpnt": 65, "niter": 3, "check_bandwidth": False}
    with pytest.warns(ConvergenceWarning):  # so coarse a grid cannot converge
        first = qmeq_backend.solve_steady(machine, **settings)
    assert first.options["kpnt"] == 33 and first.options["niter"] == 3  # the request, not the last grid
    assert first.stats["kpnt"] == 65 and first.stats["refinement_limit"] == "max_kpnt=65"
    assert [grid["kpnt"] for grid in first.stats["grids"]] == [33, 65]
    with pytest.warns(ConvergenceWarning):
        again = qmeq_backend.solve_steady(first.machine, first.options)
    assert np.array_equal(again.rho, first.rho)


def test_2vN_uses_the_machine_flat_band_and_the_deprecated_alias_equals_it():
    machine, tiny = Machine.triple_dot(), {"converge": False, "kpnt": 33, "niter": 2}
    flat = qmeq_backend.solve_steady(machine.with_band(Band.flat(40.0)), **tiny)
    wide = qmeq_backend.solve_steady(machine, **tiny)
    assert flat.stats["band_half_width"] == 40.0 and wide.stats["band_half_width"] == pytest.approx(93.3)
    assert "D = 40 (the machine's)" in flat.stats["bandwidth"]
    assert "2vN approaches the wide band only slowly" in wide.stats["bandwidth"]
    assert any(note.startswith("2vN band: wide band represented by the flat band") for note in wide.health.notes)
    assert np.abs(flat.rho - wide.rho).max() > 1e-6  # D enters 2vN
    with pytest.warns(DeprecationWarning, match="deprecated"):
        alias = qmeq_backend.solve_steady(machine, bandwidth=40.0, **tiny)
    assert all(r.band == Band.flat(40.0) for r in alias.machine.reservoirs)
    assert np.array_equal(alias.rho, flat.rho) and alias.options == flat.options
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="bandwidth must"):
        qmeq_backend.solve_steady(machine, approach="Pauli", bandwidth=float("inf"))


def test_2vN_fermi_overflow_is_exact_and_contained():
    """QmeQ's Fermi table overflows harmlessly, and the backend lets no warning escape.

    1/(exp(x) + 1) overflows for x > 709 (here D = 1000, T = 1): the table is 0 exactly there and equals
    expit elsewhere to round-off.
    """
    machine = single_level(left=(0.1, 2.0, 1.0), right=(0.05, -1.0, 1.0)).with_band(Band.flat(1000.0))
    system = qmeq_backend.build_system(machine, kpnt=2001)
    with pytest.warns(RuntimeWarning, match="overflow encountered in exp"):
        system.solve(niter=1)
    grid = system.appr.Ek_grid
    inside = slice(system.funcp.kpnt_left, system.funcp.kpnt_left + len(grid))
    for lead, reservoir in enumerate(machine.reservoirs):
        table = system.appr.fkp[lead, inside].real
        exact = fermi(grid, reservoir.chemical_potential, reservoir.temperature)
        assert np.abs(table - exact).max() < 1e-15
        assert np.all(table[(grid - reservoir.chemical_potential) > 710] == 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        qmeq_backend.solve_steady(machine, converge=False, kpnt=2001, niter=2)


# ------------------------------------------------------------------ budgets: grid points and memory
def test_2vN_budget_exhausted_warns():
    with pytest.warns(ConvergenceWarning, match="max_kpnt=65"):
        result = qmeq_backend.solve_steady(Machine.triple_dot(), kpnt=65, max_kpnt=65)
    assert not result.health.converged
    assert any("max_kpnt=65" in note for note in result.health.notes)


def test_2vN_refinement_stops_at_the_memory_budget():
    """A grid refinement that would exceed the budget ends with a ConvergenceWarning, keeping the last grid."""
    machine = Machine.triple_dot()
    scale = energy_scale(machine)
    sizes = [qmeq_budget.estimate(machine, "2vN", kpnt=kpnt, bandwidth=40.0, energy_scale=scale).bytes
             for kpnt in (33, 65)]
    with memory_budget(sum(sizes) / 2 / 2**30), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = qmeq_backend.solve_steady(machine.with_band(TINY_BAND), kpnt=33, niter=3, max_kpnt=1025)
    assert any(issubclass(w.category, ConvergenceWarning) and "the memory budget" in str(w.message)
               for w in caught)
    assert not result.health.converged and "the memory budget" in result.stats["refinement_limit"]
    assert any("kpnt=33" in note for note in result.health.notes) and result.stats["kpnt"] == 33


# ---------------------------------------------------------------- equilibrium and the current floor
def test_2vN_at_equilibrium_converges():
    """Zero currents (μ_hot = 0) used to defeat the relative test (Fig. 3 machine: 468 s, then a ConvergenceWarning).

    A small machine (U = 2, so D = 15 suffices) on grids of spacing 0.1 and 0.05: its spurious equilibrium
    currents (~1e-7) change by 0.15 % of the floor between them (measured); with the old floor 1e-12 × Σγ the
    same solve ends in a ConvergenceWarning.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = qmeq_backend.solve_steady(Machine.triple_dot(mu_hot=0.0, U=2.0, band=Band.flat(15.0)),
                                           kpnt=301, max_kpnt=601, check_bandwidth=False)
    assert result.health.converged
    assert abs(result.particle_currents["hot"]) < 1e-6


def test_current_floor_keeps_fig3_particle_currents_relative():
    """At the Fig. 3 point (I ≈ 1.3e-4, Σγ = 0.2) the particle floor lies well below the current."""
    machine = Machine.triple_dot()
    floor = qmeq_backend.QmeqOptions().resolved(machine).current_floor * sum(r.rate for r in machine.reservoirs)
    assert floor == pytest.approx(2e-5) and floor < 1.3e-4 / 5
    old = Observed(np.zeros((8, 8)), np.zeros(3), np.zeros(3))
    below = Observed(old.rho, np.full(3, 1e-7), np.full(3, 1e-7 * 31.1))  # changes far below both floors
    change = measure_change(machine, below, old, qmeq_options.DEFAULT_CURRENT_FLOOR)
    assert change.currents == pytest.approx(1e-7 / 2e-5)
    with pytest.raises(ValueError, match="current_floor"):
        qmeq_backend.solve_steady(Machine.triple_dot(), current_floor=-1.0)


# -------------------------------------------------------------------------- progress and interrupts
def test_2vN_progress_bar_on_request_only(capsys):
    machine = Machine.triple_dot().with_band(TINY_BAND)
    qmeq_backend.solve_steady(machine, **TINY_2VN)
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest: no bar by default
    result = qmeq_backend.solve_steady(machine, **TINY_2VN, progress=True)
    assert "2vN kpnt=33" in capsys.readouterr().err
    assert "progress" not in result.options


INTERRUPTED_CLI = ("import sys; from transportbench.cli import main; print('started', file=sys.stderr, flush=True); "
                   "sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize(("how", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_ends_a_2vN_solve(how, status):
    """QmeQ's compiled 2vN loop used to swallow the KeyboardInterrupt: the run finished and exited 0."""
    process = subprocess.Popen([sys.executable, "-c", INTERRUPTED_CLI, "compare", "--approaches", "qmeq:2vN"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr.readline().strip() == "started"
    time.sleep(4.0)  # well inside the converged solve (about a minute), almost all of it in QmeQ's compiled loop
    process.send_signal(how)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    assert "Exception ignored" not in stderr and "Traceback" not in stderr
    assert "qmeq:2vN" not in stdout  # no table: the solve did not run to its end
