"""The local Lindblad generator (paper Eq. 2, generalised) as sparse matrices on an occupation basis.

Everything here is NumPy/SciPy only. The Liouvillian conserves ΔN = N_ket − N_bra, so it is built one
ΔN sector at a time: a sector holds the elements ρ_ab with N_a − N_b = ΔN, grouped in blocks of equal
N_a and stored row-major inside each block (vec(AρB) = (A ⊗ Bᵀ) vec ρ).

Dissipator of a reservoir on qubit k (rate γ, μ, T): for every occupation pattern p of k's Coulomb
partners, jumps L_p = a_k† P_p with rate γ n_F(ε_k + Σ_l U_kl n_l) and L_p† with rate γ(1 − n_F(…)),
where a = σ− (qubits) or the Jordan–Wigner fermion c (fermions). Jumps with different patterns are
separate Lindblad operators, so they never interfere. Dephasing of qubit i: jump σz^(i), rate κ_i.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from transportbench.model import Machine, Reservoir
from transportbench.occupation import full_basis, parity_before, parity_between, sort_standard
from transportbench.thermal import fermi


# ------------------------------------------------------------------------------------------ rates
def reservoir_rates(machine: Machine, reservoir: Reservoir, occupations: np.ndarray) -> np.ndarray:
    """Rate (energy units) of the reservoir's transition out of each basis state.

    For a state with qubit k empty this is the excitation rate γ n_F(ε_k + Σ_l U_kl n_l, μ, T); with
    qubit k excited it is the relaxation rate γ (1 − n_F(…)). In the machine's ideal limit the rates
    of paper Eq. (3) are used exactly (see :class:`~transportbench.model.Machine`).
    """
    k = reservoir.qubit
    empty = occupations[:, k] == 0
    partners = list(machine.coulomb_partners(k))
    if machine.ideal_limit:
        blocked = occupations[:, partners].any(axis=1) if partners else np.zeros(len(occupations), bool)
        if reservoir.chemical_potential > 0:
            filled = np.where(blocked, 0.0, 1.0)
        else:
            filled = np.where(blocked, 0.0, fermi(machine.energies[k], reservoir.chemical_potential,
                                                  reservoir.temperature))
    else:
        coulomb = np.array([machine.coulomb_energy(k, q) for q in range(machine.n_qubits)])
        level = machine.energies[k] + occupations @ coulomb
        filled = fermi(level, reservoir.chemical_potential, reservoir.temperature)
    return reservoir.rate * np.where(empty, filled, 1.0 - filled)


def partner_patterns(machine: Machine, qubit: int, occupations: np.ndarray) -> np.ndarray:
    """An integer label per basis state of the occupation pattern of ``qubit``'s Coulomb partners."""
    partners = list(machine.coulomb_partners(qubit))
    if not partners:
        return np.zeros(len(occupations), dtype=np.int64)
    return np.unique(occupations[:, partners], axis=0, return_inverse=True)[1].ravel()


# ------------------------------------------------------------------------------------------ basis
def _neighbours(machine: Machine, occupations: np.ndarray) -> np.ndarray:
    """Every pattern one hop or one reservoir jump (with nonzero rate) away from the given ones."""
    found = []
    for (i, j), g in machine.couplings:
        if g != 0:
            movable = occupations[:, i] != occupations[:, j]
            moved = occupations[movable].copy()
            moved[:, [i, j]] = moved[:, [j, i]]
            found.append(moved)
    for reservoir in machine.reservoirs:
        active = reservoir_rates(machine, reservoir, occupations) > 0
        flipped = occupations[active].copy()
        flipped[:, reservoir.qubit] ^= 1
        found.append(flipped)
    return np.concatenate(found) if found else occupations[:0]


def reachable_basis(machine: Machine, seeds: np.ndarray | None = None) -> np.ndarray:
    """The occupation patterns reachable from ``seeds`` (default: the vacuum), in standard order.

    The span of these patterns is invariant under the local Lindblad dynamics, so a state supported on
    it stays there; the (unique) steady state therefore lives on the patterns reachable from the vacuum.
    """
    n = machine.n_qubits
    frontier = np.zeros((1, n), dtype=np.int8) if seeds is None else sort_standard(seeds)
    seen = {row.tobytes() for row in frontier}
    collected = [frontier]
    while len(frontier):
        candidates = sort_standard(_neighbours(machine, frontier)) if len(frontier) else frontier
        fresh = [row for row in candidates if row.tobytes() not in seen]
        seen.update(row.tobytes() for row in fresh)
        frontier = np.array(fresh, dtype=np.int8).reshape(-1, n)
        collected.append(frontier)
    return sort_standard(np.concatenate(collected))


def make_basis(machine: Machine, kind: str, seeds: np.ndarray | None = None) -> np.ndarray:
    """Occupation basis of ``kind`` "full" (all 2^N patterns) or "reachable" (see :func:`reachable_basis`)."""
    if kind == "full":
        return full_basis(machine.n_qubits)
    if kind == "reachable":
        return reachable_basis(machine, seeds)
    raise ValueError(f"basis must be 'full' or 'reachable', got {kind!r}")


