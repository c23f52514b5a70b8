"""Pure functions of a density matrix on an occupation basis: reduced states, entanglement, fidelities.

A state is given as ``(rho, occupations)``: ρ on the basis whose patterns are the rows of
``occupations`` (see :mod:`transportbench.result`), together with the :class:`ParticleModel` it belongs to.
Reduced states of k qubits are 2^k × 2^k matrices in standard order of the listed qubits (the first listed
is the most significant bit).

Qubits and fermions
-------------------
For spins (``statistics="qubit"``) the reduced state is the plain tensor-product partial trace. For
spinless fermions the basis pattern n is the Fock state Π_p (c_{order[p]}†)^{n_{order[p]}} |0⟩ (creators in
the Jordan–Wigner ``order``, the first leftmost), and the reduced state of a set of modes is the
**fermionic partial trace**: the state that reproduces ⟨O⟩ for every operator O built from those modes'
c and c† alone (Friis, Lee & Bruschi, PRA 87, 022338 (2013)). It is taken by rewriting ρ in a string order
that puts the kept modes first, in the order listed (one sign per pair of occupied modes whose order
changes), and then tracing out the rest plainly. It does not depend on the string order the state was
written in; the plain trace of a fermion state does (it returns e.g. ⟨c₁† (−1)^{n₂} c₀⟩ for the coherence
of modes 0 and 1 when mode 2 sits between them in the string) and is available only under the name that
says so, :func:`tensor_partial_trace`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from transportbench.model import STATISTICS, Statistics
from transportbench.occupation import full_basis, lookup

_SIGMA_Y_PAIR = np.kron([[0, -1j], [1j, 0]], [[0, -1j], [1j, 0]])


@dataclass(frozen=True)
class ParticleModel:
    """Which model a state on an occupation basis belongs to.

    Attributes
    ----------
    statistics : {"qubit", "fermion"}
        ``"qubit"``: spins (σ±); ``"fermion"``: spinless fermions with a Jordan–Wigner string.
    order : tuple of int
        The string order of the modes (a permutation of 0..N−1; see the module docstring). Required for
        fermions, ignored for qubits (stored as ``()``).
    """

    statistics: Statistics
    order: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.statistics not in STATISTICS:
            raise ValueError(f"statistics must be one of {STATISTICS}, got {self.statistics!r}")
        if self.statistics == "qubit":
            object.__setattr__(self, "order", ())
            return
        order = tuple(int(q) for q in self.order)
        if sorted(order) != list(range(len(order))) or not order:
            raise ValueError(f"a fermion model needs its string order as a permutation of 0..N-1, got {self.order!r}")
        object.__setattr__(self, "order", order)

    def check_size(self, n_modes: int) -> None:
        """ValueError unless the model describes ``n_modes`` modes (any number for qubits)."""
        if self.statistics == "fermion" and len(self.order) != n_modes:
            raise ValueError(f"the fermion order {self.order} has {len(self.order)} modes; the state has {n_modes}")


QUBITS = ParticleModel("qubit")
"""The spin (qubit) model: reduced states by the plain partial trace."""


@dataclass(frozen=True)
class SparseKet:
    """A pure state as amplitudes on a few occupation patterns (rows of ``occupations``).

    ``order`` is the mode order in which the amplitudes are stated when the ket is read as a fermion state:
    pattern n stands for Π_{q in order} (c_q†)^{n_q} |0⟩ (default: ascending qubit index 0..N−1). A ket
    with at most one excitation per pattern reads the same in every order; one with two or more
    excitations does not, so state its order. For qubit states ``order`` plays no role.
    """

    occupations: np.ndarray
    amplitudes: np.ndarray
    order: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n_modes = np.asarray(self.occupations).shape[1]
        order = tuple(int(q) for q in self.order) if len(self.order) else tuple(range(n_modes))
        if sorted(order) != list(range(n_modes)):
            raise ValueError(f"order must be a permutation of 0..{n_modes - 1}, got {self.order!r}")
        object.__setattr__(self, "order", order)

    def dense(self) -> np.ndarray:
        """The ket as a vector of length 2^N in standard order (as a fermion state: in the ket's ``order``)."""
        n_qubits = self.occupations.shape[1]
        vector = np.zeros(2**n_qubits, dtype=complex)
        vector[lookup(full_basis(n_qubits), self.occupations)] = self.amplitudes
        return vector


def _check_qubits(qubits: Sequence[int], n_qubits: int) -> list[int]:
    chosen = list(qubits)
    if not chosen or len(set(chosen)) != len(chosen) or not all(0 <= q < n_qubits for q in chosen):
        raise ValueError(f"qubits must be distinct indices in 0..{n_qubits - 1}, got {qubits!r}")
    return chosen


def reordering_signs(occupations: np.ndarray, old_order: Sequence[int], new_order: Sequence[int]) -> np.ndarray:
    """Sign s_n with |n⟩_old = s_n |n⟩_new for the Fock states of each pattern in two string orders.

    s_n = (−1)^(number of pairs of occupied modes whose relative order differs between the two orders).
    """
    occupations = np.asarray(occupations)
    old, new = list(old_order), list(new_order)
    if sorted(old) != list(range(occupations.shape[1])) or sorted(new) != sorted(old):
        raise ValueError(f"both orders must be permutations of 0..{occupations.shape[1] - 1}, got {old} and {new}")
    position = np.empty(len(new), dtype=np.int64)
    position[new] = np.arange(len(new))
    in_old_order = occupations[:, old].astype(np.int64)
    later_in_new = position[old]
    crossed = np.triu(later_in_new[:, None] > later_in_new[None, :], k=1).astype(np.int64)  # [p, q]: p before q in old
    crossings = ((in_old_order @ crossed) * in_old_order).sum(axis=1)
    return 1 - 2 * (crossings % 2)


def tensor_partial_trace(rho: np.ndarray, occupations: np.ndarray, qubits: Sequence[int]) -> np.ndarray:
    """Plain partial trace of ρ over every qubit not in ``qubits`` on the tensor-product basis.

    The reduced state of spins. Applied to a fermion state it is the string-ordered trace, which depends on
    the Jordan–Wigner order; use :func:`reduced_state` for a state of either model. Returns the
    2^k × 2^k matrix of ``qubits`` in their standard order.
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


def fermionic_partial_trace(rho: np.ndarray, occupations: np.ndarray, modes: Sequence[int],
                            order: Sequence[int]) -> np.ndarray:
    """Reduced state of the fermionic ``modes`` of a state written in the Jordan–Wigner ``order``.

    The kept modes' Fock basis is |n_a n_b …⟩ = (c_a†)^{n_a} (c_b†)^{n_b} … |0⟩ for ``modes = [a, b, …]``.
    The result reproduces ⟨O⟩ for every operator O of those modes and is the same for every ``order``.
    """
    occupations = np.asarray(occupations)
    kept = _check_qubits(modes, occupations.shape[1])
    kept_first = kept + [q for q in order if q not in kept]
    signs = reordering_signs(occupations, order, kept_first)
    return tensor_partial_trace(signs[:, None] * rho * signs[None, :], occupations, kept)


def reduced_state(rho: np.ndarray, occupations: np.ndarray, qubits: Sequence[int],
                  model: ParticleModel) -> np.ndarray:
    """The physical reduced state of ``qubits`` of a state of ``model``.

    Spins: the plain partial trace (:func:`tensor_partial_trace`); fermions: the fermionic partial trace
    (:func:`fermionic_partial_trace`), independent of the string order. Returns the 2^k × 2^k matrix in the
    standard order of ``qubits`` as listed.
    """
    occupations = np.asarray(occupations)
    model.check_size(occupations.shape[1])
    if model.statistics == "qubit":
        return tensor_partial_trace(rho, occupations, qubits)
    return fermionic_partial_trace(rho, occupations, qubits, model.order)


def pair_concurrence(rho: np.ndarray, occupations: np.ndarray, model: ParticleModel) -> float:
    """C(0, 1): the concurrence of qubits (modes) 0 and 1 in ``model``; NaN for a single qubit."""
    if np.asarray(occupations).shape[1] < 2:
        return float("nan")
    return concurrence(reduced_state(rho, occupations, [0, 1], model))


def fermion_pair_concurrence(rho: np.ndarray, order: Sequence[int]) -> float:
    """C(0, 1) of a full-basis fermion state written in the string ``order``: the modes' fermionic trace."""
    return pair_concurrence(rho, full_basis(len(order)), ParticleModel("fermion", order))


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


def fidelity(rho: np.ndarray, occupations: np.ndarray, target: SparseKet, model: ParticleModel) -> float:
    """⟨ψ|ρ|ψ⟩ for the pure target state ψ; amplitudes on patterns outside the basis count as zero.

    For a fermion state the target's amplitudes are first rewritten from the ket's own ``order`` into the
    state's string order (:func:`reordering_signs`), so the fidelity does not depend on either order.
    """
    model.check_size(np.asarray(occupations).shape[1])
    positions = lookup(occupations, target.occupations)
    inside = positions >= 0
    amplitudes = np.asarray(target.amplitudes, dtype=complex)
    if model.statistics == "fermion":
        amplitudes = amplitudes * reordering_signs(target.occupations, target.order, model.order)
    amplitudes = amplitudes[inside]
    chosen = positions[inside]
    sub = rho[np.ix_(chosen, chosen)]
    value = amplitudes.conj() @ sub @ amplitudes
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
