"""Steady state of a HEOM generator, restricted to the charge-difference blocks that couple to ρ.

Part of the ``heom`` backend (:mod:`transportbench.backends.heom`). NumPy/SciPy only.

Why the restriction is exact
----------------------------
The system Hamiltonian conserves the dots' charge N, and a "+" ("−") exponent's link to the tier below
applies c (c†) once. So the ADO with n₊ "+" and n₋ "−" excitations couples to ρ only through its elements
(a, b) with N_a − N_b = ΔN = n₊ − n₋, just as ρ lives in ΔN = 0. Every other element obeys a homogeneous
set of equations of its own and vanishes in the (unique) steady state. Keeping only the coupled elements
cut the Fig. 3 hierarchy at depth 3 about fivefold.

The linear system
-----------------
The reduced hierarchy is trace-bordered (:mod:`transportbench.backends.steady_linalg`: one of ρ's diagonal
equations replaced by Tr ρ = 1, as QuTiP's ``steady_state`` does). ``"direct"`` factorises it with SuperLU
(fill-reducing ordering ``permc_spec``, MMD on Aᵀ + A by default: much less fill than COLAMD here) and gets
up to ``REFINEMENTS`` steps of iterative refinement; ``"iterative"`` runs GMRES preconditioned by the exact
shallow hierarchy (:func:`_tier_gmres`); ``"ilu"`` runs GMRES preconditioned by an incomplete LU. Which
method a backend solve uses is chosen in :mod:`~transportbench.backends.heom_solve`, which builds the
hierarchy and calls :func:`solve`. Every solve is followed by the residual ‖𝓛x‖.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from transportbench.backends import heom_generator
from transportbench.backends.heom_operator import HierarchyOperator
from transportbench.backends.steady_linalg import (
    DEGENERACY_CONDITION,
    condition_estimate,
    counted_gmres,
    trace_bordered,
)
from transportbench.result import SolveFailure

REFINEMENTS = 3
"""Most iterative-refinement steps after a direct solve."""
RESIDUAL_RTOL = 1e-11
"""A solve is accepted when ‖𝓛x‖ ≤ RESIDUAL_RTOL × ‖𝓛‖₁ × ‖x‖ (here ‖x‖ ≥ ‖ρ‖ ≈ 1)."""
BASE_DEPTH = 2
"""The shallow hierarchy that the iterative solve factorises exactly (see :func:`_tier_gmres`)."""
GMRES_RESTART = 60
MATRIX_FREE_RESTART = 20
"""Krylov vectors per GMRES cycle of the matrix-free solve (each one a vector of the whole hierarchy)."""
GMRES_MAXITER = 20
GMRES_RTOL = 1e-13
ILU_DROP_TOL = 1e-6
ILU_FILL_FACTOR = 30.0
SHIFT_ATOL = 1e-12
"""ADO blocks of one charge block and parity count as shifted copies when their diagonals differ by a constant
to this (relative to the largest diagonal entry)."""
EIGENVECTOR_CONDITION = 1e8
"""Largest condition number of an ADO block's eigenvectors used by :class:`_ShiftedBlocks` (else SuperLU)."""
PERMC_SPECS = ("MMD_AT_PLUS_A", "COLAMD", "MMD_ATA", "NATURAL")


DIRECT_FILL = (8.0, 80.0)
"""LU entries per nonzero of the reduced matrix assumed by :func:`solve_bytes` (depth ≤ 2, deeper); measured at
the Fig. 3 point with MMD on Aᵀ + A: 6x at depth 2, 56-70x at depth 3."""
BASE_LU_PER_UNKNOWN = 60.0
"""LU entries per unknown of the depth-≤2 base of the iterative solve (measured: 48 at the Fig. 3 point)."""
BYTES_PER_ENTRY = 24


