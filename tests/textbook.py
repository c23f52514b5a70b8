"""Textbook matrices for the tests: σ± Kronecker products on the full 2^N basis (qubit 0 most significant)."""

import numpy as np

LOWER = np.array([[0.0, 1.0], [0.0, 0.0]])
"""σ− = |0⟩⟨1| on one qubit."""
NUMBER = np.diag([0.0, 1.0])


def site(operator: np.ndarray, qubit: int, n_qubits: int) -> np.ndarray:
    """``operator`` on ``qubit`` of ``n_qubits``, the identity elsewhere."""
    return np.kron(np.kron(np.eye(2**qubit), operator), np.eye(2 ** (n_qubits - qubit - 1)))


def hamiltonian(machine) -> np.ndarray:
    """H = Σ ε n + Σ g (σ+σ− + h.c.) + Σ U n n of the qubit model, dense."""
    n = machine.n_qubits
    result = sum(e * site(NUMBER, q, n) for q, e in enumerate(machine.energies))
    for (i, j), g in machine.couplings:
        hop = site(LOWER.T, i, n) @ site(LOWER, j, n)
        result = result + g * (hop + hop.T)
    for (i, j), u in machine.coulomb:
        result = result + u * site(NUMBER, i, n) @ site(NUMBER, j, n)
    return result


def coherent_generator(machine) -> np.ndarray:
    """−i[H, ·] as a matrix acting on row-major vec(ρ)."""
    identity = np.eye(2**machine.n_qubits)
    h = hamiltonian(machine)
    return -1j * (np.kron(h, identity) - np.kron(identity, h.T))
