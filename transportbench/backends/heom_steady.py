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
up to ``REFINEMENTS`` steps of iterative refinement; ``"iterative"`` runs GMRES on the generator applied as an
operator, never stored (:mod:`~transportbench.backends.heom_operator`), preconditioned by the exact shallow
hierarchy (:func:`_tier_gmres`); ``"ilu"`` runs GMRES preconditioned by an incomplete LU. Which
method a backend solve uses is chosen in :mod:`~transportbench.backends.heom_solve`, which builds the
hierarchy and calls :func:`solve`. Every solve is followed by the residual ‖𝓛x‖.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
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
EIGENVECTOR_CONDITION = 1e8
"""Largest condition number of an ADO block's eigenvectors used by :class:`_ShiftedBlocks` (else SuperLU)."""


DIRECT_FILL = (8.0, 80.0)
"""LU entries per nonzero of the reduced matrix assumed by :func:`solve_bytes` (depth ≤ 2, deeper); measured at
the Fig. 3 point with MMD on Aᵀ + A: 6x at depth 2, 56-70x at depth 3."""
QUTIP_FILL = 120.0
"""Bytes of QuTiP's ``steady_state`` per byte of the full generator, beyond two copies (its construction and
SuperLU with COLAMD on every element of every ADO; measured at the Fig. 3 point: 70-95)."""
BASE_LU_PER_UNKNOWN = 300.0
"""LU entries per unknown of the shallow base of the iterative solve (measured: 55 for the Fig. 3 point at
depth 2, 170-230 for five dots at depth 1)."""
BASE_SIZE = 2_000_000
"""The iterative solve factorises the depth-2 hierarchy only while its unknowns times its largest ADO block stay
below this (the Fig. 3 point up to about 20 Padé terms); five dots fill its LU in badly and use depth 1."""
ITERATIVE_BYTES_PER_UNKNOWN = 200.0
"""Bytes per unknown of the iterative solve besides the Krylov basis: the operator's index arrays and gathered
copies (about 8 vectors' worth) and the shifted blocks' positions and shifted eigenvalues."""
BYTES_PER_ENTRY = 24


def solve_bytes(size: object, method: str, dim: int) -> float:
    """Estimated peak bytes of assembling (where needed) and solving a hierarchy of ``size``.

    ``size`` is a :class:`~.heom_hierarchy.Size`. ``"direct"`` assembles the generator
    (``size.generator_bytes``) and factorises it (``DIRECT_FILL`` LU entries per nonzero); ``"ilu"`` keeps
    the matrix, its bordered copy and an incomplete LU of ``ILU_FILL_FACTOR`` times it; ``"qutip"`` builds
    and factorises the full system of every element of every ADO (``QUTIP_FILL``). ``"iterative"`` stores no
    generator: the shallow hierarchy's assembly and LU (``BASE_LU_PER_UNKNOWN``), and per unknown the Krylov
    basis, the operator's index and gathered copies and the deeper tiers' shifted blocks
    (``ITERATIVE_BYTES_PER_UNKNOWN`` besides the basis).
    """
    reduced = size.reduced_unknowns  # type: ignore[attr-defined]
    nonzeros = size.generator_nonzeros  # type: ignore[attr-defined]
    assembly = size.generator_bytes  # type: ignore[attr-defined]
    matrix = nonzeros * BYTES_PER_ENTRY
    deep = size.depth > 2  # type: ignore[attr-defined]
    if method == "direct":
        return assembly + matrix * (1 + DIRECT_FILL[deep])
    if method == "ilu":
        return assembly + matrix * (1 + ILU_FILL_FACTOR)
    if method == "qutip":
        full = size.unknowns  # type: ignore[attr-defined]
        return full / max(reduced, 1) * matrix * (2 + QUTIP_FILL)
    by_tier = size.unknowns_by_tier  # type: ignore[attr-defined]
    shallow = sum(by_tier[:shallow_depth(by_tier, size.largest_block, BASE_DEPTH) + 1])  # type: ignore[attr-defined]
    base_bytes = shallow * (nonzeros / max(reduced, 1) * 2 * BYTES_PER_ENTRY + BASE_LU_PER_UNKNOWN * BYTES_PER_ENTRY)
    krylov = (MATRIX_FREE_RESTART + 4) * reduced * 16
    return assembly * shallow / max(reduced, 1) + base_bytes + krylov + ITERATIVE_BYTES_PER_UNKNOWN * reduced


ON_ITERATION: ContextVar[Callable[[int], None] | None] = ContextVar("heom_gmres_iteration", default=None)
"""Called with the GMRES iterations done so far during a solve in this context (the backend's progress bar)."""


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


