"""The local Lindblad generator (paper Eq. 2, generalised) as sparse matrices on an occupation basis.

Everything here is NumPy/SciPy only. The Liouvillian conserves ΔN = N_ket − N_bra, so it is built one
ΔN sector at a time: a sector holds the elements ρ_ab with N_a − N_b = ΔN, grouped in blocks of equal
N_a and stored row-major inside each block (vec(AρB) = (A ⊗ Bᵀ) vec ρ).

Dissipator of a reservoir on qubit k (rate γ, μ, T): for every occupation pattern p of k's Coulomb
partners, jumps A_p = a_k† P_p with rate γ_p = γ n_F(E_p) at the energy E_p = ε_k + Σ_l U_kl n_l^p, and
A_p† with rate γ(1 − n_F(E_p)), where a = σ− (qubits) or the Jordan–Wigner fermion c (fermions):

    𝓓ρ = Σ_pq C_pq (A_p ρ A_q† − ½{A_q† A_p, ρ}),   C_pq = √(γ_p γ_q) K_pq,
    K_pq = exp(−Σ_l U_kl² (n_l^p − n_l^q)² / (2 w²)),   w = γ (the reservoir's rate).

Coherence rule (continuous in U). K_pq is a Gaussian kernel of the vectors x_p = (U_kl n_l^p)_l, hence
positive definite, and C is its Schur product with the rank-one matrix √γ_p √γ_q: C ⪰ 0, so 𝓓 is a
Lindblad dissipator (completely positive) for every U. A Coulomb partner l splits the jumps into
separate Lindblad operators once its shift U_kl is resolved by the reservoir, U_kl ≫ γ (the secular
condition on the two jump frequencies): then K = 0 and this is the paper's Eq. 2, one jump per pattern
(exactly: K underflows to 0 beyond U_kl ≈ 38.6 γ, e.g. U = 15, γ = 0.1 gives exp(−11250)). As U_kl → 0
the patterns merge continuously into the single jump a_k† with rate γ n_F(ε_k) (K = 1). The kernel
resolves partners one by one, not the energy difference E_p − E_q: two patterns of equal energy but
different partners (|10⟩ and |01⟩ of the sink's partners in the triple dot) stay separate jumps, as in
Eq. 2. Since A_q† A_p = 0 for p ≠ q, only the gain term A_p ρ A_q† carries the cross terms. In the
ideal limit (U → ∞) the patterns are separated exactly (K = δ_pq). Dephasing of qubit i: jump σz^(i),
rate κ_i.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from transportbench.model import Machine, Reservoir
from transportbench.occupation import full_basis, parity_before, parity_between, sort_standard
from transportbench.resources import check_memory
from transportbench.thermal import fermi


# ------------------------------------------------------------------------------------------ rates
def reservoir_rates(machine: Machine, reservoir: Reservoir, occupations: np.ndarray) -> np.ndarray:
    """Rate (energy units) of the reservoir's transition out of each basis state.

    For a state with qubit k empty this is the excitation rate γ ρ(E) n_F(E, μ, T) at the transition energy
    E = ε_k + Σ_l U_kl n_l, with ρ(E) the lead's :func:`band_density`; with qubit k excited it is the
    relaxation rate γ ρ(E) (1 − n_F(E, μ, T)). In the machine's ideal limit the rates of paper Eq. (3) are
    used exactly (see :class:`~transportbench.model.Machine`; the wide band is assumed there).
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
        density = 1.0
    else:
        coulomb = np.array([machine.coulomb_energy(k, q) for q in range(machine.n_qubits)])
        level = machine.energies[k] + occupations @ coulomb
        filled = fermi(level, reservoir.chemical_potential, reservoir.temperature)
        density = band_density(reservoir, level)
    return reservoir.rate * density * np.where(empty, filled, 1.0 - filled)