# ------------------------------------------------------------------------------- operators on basis
@dataclass(frozen=True)
class JumpFamily:
    """All jumps a_k† P_p (or a_k P_p) of one reservoir, as a sparse one-body map with pattern labels.

    ``operator[target, source]`` = √rate(source) × Jordan–Wigner sign; two sources interfere in
    L ρ L† only when their ``patterns`` labels agree.
    """

    reservoir: str
    operator: sp.csr_matrix
    patterns: np.ndarray
    escape_rates: np.ndarray


@dataclass(frozen=True)
class LocalModel:
    """The machine's Hamiltonian and jumps on a fixed occupation basis (rows of ``occupations``)."""

    machine: Machine
    occupations: np.ndarray
    level_energies: np.ndarray
    hopping: sp.csr_matrix
    jumps: tuple[JumpFamily, ...]

    @property
    def dimension(self) -> int:
        """Number of basis states D."""
        return len(self.occupations)

    @property
    def numbers(self) -> np.ndarray:
        """Total excitation number of each basis state."""
        return self.occupations.sum(axis=1)

    def hamiltonian(self) -> sp.csr_matrix:
        """H on the basis (sparse, energy units)."""
        return (self.hopping + sp.diags(self.level_energies)).tocsr()


def _index_of(occupations: np.ndarray) -> dict[bytes, int]:
    return {row.tobytes(): index for index, row in enumerate(occupations)}


def _targets(index: dict[bytes, int], patterns: np.ndarray, what: str) -> np.ndarray:
    targets = np.fromiter((index.get(row.tobytes(), -1) for row in patterns), dtype=np.int64, count=len(patterns))
    if (targets < 0).any():
        raise ValueError(f"the basis is not closed under {what}; use basis='full' or a reachable basis")
    return targets


def build_local_model(machine: Machine, occupations: np.ndarray) -> LocalModel:
    """Assemble H (Eq. 1 generalised) and the reservoir jumps (Eq. 2 generalised) on ``occupations``."""
    occupations = np.ascontiguousarray(occupations, dtype=np.int8)
    dimension = len(occupations)
    index = _index_of(occupations)
    fermions = machine.statistics == "fermion"

    coulomb = np.zeros((machine.n_qubits,) * 2)
    for (i, j), u in machine.coulomb:
        coulomb[i, j] = coulomb[j, i] = u
    occ = occupations.astype(float)
    level_energies = occ @ np.array(machine.energies) + 0.5 * np.einsum("di,ij,dj->d", occ, coulomb, occ)

    rows, cols, values = [], [], []
    for (i, j), g in machine.couplings:
        source = np.flatnonzero((occupations[:, j] == 1) & (occupations[:, i] == 0))
        moved = occupations[source].copy()
        moved[:, [i, j]] = 1 - moved[:, [i, j]]
        target = _targets(index, moved, f"the hopping {(i, j)}")
        sign = parity_between(occupations[source], i, j, machine.order) if fermions else np.ones(len(source))
        rows += [target, source]
        cols += [source, target]
        values += [g * sign, g * sign]
    hopping = sp.csr_matrix(
        (np.concatenate(values) if values else [], (np.concatenate(rows) if rows else [],
                                                    np.concatenate(cols) if cols else [])),
        shape=(dimension, dimension))

    jumps = []
    for reservoir in machine.reservoirs:
        k = reservoir.qubit
        rates = reservoir_rates(machine, reservoir, occupations)
        source = np.flatnonzero(rates > 0)
        flipped = occupations[source].copy()
        flipped[:, k] ^= 1
        target = _targets(index, flipped, f"the jumps of reservoir {reservoir.name!r}")
        sign = parity_before(occupations[source], k, machine.order) if fermions else np.ones(len(source))
        operator = sp.csr_matrix((np.sqrt(rates[source]) * sign, (target, source)), shape=(dimension, dimension))
        jumps.append(JumpFamily(reservoir.name, operator, partner_patterns(machine, k, occupations), rates))
    return LocalModel(machine, occupations, level_energies, hopping, tuple(jumps))


# ------------------------------------------------------------------------------------------ sectors
@dataclass(frozen=True)
class SectorBlock:
    """Elements ρ_ab with a in ``kets`` (N_a = number) and b in ``bras``, at ``offset`` + i·len(bras) + j."""

    number: int
    kets: np.ndarray
    bras: np.ndarray
    offset: int

    @property
    def size(self) -> int:
        """Number of elements in the block."""
        return len(self.kets) * len(self.bras)


