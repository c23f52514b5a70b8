"""QmeQ's system for a machine (``qmeq_system``): the Builder, its compiled kernels, the basis, uniqueness.

QmeQ's compiled kernels are required (the pure-Python fallback is refused) and a missing QmeQ says how to build
it; QmeQ's failures are SolveFailures. QmeQ's Hamiltonian and eigenstates, mapped back to the project's
qubit basis, are the local model's with fermion statistics; the steady state's uniqueness is checked. The build
itself (every Cython module compiled, compiled = Python kernels) is in test_qmeq_build.py.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from qmeq_cases import FIRST_ORDER, TINY_2VN, TINY_BAND

from transportbench.backends import qmeq as qmeq_backend
from transportbench.backends import qmeq_budget, qmeq_system
from transportbench.backends.local import DegenerateSteadyStateWarning
from transportbench.backends.local_model import build_local_model
from transportbench.model import Machine, Reservoir
from transportbench.observables import dark_state
from transportbench.occupation import full_basis
from transportbench.result import SolveFailure

pytestmark = pytest.mark.qmeq


# ------------------------------------------------------- compiled kernels, a missing QmeQ, failures
def test_python_fallback_kernel_is_refused(monkeypatch):
    import qmeq.builder.builder_base as builder_base

    monkeypatch.setattr(builder_base, "ApproachPauli", builder_base.ApproachPyPauli)
    with pytest.raises(RuntimeError, match="pure Python"):
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Pauli")


def test_missing_qmeq_names_make_setup(monkeypatch):
    monkeypatch.setitem(sys.modules, "qmeq", None)
    with pytest.raises(ImportError, match="make setup"):
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Pauli")


def test_missing_qmeq_tells_make_and_pip_users(monkeypatch):
    monkeypatch.setitem(sys.modules, "qmeq", None)
    with pytest.raises(ImportError) as error:
        qmeq_backend.solve_steady(Machine.triple_dot(), approach="Pauli")
    message = str(error.value)
    assert "make setup" in message and "transportbench-build-qmeq" in message
    assert "pip" in message


def test_failed_solve_raises():
    """A qubit with neither reservoir nor hopping: no unique steady state, QmeQ's success flag is False."""
    machine = Machine(energies=(1.0, 1.0), reservoirs=(Reservoir("lead", 0, 0.1, 0.0, 1.0),))
    with pytest.raises(SolveFailure, match="success flag False"):
        qmeq_backend.solve_steady(machine, approach="Pauli")


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


# ------------------------------------------ Hamiltonian and basis change: order, signs, eigenstates
@pytest.mark.parametrize("machine", [
    Machine.triple_dot(),
    Machine.triple_dot(g13=0.03, g23=-0.07, detuning={1: 0.2}).replace(order=(0, 1, 2), statistics="fermion"),
    Machine.w_machine(3, couplings=[(0.05, 0.02), (0.04, 0.06)]),
], ids=["triple-dot-order-021", "triple-dot-order-012", "w-machine-3"])
def test_qmeq_hamiltonian_is_ours_with_fermion_statistics(machine):
    """QmeQ's diagonalised Hamiltonian, mapped back, is the local model's H with fermion statistics.

    The Jordan–Wigner signs are those of machine.order: dot order, hopping signs and Fock-state signs agree.
    """
    system = qmeq_backend.build_system(machine, approach="Pauli")
    system.qd.diagonalise()
    basis = full_basis(machine.n_qubits)
    ours = build_local_model(machine.replace(statistics="fermion"), basis).hamiltonian().toarray()
    assert np.abs(qmeq_system.hamiltonian(system, machine) - ours).max() < 1e-12
    if machine.order == (0, 1, 2):  # the hop (0, 2) crosses dot 1: here the signs matter
        qubit_model = build_local_model(machine.replace(statistics="qubit"), basis).hamiltonian().toarray()
        assert np.abs(qubit_model - ours).max() == pytest.approx(2 * 0.03)


def test_known_eigenstate_comes_back_as_itself():
    """The dark state (|100⟩ − |010⟩)/√2, QmeQ's eigenstate of energy ε, maps to |D⟩⟨D| exactly.

    Every other eigenstate projector of QmeQ maps to a rank-one eigenprojector of our H with its energy.
    """
    machine = Machine.triple_dot()
    system = qmeq_backend.build_system(machine, approach="Pauli")
    system.qd.diagonalise()
    ours = build_local_model(machine.replace(statistics="fermion"), full_basis(3)).hamiltonian().toarray()
    dark = dark_state(0.05, 0.05).dense()
    energies, found_dark = np.asarray(system.qd.Ea), 0
    for charge, states in enumerate(system.si.chargelst[: system.si.ncharge]):
        for position, state in enumerate(states):
            blocks = [np.zeros((len(s), len(s))) for s in system.si.chargelst[: system.si.ncharge]]
            blocks[charge][position, position] = 1.0
            projector = qmeq_system.to_qubit_basis(system, machine, blocks)
            assert np.abs(projector @ projector - projector).max() < 1e-12 and np.trace(projector).real == \
                pytest.approx(1.0)
            assert np.abs(ours @ projector - energies[state] * projector).max() < 1e-12
            if abs(energies[state] - 1.0) < 1e-12 and charge == 1:
                assert np.abs(projector - np.outer(dark, dark.conj())).max() < 1e-12
                found_dark += 1
    assert found_dark == 1


# ------------------------------------------------------------------- uniqueness of the steady state
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