def band_density(reservoir: Reservoir, energy: np.ndarray) -> np.ndarray | float:
    """The lead's density of states at ``energy`` relative to the band centre (dimensionless).

    Wide band: 1. Flat band of half-width D: 1 inside [−D, D], 0 outside. Lorentzian band of half-width W:
    W² / ((E − μ)² + W²), centred at the reservoir's μ. The golden-rule rate of a transition at E is
    γ × this factor.
    """
    band = reservoir.band
    if band.kind == "flat":
        return (np.abs(energy) < band.width).astype(float)
    if band.kind == "lorentzian":
        return band.width**2 / ((energy - reservoir.chemical_potential) ** 2 + band.width**2)
    return 1.0


def coherence_width(machine: Machine, reservoir: Reservoir) -> float:
    """Width w (energy units) of the kernel K_pq that lets a reservoir's pattern jumps interfere.

    w = γ of the reservoir: partners whose Coulomb shift is ≫ γ are resolved (see the module docstring).
    0 in the ideal limit, where every shift is infinite and the patterns are separate jumps.
    """
    return 0.0 if machine.ideal_limit else reservoir.rate


# ------------------------------------------------------------------------------------------ basis
def active_couplings(machine: Machine) -> tuple[tuple[tuple[int, int], float], ...]:
    """The flip-flop couplings with g ≠ 0: a zero coupling has no term in H and moves no excitation."""
    return tuple((pair, g) for pair, g in machine.couplings if g != 0)


def _neighbours(machine: Machine, occupations: np.ndarray) -> np.ndarray:
    """Every pattern one hop or one reservoir jump (with nonzero rate) away from the given ones."""
    found = []
    for (i, j), _ in active_couplings(machine):
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


BudgetCheck = Callable[[np.ndarray], None]
"""Called with the number of basis patterns per excitation number (index N = 0 … N_qubits, floats, lower
bounds of the final counts while a search runs); raises (e.g. ResourceBudgetError) to stop."""
PATTERN_BYTES = 120
"""Bytes the reachable-basis search holds per pattern besides its N occupation bytes (set entry, bytes object)."""
CANDIDATE_COPIES = 3
"""Copies of the candidate patterns alive while one search step sorts them (``np.unique``)."""


def reachable_basis(machine: Machine, seeds: np.ndarray | None = None, check: BudgetCheck | None = None) -> np.ndarray:
    """The occupation patterns reachable from ``seeds`` (default: the vacuum), in standard order.

    The span of these patterns is invariant under the local Lindblad dynamics, so a state supported on
    it stays there; a unique steady state therefore lives on the patterns reachable from the vacuum.
    The search goes breadth first; before each step it checks the memory of the step's candidate patterns
    with :func:`~transportbench.resources.check_memory`, and after each step it calls ``check`` with the
    patterns counted so far per excitation number, so an oversized basis is refused while it is searched.
    """
    n = machine.n_qubits
    frontier = np.zeros((1, n), dtype=np.int8) if seeds is None else sort_standard(seeds)
    seen = {row.tobytes() for row in frontier}
    collected = [frontier]
    counts = np.bincount(frontier.sum(axis=1), minlength=n + 1).astype(float)
    moves = len(active_couplings(machine)) + len(machine.reservoirs)
    while len(frontier):
        if check is not None:
            check(counts)
        check_memory(len(seen) * (n + PATTERN_BYTES) + CANDIDATE_COPIES * len(frontier) * moves * (n + 8),
                     f"reachable-basis search of {n} qubits ({len(seen)} patterns found, {len(frontier)} to expand)")
        candidates = sort_standard(_neighbours(machine, frontier))
        fresh = [row for row in candidates if row.tobytes() not in seen]
        seen.update(row.tobytes() for row in fresh)
        frontier = np.array(fresh, dtype=np.int8).reshape(-1, n)
        counts += np.bincount(frontier.sum(axis=1), minlength=n + 1)
        collected.append(frontier)
    return sort_standard(np.concatenate(collected))


def full_basis_counts(n_qubits: int) -> np.ndarray:
    """Binomial coefficients C(N, k), k = 0 … N: the full basis's patterns per excitation number (floats)."""
    return np.array([float(math.comb(n_qubits, k)) for k in range(n_qubits + 1)])


