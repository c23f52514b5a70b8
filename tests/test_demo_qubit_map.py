"""The temporary demo's map from QmeQ's many-body basis to the project's qubit basis |q1 q2 q3⟩."""

from __future__ import annotations

import numpy as np
import pytest

from transportbench import demo

pytestmark = pytest.mark.qmeq

SIGMA_MINUS = np.array([[0.0, 1.0], [0.0, 0.0]])  # |0><1| in the basis (|0>, |1>)
NUMBER = np.diag([0.0, 1.0])


def on_qubit(operator: np.ndarray, qubit: int) -> np.ndarray:
    """Embed a one-qubit operator acting on qubit 1, 2 or 3 (qubit 1 most significant)."""
    factors = [operator if q == qubit else np.eye(2) for q in (1, 2, 3)]
    return np.kron(np.kron(factors[0], factors[1]), factors[2])


def paper_qubit_hamiltonian() -> np.ndarray:
    """Return the paper's three-qubit Hamiltonian, written directly in the qubit basis."""
    hamiltonian = sum(demo.EPS * on_qubit(NUMBER, q) for q in (1, 2, 3))
    for a, b in ((1, 3), (3, 2)):  # flip-flop couplings
        hop = on_qubit(SIGMA_MINUS.T, a) @ on_qubit(SIGMA_MINUS, b)
        hamiltonian = hamiltonian + demo.HOPPING * (hop + hop.T)
    for a, b in ((1, 2), (1, 3), (2, 3)):
        hamiltonian = hamiltonian + demo.COULOMB_U * on_qubit(NUMBER, a) @ on_qubit(NUMBER, b)
    return hamiltonian


def test_occupations_map_to_qubit_bits():
    """QmeQ's dots hold qubits (1, 3, 2); qubit 1 is the most significant bit."""
    assert demo.qubit_basis_index([1, 0, 0]) == 0b100
    assert demo.qubit_basis_index([0, 1, 0]) == 0b001
    assert demo.qubit_basis_index([0, 0, 1]) == 0b010


def test_qmeq_hamiltonian_in_qubit_basis_is_the_papers():
    """QmeQ's diagonalised Hamiltonian, mapped back, is the qubit Hamiltonian (no Jordan-Wigner signs)."""
    system = demo.triple_dot_builder("Pauli")
    system.solve()
    assert np.allclose(demo.qubit_hamiltonian(system), paper_qubit_hamiltonian(), atol=1e-12)


@pytest.mark.parametrize(("kerntype", "completely_positive"),
                         [("Pauli", True), ("Lindblad", True), ("1vN", False)])
def test_state_in_qubit_basis_is_a_density_matrix(kerntype, completely_positive):
    """The mapped state has unit trace, is Hermitian and, for completely positive approaches, positive."""
    system = demo.triple_dot_builder(kerntype)
    system.solve()
    rho = demo.qubit_density_matrix(system)
    assert np.isclose(np.trace(rho).real, 1.0, atol=1e-12)
    assert np.allclose(rho, rho.conj().T, atol=1e-14)
    if completely_positive:  # 1vN is not, and gives eigenvalues of order -1e-5 here
        assert np.linalg.eigvalsh(rho).min() > -1e-12


def test_concurrence_of_x_states():
    """A singlet has concurrence 1, the maximally mixed state 0."""
    singlet = np.zeros((4, 4))
    singlet[1:3, 1:3] = [[0.5, -0.5], [-0.5, 0.5]]
    assert demo.x_state_concurrence(singlet) == pytest.approx(1.0)
    assert demo.x_state_concurrence(np.eye(4) / 4) == 0.0
