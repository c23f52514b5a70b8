"""The local Lindblad backend's settings and budgets (``backends.local``).

LocalOptions (validation, round trips of ``result.options``), the BLAS threads of a solve, and the memory budget
that every entry point checks before it allocates.
"""

import time
import tracemalloc

import numpy as np
import pytest
import threadpoolctl

from transportbench.backends import local
from transportbench.model import Machine, Reservoir
from transportbench.resources import ResourceBudgetError, memory_budget


# ------------------------------------------------------------------------------------------ options
def test_evolve_rejects_bad_input():
    machine = Machine.triple_dot()
    with pytest.raises(ValueError, match="times"):
        local.evolve(machine, [1.0, 0.5])
    with pytest.raises(ValueError, match="norm 1"):
        local.evolve(machine, [0.0], np.ones(8))
    with pytest.raises(ValueError, match="initial_state"):
        local.evolve(machine, [0.0], np.ones((3, 3)))
    with pytest.raises(ValueError, match="basis"):
        local.solve_steady(machine, basis="tiny")
    with pytest.raises(ValueError, match="solver"):
        local.solve_steady(machine, solver="magic")
    with pytest.raises(ValueError, match="rtol must be > 0"):
        local.solve_steady(machine, rtol=0)
    with pytest.raises(ValueError, match=r"unknown LocalOptions setting\(s\) \['tol'\]"):
        local.solve_steady(machine, tol=1e-9)
    with pytest.raises(ValueError, match="iterative solver only"):
        local.LocalOptions(solver="direct", maxiter=10)
    with pytest.raises(ValueError, match="threads"):
        local.solve_steady(machine, threads=True)
    with pytest.raises(ValueError, match="memory_gib"):
        local.solve_steady(machine, memory_gib=-1.0)
    with pytest.raises(ValueError, match="run must be a RunOptions"):
        local.solve_steady(machine, run={"threads": 1})


def test_options_objects_round_trip_and_statistics_are_separate():
    machine = Machine.w_machine(4)
    first = local.solve_steady(machine, local.LocalOptions(rtol=1e-10))
    assert first.options == local.LocalOptions(solver="iterative", rtol=1e-10, maxiter=50,
                                                  secular_window=local.default_secular_window(machine))
    assert first.stats["solver"] == "iterative" and first.stats["sector_size"] == 3432 and first.stats["iterations"] > 0
    again = local.solve_steady(first.machine, first.options)
    assert np.array_equal(again.rho, first.rho)
    assert local.solve_steady(machine, **first.options).options == first.options
    small = local.solve_steady(Machine.triple_dot(), rtol=1e-10)  # "auto" picks LU: rtol did not apply
    assert small.options.solver == "direct" and small.options.rtol is None and "condition_estimate" in small.stats


def test_options_round_trip():
    """Before: solve_steady(machine, **result.options) raised TypeError on 'sector_size'."""
    machine = Machine.w_machine(3)
    first = local.solve_steady(machine, threads=1)
    again = local.solve_steady(machine, **first.options)
    assert again.options == first.options
    assert np.abs(again.rho - first.rho).max() < 1e-13
    assert any("ΔN = 0 sector of 252 elements" in note for note in first.health.notes)


# ------------------------------------------------------------------------------------------ threads
@pytest.mark.parametrize("threads", [1, 2])
def test_blas_threads_are_limited_during_the_solve(monkeypatch, threads):
    seen = []
    original = local.liouvillian_terms

    def spy(*args):
        seen.append({pool["num_threads"] for pool in threadpoolctl.threadpool_info()})
        return original(*args)

    monkeypatch.setattr(local, "liouvillian_terms", spy)
    result = local.solve_steady(Machine.triple_dot(), threads=threads)
    assert seen and all(counts <= {threads} for counts in seen)
    assert any(f"{threads} BLAS thread(s)" in note for note in result.health.notes)


def test_blas_threads_default_to_one_and_follow_the_environment(monkeypatch):
    monkeypatch.delenv("TRANSPORTBENCH_BLAS_THREADS", raising=False)
    assert any("; 1 BLAS thread(s)" in note for note in local.solve_steady(Machine.triple_dot()).health.notes)
    monkeypatch.setenv("TRANSPORTBENCH_BLAS_THREADS", "2")
    assert any("; 2 BLAS thread(s)" in note for note in local.solve_steady(Machine.triple_dot()).health.notes)


# ------------------------------------------------------------------------------------ memory budget
def test_w_machine_100_is_refused_during_the_basis_search_with_the_estimate():
    """Before: 90 s of searching, then a failed 3.45 GiB allocation. Refused even with a 64 GiB budget."""
    start = time.perf_counter()
    with memory_budget(64), pytest.raises(ResourceBudgetError, match=r"199 qubits.*needs an estimated .*budget of 64"):
        local.solve_steady(Machine.w_machine(100))
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("call", [local.solve_steady, local.relaxation_rate,
                                  lambda machine, basis: local.evolve(machine, [0.0, 1.0], basis=basis)],
                         ids=["solve_steady", "relaxation_rate", "evolve"])
@pytest.mark.parametrize("basis", ["reachable", "full"])
def test_every_entry_point_refuses_beyond_a_small_budget(call, basis):
    with memory_budget(1e-4), pytest.raises(ResourceBudgetError, match="needs an estimated"):
        call(Machine.w_machine(4), basis=basis)


def test_full_basis_is_estimated_without_building_it():
    """40 qubits: 2^40 patterns, ΔN = 0 sector C(80, 40) ≈ 1.08e23 elements, refused at once."""
    machine = Machine(energies=(1.0,) * 40, reservoirs=(Reservoir("lead", 0, 0.1, 0.0, 1.0),))
    with pytest.raises(ResourceBudgetError, match=r"1\.08e\+23 elements"):
        local.solve_steady(machine, basis="full")


@pytest.mark.parametrize("solver", ["direct", "iterative"])
def test_the_estimate_is_the_threshold_of_refusal(solver):
    machine = Machine.w_machine(3)
    counts = np.bincount(local.solve_steady(machine).occupations.sum(axis=1))
    estimate = local.steady_state_bytes(machine, counts, solver) / 2**30
    with memory_budget(estimate * 0.99), pytest.raises(ResourceBudgetError):
        local.solve_steady(machine, solver=solver)
    with memory_budget(estimate * 1.01):
        local.solve_steady(machine, solver=solver)


def test_the_estimate_bounds_the_traced_peak_memory():
    """NumPy/SciPy arrays (tracemalloc) of the iterative solve of the n = 4 W machine stay within the estimate."""
    machine = Machine.w_machine(4)
    local.solve_steady(machine)  # imports and caches outside the trace
    tracemalloc.start()
    result = local.solve_steady(machine)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    counts = np.bincount(result.occupations.sum(axis=1))
    assert peak < local.steady_state_bytes(machine, counts, "iterative")


def test_a_huge_machine_is_refused_at_once_by_the_basis_it_must_hold(monkeypatch):
    """W machine n = 20000 (39 999 qubits): refused before any basis search (which took minutes).

    Every sink's single excitation is reachable, so the ΔN = 0 sector holds at least 20001² elements.
    """
    def no_search(*args, **kwargs):
        raise AssertionError("the basis search started")

    monkeypatch.setattr(local, "make_basis", no_search)
    with pytest.raises(ResourceBudgetError, match="39999 qubits .*≥ 2e\\+04 patterns"):
        local.solve_steady(Machine.w_machine(20000))
