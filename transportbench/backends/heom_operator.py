"""The reduced HEOM generator applied term by term, never stored (part of the ``heom`` backend).

A deep hierarchy of five dots has millions of unknowns and hundreds of millions of generator entries, but
only a few distinct superoperators: each term of :meth:`heom_generator.Equations.terms` is one n² × n²
superoperator S times a coefficient per link. Grouping the ADOs by their charge ΔN (all ADOs of one charge
have blocks of the same size b), a term restricted to rows of charge q and columns of charge q' acts on the
stacked column ADOs X (links × b') as X Sᵀ, and an incidence matrix adds the rows into their ADOs. Applying
the generator costs a few times a product with the stored matrix (the gathers and scatters), and its memory
is a few vectors.

NumPy/SciPy only; the tests check it against :func:`heom_generator.assemble` on the same equations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from transportbench.backends.heom_generator import Equations, Term, element_positions


@dataclass(frozen=True)
class _Block:
    """One term restricted to rows of charge ``row_charge`` and columns of charge ``column_charge``."""

    row_charge: int
    column_charge: int
    columns: np.ndarray
    """Index of every link's column ADO among the ADOs of ``column_charge``."""
    superoperator: sp.csr_matrix
    """S restricted to (rows' elements × columns' elements)."""
    incidence: sp.csr_matrix
    """(ADOs of ``row_charge`` × links): every link's coefficient at its row ADO."""


class HierarchyOperator(spla.LinearOperator):
    """The generator of the reduced hierarchy vector as a linear operator (energy units).

    Parameters
    ----------
    equations : heom_generator.Equations
        The hierarchy.
    rows, columns : ndarray of bool, optional
        Keep only the links from ADOs with ``columns`` into ADOs with ``rows`` (one entry per ADO; default all).
    own_blocks : bool
        Include every ADO's own block (−i[H, ·], Λ and the rates); False keeps the links alone.
    """

    def __init__(self, equations: Equations, *, rows: np.ndarray | None = None, columns: np.ndarray | None = None,
                 own_blocks: bool = True) -> None:
        structure = equations.structure
        size = int(structure.offsets[-1])
        super().__init__(dtype=complex, shape=(size, size))
        sizes = np.diff(structure.offsets)
        self._charge_ados: dict[int, np.ndarray] = {}
        self._unknowns: dict[int, np.ndarray] = {}
        local = np.full(len(sizes), -1, dtype=np.int64)
        for charge in np.unique(structure.charges):
            ados = np.flatnonzero((structure.charges == charge) & (sizes > 0))
            if len(ados):
                self._charge_ados[int(charge)] = ados
                local[ados] = np.arange(len(ados))
                width = int(sizes[ados[0]])
                self._unknowns[int(charge)] = structure.offsets[ados][:, None] + np.arange(width)[None, :]
        self._elements = element_positions(equations.basis_charges)
        self._blocks: list[_Block] = []
        for term in equations.terms(rows, columns, own_blocks=own_blocks):
            kept = (sizes[term.rows] > 0) & (sizes[term.columns] > 0)
            self._add(Term(term.rows[kept], term.columns[kept], term.coefficients[kept], term.superoperator),
                      structure.charges, local)
        rates = equations.own_rates(rows, columns)
        self._rates = {charge: rates[ados] for charge, ados in self._charge_ados.items()} if own_blocks else {}

    def _add(self, term: Term, charges: np.ndarray, local: np.ndarray) -> None:
        if len(term.rows) == 0:
            return
        for row_charge in np.unique(charges[term.rows]):
            chosen = charges[term.rows] == row_charge
            for column_charge in np.unique(charges[term.columns[chosen]]):
                links = chosen & (charges[term.columns] == column_charge)
                restricted = term.superoperator[self._elements[int(row_charge)]][:, self._elements[int(column_charge)]]
                restricted = sp.csr_matrix(restricted)
                restricted.eliminate_zeros()
                if restricted.nnz == 0:
                    continue
                n_rows = len(self._charge_ados[int(row_charge)])
                incidence = sp.csr_matrix((term.coefficients[links], (local[term.rows[links]],
                                                                      np.arange(int(links.sum())))),
                                          shape=(n_rows, int(links.sum())))
                self._blocks.append(_Block(int(row_charge), int(column_charge), local[term.columns[links]],
                                           restricted, incidence))

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x).reshape(-1)
        stacked = {charge: x[unknowns] for charge, unknowns in self._unknowns.items()}
        result = {charge: np.zeros_like(block, dtype=complex) for charge, block in stacked.items()}
        for charge, rates in self._rates.items():
            result[charge] += rates[:, None] * stacked[charge]
        for block in self._blocks:
            gathered = stacked[block.column_charge][block.columns]
            result[block.row_charge] += block.incidence @ (block.superoperator @ gathered.T).T
        y = np.zeros(self.shape[0], dtype=complex)
        for charge, unknowns in self._unknowns.items():
            y[unknowns] = result[charge]
        return y

    def one_norm_bound(self) -> float:
        """An upper bound on ‖A‖₁ (the largest column sum of |A|, with the terms' overlaps counted apart)."""
        sums = {charge: np.zeros(unknowns.shape) for charge, unknowns in self._unknowns.items()}
        for charge, rates in self._rates.items():
            sums[charge] += np.abs(rates)[:, None]
        for block in self._blocks:
            column_sums = np.asarray(abs(block.superoperator).sum(axis=0)).reshape(-1)  # over the rows' elements
            weights = np.asarray(abs(block.incidence).sum(axis=0)).reshape(-1)  # |coefficient| of every link
            np.add.at(sums[block.column_charge], block.columns, weights[:, None] * column_sums[None, :])
        return float(max((values.max(initial=0.0) for values in sums.values()), default=0.0))