def make_basis(machine: Machine, kind: str, seeds: np.ndarray | None = None, check: BudgetCheck | None = None
               ) -> np.ndarray:
    """Occupation basis of ``kind`` "full" (all 2^N patterns) or "reachable" (see :func:`reachable_basis`).

    ``check`` (see :data:`BudgetCheck`) sees the basis's patterns per excitation number before it is built.
    """
    if kind == "full":
        if check is not None:
            check(full_basis_counts(machine.n_qubits))
        return full_basis(machine.n_qubits)
    if kind == "reachable":
        return reachable_basis(machine, seeds, check)
    raise ValueError(f"basis must be 'full' or 'reachable', got {kind!r}")


def conserved_groups(machine: Machine) -> list[tuple[int, ...]]:
    """Groups of qubits joined by nonzero couplings that no reservoir with γ > 0 touches.

    Nothing changes the number of excitations in such a group (hopping keeps it inside, dephasing and
    Coulomb terms are diagonal), so its sectors 0 and 1 are disjoint invariant sets of patterns, each
    holding a steady state: the steady state is not unique. This is a sufficient condition only.
    """
    group = list(range(machine.n_qubits))

    def root(q: int) -> int:
        while group[q] != q:
            q = group[q]
        return q

    for (i, j), _ in active_couplings(machine):
        group[root(i)] = root(j)
    driven = {root(r.qubit) for r in machine.reservoirs if r.rate > 0}
    members: dict[int, list[int]] = {}
    for q in range(machine.n_qubits):
        members.setdefault(root(q), []).append(q)
    return [tuple(qubits) for top, qubits in members.items() if top not in driven]


# ------------------------------------------------------------------------------- operators on basis
@dataclass(frozen=True)
class JumpFamily:
    """All jumps a_k† P_p (or a_k P_p) of one reservoir, as a sparse one-body map with the partners' patterns.

    ``operator[target, source]`` = √rate(source) × Jordan–Wigner sign. Two sources a, b interfere in
    the gain term with the weight :meth:`coherence` K(a, b) (module docstring): ``partners`` holds the
    occupations of the reservoir qubit's Coulomb partners per basis state (shape (D, m)), ``shifts``
    their Coulomb energies U_kl (energy units) and ``width`` the kernel width w (energy units).
    """

    reservoir: str
    operator: sp.csr_matrix
    partners: np.ndarray
    shifts: np.ndarray
    width: float
    escape_rates: np.ndarray

    def coherence(self, sources_a: np.ndarray, sources_b: np.ndarray) -> np.ndarray:
        """K = exp(−Σ_l U_kl² (n_l^a − n_l^b)² / 2w²) for pairs of source states (1 for equal patterns)."""
        differs = self.partners[sources_a] != self.partners[sources_b]
        distance = differs @ self.shifts**2
        if self.width == 0:
            return (distance == 0).astype(float)
        return np.exp(-distance / (2 * self.width**2))


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
    for (i, j), g in active_couplings(machine):
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
        partners = list(machine.coulomb_partners(k))
        shifts = np.array([machine.coulomb_energy(k, q) for q in partners])
        jumps.append(JumpFamily(reservoir.name, operator, occupations[:, partners], shifts,
                                coherence_width(machine, reservoir), rates))
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
    """Σ_pq C_pq A_p ρ A_q† for one jump family: the two-sided product weighted by the coherence kernel."""
    product = _two_sided(sector, family.operator, family.operator.conj(), step)
    kets, bras = sector.element_indices()
    weights = family.coherence(kets[product.col], bras[product.col])
    kept = weights != 0
    return sp.coo_matrix((product.data[kept] * weights[kept], (product.row[kept], product.col[kept])),
                         shape=product.shape)


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
    return dataclasses.replace(family, operator=(family.operator @ sp.diags(sources.astype(float))).tocsr())


def liouvillian(model: LocalModel, sector: Sector) -> sp.csr_matrix:
    """The full local Lindblad generator 𝓛 restricted to ``sector`` (sparse, energy units)."""
    return sum(liouvillian_terms(model, sector).values()).tocsr()
