"""The fermionic HEOM generator, assembled from the baths' exponents on the coupled charge blocks only.

Part of the ``heom`` backend (:mod:`transportbench.backends.heom`). NumPy/SciPy only: the exponents come from
:mod:`~transportbench.backends.heom_hierarchy` (QuTiP's bath expansions or our wide-band ones), the
equations are written here.

The ADOs
--------
A fermionic exponent is excited at most once, so an ADO is a set of distinct exponents; we list them by tier
(number of excitations) and, inside a tier, in colexicographic order of their sorted members
c₀ < c₁ < … < c_{t−1}, whose rank Σ_j C(c_j, j + 1) gives the index of any ADO without a lookup table.

The equations (QuTiP's conventions, ``HEOMSolver`` with even parity)
--------------------------------------------------------------------
With c_k, ν_k the amplitude and rate of exponent k (C_k(t) = c_k e^{−ν_k t}), Q_k its dot's annihilator,
O = Q_k for a "+" and Q_k† for a "−" exponent and Ō the other one, the ADO X of tier t obeys

    dX/dt = L_S X − (Σ_{k ∈ X} ν_k) X
            − i Σ_{k ∉ X} (−1)^j [O X_k − (−1)^t X_k O]                                   (one tier deeper)
            − i Σ_{k ∈ X} (−1)^j [c_k Ō X_{−k} + (−1)^t c_{k̄}* X_{−k} Ō]                   (one tier shallower)

with t the tier of X, j the number of members of X below k, X_k (X_{−k}) the ADO with k added (removed)
and k̄ the exponent of the other sign paired with k. The tests check the assembled matrix against QuTiP's
``HEOMSolver.rhs`` entry by entry.

Filtered hierarchies
--------------------
:func:`filtered` leaves out the ADOs whose a priori size (:func:`importance`) is below a threshold; they keep
their index (so that the ranks above still find every ADO) but lose their unknowns and links
(``Layout.present``), and every term, assembled or applied, skips them.

Only the coupled charge blocks
------------------------------
The ADO with ΔN = n₊ − n₋ couples to ρ only through its elements (a, b) with N_a − N_b = ΔN
(:mod:`~transportbench.backends.heom_steady`); we assemble the equations of those elements alone, ADO after
ADO, each ADO's elements in column-stacked order. The other elements vanish in the steady state and are never
allocated.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Exponents:
    """The bath exponents of a hierarchy, C_k(t) = c_k exp(−ν_k t).

    Attributes
    ----------
    signs : ndarray of int
        +1 for a "+" exponent (the dot's c at the later time), −1 for a "−" exponent.
    reservoir : ndarray of int
        Index into ``machine.reservoirs`` of each exponent.
    amplitudes : ndarray of complex
        c_k (energy units).
    frequencies : ndarray of complex
        ν_k (energy units).
    partners : ndarray of int
        k̄: the exponent of the other sign paired with each exponent.
    """

    signs: np.ndarray
    reservoir: np.ndarray
    amplitudes: np.ndarray
    frequencies: np.ndarray
    partners: np.ndarray


@dataclass(frozen=True)
class Layout:
    """Where every ADO and unknown of the reduced hierarchy lives.

    Attributes
    ----------
    members : ndarray of int, shape (ADOs, depth)
        The excited exponents of every ADO, increasing, padded with −1; row 0 is ρ.
    tier_starts : ndarray of int
        Index of the first ADO of every tier (and the number of ADOs at the end).
    charges : ndarray of int
        ΔN = n₊ − n₋ of every ADO.
    offsets : ndarray of int
        First unknown of every ADO in the reduced vector (and the number of unknowns at the end).
    kept : ndarray of int
        Position of every reduced unknown in the full vector of all ADOs (ADO i's element (a, b) at
        i n² + a + b n): increasing.
    present : ndarray of bool
        The ADOs in the hierarchy; one left out by :func:`filtered` keeps its index (so that the colexicographic
        ranks still find every ADO) but has no unknowns and no links.
    """

    members: np.ndarray
    tier_starts: np.ndarray
    charges: np.ndarray
    offsets: np.ndarray
    kept: np.ndarray
    present: np.ndarray

    @property
    def tiers(self) -> np.ndarray:
        """The tier of every ADO."""
        return (self.members >= 0).sum(axis=1)

    @property
    def unknowns_by_tier(self) -> tuple[int, ...]:
        """The reduced unknowns of every tier, ρ's first."""
        return tuple(int(self.offsets[stop] - self.offsets[start])
                     for start, stop in zip(self.tier_starts[:-1], self.tier_starts[1:], strict=True))

    @property
    def depth(self) -> int:
        """The truncation depth (the deepest tier listed)."""
        return int(self.members.shape[1])

    def truncated(self, depth: int) -> Layout:
        """The same ADOs (and filter) up to tier ``depth`` only: the first ADOs and unknowns of this layout."""
        if not 0 <= depth <= self.depth:
            raise ValueError(f"a layout of depth {self.depth} cannot be truncated at depth {depth}")
        stop = int(self.tier_starts[depth + 1])
        return Layout(self.members[:stop, :depth], self.tier_starts[:depth + 2], self.charges[:stop],
                      self.offsets[:stop + 1], self.kept[:int(self.offsets[stop])], self.present[:stop])

    def occupations(self, n_exponents: int) -> np.ndarray:
        """Excitations per exponent of every ADO (QuTiP's labels), int8, shape (ADOs, exponents)."""
        table = np.zeros((len(self.members), n_exponents), dtype=np.int8)
        rows, columns = np.nonzero(self.members >= 0)
        table[rows, self.members[rows, columns]] = 1
        return table


def _binomials(n_exponents: int, depth: int) -> np.ndarray:
    """C(m, r) for m ≤ n_exponents, r ≤ depth (int64)."""
    return np.array([[math.comb(m, r) for r in range(depth + 1)] for m in range(n_exponents + 1)], dtype=np.int64)


def _tier_members(n_exponents: int, tier: int, binomials: np.ndarray) -> np.ndarray:
    """Every ``tier``-subset of the exponents, sorted, in colexicographic order (shape (C(K, t), t))."""
    subsets = np.array(list(itertools.combinations(range(n_exponents), tier)), dtype=np.int64).reshape(-1, tier)
    ordered = np.empty_like(subsets)
    ordered[_colex_ranks(subsets, binomials)] = subsets
    return ordered


def _colex_ranks(subsets: np.ndarray, binomials: np.ndarray) -> np.ndarray:
    """Colexicographic rank Σ_j C(c_j, j + 1) of every sorted subset (one per row)."""
    ranks = np.zeros(len(subsets), dtype=np.int64)
    for j in range(subsets.shape[1]):
        ranks += binomials[subsets[:, j], j + 1]
    return ranks


def layout(signs: np.ndarray, depth: int, basis_charges: np.ndarray) -> Layout:
    """The ADOs of a hierarchy with exponents of ``signs`` truncated at ``depth``, and its reduced unknowns.

    ``basis_charges`` is N of every basis state of the system (length n). ValueError for a negative or
    non-integer ``depth`` or a sign other than ±1.
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
        raise ValueError(f"depth must be an integer >= 0, got {depth!r}")
    signs = np.asarray(signs)
    if not np.all(np.isin(signs, (1, -1))):
        raise ValueError(f"signs must all be +1 or -1, got {sorted(set(signs.tolist()) - {1, -1})}")
    n_exponents = len(signs)
    depth = min(depth, n_exponents)
    binomials = _binomials(n_exponents, depth)
    blocks = [np.full((1, depth), -1, dtype=np.int64)]
    for tier in range(1, depth + 1):
        found = _tier_members(n_exponents, tier, binomials)
        blocks.append(np.pad(found, ((0, 0), (0, depth - tier)), constant_values=-1))
    members = np.concatenate(blocks)
    tier_starts = np.cumsum([0, *(len(block) for block in blocks)])
    charges = np.where(members >= 0, signs[np.maximum(members, 0)], 0).sum(axis=1)
    present = np.ones(len(members), dtype=bool)
    return Layout(members, tier_starts, charges, *_unknowns(charges, present, basis_charges), present)


def _unknowns(charges: np.ndarray, present: np.ndarray, basis_charges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, kept) of :class:`Layout` for ADOs of ``charges``, those not ``present`` without unknowns."""
    positions = element_positions(basis_charges)
    lowest = int(charges.min())
    widths = np.zeros(int(charges.max()) - lowest + 1, dtype=np.int64)
    for charge, elements in positions.items():
        if 0 <= charge - lowest < len(widths):
            widths[charge - lowest] = len(elements)
    sizes = np.where(present, widths[charges - lowest], 0)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    kept = np.empty(int(offsets[-1]), dtype=np.int64)
    n2 = len(basis_charges) ** 2
    for charge, elements in positions.items():
        ados = np.flatnonzero((charges == charge) & (sizes > 0))
        kept[offsets[ados][:, None] + np.arange(len(elements))[None, :]] = ados[:, None] * n2 + elements[None, :]
    return offsets, kept


def importance(structure: Layout, exponents: Exponents) -> np.ndarray:
    """An a priori estimate of every ADO's size relative to ρ (dimensionless; ρ's is 1).

    An ADO X of the exponents S is driven by its parents X_{S∖k} through c_k (and c_{k̄}*) and damped at
    Re Σ_{j∈S} ν_j, so to first order in the couplings

        I(∅) = 1,    I(S) = Σ_{k∈S} max(|c_k|, |c_{k̄}|) I(S∖k) / Re Σ_{j∈S} ν_j,

    the sum over every order of exciting S of the estimate of Shi, Chen, Nan, Xu and Yan (J. Chem. Phys. 130,
    084105 (2009)) that HierarchicalEOM.jl filters with (one order there). The system's own frequencies only
    shrink an ADO further (|ν − iω| ≥ Re ν), so the estimate errs on the side of keeping. An exponent that
    does not decay (Re ν ≤ 0) gives every ADO holding it an infinite estimate.
    """
    return _importance(structure, exponents, _links(structure, len(exponents.signs)))


def _importance(structure: Layout, exponents: Exponents, links: _Links) -> np.ndarray:
    amplitudes = np.maximum(np.abs(exponents.amplitudes), np.abs(exponents.amplitudes[exponents.partners]))
    damping = Equations.rates_of(structure, exponents).real
    values = np.zeros(len(structure.members))
    values[0] = 1.0
    for tier in range(1, structure.depth + 1):
        chosen = links.tier == tier
        np.add.at(values, links.child[chosen], amplitudes[links.exponent[chosen]] * values[links.parent[chosen]])
        first, stop = structure.tier_starts[tier], structure.tier_starts[tier + 1]
        with np.errstate(divide="ignore"):
            values[first:stop] = np.where(damping[first:stop] > 0, values[first:stop] / damping[first:stop], np.inf)
    return values


def filtered(structure: Layout, exponents: Exponents, threshold: float, basis_charges: np.ndarray) -> Layout:
    """``structure`` without the ADOs of tier ≥ 2 whose :func:`importance` is below ``threshold``.

    An ADO is also left out when none of its parents is left in (it would only feed deeper ADOs). ρ and the
    first tier (the currents) always stay. ``threshold`` = 0 leaves every ADO in; ValueError if negative.
    """
    if not threshold >= 0:
        raise ValueError(f"the ADO threshold must be >= 0, got {threshold!r}")
    present = structure.present.copy()
    if threshold > 0 and structure.depth >= 2:
        links = _links(structure, len(exponents.signs))
        present &= (structure.tiers < 2) | (_importance(structure, exponents, links) >= threshold)
        for tier in range(2, structure.depth + 1):
            chosen = links.tier == tier
            fed = np.zeros(len(present), dtype=bool)
            fed[links.child[chosen][present[links.parent[chosen]]]] = True
            first, stop = structure.tier_starts[tier], structure.tier_starts[tier + 1]
            present[first:stop] &= fed[first:stop]
    offsets, kept = _unknowns(structure.charges, present, basis_charges)
    return dataclasses.replace(structure, present=present, offsets=offsets, kept=kept)


def element_charges(basis_charges: np.ndarray) -> np.ndarray:
    """N_a − N_b of every element (a, b) of an n × n operator, at its column-stacked position a + b n."""
    return (basis_charges[:, None] - basis_charges[None, :]).reshape(-1, order="F")


def element_positions(basis_charges: np.ndarray) -> dict[int, np.ndarray]:
    """{ΔN: the column-stacked positions a + b n of the elements with N_a − N_b = ΔN, increasing}."""
    difference = element_charges(basis_charges)
    return {int(q): np.flatnonzero(difference == q) for q in np.unique(difference)}


@dataclass(frozen=True)
class _Links:
    """Every link between an ADO (child) and the ADO one tier shallower without exponent k (parent)."""

    child: np.ndarray
    parent: np.ndarray
    exponent: np.ndarray
    sign: np.ndarray
    """(−1)^j, j the members of the child below k."""
    tier: np.ndarray
    """The child's tier."""


def _links(structure: Layout, n_exponents: int) -> _Links:
    depth = structure.members.shape[1]
    binomials = _binomials(n_exponents, depth)
    parts: list[tuple[np.ndarray, ...]] = []
    for tier in range(1, depth + 1):
        first, stop = structure.tier_starts[tier], structure.tier_starts[tier + 1]
        subsets = structure.members[first:stop, :tier]
        children = np.arange(first, stop)
        for j in range(tier):
            rank = np.zeros(len(subsets), dtype=np.int64)
            for i in range(tier):
                if i != j:
                    rank += binomials[subsets[:, i], i + 1 if i < j else i]
            parents = structure.tier_starts[tier - 1] + rank
            parts.append((children, parents, subsets[:, j], np.full(len(children), (-1) ** j),
                           np.full(len(children), tier)))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Links(empty, empty, empty, empty, empty)
    return _Links(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def pre(operator: sp.spmatrix) -> sp.csr_matrix:
    """X ↦ A X on column-stacked X (n² × n²)."""
    return sp.csr_matrix(sp.kron(sp.identity(operator.shape[0]), operator))


def post(operator: sp.spmatrix) -> sp.csr_matrix:
    """X ↦ X A on column-stacked X (n² × n²)."""
    return sp.csr_matrix(sp.kron(operator.T, sp.identity(operator.shape[0])))


class _Assembler:
    """Collects (row, column, value) triplets of the reduced generator, block by block."""

    def __init__(self, structure: Layout, basis_charges: np.ndarray) -> None:
        self.structure = structure
        self.difference = element_charges(basis_charges)
        positions = element_positions(basis_charges)
        self.local = np.full(len(self.difference), -1, dtype=np.int64)
        for elements in positions.values():
            self.local[elements] = np.arange(len(elements))
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, rows: np.ndarray, columns: np.ndarray, coefficients: np.ndarray,
            superoperator: sp.csr_matrix) -> None:
        """Add coefficient × ``superoperator`` as the block (ADO ``rows[i]``, ADO ``columns[i]``) for every i."""
        if len(rows) == 0:
            return
        entries = sp.coo_matrix(superoperator)
        entries.eliminate_zeros()  # a stored zero may join blocks that do not couple
        row_charges = self.structure.charges[rows]
        for charge in np.unique(row_charges):
            chosen = row_charges == charge
            inside = self.difference[entries.row] == charge
            if not inside.any():
                continue
            element_rows, element_columns = entries.row[inside], entries.col[inside]
            values = entries.data[inside]
            column_charges = self.difference[element_columns]
            if np.any(column_charges[None, :] != self.structure.charges[columns[chosen]][:, None]):
                raise AssertionError("a link leaves the coupled charge blocks: the charges do not match")
            offsets = self.structure.offsets
            self.parts.append((
                (offsets[rows[chosen]][:, None] + self.local[element_rows][None, :]).ravel(),
                (offsets[columns[chosen]][:, None] + self.local[element_columns][None, :]).ravel(),
                (coefficients[chosen][:, None] * values[None, :]).ravel()))

    def add_diagonal(self, values: np.ndarray) -> None:
        """Add ``values`` (one per reduced unknown) on the diagonal."""
        everything = np.arange(len(values))
        self.parts.append((everything, everything, values.astype(complex)))

    def matrix(self) -> sp.csr_matrix:
        """The assembled reduced generator (duplicates summed)."""
        size = int(self.structure.offsets[-1])
        rows, columns, values = (np.concatenate(column) for column in zip(*self.parts, strict=True))
        self.parts.clear()
        return sp.csr_matrix(sp.coo_matrix((values, (rows, columns)), shape=(size, size)))


@dataclass(frozen=True)
class Equations:
    """Everything that defines the hierarchy's equations of motion (see the module docstring).

    Attributes
    ----------
    structure : Layout
        The ADOs and reduced unknowns (:func:`layout`).
    exponents : Exponents
        Every bath exponent, in the order the ADOs' members refer to.
    hamiltonian : ndarray
        H_S on the system's basis (n × n, real symmetric; energy units).
    couplings : list of ndarray
        The annihilator Q of each reservoir's dot (n × n, real), indexed like ``exponents.reservoir``.
    basis_charges : ndarray of int
        N of every basis state.
    local_term : dict {parity: superoperator}, optional
        A time-local term added to every ADO's own block by its parity s = ±1 (the wide band's Λ).
    """

    structure: Layout
    exponents: Exponents
    hamiltonian: np.ndarray
    couplings: list[np.ndarray]
    basis_charges: np.ndarray
    local_term: dict[int, sp.csr_matrix] | None = None

    def own_blocks(self) -> dict[int, sp.csr_matrix]:
        """{parity s: −i[H, ·] (+ Λ_s)}, the part of an ADO's own block shared by every ADO of parity s."""
        h = sp.csr_matrix(self.hamiltonian)
        system = -1j * (pre(h) - post(h))
        if self.local_term is None:
            return {1: system, -1: system}
        return {parity: sp.csr_matrix(system + self.local_term[parity]) for parity in (1, -1)}

    def rates(self) -> np.ndarray:
        """Σ_{k ∈ X} ν_k of every ADO X (energy units): its own block is the shared one minus this."""
        return self.rates_of(self.structure, self.exponents)

    @staticmethod
    def rates_of(structure: Layout, exponents: Exponents) -> np.ndarray:
        """Σ_{k ∈ X} ν_k of every ADO X of ``structure`` (energy units)."""
        members = structure.members
        return np.where(members >= 0, exponents.frequencies[np.maximum(members, 0)], 0).sum(axis=1)

    def own_rates(self, rows: np.ndarray | None = None, columns: np.ndarray | None = None) -> np.ndarray:
        """−Σ_{k ∈ X} ν_k of every ADO X in ``rows`` and ``columns`` (bool per ADO; default all), else 0."""
        kept = self._mask("rows", rows) & self._mask("columns", columns)
        return np.where(kept, -self.rates(), 0.0)

    def _mask(self, name: str, ados: np.ndarray | None) -> np.ndarray:
        """``ados`` checked as one bool per ADO (ValueError naming ``name`` otherwise), the ADOs present only.

        None means every ADO present.
        """
        count = len(self.structure.members)
        if ados is None:
            return self.structure.present
        ados = np.asarray(ados)
        if ados.dtype != bool or ados.shape != (count,):
            raise ValueError(f"{name} must hold one bool per ADO ({count}), got dtype {ados.dtype} and shape "
                             f"{ados.shape}")
        return ados & self.structure.present

    def terms(self, rows: np.ndarray | None = None, columns: np.ndarray | None = None, *,
              own_blocks: bool = True) -> Iterator[Term]:
        """Every block of the generator but the rates: the own blocks by parity, then the links, lead by lead.

        ``rows``, ``columns`` (one bool per ADO; default all) keep only the blocks from ADOs with ``columns``
        into ADOs with ``rows`` (an ADO's own block is in its own row and column); ``own_blocks=False`` keeps
        the links alone.
        """
        rows, columns = self._mask("rows", rows), self._mask("columns", columns)
        for term in self._all_terms(own_blocks):
            kept = rows[term.rows] & columns[term.columns]
            yield Term(term.rows[kept], term.columns[kept], term.coefficients[kept], term.superoperator)

    def _all_terms(self, own_blocks: bool) -> Iterator[Term]:
        structure, exponents = self.structure, self.exponents
        tiers = structure.tiers
        parities = 1 - 2 * (tiers % 2)
        ados = np.arange(len(tiers))
        for parity, block in self.own_blocks().items() if own_blocks else ():
            chosen = parities == parity
            yield Term(ados[chosen], ados[chosen], np.ones(int(chosen.sum()), dtype=complex), block)
        links = _links(structure, len(exponents.signs))
        tier_sign = (-1.0) ** links.tier
        for reservoir, annihilator in enumerate(self.couplings):
            q = sp.csr_matrix(annihilator)
            for sign, deeper, shallower in ((1, q, q.T.tocsr()), (-1, q.T.tocsr(), q)):
                chosen = ((exponents.reservoir[links.exponent] == reservoir)
                          & (exponents.signs[links.exponent] == sign))
                child, parent, k = links.child[chosen], links.parent[chosen], links.exponent[chosen]
                j_sign, t_sign = links.sign[chosen], tier_sign[chosen]
                # one tier deeper: the row is the parent (tier t − 1), the column the child X_k
                yield Term(parent, child, -1j * j_sign, pre(deeper))
                yield Term(parent, child, -1j * j_sign * t_sign, post(deeper))
                # one tier shallower: the row is the child (tier t), the column the parent X_{−k}
                yield Term(child, parent, -1j * j_sign * exponents.amplitudes[k], pre(shallower))
                yield Term(child, parent,
                           -1j * j_sign * t_sign * np.conj(exponents.amplitudes[exponents.partners[k]]),
                           post(shallower))


@dataclass(frozen=True)
class Term:
    """coefficients[i] × superoperator as the block (ADO rows[i], ADO columns[i]) of the generator, for every i."""

    rows: np.ndarray
    columns: np.ndarray
    coefficients: np.ndarray
    superoperator: sp.csr_matrix


def assemble(equations: Equations, *, rows: np.ndarray | None = None,
             columns: np.ndarray | None = None) -> sp.csr_matrix:
    """The generator of the reduced hierarchy vector, stored (see the module docstring; energy units).

    ``rows``, ``columns`` (one bool per ADO) keep only the blocks from ADOs with ``columns`` into ADOs with
    ``rows`` (as :meth:`Equations.terms`); the matrix keeps its full size. Default: everything.
    """
    assembler = _Assembler(equations.structure, equations.basis_charges)
    for term in equations.terms(rows, columns):
        assembler.add(term.rows, term.columns, term.coefficients, term.superoperator)
    assembler.add_diagonal(np.repeat(equations.own_rates(rows, columns), np.diff(equations.structure.offsets)))
    return assembler.matrix()
