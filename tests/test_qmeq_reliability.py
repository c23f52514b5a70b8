"""Reliability of the QmeQ backend (issue 10).

Memory budget, uniqueness, equilibrium 2vN, threads and options, thermodynamic consistency, the missing-QmeQ
message and 2vN progress output. 2vN runs here only on tiny grids (band D = 40, ≤ 257 points).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from transportbench.backends import qmeq as qmeq_backend
from transportbench.backends import qmeq_budget, qmeq_options
from transportbench.backends.local import DegenerateSteadyStateWarning
from transportbench.convergence import ConvergenceWarning, Observed, measure_change
from transportbench.model import Band, Machine, Reservoir, energy_scale
from transportbench.resources import ResourceBudgetError, memory_budget
from transportbench.result import SolveFailure
from transportbench.samples import random_triple_dots

pytestmark = pytest.mark.qmeq

FIRST_ORDER = ("Pauli", "Lindblad", "Redfield", "1vN")
TINY_2VN = {"converge": False, "kpnt": 33, "niter": 2}
"""With :data:`TINY_BAND`, a 2vN solve of a triple dot in well under a second (its numbers mean nothing)."""
TINY_BAND = Band.flat(40.0)


@pytest.fixture
def no_builder(monkeypatch):
    """QmeQ's Builder fails the test if it is ever constructed."""
    import qmeq

    def refuse(*args, **kwargs):
        raise AssertionError("the QmeQ Builder was built before the memory check")

    monkeypatch.setattr(qmeq, "Builder", refuse)


# ------------------------------------------------------------------------------ memory budget (item 2)
def test_sizes_are_qmeq_sizes():
    """The closed formulas equal QmeQ's own counts (ndm0r of the real storage, ndm0/ndm1 of 2vN's)."""
    for machine in (Machine.triple_dot(), Machine.w_machine(3)):
        sizes = qmeq_budget.sizes(machine)
        first_order = qmeq_backend.build_system(machine, approach="1vN")
        pauli = qmeq_backend.build_system(machine, approach="Pauli")
        two_vn = qmeq_backend.build_system(machine, approach="2vN", kpnt=3)
        assert sizes.kernel_size("1vN") == first_order.si.ndm0r
        assert sizes.kernel_size("Pauli") == pauli.si.npauli == sizes.n_many
        assert (sizes.ndm0, sizes.ndm1) == (two_vn.si.ndm0, two_vn.si.ndm1)


@pytest.mark.parametrize(("n", "approach", "states"), [(12, "Pauli", "8388608 many-body states"),
                                                       (100, "Pauli", "8.03e+59 many-body states"),
                                                       (5, "1vN", "kernel 48620 x 48620")])
def test_large_w_machines_are_refused_before_qmeq_allocates(no_builder, n, approach, states):
    """W(5) 1vN segfaulted after a 17.6 GiB allocation, W(12) asked for 59.9 TiB, W(100) an OverflowError.

    Fermion statistics: the qubit W machines with n ≥ 4 have flip-flops that cross other dots (refused).
    """
    machine = Machine.w_machine(n, statistics="fermion")
    start = time.perf_counter()
    with memory_budget(16), pytest.raises(ResourceBudgetError, match="above the memory budget of 16 GiB") as error:
        qmeq_backend.solve_steady(machine, approach=approach)
    assert time.perf_counter() - start < 2.0
    assert states in str(error.value) and f"QmeQ {approach} on {2 * n - 1} dots" in str(error.value)


def test_small_budget_refuses_the_triple_dot(no_builder):
    with memory_budget(1e-3), pytest.raises(ResourceBudgetError, match=r"kernel 20 x 20 float64"):
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Redfield")


def test_2vN_w_machine_refusal_states_memory_and_time(no_builder):
    """The default 2vN run on W(3): docs/benchmarks.md's 7 MB per grid point and hours per iteration, refused."""
    with memory_budget(8), pytest.raises(ResourceBudgetError) as error:
        qmeq_backend.solve_steady(Machine.w_machine(3))
    message = str(error.value)
    assert "6.86 MiB per grid point (ndm1 = 210, ndm0 = 252) on kpnt = 1834 points" in message
    assert "min per iteration" in message and "8 GiB" in message


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


# ------------------------------------------------------------------------------ uniqueness (item 5)
ISOLATED = Machine.triple_dot(g13=0.0, g23=0.0)
"""Qubit 1 has neither reservoir nor hopping: its occupation is conserved, the steady state is not unique."""


@pytest.mark.parametrize(("approach", "options"), [*((a, {}) for a in FIRST_ORDER), ("2vN", TINY_2VN)])
def test_non_unique_steady_state_is_reported(approach, options):
    """1vN returned populations 1.447 and −0.447 here and the table said ok."""
    with pytest.warns(DegenerateSteadyStateWarning, match="null space of dimension 2"):
        result = qmeq_backend.solve_steady(ISOLATED.with_band(TINY_BAND), approach=approach, **options)
    assert result.health.unique is False
    assert "not unique" in result.health.status()
    assert any("not unique" in note for note in result.health.notes)


