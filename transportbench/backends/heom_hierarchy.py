"""The HEOM hierarchy of a machine, built by QuTiP, and what we read off it (currents, sizes, memory).

Part of the ``heom`` backend (:mod:`transportbench.backends.heom`, where the conventions are stated).
QuTiP is imported inside the functions that need it.

Layout of a hierarchy vector
----------------------------
QuTiP stacks the ADOs in the order of ``HierarchyADOs.labels`` (the first is ρ itself), each as its
n × n matrix vectorised column by column (element (a, b) at position a + b n). Our system operators are
written directly on the project's basis (qubit 0 most significant bit), so ρ needs no reordering.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from transportbench.model import Machine
from transportbench.occupation import full_basis, parity_before

BYTES_PER_NONZERO = 16 + 8
"""Complex value plus a 64-bit index, per stored sparse entry."""
NONZERO_MARGIN = 1.5
"""Measured nonzeros of QuTiP's generator over the estimate (ADOs + 2 links) n² were 1.1-1.4 for the triple dot."""
COPIES = 3.0
"""Copies of the generator alive while it is built and reduced."""


# ----------------------------------------------------------------------------------- the system
def annihilator(machine: Machine, qubit: int) -> np.ndarray:
    """c_q = Π_{p' before q in machine.order} (−1)^{n_p'} σ−_q on the project's full basis (2^N × 2^N, real)."""
    occupations = full_basis(machine.n_qubits)
    n = len(occupations)
    operator = np.zeros((n, n))
    filled = np.flatnonzero(occupations[:, qubit] == 1)
    emptied = filled + 0  # index of the same pattern with the qubit emptied
    emptied -= 1 << (machine.n_qubits - 1 - qubit)
    operator[emptied, filled] = parity_before(occupations[filled], qubit, machine.order)
    return operator


def hamiltonian(machine: Machine) -> np.ndarray:
    """H = Σ ε n + Σ g (c_i† c_j + h.c.) + Σ U n_i n_j with Jordan–Wigner fermions (energy units)."""
    c = [annihilator(machine, q) for q in range(machine.n_qubits)]
    number = [op.T @ op for op in c]
    h = sum(energy * number[q] for q, energy in enumerate(machine.energies))
    for (i, j), g in machine.couplings:
        hop = c[i].T @ c[j]
        h = h + g * (hop + hop.T)
    for (i, j), u in machine.coulomb:
        h = h + u * number[i] @ number[j]
    return np.asarray(h, dtype=float)


def charges(machine: Machine) -> np.ndarray:
    """Total occupation N of every basis state of the full basis."""
    return full_basis(machine.n_qubits).sum(axis=1).astype(np.int64)


# ----------------------------------------------------------------------------------- the counts
Poles = int | Mapping[str, int]
"""Padé terms per branch: one number for every lead, or a number per reservoir name (every reservoir named)."""


def poles_per_lead(machine: Machine, pade: Poles) -> tuple[int, ...]:
    """The Padé terms of each reservoir, in ``machine.reservoirs`` order (ValueError for missing/unknown names)."""
    names = [r.name for r in machine.reservoirs]
    if not isinstance(pade, Mapping):
        return (int(pade),) * len(names)
    missing, unknown = sorted(set(names) - set(pade)), sorted(set(pade) - set(names))
    if missing or unknown:
        raise ValueError(f"pade per reservoir must name every reservoir {names} once; missing {missing}, "
                         f"unknown {unknown}")
    return tuple(int(pade[name]) for name in names)


def compact_poles(machine: Machine, poles: tuple[int, ...]) -> Poles:
    """``poles`` (per reservoir) as one number when they are all equal, else as {reservoir name: terms}."""
    if len(set(poles)) <= 1:
        return poles[0] if poles else 0
    return {r.name: count for r, count in zip(machine.reservoirs, poles, strict=True)}


def n_exponents(machine: Machine, pade: Poles) -> int:
    """Bath exponents of the hierarchy: 2 (Padé terms + 1) per reservoir (a "+" and a "−" branch)."""
    return sum(2 * (count + 1) for count in poles_per_lead(machine, pade))


def count_ados(exponents: int, depth: int) -> int:
    """Number of ADOs QuTiP keeps: every set of at most ``depth`` distinct fermionic exponents, Σ_k≤d C(K, k)."""
    return sum(math.comb(exponents, k) for k in range(min(depth, exponents) + 1))


def count_ados_by_charge(exponents_per_sign: int, depth: int) -> dict[int, int]:
    """{ΔN: number of ADOs} for ``exponents_per_sign`` "+" and as many "−" exponents (ΔN = n₊ − n₋)."""
    counts: dict[int, int] = {}
    for plus in range(depth + 1):
        for minus in range(depth + 1 - plus):
            counts[plus - minus] = counts.get(plus - minus, 0) + (
                math.comb(exponents_per_sign, plus) * math.comb(exponents_per_sign, minus))
    return counts