def _gmres(matrix: sp.csc_matrix | spla.LinearOperator, rhs: np.ndarray, preconditioner: spla.LinearOperator,
           x0: np.ndarray, what: str, restart: int = GMRES_RESTART) -> tuple[np.ndarray, int]:
    """GMRES to ``GMRES_RTOL``; the solution and its iterations, or SteadyStateError naming the preconditioner."""
    x, info, iterations = counted_gmres(matrix, rhs, preconditioner, rtol=GMRES_RTOL, restart=restart,
                                        maxiter=GMRES_MAXITER, x0=x0, on_iteration=ON_ITERATION.get())
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

    def solve(self, residual: np.ndarray) -> np.ndarray:
        """D⁻¹ r for the tier's residual r (complex, one entry per unknown)."""
        y = np.empty_like(residual)
        for positions, values, vectors, inverse in self.groups:
            y[positions] = ((residual[positions] @ inverse.T) / values) @ vectors.T
        return y


def shallow_depth(unknowns_by_tier: Sequence[int], largest_block: int, requested: int) -> int:
    """The deepest tier of the shallow hierarchy the iterative solve factorises.

    ``requested`` (at most depth − 1), one less while the unknowns up to it times the largest ADO block
    exceed ``BASE_SIZE`` (five dots: the depth-2 LU fills in badly), never below 1.
    """
    if requested < 0:
        raise ValueError(f"the shallow hierarchy's requested depth must be >= 0, got {requested}")
    base = max(min(requested, len(unknowns_by_tier) - 2), 0)
    while base > 1 and sum(unknowns_by_tier[:base + 1]) * largest_block > BASE_SIZE:
        base -= 1
    return base


def _tier_inverse(equations: heom_generator.Equations, tier: int, first: int, stop: int) -> tuple[object, str]:
    """D_t⁻¹ of one deeper tier, by the ADOs' shared own blocks (:class:`_ShiftedBlocks`), else SuperLU."""
    structure = equations.structure
    in_tier = structure.tiers == tier
    own = equations.own_blocks()[1 - 2 * (tier % 2)]
    rates = equations.rates()
    positions_of = heom_generator.element_positions(equations.basis_charges)
    groups = []
    for charge in np.unique(structure.charges[in_tier]):
        ados = np.flatnonzero(in_tier & (structure.charges == charge) & (np.diff(structure.offsets) > 0))
        if len(ados):
            elements = positions_of[int(charge)]
            positions = structure.offsets[ados][:, None] - first + np.arange(len(elements))[None, :]
            groups.append((positions, own[elements][:, elements].toarray(), -rates[ados]))
    try:
        return _ShiftedBlocks(groups), "shifted"
    except (ValueError, np.linalg.LinAlgError):
        # block diagonal: with the natural order SuperLU's fill stays inside each ADO's block
        blocks = heom_generator.assemble(equations, rows=in_tier, columns=in_tier)[first:stop, first:stop]
        return spla.splu(blocks.tocsc(), permc_spec="NATURAL"), "LU"