def solve_bytes(size: object, method: str, dim: int) -> float:
    """Estimated peak bytes of the steady-state solve of a hierarchy of ``size`` (:class:`~.heom_hierarchy.Size`).

    Counts the reduced matrix and its trace-bordered copy, and for ``"direct"`` its LU (``DIRECT_FILL``), for
    ``"iterative"`` the LU of the shallow base (``BASE_LU_PER_UNKNOWN``, counted on every unknown), the
    eigendecompositions of the deeper tiers' blocks (a few dense blocks per charge block and parity) and the
    GMRES basis; ``"qutip"`` factorises the full system of every element of every ADO (fill as ``"direct"``).
    """
    reduced = size.reduced_unknowns  # type: ignore[attr-defined]
    nonzeros = size.generator_nonzeros  # type: ignore[attr-defined]
    matrix = nonzeros * BYTES_PER_ENTRY
    deep = size.depth > 2  # type: ignore[attr-defined]
    if method == "direct":
        return matrix * (2 + DIRECT_FILL[deep])
    if method == "qutip":
        full = size.unknowns  # type: ignore[attr-defined]
        return full / max(reduced, 1) * matrix * (2 + DIRECT_FILL[deep])
    krylov = (GMRES_RESTART + 4) * reduced * 16
    blocks = 4 * (2 * dim + 1) * size.largest_block**2 * 16  # type: ignore[attr-defined]
    return 3 * matrix + reduced * BASE_LU_PER_UNKNOWN * BYTES_PER_ENTRY + blocks + krylov


class SteadyStateError(SolveFailure):
    """The hierarchy solve failed its residual check (or did not converge): a failed row in ``compare``."""


@dataclass(frozen=True)
class SteadyState:
    """A solved hierarchy.

    Attributes
    ----------
    vector : ndarray of complex
        The reduced hierarchy vector, on the kept unknowns (``Hierarchy.ado`` unpacks an ADO); Tr ρ = 1.
    residual : float
        ‖𝓛 x‖₂ (energy units); the blocks left out neither couple nor contribute, so it is the full
        hierarchy's residual too.
    relative_residual : float
        ``residual`` / (‖𝓛‖₁ ‖x‖₂).
    unknowns : int
        Size of the system actually solved.
    method : str
        What solved it, e.g. ``"direct (MMD_AT_PLUS_A)"`` or ``"gmres+ilu (7 iterations)"``.
    condition : float
        One-norm condition estimate of the solved matrix (NaN where not estimated).
    seconds : float
        Wall time of the solve (without building the generator).
    """

    vector: np.ndarray
    residual: float
    relative_residual: float
    unknowns: int
    method: str
    condition: float
    seconds: float

    @property
    def unique(self) -> bool | None:
        """True when the condition estimate shows a nonsingular system, False when singular, None unknown."""
        if math.isnan(self.condition):
            return None
        return bool(self.condition < DEGENERACY_CONDITION)


def _direct(matrix: sp.csc_matrix, rhs: np.ndarray, permc_spec: str, estimate_condition: bool) -> tuple[
        np.ndarray, str, float]:
    lu = spla.splu(matrix, permc_spec=permc_spec)
    x = lu.solve(rhs)
    for _ in range(REFINEMENTS):
        correction = lu.solve(rhs - matrix @ x)
        x = x + correction
        if np.linalg.norm(correction) <= 1e-15 * np.linalg.norm(x):
            break
    condition = condition_estimate(matrix, lu) if estimate_condition else math.nan
    fill = (lu.L.nnz + lu.U.nnz) / max(matrix.nnz, 1)
    return x, f"direct SuperLU ({permc_spec}, fill {fill:.0f}x)", condition


def _gmres(matrix: sp.csc_matrix, rhs: np.ndarray, preconditioner: spla.LinearOperator, x0: np.ndarray,
           what: str) -> tuple[np.ndarray, int]:
    """GMRES to ``GMRES_RTOL``; the solution and its iterations, or SteadyStateError naming the preconditioner."""
    x, info, iterations = counted_gmres(matrix, rhs, preconditioner, rtol=GMRES_RTOL, restart=GMRES_RESTART,
                                        maxiter=GMRES_MAXITER, x0=x0)
    if info != 0:
        raise SteadyStateError(f"GMRES preconditioned by {what} did not converge ({iterations} iterations, info "
                               f"{info}) on {matrix.shape[0]} unknowns; try solver='direct'")
    return x, iterations


def _ilu_gmres(matrix: sp.csc_matrix, rhs: np.ndarray, permc_spec: str) -> tuple[np.ndarray, str, float]:
    ilu = spla.spilu(matrix, drop_tol=ILU_DROP_TOL, fill_factor=ILU_FILL_FACTOR, permc_spec=permc_spec)
    size = matrix.shape[0]
    preconditioner = spla.LinearOperator((size, size), matvec=ilu.solve, dtype=complex)
    x, iterations = _gmres(matrix, rhs, preconditioner, ilu.solve(rhs), "an incomplete LU")
    return x, f"GMRES + ILU ({iterations} iterations)", math.nan