def block_sizes(machine: Machine) -> dict[int, int]:
    """{ΔN: number of density-matrix elements ρ_ab with N_a − N_b = ΔN}."""
    numbers = np.bincount(charges(machine), minlength=machine.n_qubits + 1)
    return {shift: int(sum(numbers[a] * numbers[a - shift] for a in range(len(numbers))
                           if 0 <= a - shift < len(numbers)))
            for shift in range(-machine.n_qubits, machine.n_qubits + 1)}


@dataclass(frozen=True)
class Size:
    """What a hierarchy will hold, computed before building it.

    Attributes
    ----------
    ados : int
        Number of auxiliary density operators (ρ included).
    depth : int
        The truncation depth.
    unknowns : int
        ADOs × n² (QuTiP's full vector).
    reduced_unknowns : int
        Unknowns left in the charge-difference blocks that couple to ρ.
    largest_block : int
        The largest charge-difference block of one ADO (elements).
    generator_nonzeros : float
        Estimated nonzeros of the generator.
    generator_bytes : float
        Estimated peak bytes of building it (QuTiP's block list, the assembled matrix and our copy).
    """

    ados: int
    depth: int
    unknowns: int
    reduced_unknowns: int
    largest_block: int
    generator_nonzeros: float
    generator_bytes: float


