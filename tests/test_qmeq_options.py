"""The QmeQ backend's settings and checks (``qmeq_options``, ``qmeq_budget``, the checks of ``backends.qmeq``).

The registry and the backend protocol, QmeqOptions (validation, normalisation, round trips of
``result.options``), threads, the bands and statistics QmeQ can represent, refusals before any solve, and the
memory budget: machines too large are refused before QmeQ allocates anything. 2vN's own settings (grids,
tolerances) are exercised in test_qmeq_2vn.py.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from qmeq_cases import TINY_2VN, TINY_BAND, single_level

from transportbench.backends import get_backend, qmeq_budget, qmeq_options, qmeq_system
from transportbench.backends import qmeq as qmeq_backend
from transportbench.model import Band, Machine
from transportbench.resources import ResourceBudgetError, memory_budget

pytestmark = pytest.mark.qmeq


# ---------------------------------------------------------------------- registry, protocol, options
def test_registry_and_case_insensitive_names():
    assert get_backend("qmeq") is qmeq_backend and qmeq_backend.NAME == "qmeq"
    assert qmeq_backend.solve_steady(single_level(), approach="pAULi").backend == "qmeq:Pauli"


def test_backend_protocol():
    from transportbench.backends import Backend

    assert isinstance(qmeq_backend, Backend) and qmeq_backend.Options is qmeq_backend.QmeqOptions
    assert qmeq_backend.CAPABILITIES.bands == ("wide", "flat") and qmeq_backend.CAPABILITIES.statistics == ("fermion",)
    assert set(qmeq_backend.APPROACHES.values()) == {"Pauli", "Lindblad", "Redfield", "1vN", "2vN"}
    machine, options = Machine.triple_dot(), qmeq_backend.QmeqOptions(approach="1vn")
    assert qmeq_backend.check_machine(machine, options) is None
    assert qmeq_backend.estimate_memory(machine, options) == qmeq_system.estimate(machine, "1vN", 93.3).bytes
    assert qmeq_backend.estimate_memory(machine, qmeq_backend.QmeqOptions()) > 32 * 2**20  # 2vN, first grid
    with pytest.raises(ValueError, match="ideal limit"):
        qmeq_backend.check_machine(Machine.triple_dot(ideal_limit=True), options)


def test_options_are_validated_and_normalised():
    options = qmeq_backend.QmeqOptions(approach="2VN", kpnt=np.int64(65), rho_tol=1e-4)
    assert options.approach == "2vN" and type(options.kpnt) is int and options["rho_tol"] == 1e-4
    assert dict(options)["niter"] is None and len(options) == len(qmeq_backend.QmeqOptions.names())
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.kpnt = 3
    assert qmeq_backend.QmeqOptions.build(approach="pauli", lamb_shift=False).approach == "Pauli"
    for settings, message in (
            ({"tol": 1e-3}, "unknown QmeqOptions setting"), ({"bandwidth": 93.3}, "unknown QmeqOptions setting"),
            ({"approach": "Pauli", "kpnt": 65}, r"\['kpnt'\] apply to the 2vN approach only"),
            ({"approach": "Redfield", "current_floor": 0.0, "check_bandwidth": True}, "2vN approach only"),
            ({"kpnt": 2}, "kpnt must be an integer >= 3"), ({"kpnt": 65.0}, "kpnt must be an integer"),
            ({"niter": True}, "niter must be an integer"), ({"rho_tol": 0.0}, "rho_tol must be > 0"),
            ({"current_rtol": float("nan")}, "current_rtol must be finite"),
            ({"current_floor": -1e-3}, "current_floor"),
            ({"converge": 1}, "converge must be True or False"), ({"threads": 1}, r"unknown .* \['threads'\]"),
            ({"lamb_shift": "yes"}, "lamb_shift must be True or False"), ({"approach": 2}, "valid approaches"),
            ({"kpnt": 129, "max_kpnt": 65}, "max_kpnt must be >= kpnt"),
            ({"converge": False, "check_bandwidth": False}, "solves once")):
        with pytest.raises(ValueError, match=message):
            qmeq_backend.QmeqOptions.build(**settings)
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):  # a run setting (RunOptions)
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Pauli", threads=0)
    with pytest.raises(ValueError, match="max_kpnt must be >= the first grid kpnt = 935"):
        qmeq_backend.solve_steady(Machine.triple_dot(), max_kpnt=513)  # the default first grid, before any solve


@pytest.mark.parametrize("settings", [{"approach": "1vN"}, {"approach": "Redfield", "lamb_shift": False},
                                      {"converge": False, "kpnt": 33, "niter": 2}])
def test_result_options_repeat_the_solve(settings):
    machine = Machine.triple_dot().with_band(Band.flat(40.0))
    first = qmeq_backend.solve_steady(machine, **settings)
    assert isinstance(first.options, qmeq_backend.QmeqOptions)
    again = qmeq_backend.solve_steady(first.machine, first.options)
    assert again.options == first.options and np.array_equal(again.rho, first.rho)
    assert np.array_equal(qmeq_backend.solve_steady(first.machine, **first.options).rho, first.rho)
    if first.options.approach == "2vN":
        assert first.options.rho_tol == qmeq_options.DEFAULT_RHO_TOL and first.options.current_floor == 1e-4
        assert first.stats["band_half_width"] == 40.0 and first.stats["bandwidth"].startswith("flat band")


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


# ------------------------------------------------- machines, bands and statistics QmeQ cannot solve
@pytest.mark.parametrize(("machine", "options", "message"), [
    (Machine.triple_dot(), {"approach": "RTD"}, "valid approaches"),
    (Machine.triple_dot(), {"approach": "py2vN"}, "valid approaches"),
    (Machine.triple_dot(), {"approach": "Pauli", "kpnt": 100}, "2vN approach only"),
    (Machine.triple_dot(), {"approach": "1vN", "rho_tol": 1e-4}, "2vN approach only"),
    (Machine.triple_dot(), {"approach": "2vN", "tol": 1e-4}, "unknown QmeqOptions setting"),
    (Machine.triple_dot(), {"approach": "2vN", "lamb_shift": False}, "principal parts"),
    (Machine.triple_dot(band=Band.flat(20.0)), {"approach": "Pauli"}, "must contain every transition"),
    (Machine.triple_dot(band=Band.lorentzian(5.0)), {"approach": "1vN"}, "QmeQ's leads are flat"),
    (Machine.triple_dot(), {"approach": "2vN", "rho_tol": -1.0}, "rho_tol must"),
    (Machine.triple_dot(), {"approach": "2vN", "niter": 0}, "niter must"),
    (Machine.triple_dot(), {"approach": "2vN", "kpnt": 1001, "max_kpnt": 513}, "max_kpnt must"),
    (Machine.triple_dot(), {"approach": "2vN", "converge": False, "max_kpnt": 513}, "solves once"),
    (Machine.triple_dot(ideal_limit=True), {"approach": "Pauli"}, "ideal limit"),
    (Machine.triple_dot(dephasing=(0.0, 0.01, 0.0)), {"approach": "Pauli"}, "dephasing"),
    (Machine.triple_dot(T_cold=0.0), {"approach": "Pauli"}, "T = 0"),
    (Machine(energies=(1.0,)), {"approach": "Pauli"}, "reservoir with a rate"),
])
def test_bad_approaches_options_and_machines_raise(machine, options, message):
    with pytest.raises(ValueError, match=message):
        qmeq_backend.solve_steady(machine, **options)


def test_bands_qmeq_cannot_represent_are_refused():
    machine = Machine.triple_dot()
    hot, cold = machine.reservoirs
    cases = [
        (Machine.triple_dot(band=Band.lorentzian(5.0)), "Pauli", r"qmeq backend cannot represent the lorentzian band"),
        (machine.replace(reservoirs=(hot, dataclasses.replace(cold, band=Band.flat(50.0)))), "1vN",
         r"one band kind for all leads, got \['flat', 'wide'\]"),
        (machine.replace(reservoirs=(dataclasses.replace(hot, band=Band.flat(40.0)),
                                     dataclasses.replace(cold, band=Band.flat(50.0)))),
         "2vN", "share one half-width D"),
    ]
    for bad, approach, message in cases:
        with pytest.raises(ValueError, match=message):
            qmeq_backend.solve_steady(bad, approach=approach)


def test_qubit_machines_only_where_the_fermion_model_is_the_same():
    """Found here: this machine gave C = 0.000 (local, qubit) but 0.0287 (qmeq:1vN) with an empty warnings column."""
    crossing = Machine.triple_dot(U=10, mu_hot=12).replace(order=(0, 1, 2))
    with pytest.raises(ValueError, match=r"qmeq backend solves fermion statistics.*order \(0, 1, 2\)"):
        qmeq_backend.solve_steady(crossing, approach="1vN")
    with pytest.raises(ValueError, match="fermion statistics"):
        qmeq_backend.check_machine(crossing, qmeq_backend.QmeqOptions(approach="Pauli"))
    fermion = qmeq_backend.solve_steady(crossing.replace(statistics="fermion"), approach="1vN")
    assert not any("statistics" in note for note in fermion.health.notes)
    qubit = qmeq_backend.solve_steady(Machine.triple_dot(), approach="1vN")
    assert any("qmeq solves fermion statistics in the order (0, 2, 1)" in note for note in qubit.health.notes)


# ------------------------------------------------------------------------------------ memory budget
@pytest.fixture
def no_builder(monkeypatch):
    """QmeQ's Builder fails the test if it is ever constructed."""
    import qmeq

    def refuse(*args, **kwargs):
        raise AssertionError("the QmeQ Builder was built before the memory check")

    monkeypatch.setattr(qmeq, "Builder", refuse)


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