@dataclass(frozen=True)
class Sector:
    """Layout of the ΔN = ``shift`` sector of operators on a basis of dimension ``dimension``."""

    shift: int
    dimension: int
    blocks: tuple[SectorBlock, ...]

    @property
    def size(self) -> int:
        """Number of matrix elements in the sector."""
        return sum(block.size for block in self.blocks)

    def block(self, number: int) -> SectorBlock | None:
        """The block with kets of excitation number ``number``, if present."""
        return next((b for b in self.blocks if b.number == number), None)

    def element_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Basis indices (a, b) of every sector element, in sector order."""
        kets = [np.repeat(b.kets, len(b.bras)) for b in self.blocks]
        bras = [np.tile(b.bras, len(b.kets)) for b in self.blocks]
        return np.concatenate(kets), np.concatenate(bras)

    def to_matrix(self, vector: np.ndarray) -> np.ndarray:
        """Dense D×D operator (zero outside the sector) from a sector vector."""
        matrix = np.zeros((self.dimension, self.dimension), dtype=complex)
        for b in self.blocks:
            matrix[np.ix_(b.kets, b.bras)] = vector[b.offset:b.offset + b.size].reshape(len(b.kets), len(b.bras))
        return matrix

    def from_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Sector vector of the elements of a dense D×D operator."""
        return np.concatenate([matrix[np.ix_(b.kets, b.bras)].ravel() for b in self.blocks])

    def weights(self, observable: sp.spmatrix) -> np.ndarray:
        """Vector w with w · vec(X) = Tr(observable · X) for X in this sector."""
        kets, bras = self.element_indices()
        return np.asarray(sp.csr_matrix(observable).T[kets, bras]).ravel()


def sector_layout(numbers: np.ndarray, shift: int) -> Sector:
    """The ΔN = ``shift`` sector for basis states with excitation numbers ``numbers``."""
    blocks, offset = [], 0
    for number in np.unique(numbers):
        kets = np.flatnonzero(numbers == number)
        bras = np.flatnonzero(numbers == number - shift)
        if len(kets) and len(bras):
            blocks.append(SectorBlock(int(number), kets, bras, offset))
            offset += len(kets) * len(bras)
    return Sector(shift, len(numbers), tuple(blocks))


def _two_sided(sector: Sector, left: sp.csr_matrix, right_t: sp.csr_matrix, step: int) -> sp.coo_matrix:
    """Superoperator ρ ↦ left · ρ · right restricted to ``sector`` (right_t = rightᵀ, N changes by step)."""
    rows, cols, data = [], [], []
    for source in sector.blocks:
        target = sector.block(source.number + step)
        if target is None:
            continue
        product = sp.kron(left[target.kets][:, source.kets], right_t[target.bras][:, source.bras], format="coo")
        rows.append(product.row + target.offset)
        cols.append(product.col + source.offset)
        data.append(product.data)
    if not data:
        return sp.coo_matrix((sector.size, sector.size), dtype=complex)
    return sp.coo_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(sector.size, sector.size))


def _jump_superoperator(sector: Sector, family: JumpFamily, step: int) -> sp.coo_matrix:
    """Σ_p L_p ρ L_p† for one jump family: a two-sided product masked to equal partner patterns."""
    product = _two_sided(sector, family.operator, family.operator.conj(), step)
    kets, bras = sector.element_indices()
    same_pattern = family.patterns[kets[product.col]] == family.patterns[bras[product.col]]
    return sp.coo_matrix((product.data * same_pattern, (product.row, product.col)), shape=product.shape)


def liouvillian_terms(model: LocalModel, sector: Sector) -> dict[str, sp.csr_matrix]:
    """The generator in ``sector`` split by origin: "hamiltonian", "dephasing" and one entry per reservoir.

    The sum of all terms is the Liouvillian 𝓛; a reservoir's term is its dissipator 𝓓_r, used for the
    currents of paper Eq. (9).
    """
    kets, bras = sector.element_indices()
    occupations = model.occupations
    identity = sp.identity(model.dimension, format="csr")
    energy_gap = model.level_energies[kets] - model.level_energies[bras]
    hamiltonian = (sp.diags(-1j * energy_gap)
                   + -1j * _two_sided(sector, model.hopping, identity, 0)
                   + 1j * _two_sided(sector, identity, model.hopping.T.tocsr(), 0))
    dephasing_rate = np.zeros(sector.size)
    for qubit, kappa in enumerate(model.machine.dephasing):
        if kappa:
            dephasing_rate += 2 * kappa * (occupations[kets, qubit] != occupations[bras, qubit])
    terms = {"hamiltonian": hamiltonian.tocsr(), "dephasing": sp.diags(-dephasing_rate).tocsr()}
    for family, reservoir in zip(model.jumps, model.machine.reservoirs, strict=True):
        empty = occupations[:, reservoir.qubit] == 0
        gains = _jump_superoperator(sector, _restricted(family, empty), +1)
        losses = _jump_superoperator(sector, _restricted(family, ~empty), -1)
        decay = sp.diags(-0.5 * (family.escape_rates[kets] + family.escape_rates[bras]))
        terms[family.reservoir] = (gains + losses + decay).tocsr()
    return terms


def _restricted(family: JumpFamily, sources: np.ndarray) -> JumpFamily:
    """The jumps of ``family`` that start from the basis states selected by the boolean mask ``sources``."""
    return JumpFamily(family.reservoir, (family.operator @ sp.diags(sources.astype(float))).tocsr(),
                      family.patterns, family.escape_rates)


def liouvillian(model: LocalModel, sector: Sector) -> sp.csr_matrix:
    """The full local Lindblad generator 𝓛 restricted to ``sector`` (sparse, energy units)."""
    return sum(liouvillian_terms(model, sector).values()).tocsr()