@pytest.mark.parametrize(("approach", "options"), [*((a, {}) for a in FIRST_ORDER), ("2vN", TINY_2VN)])
def test_unique_steady_state_is_checked(approach, options):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateSteadyStateWarning)
        result = qmeq_backend.solve_steady(Machine.triple_dot().with_band(TINY_BAND), approach=approach, **options)
    assert result.health.unique is True


def test_uniqueness_is_not_checked_beyond_the_limit(monkeypatch):
    monkeypatch.setattr(qmeq_budget, "UNIQUENESS_LIMIT", 10)
    result = qmeq_backend.solve_steady(ISOLATED, approach="1vN")
    assert result.health.unique is None
    assert any("uniqueness not checked" in note for note in result.health.notes)


# ------------------------------------------------------------------------- 2vN at equilibrium (item 9)
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


# ------------------------------------------------------------------- threads and options (item 8)
@pytest.mark.parametrize(("approach", "options"), [("1vN", {}), ("Pauli", {"lamb_shift": False}),
                                                   ("2vN", TINY_2VN)])
def test_options_round_trip(approach, options):
    """``solve_steady(result.machine, result.options)`` (or ``**result.options``) solves the same problem again."""
    machine = Machine.triple_dot().with_band(TINY_BAND)
    first = qmeq_backend.solve_steady(machine, approach=approach, **options)
    for again in (qmeq_backend.solve_steady(first.machine, first.options),
                  qmeq_backend.solve_steady(first.machine, **first.options)):
        assert again.options == first.options
        assert np.array_equal(again.rho, first.rho)


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


def test_threads_are_used_and_recorded(monkeypatch):
    from transportbench import options, resources

    seen = []
    original = resources.blas_threads

    def recording(kind, threads=None):
        seen.append((kind, threads))
        return original(kind, threads)

    monkeypatch.setattr(options, "blas_threads", recording)
    result = qmeq_backend.solve_steady(Machine.triple_dot(), approach="1vN", threads=1)
    assert seen == [("dense", 1)]
    assert "BLAS threads: 1" in result.health.notes and result.stats["blas_threads"] == 1
    assert "threads" not in result.options  # how it ran is not part of what was solved
    with pytest.raises(ValueError, match="threads"):
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="1vN", threads=0)


# ----------------------------------------------------------------- thermodynamics (item 7), measured
def test_energy_conservation_at_the_fig3_point():
    """Pauli, QmeQ-Lindblad and 1vN conserve energy to round-off; QmeQ's Redfield kernel does not (5.0 %)."""
    machine = Machine.triple_dot()
    for approach in ("Pauli", "Lindblad", "1vN"):
        assert qmeq_backend.solve_steady(machine, approach=approach).health.relative_energy_imbalance() < 1e-8
    redfield = qmeq_backend.solve_steady(machine, approach="Redfield").health
    assert 0.04 < redfield.relative_energy_imbalance() < 0.06
    assert "energy not conserved" in redfield.status()


def test_pauli_obeys_the_second_law_on_random_machines():
    for machine in random_triple_dots(20):
        health = qmeq_backend.solve_steady(machine, approach="Pauli").health
        assert health.entropy_production >= 0 and health.obeys_second_law() and health.is_physical()
        assert health.relative_energy_imbalance() < 1e-8


# ---------------------------------------------------------------------- messages and progress (item 12)
def test_missing_qmeq_tells_make_and_pip_users(monkeypatch):
    monkeypatch.setitem(sys.modules, "qmeq", None)
    with pytest.raises(ImportError) as error:
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Pauli")
    message = str(error.value)
    assert "make setup" in message and "transportbench-build-qmeq" in message
    assert "pip" in message


def test_2vN_progress_bar_on_request_only(capsys):
    machine = Machine.triple_dot().with_band(TINY_BAND)
    qmeq_backend.solve_steady(machine, **TINY_2VN)
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest: no bar by default
    result = qmeq_backend.solve_steady(machine, **TINY_2VN, progress=True)
    assert "2vN kpnt=33" in capsys.readouterr().err
    assert "progress" not in result.options


def test_qmeq_failures_are_solve_failures_and_installation_problems_are_not(monkeypatch):
    """A singular kernel on an accepted machine is a SolveFailure (compare/sweep record it); a build problem is not."""
    machine = Machine(energies=(1.0, 1.0), reservoirs=(Reservoir("lead", 0, 0.1, 0.0, 1.0),))
    with pytest.raises(SolveFailure, match="success flag False"):
        qmeq_backend.solve_steady(machine, approach="Pauli")
    import qmeq.builder.builder_base as builder_base

    monkeypatch.setattr(builder_base, "ApproachPauli", builder_base.ApproachPyPauli)
    with pytest.raises(RuntimeError, match="pure Python") as error:
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Pauli")
    assert not isinstance(error.value, SolveFailure)


# ------------------------------------------------------------------- interrupts during 2vN (issue 22)
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
