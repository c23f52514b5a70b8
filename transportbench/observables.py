"""Pure functions of a density matrix on an occupation basis: reduced states, entanglement, fidelities.

A state is given as ``(rho, occupations)``: ρ on the basis whose patterns are the rows of
``occupations`` (see :mod:`transportbench.result`). Reduced states of k qubits are 2^k × 2^k matrices in
standard order of the listed qubits (the first listed is the most significant bit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transportbench.occupation import full_basis, lookup

_SIGMA_Y_PAIR = np.kron([[0, -1j], [1j, 0]], [[0, -1j], [1j, 0]])


@dataclass(frozen=True)
class SparseKet:
    """A pure state as amplitudes on a few occupation patterns (rows of ``occupations``)."""

    occupations: np.ndarray
    amplitudes: np.ndarray

    def dense(self) -> np.ndarray:
        """The ket as a vector of length 2^N in standard order."""
        n_qubits = self.occupations.shape[1]
        vector = np.zeros(2**n_qubits, dtype=complex)
        vector[lookup(full_basis(n_qubits), self.occupations)] = self.amplitudes
        return vector


def _check_qubits(qubits: Sequence[int], n_qubits: int) -> list[int]:
    chosen = list(qubits)
    if not chosen or len(set(chosen)) != len(chosen) or not all(0 <= q < n_qubits for q in chosen):
        raise ValueError(f"qubits must be distinct indices in 0..{n_qubits - 1}, got {qubits!r}")
    return chosen


def reduced_state(rho: np.ndarray, occupations: np.ndarray, qubits: Sequence[int]) -> np.ndarray:
    """Partial trace of ρ over every qubit not in ``qubits``.

    Returns the 2^k × 2^k reduced density matrix of ``qubits`` in their standard order.
    """
    occupations = np.asarray(occupations)
    kept = _check_qubits(qubits, occupations.shape[1])
    rest = [q for q in range(occupations.shape[1]) if q not in kept]
    weights = 2 ** np.arange(len(kept) - 1, -1, -1)
    labels = occupations[:, kept] @ weights
    if rest:
        groups = np.unique(occupations[:, rest], axis=0, return_inverse=True)[1].ravel()
    else:
        groups = np.zeros(len(occupations), dtype=int)
    reduced = np.zeros((2 ** len(kept),) * 2, dtype=complex)
    order = np.argsort(groups, kind="stable")
    boundaries = np.flatnonzero(np.diff(groups[order])) + 1
    for members in np.split(order, boundaries):
        reduced[np.ix_(labels[members], labels[members])] += rho[np.ix_(members, members)]
    return reduced


def populations(rho: np.ndarray, occupations: np.ndarray) -> np.ndarray:
    """Excitation probability ⟨n_i⟩ of every qubit."""
    return np.real(np.diag(rho)) @ np.asarray(occupations, dtype=float)


def _check_two_qubit(rho: np.ndarray) -> np.ndarray:
    rho = np.asarray(rho)
    if rho.shape != (4, 4):
        raise ValueError(f"a two-qubit density matrix must be 4x4, got shape {rho.shape}")
    return rho


def concurrence(rho: np.ndarray) -> float:
    """Wootters' concurrence of a two-qubit state (any 4×4 density matrix).

    C = max(0, λ1 − λ2 − λ3 − λ4) with λ_i the decreasing square roots of the eigenvalues of
    ρ (σy⊗σy) ρ* (σy⊗σy). Round-off negatives of the eigenvalues are clipped to 0.
    """
    rho = _check_two_qubit(rho)
    flipped = _SIGMA_Y_PAIR @ rho.conj() @ _SIGMA_Y_PAIR
    eigenvalues = np.linalg.eigvals(rho @ flipped)
    roots = np.sort(np.sqrt(np.clip(eigenvalues.real, 0.0, None)))[::-1]
    return float(max(0.0, roots[0] - roots[1:].sum()))


def concurrence_x_state(rho: np.ndarray) -> float:
    """Concurrence of a two-qubit X state (only diagonal, ρ_{01,10} and ρ_{00,11} nonzero).

    C = 2 max{0, |ρ_{01,10}| − √(p00 p11), |ρ_{00,11}| − √(p01 p10)}; with ρ_{00,11} = 0 this is the
    paper's C = 2 max{0, |c| − √(p00 p11)}. Round-off negative populations are clipped to 0.
    """
    rho = _check_two_qubit(rho)
    p00, p01, p10, p11 = np.clip(np.real(np.diag(rho)), 0.0, None)
    return float(2 * max(0.0, abs(rho[1, 2]) - np.sqrt(p00 * p11), abs(rho[0, 3]) - np.sqrt(p01 * p10)))


def fidelity(rho: np.ndarray, occupations: np.ndarray, target: SparseKet) -> float:
    """⟨ψ|ρ|ψ⟩ for the pure target state ψ; amplitudes on patterns outside the basis count as zero."""
    positions = lookup(occupations, target.occupations)
    inside = positions >= 0
    amplitudes = np.where(inside, target.amplitudes, 0)
    chosen = positions[inside]
    sub = rho[np.ix_(chosen, chosen)]
    value = amplitudes[inside].conj() @ sub @ amplitudes[inside]
    return float(np.real(value))


def w_state(couplings: Sequence[tuple[float, float]]) -> SparseKet:
    """The W-type steady state of paper Eqs. (10)–(11) for the (2n−1)-qubit machine, n − 1 = len(couplings).

    ``couplings[j−1] = (g_{1,n+j}, g_{1+j,n+j})`` in the paper's labels. In 0-based qubits: amplitude 1
    on qubit 0 excited, −α_j on qubit j excited (α_j = g_{1,n+j}/g_{1+j,n+j}), all sinks empty,
    normalised by √β with β = 1 + Σ α_j². Equal couplings give |W_n⟩ of Eq. (12).
    """
    pairs = list(couplings)
    if not pairs:
        raise ValueError("couplings must list at least one triangle (g_hot_side, g_arm_side)")
    alphas = []
    for j, (hot_side, arm_side) in enumerate(pairs, start=1):
        if arm_side == 0:
            raise ValueError(f"couplings[{j - 1}] has g_(1+j, n+j) = 0; alpha_{j} is undefined")
        alphas.append(hot_side / arm_side)
    n = len(pairs) + 1
    occupations = np.zeros((n, 2 * n - 1), dtype=np.int8)
    occupations[np.arange(n), np.arange(n)] = 1
    amplitudes = np.concatenate([[1.0], -np.array(alphas)]) / np.sqrt(1 + np.sum(np.square(alphas)))
    return SparseKet(occupations, amplitudes.astype(complex))


def dark_state(g13: float, g23: float) -> SparseKet:
    """The paper's dark state, Eq. (4): (cos θ|10⟩ − sin θ|01⟩)⊗|0⟩ with θ = arctan(g13/g23)."""
    if g13 == 0 and g23 == 0:
        raise ValueError("dark_state needs g13 or g23 nonzero, got both 0")
    norm = np.hypot(g13, g23)
    occupations = np.array([[1, 0, 0], [0, 1, 0]], dtype=np.int8)
    return SparseKet(occupations, np.array([g23 / norm, -g13 / norm], dtype=complex))
