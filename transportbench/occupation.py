"""Occupation-number bases: enumeration, ordering, lookup and Jordan–Wigner signs.

A basis is an integer array ``occupations`` of shape (D, N) whose row d lists n_i ∈ {0, 1} for every
qubit of basis state d. The full basis is in standard tensor-product order (qubit 0 most significant
bit); any subset is kept in the same (lexicographic) order.
"""

from __future__ import annotations

import numpy as np


def full_basis(n_qubits: int) -> np.ndarray:
    """All 2^N occupation patterns in standard order (row index = Σ_i n_i 2^(N−1−i))."""
    if n_qubits > 24:
        raise ValueError(f"the full basis of {n_qubits} qubits has 2^{n_qubits} states; "
                         "use a reachable subspace instead")
    index = np.arange(2**n_qubits)
    shifts = np.arange(n_qubits - 1, -1, -1)
    return ((index[:, None] >> shifts[None, :]) & 1).astype(np.int8)


def sort_standard(occupations: np.ndarray) -> np.ndarray:
    """Rows of ``occupations`` sorted lexicographically (qubit 0 most significant), duplicates removed."""
    return np.unique(np.asarray(occupations, dtype=np.int8), axis=0)


def lookup(basis: np.ndarray, patterns: np.ndarray) -> np.ndarray:
    """Row index in ``basis`` of each row of ``patterns``; −1 where a pattern is not in the basis."""
    table = {row.tobytes(): index for index, row in enumerate(np.ascontiguousarray(basis, dtype=np.int8))}
    patterns = np.ascontiguousarray(patterns, dtype=np.int8)
    return np.fromiter((table.get(row.tobytes(), -1) for row in patterns), dtype=np.int64, count=len(patterns))


def parity_before(occupations: np.ndarray, qubit: int, order: tuple[int, ...]) -> np.ndarray:
    """Jordan–Wigner sign (−1)^(number of excited qubits before ``qubit`` in the dot ``order``), per row."""
    before = list(order[: order.index(qubit)])
    return 1 - 2 * (occupations[:, before].sum(axis=1) % 2)


def parity_between(occupations: np.ndarray, first: int, second: int, order: tuple[int, ...]) -> np.ndarray:
    """(−1)^(number of excited qubits strictly between ``first`` and ``second`` in ``order``), per row.

    This is the Jordan–Wigner sign of the hop c_first† c_second (or its conjugate).
    """
    lo, hi = sorted((order.index(first), order.index(second)))
    between = list(order[lo + 1: hi])
    return 1 - 2 * (occupations[:, between].sum(axis=1) % 2)