def hierarchy_size(machine: Machine, pade: Poles, depth: int) -> Size:
    """:class:`Size` of the hierarchy with ``pade`` Padé terms (per reservoir, :data:`Poles`) and truncation ``depth``.

    The nonzeros are estimated as n² per ADO block and per link (each ADO at tier t has t links to the tier
    above, each stored twice), times ``NONZERO_MARGIN``; the bytes as ``COPIES`` copies of them.
    """
    exponents = n_exponents(machine, pade)
    ados = count_ados(exponents, depth)
    links = sum(tier * math.comb(exponents, tier) for tier in range(1, min(depth, exponents) + 1))
    dim = 2**machine.n_qubits
    blocks = block_sizes(machine)
    by_charge = count_ados_by_charge(exponents // 2, depth)
    reduced = sum(count * blocks.get(shift, 0) for shift, count in by_charge.items())
    nonzeros = NONZERO_MARGIN * (ados + 2 * links) * dim**2
    return Size(ados, depth, ados * dim**2, reduced, max(blocks[shift] for shift in by_charge if shift in blocks),
                nonzeros, COPIES * nonzeros * BYTES_PER_NONZERO)


# ------------------------------------------------------------------------------- the hierarchy
def import_qutip() -> Any:
    """QuTiP, or an ImportError saying how to install it."""
    try:
        import qutip
        import qutip.solver.heom  # noqa: F401
    except ImportError as error:
        raise ImportError("the 'heom' backend needs QuTiP >= 5.2: pip install 'transportbench[heom]' "
                          "(or `make setup`, which installs every extra into .venv)") from error
    return qutip


@dataclass(frozen=True)
class Hierarchy:
    """A built hierarchy: QuTiP's generator and what identifies its ADOs and exponents.

    Attributes
    ----------
    generator : scipy.sparse.csr_matrix
        d/dt of the hierarchy vector (energy units), QuTiP's ``HEOMSolver.rhs`` (layout in the module
        docstring).
    labels : list of tuple
        QuTiP's ADO labels (excitations per exponent); ``labels[0]`` is ρ.
    signs : ndarray of int
        +1 for a "+" exponent (system operator c at the later time), −1 for a "−" exponent.
    reservoir : ndarray of int
        Index into ``machine.reservoirs`` of each exponent.
    frequencies : ndarray of complex
        ν_k of each exponent, C_k(t) = c_k exp(−ν_k t) (energy units).
    dim : int
        n = 2^N, the size of every ADO.
    solver : qutip.solver.heom.HEOMSolver
        QuTiP's solver (for its own ``steady_state``).
    """

    generator: sp.csr_matrix
    labels: list[tuple[int, ...]]
    signs: np.ndarray
    reservoir: np.ndarray
    frequencies: np.ndarray
    dim: int
    solver: Any

    def ado_charges(self) -> np.ndarray:
        """ΔN = (number of "+" excitations) − (number of "−" excitations) of every ADO."""
        return np.asarray(self.labels, dtype=np.int64) @ self.signs

    def first_tier(self) -> list[tuple[int, int]]:
        """(ADO index, exponent index) of every first-tier ADO."""
        return [(index, label.index(1)) for index, label in enumerate(self.labels) if sum(label) == 1]


def _bath(qutip: Any, machine: Machine, index: int, band_width: float, pade: int) -> Any:
    from qutip.core.environment import LorentzianEnvironment
    from qutip.solver.heom import FermionicBath

    reservoir = machine.reservoirs[index]
    environment = LorentzianEnvironment(reservoir.temperature, reservoir.chemical_potential, reservoir.rate,
                                        band_width)
    expansion = environment.approx_by_pade(pade, tag=index)
    coupling = qutip.Qobj(annihilator(machine, reservoir.qubit), dims=[[2] * machine.n_qubits] * 2)
    return FermionicBath.from_environment(expansion, coupling)


def build_hierarchy(machine: Machine, band_width: float, pade: Poles, depth: int) -> Hierarchy:
    """QuTiP's HEOM for ``machine``: one Lorentzian Padé bath per reservoir on its dot's annihilator.

    Parameters
    ----------
    machine : Machine
        Checked by the caller (finite T, no dephasing, no ideal limit).
    band_width : float
        Lorentzian half-width W of every lead (energy units); the band is centred at the lead's μ.
    pade : int or mapping {reservoir name: int}
        Padé terms per branch (QuTiP's ``Nk``), for every reservoir or per reservoir (:data:`Poles`).
    depth : int
        Hierarchy truncation (QuTiP's ``max_depth``).
    """
    qutip = import_qutip()
    from qutip.solver.heom import HEOMSolver

    baths = [_bath(qutip, machine, index, band_width, count)
             for index, count in enumerate(poles_per_lead(machine, pade))]
    h = qutip.Qobj(hamiltonian(machine), dims=[[2] * machine.n_qubits] * 2)
    solver = HEOMSolver(h, baths, depth, options={"progress_bar": False})
    exponents = solver.ados.exponents
    generator = sp.csr_matrix(solver.rhs(0).data.as_scipy())
    return Hierarchy(
        generator=generator, labels=list(solver.ados.labels),
        signs=np.array([1 if exp.type == exp.types["+"] else -1 for exp in exponents], dtype=np.int64),
        reservoir=np.array([exp.tag for exp in exponents], dtype=np.int64),
        frequencies=np.array([exp.vk for exp in exponents], dtype=complex),
        dim=2**machine.n_qubits, solver=solver)


# ----------------------------------------------------------------------------------- currents
def currents(machine: Machine, hierarchy: Hierarchy, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Particle and energy current from every reservoir into the system, from the first-tier ADOs.

    Returns
    -------
    particle, energy : ndarray
        Per reservoir, in the order of ``machine.reservoirs`` (energy and energy² units).
    imaginary : float
        The largest imaginary part the sums carried before taking the real part (a consistency check,
        zero up to round-off for a Hermitian hierarchy state).

    Notes
    -----
    The tier-0 row of the generator is dρ/dt = L_S ρ + Σ_k L_0k ρ_k, and Σ_{k ∈ r} L_0k ρ_k is exactly
    −i Tr_B [H_T^(r), ρ_total], so J_r = Σ_{k ∈ r} Tr[N L_0k ρ_k]. The energy current −d⟨H_r⟩/dt is the
    same expression with the lead operator B = Σ t_q c_q replaced by Σ ε_q t_q c_q = i ∂_t B (for B†:
    −i ∂_t B†); in the influence functional that differentiates the correlation function at the later time,
    and for exponent k (C_k ∝ exp(−ν_k t)) it multiplies the term by φ_k = i ν_k ("+") or −i ν_k ("−").
    """
    n = hierarchy.dim
    number = np.diag(charges(machine).astype(float))
    weights = number.T.reshape(-1, order="F")  # Tr[N Y] = Σ_ab N_ba Y_ab for column-stacked Y
    tier0 = hierarchy.generator[:n * n]
    particle = np.zeros(len(machine.reservoirs), dtype=complex)
    energy = np.zeros(len(machine.reservoirs), dtype=complex)
    for ado, exponent in hierarchy.first_tier():
        block = tier0[:, ado * n * n:(ado + 1) * n * n] @ vector[ado * n * n:(ado + 1) * n * n]
        flow = complex(weights @ block)
        factor = 1j * hierarchy.signs[exponent] * hierarchy.frequencies[exponent]
        particle[hierarchy.reservoir[exponent]] += flow
        energy[hierarchy.reservoir[exponent]] += factor * flow
    imaginary = float(max(np.max(np.abs(particle.imag)), np.max(np.abs(energy.imag)))) if len(particle) else 0.0
    return particle.real, energy.real, imaginary
