"""Temporary demo: the paper's triple dot solved with QmeQ's Pauli and 2vN approaches.

Run ``python -m transportbench.demo`` (``make demo``). It talks to QmeQ directly and will be replaced
by a demo built on transportbench's model and backends; the tests of the QmeQ build and
``benchmarks/qmeq_kernels.py`` use `triple_dot_builder` from here until then.

The machine (paper, Fig. 3 working point): three spinless dots (qubits) with energy ε = 1, flip-flop
hoppings g = 0.05 between qubits 1-3 and 3-2, Coulomb repulsion U = 15 between every pair, a hot
reservoir (μ = 8, T = 1) at qubit 1 and a cold one (μ = 0, T = 1) at qubit 3, each with bare rate
γ = 0.1, i.e. tunnelling amplitude t = sqrt(γ / 2π) in QmeQ's flat band of half-width 1000.
QmeQ's dots are ordered (qubit 1, qubit 3, qubit 2) so that both hoppings join neighbouring
fermions and no Jordan-Wigner signs appear: dot 0 = qubit 1, dot 1 = qubit 3, dot 2 = qubit 2.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np

EPS = 1.0
HOPPING = 0.05
COULOMB_U = 15.0
GAMMA = 0.1
LEAD_MU = (8.0, 0.0)
LEAD_T = (1.0, 1.0)
DBAND = 1000.0
#: Qubit (1-based, the paper's numbering) held by each QmeQ dot.
QUBIT_OF_DOT = (1, 3, 2)
#: QmeQ dot coupled to each lead: lead 0 (hot) -> qubit 1, lead 1 (cold) -> qubit 3.
DOT_OF_LEAD = (0, 1)
#: Principal parts of first-order approaches by digamma functions (QmeQ's large-bandwidth choice).
FIRST_ORDER_ITYPE = 1


def triple_dot_builder(kerntype: str, *, kpnt: int | None = None, dband: float = DBAND):
    """Return a QmeQ Builder for the paper's triple dot.

    Parameters
    ----------
    kerntype : str
        QmeQ approach, e.g. ``'Pauli'``, ``'1vN'``, ``'2vN'``; a ``'py'`` prefix selects QmeQ's
        pure-Python kernels.
    kpnt : int, optional
        Energy grid points (2vN only; required there).
    dband : float
        Half-width of the leads' flat band.

    Returns
    -------
    qmeq.Builder
        Unsolved system.
    """
    import qmeq

    hsingle = {(dot, dot): EPS for dot in range(3)} | {(0, 1): HOPPING, (1, 2): HOPPING}
    coulomb = {(0, 1, 1, 0): COULOMB_U, (0, 2, 2, 0): COULOMB_U, (1, 2, 2, 1): COULOMB_U}
    amplitude = math.sqrt(GAMMA / (2 * math.pi))
    tleads = {(lead, dot): amplitude for lead, dot in enumerate(DOT_OF_LEAD)}
    grid = {"kpnt": kpnt} if kerntype.endswith("2vN") else {"itype": FIRST_ORDER_ITYPE}
    return qmeq.Builder(nsingle=3, hsingle=hsingle, coulomb=coulomb, nleads=2, tleads=tleads,
                        mulst=dict(enumerate(LEAD_MU)), tlst=dict(enumerate(LEAD_T)), dband=dband,
                        kerntype=kerntype, **grid)


def eigenbasis_block(system, charge: int) -> np.ndarray:
    """Return the solved reduced density matrix in one charge sector, in QmeQ's eigenbasis.

    Parameters
    ----------
    system : qmeq.Builder
        Solved system.
    charge : int
        Number of electrons.

    Returns
    -------
    ndarray
        Square block ordered like ``system.si.chargelst[charge]``.
    """
    si, states = system.si, system.si.chargelst[charge]
    if system.appr.no_coherences:
        # Pauli: phi0 holds populations only (Builder.get_phi0 mis-indexes this case in QmeQ 1.1).
        populations = [system.phi0[si.get_ind_dm0(b, b, charge, maptype=1)] for b in states]
        return np.diag(populations).astype(complex)
    return np.array([[system.get_phi0(b, bp) for bp in states] for b in states], dtype=complex)


def to_qubit_basis(system, block_of_charge: Callable[[int], np.ndarray]) -> np.ndarray:
    """Map an operator given in QmeQ's eigenbasis, one charge sector at a time, to the qubit basis.

    QmeQ works in the eigenbasis of the dots' Hamiltonian; ``system.qd.vecslst[charge]`` holds the
    eigenvectors (columns) in the occupation basis ``si.chargelst[charge]``, whose occupations per dot
    ``si.get_state`` gives. The qubit basis is the project's |q1 q2 q3⟩ with qubit 1 most significant.

    Parameters
    ----------
    system : qmeq.Builder
        The system (solved, if the operator is its state).
    block_of_charge : callable
        Returns the operator's block for a charge sector, ordered like ``si.chargelst[charge]``.

    Returns
    -------
    ndarray
        8 x 8 matrix in the qubit basis.
    """
    si = system.si
    fock = np.zeros((si.nmany, si.nmany), dtype=complex)
    for charge in range(si.ncharge):
        states = si.chargelst[charge]
        vectors = np.asarray(system.qd.vecslst[charge])
        fock[np.ix_(states, states)] = vectors @ block_of_charge(charge) @ vectors.conj().T
    qubit_index = [qubit_basis_index(si.get_state(state)) for state in range(si.nmany)]
    result = np.zeros_like(fock)
    result[np.ix_(qubit_index, qubit_index)] = fock
    return result


def qubit_basis_index(occupations_by_dot: Sequence[int]) -> int:
    """Index in the qubit basis (qubit 1 most significant) of a QmeQ occupation list."""
    pairs = zip(occupations_by_dot, QUBIT_OF_DOT, strict=True)
    return sum(occupation << (3 - qubit) for occupation, qubit in pairs)


def qubit_density_matrix(system) -> np.ndarray:
    """Return the solved reduced density matrix in the qubit basis |q1 q2 q3⟩."""
    return to_qubit_basis(system, lambda charge: eigenbasis_block(system, charge))


def qubit_hamiltonian(system) -> np.ndarray:
    """Return the dots' Hamiltonian as QmeQ diagonalised it, in the qubit basis |q1 q2 q3⟩."""
    energies = np.asarray(system.qd.Ea)
    return to_qubit_basis(system, lambda charge: np.diag(energies[system.si.chargelst[charge]]))


