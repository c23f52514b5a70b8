"""The linear algebra of a steady state, shared by the ``local`` and ``heom`` backends (NumPy/SciPy only).

The steady state is the null vector of a generator 𝓛 (a Liouvillian, or a hierarchy of auxiliary operators
with ρ first). Its equations for ρ's diagonal sum to zero (the trace is conserved), so the first of them is
replaced by Tr ρ = 1: the **trace-bordered system** B x = e (:func:`trace_bordered`). B is singular exactly
when the zero eigenvalue of 𝓛 is degenerate (a traceless stationary X solves B X = 0), so its conditioning
measures the uniqueness of the steady state: a condition number beyond :data:`DEGENERACY_CONDITION` counts
as "not unique". B is solved by a sparse LU, whose factors give the Hager–Higham estimate of that condition
number (:func:`condition_estimate`), or by restarted GMRES with a backend's preconditioner and its iterations
counted (:func:`counted_gmres`). Every solution is judged by its residual in 𝓛 (:func:`residual_norms`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

DEGENERACY_CONDITION = 1e13
"""One-norm condition number of the trace-bordered system beyond which the steady state counts as not unique."""


def trace_bordered(generator: sp.spmatrix, trace_positions: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
    """𝓛 with the equation of ``trace_positions[0]`` replaced by Σ_j x_j = 1 over ``trace_positions``.

    Parameters
    ----------
    generator : scipy.sparse matrix
        The square generator 𝓛 acting on the vector of unknowns (energy units).
    trace_positions : ndarray of int
        Positions of ρ's diagonal elements among the unknowns (their sum is the trace).

    Returns
    -------
    (scipy.sparse.csc_matrix, ndarray)
        The bordered matrix B and its right-hand side e (1 in the replaced row, 0 elsewhere).
    """
    size = generator.shape[0]
    replaced = int(trace_positions[0])
    keep = np.ones(size)
    keep[replaced] = 0.0
    trace_row = sp.csr_matrix((np.ones(len(trace_positions)), (np.full(len(trace_positions), replaced),
                                                               trace_positions)), shape=(size, size))
    rhs = np.zeros(size, dtype=complex)
    rhs[replaced] = 1.0
    return (sp.diags(keep) @ generator + trace_row).tocsc(), rhs


def condition_estimate(matrix: sp.spmatrix, factor: spla.SuperLU) -> float:
    """Hager–Higham estimate of the one-norm condition number ‖A‖₁ ‖A⁻¹‖₁, from A's LU factors.

    Two more solves per estimation step. A singular factor gives inf or NaN, which is reported, not hidden.
    """
    inverse = spla.LinearOperator(matrix.shape, matvec=factor.solve,
                                  rmatvec=lambda x: factor.solve(np.asarray(x, dtype=complex), trans="H"),
                                  dtype=complex)
    with np.errstate(invalid="ignore", over="ignore"):
        estimate = spla.onenormest(inverse)
    return float(spla.norm(matrix, 1) * estimate)


def counted_gmres(matrix: sp.spmatrix | spla.LinearOperator, rhs: np.ndarray, preconditioner: spla.LinearOperator,
                  *, rtol: float, restart: int, maxiter: int, x0: np.ndarray | None = None,
                  on_iteration: Callable[[int], None] | None = None) -> tuple[np.ndarray, int, int]:
    """Restarted GMRES (SciPy's) with the inner iterations counted.

    Parameters
    ----------
    matrix, rhs
        The system A x = b.
    preconditioner : scipy.sparse.linalg.LinearOperator
        M ≈ A⁻¹.
    rtol : float
        Relative residual to reach (dimensionless; no absolute floor).
    restart, maxiter : int
        Krylov vectors per cycle and largest number of cycles.
    x0 : ndarray, optional
        Starting vector (default zero).
    on_iteration : callable, optional
        Called with the number of inner iterations done after each one (e.g. to show progress).

    Returns
    -------
    (ndarray, int, int)
        The solution, SciPy's ``info`` (0: converged; > 0: cycles used without converging) and the number of
        inner iterations.
    """
    iterations = 0

    def count(_residual: float) -> None:
        nonlocal iterations
        iterations += 1
        if on_iteration is not None:
            on_iteration(iterations)

    vector, info = spla.gmres(matrix, rhs, x0=x0, M=preconditioner, rtol=rtol, atol=0.0, restart=restart,
                              maxiter=maxiter, callback=count, callback_type="pr_norm")
    return vector, info, iterations


def residual_norms(generator: sp.spmatrix, vector: np.ndarray) -> tuple[float, float]:
    """(‖𝓛x‖₂, ‖𝓛x‖₂ / (‖𝓛‖₁ ‖x‖₂)) of a solution x; the relative one is ∞ for x = 0."""
    residual = float(np.linalg.norm(generator @ vector))
    scale = float(spla.norm(generator, 1)) * float(np.linalg.norm(vector))
    return residual, (residual / scale if scale > 0 else float("inf"))