class _ShiftedBlocks:
    """D⁻¹ for a tier's block-diagonal part whose ADO blocks are one matrix plus a scalar shift each.

    Every ADO's own block in the generator is L_S (+ the wide band's Λ, which depends on the ADO's parity)
    restricted to its charge block, minus Σ_k ν_k over its excitations times the identity. So ADOs of one tier
    with the same charge block share one matrix B up to a shift σ, and B + σ = V (λ + σ) V⁻¹ with one
    eigendecomposition of B: the inverse of the whole tier costs two small dense products per ADO and no
    factor of its own.

    Parameters
    ----------
    groups : list of (positions, block, shifts)
        Per set of ADOs sharing B: their unknowns (ADOs × b, positions in the tier's residual), B (b × b,
        dense; energy units) and each ADO's shift σ. Raises ValueError when B's eigenvectors are
        ill-conditioned (``EIGENVECTOR_CONDITION``).
    """

    def __init__(self, groups: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        self.groups = []
        for positions, block, shifts in groups:
            values, vectors = np.linalg.eig(block)
            if np.linalg.cond(vectors) > EIGENVECTOR_CONDITION:
                raise ValueError("an ADO block's eigenvectors are ill-conditioned")
            self.groups.append((positions, values[None, :] + shifts[:, None], vectors, np.linalg.inv(vectors)))

    @classmethod
    def from_matrix(cls, matrix: sp.csr_matrix, starts: np.ndarray, keys: np.ndarray) -> _ShiftedBlocks:
        """From the tier's assembled block-diagonal part (its ADOs' unknowns contiguous, first at ``starts``).

        ADOs with equal ``keys`` must have blocks of equal size that differ by a multiple of the identity
        (checked on the diagonals: ValueError otherwise).
        """
        diagonal = matrix.diagonal()
        ends = np.append(starts[1:], matrix.shape[0])
        groups = []
        for key in np.unique(keys):
            members = np.flatnonzero(keys == key)
            width = int(ends[members[0]] - starts[members[0]])
            if np.any(ends[members] - starts[members] != width):
                raise ValueError("ADOs of one key have blocks of different sizes")
            positions = starts[members][:, None] + np.arange(width)[None, :]
            first = int(starts[members[0]])
            block = matrix[first:first + width, first:first + width].toarray()
            shifts = diagonal[positions] - diagonal[positions[0]]
            if not np.allclose(shifts, shifts[:, :1], rtol=0.0, atol=SHIFT_ATOL * max(np.abs(diagonal).max(), 1.0)):
                raise ValueError("the ADO blocks of one key differ by more than a shift")
            groups.append((positions, block, shifts[:, 0]))
        return cls(groups)

    def solve(self, residual: np.ndarray) -> np.ndarray:
        """D⁻¹ r for the tier's residual r (complex, one entry per unknown)."""
        y = np.empty_like(residual)
        for positions, values, vectors, inverse in self.groups:
            y[positions] = ((residual[positions] @ inverse.T) / values) @ vectors.T
        return y


def _tier_block(matrix: sp.csr_matrix, starts: np.ndarray, keys: np.ndarray) -> tuple[object, str]:
    """The inverse of one deeper tier's block-diagonal part: shifted eigendecompositions, else SuperLU."""
    try:
        return _ShiftedBlocks.from_matrix(matrix, starts, keys), "shifted"
    except (ValueError, np.linalg.LinAlgError):
        # block diagonal: with the natural order SuperLU's fill stays inside each ADO's block
        return spla.splu(matrix.tocsc(), permc_spec="NATURAL"), "LU"


def _tier_gmres(matrix: sp.csr_matrix, rhs: np.ndarray, unknown_tiers: np.ndarray, unknown_keys: np.ndarray,
                unknown_ados: np.ndarray, permc_spec: str) -> tuple[np.ndarray, str, float]:
    """GMRES preconditioned by the exact shallow hierarchy and a sweep down the deeper tiers.

    The unknowns must come in increasing tier, each ADO's contiguously (:func:`solve` orders them so), which
    makes every block below a contiguous slice of ``matrix``; ``unknown_keys`` labels each unknown's ADO by
    its charge block and parity, ``unknown_ados`` by its ADO. The unknowns of tiers ≤ ``BASE_DEPTH`` (or
    ≤ depth − 1 if that is smaller) form the shallow part A, factorised exactly. Each deeper tier t links only
    to tiers t ± 1, and its own block D_t is block diagonal (one block per ADO; inverted by
    :class:`_ShiftedBlocks`). The preconditioner is the block lower triangle: A⁻¹ for the shallow part, then
    tier by tier y_t = D_t⁻¹ (r_t − C_t y_{t−1}). It leaves out the feedback of each deeper tier on the one
    above (B_t D_t⁻¹ C_t), which is small where the truncation in depth converges; for depth 3 it is the exact
    depth-2 hierarchy and the depth-3 ADOs' own blocks.
    """
    depth = int(unknown_tiers[-1])
    base = min(BASE_DEPTH, depth - 1)
    edges = np.searchsorted(unknown_tiers, [0, *range(base + 1, depth + 2)], side="left")
    groups = [slice(int(start), int(stop)) for start, stop in zip(edges[:-1], edges[1:], strict=True)]
    lu_base = spla.splu(matrix[groups[0], groups[0]].tocsc(), permc_spec=permc_spec)
    diagonal, kinds = [], set()
    for g in groups[1:]:
        starts = np.flatnonzero(np.diff(unknown_ados[g], prepend=-1))
        inverse, kind = _tier_block(matrix[g, g], starts, unknown_keys[g][starts])
        diagonal.append(inverse)
        kinds.add(kind)
    couplings = [matrix[g, previous] for g, previous in zip(groups[1:], groups[:-1], strict=True)]
    size = matrix.shape[0]

    def apply(residual: np.ndarray) -> np.ndarray:
        y = np.empty(size, dtype=complex)
        y[groups[0]] = lu_base.solve(residual[groups[0]])
        for g, previous, inverse, coupling in zip(groups[1:], groups[:-1], diagonal, couplings, strict=True):
            y[g] = inverse.solve(residual[g] - coupling @ y[previous])
        return y

    preconditioner = spla.LinearOperator((size, size), matvec=apply, dtype=complex)
    x, iterations = _gmres(matrix, rhs, preconditioner, apply(rhs), "the shallow hierarchy")
    fill = (lu_base.L.nnz + lu_base.U.nnz) / max(groups[0].stop, 1)
    return x, (f"GMRES preconditioned by the depth-{base} hierarchy ({iterations} iterations, "
               f"{fill:.0f} LU entries per unknown; deeper tiers' blocks by {' and '.join(sorted(kinds))})"), math.nan


def solve(generator: sp.csr_matrix, kept: np.ndarray, dim: int, tiers: np.ndarray, *, method: str = "direct",
          permc_spec: str = "MMD_AT_PLUS_A", estimate_condition: bool = True) -> SteadyState:
    """Steady state of the reduced hierarchy ``generator`` (see the module docstring).

    Parameters
    ----------
    generator : scipy.sparse.csr_matrix
        The generator on the kept unknowns only (energy units), as
        :func:`~transportbench.backends.heom_hierarchy.build_hierarchy` assembles it.
    kept : ndarray of int
        Position of every unknown in the full vector of all ADOs (ADO i's element (a, b) at i n² + a + b n),
        increasing; ρ's diagonal must be among them.
    dim : int
        n, the size of the system's density matrix.
    tiers : ndarray of int
        The tier (number of excitations) of every ADO; ``"iterative"`` needs the ADOs in increasing tier.
    method : {"direct", "iterative", "ilu"}
        ``"iterative"``: GMRES preconditioned by the hierarchy one tier shallower (:func:`_tier_gmres`);
        ``"ilu"``: GMRES preconditioned by an incomplete LU.
    permc_spec : str
        SuperLU column ordering (for the LU or the ILU).
    estimate_condition : bool
        Estimate the one-norm condition number after a direct solve (two more solves per estimate step).

    Returns
    -------
    SteadyState
        Its ``vector`` on the kept unknowns. Raises :class:`SteadyStateError` when the residual check fails.
    """
    start = time.perf_counter()
    diagonal = np.arange(dim) * (dim + 1)  # ρ's diagonal: the first positions, all kept
    trace_columns = np.searchsorted(kept, diagonal)
    if not np.array_equal(kept[trace_columns], diagonal):
        raise ValueError("the kept unknowns must include every diagonal element of ρ")
    ados = kept // (dim * dim)
    if method == "iterative" and tiers.max() > 0:
        unknown_tiers = tiers[ados]
        if np.any(np.diff(unknown_tiers) < 0):
            raise ValueError("the iterative solve needs the ADOs in increasing tier")
        matrix, rhs = trace_bordered(generator, trace_columns)
        # an ADO's charge block is fixed by its first kept element, its parity by its tier
        firsts = np.full(len(tiers), dim * dim, dtype=np.int64)
        np.minimum.at(firsts, ados, kept % (dim * dim))
        keys = 2 * firsts[ados] + unknown_tiers % 2
        x, label, condition = _tier_gmres(matrix.tocsr(), rhs, unknown_tiers, keys, ados, permc_spec)
    elif method == "direct":
        x, label, condition = _direct(*trace_bordered(generator, trace_columns), permc_spec, estimate_condition)
    elif method in ("iterative", "ilu"):
        x, label, condition = _ilu_gmres(*trace_bordered(generator, trace_columns), permc_spec)
    else:
        raise ValueError(f"method must be 'direct', 'iterative' or 'ilu', got {method!r}")
    return _checked(generator, x, len(kept), label, condition, time.perf_counter() - start)


def solve_matrix_free(equations: heom_generator.Equations, dim: int, *,
                      permc_spec: str = "MMD_AT_PLUS_A") -> SteadyState:
    """Steady state of the hierarchy ``equations`` without storing its generator (:mod:`.heom_operator`).

    GMRES (restart ``MATRIX_FREE_RESTART``) on the trace-bordered operator, preconditioned like
    :func:`_tier_gmres`: the shallow hierarchy (tiers ≤ ``BASE_DEPTH``, assembled and factorised exactly),
    then tier by tier y_t = D_t⁻¹ (r_t − C_t y_{t−1}) with D_t inverted through the ADOs' shared own blocks
    (:class:`_ShiftedBlocks`) and the links C_t applied as an operator. The ADOs must come by tier, as
    :func:`heom_generator.layout` lists them. Returns the state on the reduced unknowns (energy units as
    :func:`solve`); raises :class:`SteadyStateError` when GMRES or the residual check fails.
    """
    start = time.perf_counter()
    structure = equations.structure
    depth = structure.members.shape[1]
    tiers = structure.tiers
    base = min(BASE_DEPTH, depth - 1)
    edges = [int(structure.offsets[structure.tier_starts[tier]]) for tier in range(base + 1, depth + 2)]
    shallow = heom_generator.layout(equations.exponents.signs, base, equations.basis_charges)
    diagonal = np.arange(dim) * (dim + 1)
    trace_columns = np.searchsorted(structure.kept, diagonal)
    if not np.array_equal(structure.kept[trace_columns], diagonal):
        raise ValueError("the kept unknowns must include every diagonal element of ρ")
    base_matrix, _ = trace_bordered(heom_generator.assemble(dataclasses.replace(equations, structure=shallow)),
                                    trace_columns)
    lu_base = spla.splu(base_matrix.tocsc(), permc_spec=permc_spec)
    del base_matrix
    operator = HierarchyOperator(equations)
    own = equations.own_blocks()
    rates = equations.rates()
    inverses, couplings = [], []
    for tier, first, stop in zip(range(base + 1, depth + 1), edges[:-1], edges[1:], strict=True):
        groups = []
        in_tier = tiers == tier
        for charge in np.unique(structure.charges[in_tier]):
            ados = np.flatnonzero(in_tier & (structure.charges == charge) & (np.diff(structure.offsets) > 0))
            if not len(ados):
                continue
            elements = np.flatnonzero((equations.basis_charges[:, None] - equations.basis_charges[None, :]
                                       ).reshape(-1, order="F") == charge)
            block = own[1 - 2 * (tier % 2)][elements][:, elements].toarray()
            positions = structure.offsets[ados][:, None] - first + np.arange(len(elements))[None, :]
            groups.append((positions, block, -rates[ados]))
        inverses.append((slice(first, stop), _ShiftedBlocks(groups)))
        couplings.append(HierarchyOperator(equations, rows=in_tier, columns=tiers == tier - 1, own_blocks=False))
    size = operator.shape[0]
    replaced = int(trace_columns[0])

    def bordered(x: np.ndarray) -> np.ndarray:
        y = operator.matvec(x)
        y[replaced] = np.sum(x[trace_columns])
        return y

    def apply(residual: np.ndarray) -> np.ndarray:
        y = np.zeros(size, dtype=complex)
        y[:edges[0]] = lu_base.solve(residual[:edges[0]])
        for (part, inverse), coupling in zip(inverses, couplings, strict=True):
            y[part] = inverse.solve(residual[part] - coupling.matvec(y)[part])
        return y

    system = spla.LinearOperator((size, size), matvec=bordered, dtype=complex)
    preconditioner = spla.LinearOperator((size, size), matvec=apply, dtype=complex)
    rhs = np.zeros(size, dtype=complex)
    rhs[replaced] = 1.0
    x, info, iterations = counted_gmres(system, rhs, preconditioner, rtol=GMRES_RTOL, restart=MATRIX_FREE_RESTART,
                                        maxiter=GMRES_MAXITER, x0=apply(rhs))
    if info != 0:
        raise SteadyStateError(f"matrix-free GMRES did not converge ({iterations} iterations, info {info}) on "
                               f"{size} unknowns")
    fill = (lu_base.L.nnz + lu_base.U.nnz) / max(edges[0], 1)
    label = (f"matrix-free GMRES preconditioned by the depth-{base} hierarchy ({iterations} iterations, "
             f"{fill:.0f} LU entries per unknown; deeper tiers' blocks by shifted)")
    return _checked(operator, x, size, label, math.nan, time.perf_counter() - start)


def one_norm(matrix: sp.csr_matrix | HierarchyOperator) -> float:
    """‖A‖₁, the largest column sum of |A| (units of A), without copying a canonical CSR matrix.

    For a :class:`HierarchyOperator`, its upper bound (terms that share an entry counted apart).
    """
    if isinstance(matrix, HierarchyOperator):
        return matrix.one_norm_bound()
    if not matrix.has_canonical_format:
        return float(spla.norm(matrix, 1))
    sums = np.bincount(matrix.indices, weights=np.abs(matrix.data), minlength=matrix.shape[1])
    return float(sums.max(initial=0.0))


def _checked(generator: sp.csr_matrix | HierarchyOperator, vector: np.ndarray, unknowns: int, method: str,
             condition: float, seconds: float) -> SteadyState:
    residual = float(np.linalg.norm(generator @ vector))
    scale = one_norm(generator) * float(np.linalg.norm(vector))
    relative = residual / scale if scale > 0 else math.inf
    if not relative <= RESIDUAL_RTOL or not np.all(np.isfinite(vector)):
        raise SteadyStateError(f"the HEOM steady state failed its residual check: ||Lx|| = {residual:.3g} "
                               f"(relative {relative:.3g} > {RESIDUAL_RTOL:g}) after {method} on {unknowns} "
                               "unknowns")
    return SteadyState(vector, residual, relative, unknowns, method, condition, seconds)


def qutip_steady_state(solver: object, generator: sp.csr_matrix, ados: np.ndarray, kept: np.ndarray,
                       dim: int) -> SteadyState:
    """QuTiP's own ``HEOMSolver.steady_state`` (SciPy's SuperLU on the full system), on our reduced unknowns.

    ``ados`` holds QuTiP's label (excitations per exponent) of each of our ADOs, ``kept`` the full positions of
    our unknowns; the state is residual-checked against our ``generator`` (an independent check of both).
    """
    start = time.perf_counter()
    _, states = solver.steady_state(use_mkl=False)  # type: ignore[attr-defined]
    n2 = dim * dim
    by_ado = [states.extract(tuple(int(v) for v in label)).full().reshape(-1, order="F") for label in ados]
    vector = np.concatenate(by_ado)[kept] if len(by_ado) else np.zeros(0, dtype=complex)
    return _checked(generator, vector, len(states.labels) * n2, "QuTiP steady_state (SuperLU, full system)",
                    math.nan, time.perf_counter() - start)