def reduced_qubits_12(rho: np.ndarray) -> np.ndarray:
    """Trace qubit 3 (the least significant bit) out of a three-qubit density matrix."""
    return np.einsum("ikjk->ij", rho.reshape(4, 2, 4, 2))


def x_state_concurrence(rho12: np.ndarray) -> float:
    """Concurrence of a two-qubit X state: C = 2 max(0, |ρ_{01,10}| - sqrt(ρ_{00,00} ρ_{11,11}))."""
    return 2.0 * max(0.0, abs(rho12[1, 2]) - math.sqrt(max(rho12[0, 0].real * rho12[3, 3].real, 0.0)))


def solve_and_report(kerntype: str, settings: str, **solve_options) -> tuple[str, ...]:
    """Solve the triple dot with one approach and return a table row."""
    system = triple_dot_builder(kerntype, kpnt=solve_options.pop("kpnt", None))
    with warnings.catch_warnings():
        # 2vN's Fermi functions on the whole band overflow exp() far above μ, giving f = 0: the right limit.
        warnings.filterwarnings("ignore", "overflow encountered in exp", RuntimeWarning)
        system.solve(**solve_options)
    rho = qubit_density_matrix(system)
    concurrence = x_state_concurrence(reduced_qubits_12(rho))
    smallest = np.linalg.eigvalsh(rho).min()
    return (kerntype, settings, f"{concurrence:.4f}", f"{system.current[0]:.3e}", f"{smallest:.1e}")


def main() -> None:
    """Print the concurrence of qubits 1-2 for QmeQ's Pauli and 2vN approaches."""
    print(f"Paper's triple dot: eps={EPS}, g={HOPPING}, U={COULOMB_U}, gamma={GAMMA}, mu={LEAD_MU}, "
          f"T={LEAD_T}, dband={DBAND} (QmeQ, compiled kernels)")
    rows = [("approach", "settings", "C(1,2)", "I hot lead", "min eig rho"),
            solve_and_report("Pauli", f"itype={FIRST_ORDER_ITYPE}"),
            solve_and_report("2vN", "kpnt=256, niter=10", kpnt=256, niter=10)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print("Notes:\n"
          "- QmeQ's Pauli approach keeps populations only, but of the eigenstates of the dots'\n"
          "  Hamiltonian. With g != 0 these are delocalised (the dark state (|10>-|01>)/sqrt(2) of\n"
          "  qubits 1,2 is one), so in the qubit basis the state has coherences and C(1,2) is not zero.\n"
          "  A Pauli equation for the populations of qubit basis states would give C(1,2) = 0.\n"
          "- 2vN depends on the energy grid: at kpnt=256 and dband=1000 it is not converged (C moves with\n"
          "  kpnt, and rho has a negative eigenvalue); read its row as a check that the compiled 2vN runs,\n"
          "  not as a result.")


if __name__ == "__main__":
    main()