def _tier_gmres(equations: heom_generator.Equations, trace_columns: np.ndarray, base_depth: int,
                permc_spec: str) -> tuple[np.ndarray, str, HierarchyOperator]:
    """GMRES on the trace-bordered hierarchy, applied as an operator, preconditioned tier by tier.

    The ADOs come by tier (as :func:`heom_generator.layout` lists them), so every tier is a slice of the
    unknowns. The tiers ≤ ``base_depth`` (:func:`shallow_depth`) form the shallow hierarchy A, assembled and
    factorised exactly. Each deeper tier t links only to tiers t ± 1, and its own block D_t is block diagonal
    (one block per ADO; :func:`_tier_inverse`). The preconditioner is the block lower triangle: A⁻¹ for the
    shallow part, then tier by tier y_t = D_t⁻¹ (r_t − C_t y_{t−1}), C_t the links from tier t − 1 applied as an
    operator. It leaves out the feedback of each deeper tier on the one above (B_t D_t⁻¹ C_t), which is small
    where the truncation in depth converges. Neither the generator nor the deeper tiers are ever stored, only
    ``MATRIX_FREE_RESTART`` + 1 Krylov vectors. Returns the solution, a description and the operator.
    """
    structure = equations.structure
    depth = structure.depth
    tiers = structure.tiers
    base = shallow_depth(structure.unknowns_by_tier, int(np.diff(structure.offsets).max()), base_depth)
    edges = [int(structure.offsets[structure.tier_starts[tier]]) for tier in range(base + 1, depth + 2)]
    shallow = structure.truncated(base)
    base_matrix, _ = trace_bordered(heom_generator.assemble(dataclasses.replace(equations, structure=shallow)),
                                    trace_columns)
    lu_base = spla.splu(base_matrix.tocsc(), permc_spec=permc_spec)
    del base_matrix
    operator = HierarchyOperator(equations)
    deeper, kinds = [], set()
    for tier, first, stop in zip(range(base + 1, depth + 1), edges[:-1], edges[1:], strict=True):
        inverse, kind = _tier_inverse(equations, tier, first, stop)
        kinds.add(kind)
        links = HierarchyOperator(equations, rows=tiers == tier, columns=tiers == tier - 1, own_blocks=False)
        deeper.append((slice(first, stop), inverse, links))
    size = operator.shape[0]
    replaced = int(trace_columns[0])

    def bordered(x: np.ndarray) -> np.ndarray:
        y = operator.matvec(x)
        y[replaced] = np.sum(x[trace_columns])
        return y

    def apply(residual: np.ndarray) -> np.ndarray:
        y = np.zeros(size, dtype=complex)
        y[:edges[0]] = lu_base.solve(residual[:edges[0]])
        for part, inverse, links in deeper:
            y[part] = inverse.solve(residual[part] - links.matvec(y)[part])
        return y

    system = spla.LinearOperator((size, size), matvec=bordered, dtype=complex)
    preconditioner = spla.LinearOperator((size, size), matvec=apply, dtype=complex)
    rhs = np.zeros(size, dtype=complex)
    rhs[replaced] = 1.0
    x, iterations = _gmres(system, rhs, preconditioner, apply(rhs), f"the depth-{base} hierarchy",
                           restart=MATRIX_FREE_RESTART)
    fill = (lu_base.L.nnz + lu_base.U.nnz) / max(edges[0], 1)
    return x, (f"GMRES preconditioned by the depth-{base} hierarchy ({iterations} iterations, {fill:.0f} LU "
               f"entries per unknown; deeper tiers' blocks by {' and '.join(sorted(kinds))}; generator not "
               "stored)"), operator


def solve(equations: heom_generator.Equations, dim: int, *, method: str = "direct",
          generator: sp.csr_matrix | None = None, base_depth: int = BASE_DEPTH,
          permc_spec: str = "MMD_AT_PLUS_A", estimate_condition: bool = True) -> SteadyState:
    """Steady state of the reduced hierarchy ``equations`` (see the module docstring).

    Parameters
    ----------
    equations : heom_generator.Equations
        The hierarchy, its ADOs by tier (:func:`~transportbench.backends.heom_hierarchy.build_hierarchy`).
    dim : int
        n, the size of the system's density matrix.
    method : {"direct", "iterative", "ilu"}
        ``"direct"``: SuperLU of the assembled generator; ``"iterative"``: GMRES on the generator applied as an
        operator, never stored, preconditioned by the shallow hierarchy (:func:`_tier_gmres`); ``"ilu"``: GMRES
        preconditioned by an incomplete LU of the assembled generator.
    generator : scipy.sparse.csr_matrix, optional
        The assembled generator, if already at hand (``"direct"``, ``"ilu"``; assembled here otherwise).
    base_depth : int
        ``"iterative"``: the deepest tier of the shallow hierarchy it factorises (fewer for large ADO blocks).
    permc_spec : str
        SuperLU column ordering (for the LU or the ILU).
    estimate_condition : bool
        Estimate the one-norm condition number after a direct solve (two more solves per estimate step).

    Returns
    -------
    SteadyState
        Its ``vector`` on the reduced unknowns. Raises :class:`SteadyStateError` when the solve or the
        residual check fails.
    """
    start = time.perf_counter()
    kept = equations.structure.kept
    diagonal = np.arange(dim) * (dim + 1)  # ρ's diagonal: the first positions, all kept
    trace_columns = np.searchsorted(kept, diagonal)
    if not np.array_equal(kept[trace_columns], diagonal):
        raise ValueError("the kept unknowns must include every diagonal element of ρ")
    if method == "iterative" and equations.structure.members.shape[1] > 0:
        x, label, checked_by = _tier_gmres(equations, trace_columns, base_depth, permc_spec)
        return _checked(checked_by, x, len(kept), label, math.nan, time.perf_counter() - start)
    if method not in ("direct", "ilu", "iterative"):
        raise ValueError(f"method must be 'direct', 'iterative' or 'ilu', got {method!r}")
    matrix = heom_generator.assemble(equations) if generator is None else generator
    if method == "direct":
        x, label, condition = _direct(*trace_bordered(matrix, trace_columns), permc_spec, estimate_condition)
    else:
        x, label, condition = _ilu_gmres(*trace_bordered(matrix, trace_columns), permc_spec)
    return _checked(matrix, x, len(kept), label, condition, time.perf_counter() - start)


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
