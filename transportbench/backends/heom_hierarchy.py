"""The HEOM hierarchy of a machine: its baths' exponents, its generator, and what we read off it (currents, sizes).

Part of the ``heom`` backend (:mod:`transportbench.backends.heom`, where the conventions are stated).
QuTiP expands the Lorentzian baths (its ``FermionicBath``); the generator is assembled by
:mod:`~transportbench.backends.heom_generator` with QuTiP's equations. QuTiP is imported inside the functions
that need it.

Layout of a hierarchy vector
----------------------------
The reduced vector holds the ADOs by tier (ρ first), each ADO's elements of its coupled charge block
column-stacked (element (a, b) at a + b n of the n × n matrix); ``Hierarchy.layout.kept`` gives every unknown's
position in the full vector of all ADOs and ``Hierarchy.ado`` turns a reduced vector back into one ADO's
matrix. Our system operators are written directly on the project's basis (qubit 0 most significant bit), so ρ
needs no reordering.

The wide band in the hierarchy
------------------------------
A lead with the energy-independent J(ω) = Γ has the correlation functions C^±(t) = ∫ dω/2π Γ f^±(ω) e^{∓iωt}
(f⁺ = f, f⁻ = 1 − f). Writing f = 1/2 + (f − 1/2), the 1/2 gives the time-local part (Γ/2) δ(t) and the Padé
poles of f − 1/2 (Hu, Xu and Yan, J. Chem. Phys. 133, 101106 (2010)) give exponentials
C_k^σ(t) = −i κ_k T Γ exp(−(ξ_k T − iσμ) t): the W → ∞ limits of the Padé poles of the Lorentzian expansion,
whose own pole (rate W, amplitude ≈ Γ W / 4 per branch) is the part that tends to the δ function.
Eliminating that fast exponent adiabatically (its ADO follows its parent as (link down)/ν, and the parent
receives (link up)(link down)/ν, with QuTiP's fermionic signs) gives a time-local term on every ADO X,

    Λ_r X = (Γ_r / 2) [s (d X d† + d† X d) − X],   s = (−1)^(number of excitations of X),

with d the lead's dot annihilator: on ρ and the even ADOs it is (Γ_r/2)(D[d] + D[d†]) (half the in- and
out-tunnelling rates, the f = 1/2 part), on the odd ADOs the jump terms change sign (the anticommutation of
the lead operators with the odd ADOs' fermionic bath content). The tests check Λ against the elimination
from QuTiP's own links at large W and the hierarchy against the exact U = 0 result in the wide band.

The Padé poles of f − 1/2 may be replaced by any expansion of the same form, poles ±iξ_k with residues
−κ_k: inside :func:`fermi_expansion` ``("aaa")`` they are a rational fit on each lead's window of transition
energies (:mod:`transportbench.backends.heom_fermi`), which a cold lead needs far fewer of.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from transportbench.backends import heom_fermi, heom_generator
from transportbench.model import Machine
from transportbench.occupation import full_basis, parity_before

LINK_ENTRIES = 4.0
"""Entries per link and unknown of the ADO's block counted by the estimate: two directions, each c X and X c
(measured over the estimate with the mean block: 0.6 for the triple dot at depth 4, 0.8 for five dots)."""
NONZERO_MARGIN = 1.5
"""Safety factor on the estimated nonzeros of the assembled generator."""
ASSEMBLY_BYTES_PER_NONZERO = 3 * 32
"""Peak bytes per nonzero while assembling: the (row, column, value) triplets, their concatenation and the CSR
matrix (measured: about 70)."""


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


def n_exponents(machine: Machine, pade: Poles, *, wide: bool = False) -> int:
    """Bath exponents of the hierarchy, a "+" and a "−" branch per reservoir.

    2 (Padé terms + 1) per reservoir for a Lorentzian band (the Padé poles and the band's own pole), 2 × Padé
    terms for the wide band (``wide``), whose band pole is the time-local term instead.
    """
    extra = 0 if wide else 1
    return sum(2 * (count + extra) for count in poles_per_lead(machine, pade))


def count_ados(exponents: int, depth: int) -> int:
    """Number of ADOs QuTiP keeps: every set of at most ``depth`` distinct fermionic exponents, Σ_k≤d C(K, k)."""
    return sum(math.comb(exponents, k) for k in range(min(depth, exponents) + 1))


def count_ados_by_charge(exponents_per_sign: int, depth: int, *, tier: int | None = None) -> dict[int, int]:
    """{ΔN: number of ADOs} for ``exponents_per_sign`` "+" and as many "−" exponents (ΔN = n₊ − n₋).

    Every tier up to ``depth``, or the one ``tier`` alone.
    """
    counts: dict[int, int] = {}
    for plus in range(depth + 1):
        for minus in range(depth + 1 - plus):
            if tier is not None and plus + minus != tier:
                continue
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
        ADOs × n² (every element of every ADO: QuTiP's full vector).
    reduced_unknowns : int
        Unknowns left in the charge-difference blocks that couple to ρ (what we assemble and solve).
    unknowns_by_tier : tuple of int
        ``reduced_unknowns`` tier by tier (ρ's first).
    largest_block : int
        The largest charge-difference block of one ADO (elements).
    generator_nonzeros : float
        Estimated nonzeros of the assembled (reduced) generator.
    generator_bytes : float
        Estimated peak bytes of assembling it.
    """

    ados: int
    depth: int
    unknowns: int
    reduced_unknowns: int
    unknowns_by_tier: tuple[int, ...]
    largest_block: int
    generator_nonzeros: float
    generator_bytes: float


def _system_entries_per_element(machine: Machine) -> float:
    """Mean nonzeros per row of an ADO's own block, −i[H, X] and the wide band's jumps (at most)."""
    h = sp.csr_matrix(hamiltonian(machine))
    jumps = sum(jump_superoperator(machine, index) for index in range(len(machine.reservoirs)))
    own = heom_generator.pre(h) - heom_generator.post(h) + jumps + sp.identity(h.shape[0] ** 2)
    return sp.csr_matrix(own).nnz / h.shape[0] ** 2


def hierarchy_size(machine: Machine, pade: Poles, depth: int, *, wide: bool = False) -> Size:
    """:class:`Size` of the hierarchy with ``pade`` Padé terms (per reservoir, :data:`Poles`) and truncation ``depth``.

    ``wide``: the wide band in the hierarchy (2 × Padé exponents per lead and the time-local term on every
    ADO) instead of a Lorentzian band. The nonzeros are estimated as the reduced unknowns times an ADO block's
    own entries per element, plus ``LINK_ENTRIES`` × the mean reduced block per link (each ADO at tier t has t
    links to the tier above), times ``NONZERO_MARGIN``; the bytes as ``ASSEMBLY_BYTES_PER_NONZERO`` of them.
    A hierarchy filtered by an ADO threshold is counted on its layout (:func:`layout_size`).
    """
    exponents = n_exponents(machine, pade, wide=wide)
    ados = count_ados(exponents, depth)
    links = sum(tier * math.comb(exponents, tier) for tier in range(1, min(depth, exponents) + 1))
    blocks = block_sizes(machine)
    by_charge = count_ados_by_charge(exponents // 2, depth)
    by_tier = tuple(sum(count * blocks.get(shift, 0)
                        for shift, count in count_ados_by_charge(exponents // 2, depth, tier=tier).items())
                    for tier in range(min(depth, exponents) + 1))
    largest = max(blocks[shift] for shift in by_charge if shift in blocks)
    return _size(machine, ados, depth, by_tier, largest, links)


def _size(machine: Machine, ados: int, depth: int, by_tier: tuple[int, ...], largest_block: int,
          links: int) -> Size:
    """The :class:`Size` of counted ADOs, unknowns and links, with the generator's estimated nonzeros and bytes."""
    reduced = sum(by_tier)
    nonzeros = NONZERO_MARGIN * (reduced * _system_entries_per_element(machine)
                                 + LINK_ENTRIES * links * reduced / ados)
    return Size(ados, depth, ados * 4**machine.n_qubits, reduced, by_tier, largest_block, nonzeros,
                ASSEMBLY_BYTES_PER_NONZERO * nonzeros)


def layout_size(machine: Machine, structure: heom_generator.Layout) -> Size:
    """:class:`Size` of a built ``structure`` (filtered or not), its ADOs and unknowns counted exactly."""
    links = int(structure.tiers[structure.present].sum())  # at most t parents per ADO of tier t
    return _size(machine, int(structure.present.sum()), structure.depth, structure.unknowns_by_tier,
                 int(np.diff(structure.offsets).max()), links)


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
    """A built hierarchy: its equations on the coupled charge blocks and what identifies its ADOs and exponents.

    Attributes
    ----------
    equations : heom_generator.Equations
        The equations of motion of the reduced hierarchy vector: ADO after ADO, by tier, each ADO's elements of
        its coupled charge block in column-stacked order (:mod:`~transportbench.backends.heom_generator`).
        :attr:`generator` assembles them when a solve needs the matrix.
    dim : int
        n = 2^N, the size of every ADO.
    wide : bool
        The leads are wide bands: the equations hold the exponents of f − 1/2 plus the time-local term
        (:func:`wide_band_term`) on every ADO.
    fermi : tuple of heom_fermi.FermiExpansion
        Wide bands: each reservoir's expansion of f − 1/2 (its poles are the exponents); empty otherwise.
    """

    equations: heom_generator.Equations
    dim: int
    wide: bool = False
    fermi: tuple[heom_fermi.FermiExpansion, ...] = ()

    @property
    def layout(self) -> heom_generator.Layout:
        """The ADOs (their exponents, tiers, charges) and where their unknowns are."""
        return self.equations.structure

    @property
    def exponents(self) -> heom_generator.Exponents:
        """Every bath exponent: sign, reservoir, amplitude, rate, partner."""
        return self.equations.exponents

    @functools.cached_property
    def generator(self) -> sp.csr_matrix:
        """The assembled generator (energy units; assembled on first use)."""
        return heom_generator.assemble(self.equations)

    @property
    def n_ados(self) -> int:
        """Number of ADOs in the hierarchy (those an ADO threshold left out not counted), ρ included."""
        return int(self.layout.present.sum())

    def first_tier(self) -> list[tuple[int, int]]:
        """(ADO index, exponent index) of every first-tier ADO."""
        starts = self.layout.tier_starts
        stop = starts[2] if len(starts) > 2 else starts[-1]
        return [(index, int(self.layout.members[index, 0])) for index in range(int(starts[1]), int(stop))]

    def rho_rows(self) -> sp.csr_matrix:
        """The rows of dρ/dt in the generator (ρ's unknowns × every unknown; energy units)."""
        rho = np.zeros(len(self.layout.members), dtype=bool)
        rho[0] = True
        return heom_generator.assemble(self.equations, rows=rho)[:int(self.layout.offsets[1])]

    def ado(self, vector: np.ndarray, index: int) -> np.ndarray:
        """ADO ``index`` (0 is ρ) as an n × n matrix from the reduced ``vector`` (zero outside its charge block)."""
        n = self.dim
        block = slice(int(self.layout.offsets[index]), int(self.layout.offsets[index + 1]))
        matrix = np.zeros(n * n, dtype=complex)
        matrix[self.layout.kept[block] - index * n * n] = vector[block]
        return matrix.reshape((n, n), order="F")


def pade_poles(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Residues κ_k and poles ξ_k of the [count − 1 / count] Padé approximant of the Fermi function.

    1/(e^x + 1) ≈ 1/2 − Σ_k 2 κ_k x / (x² + ξ_k²) (Hu, Xu and Yan 2010): ±ξ_k are 2/λ for the eigenvalues λ of
    the symmetric tridiagonal matrix of order 2 ``count`` with off-diagonal 1/√((2m+1)(2m+3)), and κ_k follows
    from the zeros ±χ_j of the numerator (the same construction one order down, off-diagonal
    1/√((2m+3)(2m+5))) as κ_k = ``count`` (2 ``count`` + 1)/2 Π_j (χ_j² − ξ_k²) / Π_{k' ≠ k} (ξ_k'² − ξ_k²).
    Dimensionless (ξ T is a pole frequency in energy units).
    """
    def roots(order: int, offset: int, wanted: int) -> np.ndarray:
        """2/|λ| for the ``wanted`` most negative eigenvalues λ (the spectrum is symmetric; an odd order adds 0)."""
        m = np.arange(order - 1)
        off = 1 / np.sqrt((2 * m + offset) * (2 * m + offset + 2))
        values = np.linalg.eigvalsh(np.diag(off, 1) + np.diag(off, -1))
        return -2 / values[:wanted]

    xi = roots(2 * count, 1, count)
    chi = roots(2 * count - 1, 3, count - 1)
    kappa = np.empty(count)
    for k in range(count):
        others = np.delete(xi, k)
        # term by term (both sorted, interlaced): the separate products overflow beyond ~100 poles
        kappa[k] = count * (2 * count + 1) / 2 * np.prod((chi**2 - xi[k] ** 2) / (others**2 - xi[k] ** 2))
    return kappa, xi


_EXPANSION: ContextVar[str] = ContextVar("fermi_expansion", default="pade")
"""The Fermi-function expansion of the wide-band leads built in this context (:data:`heom_fermi.EXPANSIONS`)."""


@contextlib.contextmanager
def fermi_expansion(kind: str) -> Iterator[None]:
    """Build the wide-band leads' exponents with the ``kind`` expansion ("pade" or "aaa") inside the block."""
    if kind not in heom_fermi.EXPANSIONS:
        raise ValueError(f"expansion must be one of {heom_fermi.EXPANSIONS}, got {kind!r}")
    token = _EXPANSION.set(kind)
    try:
        yield
    finally:
        _EXPANSION.reset(token)


def lead_expansions(machine: Machine, pade: Poles) -> tuple[heom_fermi.FermiExpansion, ...]:
    """Each reservoir's expansion of f − 1/2 (the current :func:`fermi_expansion`, ``pade`` poles per lead).

    Its ``error`` is measured on the lead's window (:func:`heom_fermi.lead_windows`); the "aaa" fit is made there.
    """
    windows = heom_fermi.lead_windows(machine)
    return tuple(heom_fermi.expansion(_EXPANSION.get(), count, window)
                 for count, window in zip(poles_per_lead(machine, pade), windows, strict=True))


def wide_band_exponents(reservoir: Any, pade: int | heom_fermi.FermiExpansion
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(c⁺, ν⁺, c⁻, ν⁻) of a wide-band lead's exponents, C_k^σ(t) = c_k exp(−ν_k t) (energy units).

    c_k = −i κ_k T Γ and ν_k^σ = ξ_k T − iσμ: the poles ±iξ_k of an expansion of f − 1/2 with J(ω) = Γ, either
    ``pade`` Padé poles, the W → ∞ limit of the Lorentzian expansion's Padé terms (whose amplitudes carry
    J(μ ± iξ_k T) → Γ), or a :class:`~heom_fermi.FermiExpansion` of the same form. The δ part (Γ/2) δ(t) is not
    among them (see :func:`wide_band_term`).
    """
    kappa, xi = (pade.kappa, pade.xi) if isinstance(pade, heom_fermi.FermiExpansion) else pade_poles(pade)
    temperature = reservoir.temperature
    amplitudes = -1j * kappa * temperature * reservoir.rate
    return (amplitudes, xi * temperature - 1j * reservoir.chemical_potential,
            amplitudes.copy(), xi * temperature + 1j * reservoir.chemical_potential)


def _bath(qutip: Any, machine: Machine, index: int, band_width: float,
          pade: int | heom_fermi.FermiExpansion) -> Any:
    """QuTiP's fermionic bath of reservoir ``index`` (Lorentzian: QuTiP's Padé expansion; wide: ours)."""
    from qutip.core.environment import LorentzianEnvironment
    from qutip.solver.heom import FermionicBath

    reservoir = machine.reservoirs[index]
    coupling = qutip.Qobj(annihilator(machine, reservoir.qubit), dims=[[2] * machine.n_qubits] * 2)
    if math.isinf(band_width):
        return FermionicBath(coupling, *wide_band_exponents(reservoir, pade), tag=index)
    if _EXPANSION.get() != "pade":
        raise ValueError(f"expansion={_EXPANSION.get()!r} needs the wide band in the hierarchy (Lorentzian bands "
                         "use QuTiP's Padé expansion)")
    environment = LorentzianEnvironment(reservoir.temperature, reservoir.chemical_potential, reservoir.rate,
                                        band_width)
    expansion = environment.approx_by_pade(pade, tag=index)
    return FermionicBath.from_environment(expansion, coupling)


def _baths(machine: Machine, band_width: float, pade: Poles) -> tuple[list[Any], tuple[heom_fermi.FermiExpansion, ...]]:
    """QuTiP's bath of every reservoir, and the wide bands' Fermi expansions (empty for Lorentzian bands)."""
    qutip = import_qutip()
    fermi = lead_expansions(machine, pade) if math.isinf(band_width) else ()
    terms = fermi or poles_per_lead(machine, pade)
    return [_bath(qutip, machine, index, band_width, count) for index, count in enumerate(terms)], fermi


def _exponents(baths: list[Any]) -> heom_generator.Exponents:
    """The exponents of QuTiP's baths, in QuTiP's order (bath by bath, "+" and "−" of each term in turn)."""
    exponents = [exponent for bath in baths for exponent in bath.exponents]
    return heom_generator.Exponents(
        signs=np.array([1 if exp.type == exp.types["+"] else -1 for exp in exponents], dtype=np.int64),
        reservoir=np.array([exp.tag for exp in exponents], dtype=np.int64),
        amplitudes=np.array([exp.ck for exp in exponents], dtype=complex),
        frequencies=np.array([exp.vk for exp in exponents], dtype=complex),
        partners=np.arange(len(exponents)) + np.array([exp.sigma_bar_k_offset for exp in exponents], dtype=np.int64))


def jump_superoperator(machine: Machine, index: int) -> sp.csr_matrix:
    """The jumps X ↦ d X d† + d† X d of the dot d of reservoir ``index`` on column-stacked X (n² × n², real)."""
    d = sp.csr_matrix(annihilator(machine, machine.reservoirs[index].qubit))
    return sp.csr_matrix(sp.kron(d, d) + sp.kron(d.T, d.T))  # vec(A X B) = (Bᵀ ⊗ A) vec(X), d real


def wide_band_term(machine: Machine) -> dict[int, sp.csr_matrix]:
    """The time-local part of every wide-band lead on an ADO of parity s = ±1, {s: superoperator} (energy units).

    Λ X = Σ_r (Γ_r/2) [s (d_r X d_r† + d_r† X d_r) − X] on column-stacked X; see the module docstring for its
    derivation.
    """
    n = 2**machine.n_qubits
    jumps = sum(r.rate / 2 * jump_superoperator(machine, index) for index, r in enumerate(machine.reservoirs))
    loss = sum(r.rate for r in machine.reservoirs) / 2
    return {parity: sp.csr_matrix(parity * jumps - loss * sp.identity(n * n)) for parity in (1, -1)}


ENUMERATION_LIMIT = 3_000_000
"""Most ADOs listed before an ADO threshold filters them (the layout and its links take a few hundred bytes per
ADO listed; the five-dot W machine at depth 4 lists about a million)."""


def filtered_layout(machine: Machine, band_width: float, pade: Poles, depth: int, threshold: float
                    ) -> tuple[heom_generator.Layout, heom_generator.Exponents, tuple[heom_fermi.FermiExpansion, ...]]:
    """The layout of the hierarchy with the ADOs below ``threshold`` left out, its exponents and Fermi expansions.

    ``threshold`` > 0: ValueError when the unfiltered hierarchy has more than ``ENUMERATION_LIMIT`` ADOs (each
    is listed before the filter judges it); 0 lists every ADO (the caller's ``max_ados`` bounds them).
    """
    baths, fermi = _baths(machine, band_width, pade)
    exponents = _exponents(baths)
    listed = count_ados(len(exponents.signs), depth)
    if threshold > 0 and listed > ENUMERATION_LIMIT:
        raise ValueError(f"the hierarchy with pade={pade}, depth={depth} lists {listed} ADOs before the ADO "
                         f"threshold filters them, above the {ENUMERATION_LIMIT} that are listed")
    basis_charges = charges(machine)
    structure = heom_generator.layout(exponents.signs, depth, basis_charges)
    return heom_generator.filtered(structure, exponents, threshold, basis_charges), exponents, fermi


def build_hierarchy(machine: Machine, band_width: float, pade: Poles, depth: int, *,
                    threshold: float = 0.0) -> Hierarchy:
    """The HEOM of ``machine``, one fermionic bath per reservoir on its dot's annihilator, on the coupled blocks.

    Parameters
    ----------
    machine : Machine
        Checked by the caller (finite T, no dephasing, no ideal limit).
    band_width : float
        Lorentzian half-width W of every lead (energy units), the band centred at the lead's μ; ``math.inf``
        for the wide band in the hierarchy (Padé exponents of f − 1/2 and the time-local term on every ADO).
    pade : int or mapping {reservoir name: int}
        Padé terms per branch (QuTiP's ``Nk``), for every reservoir or per reservoir (:data:`Poles`).
    depth : int
        Hierarchy truncation (QuTiP's ``max_depth``); the wide band's time-local term takes no depth.
    threshold : float
        Leave out the ADOs of tier ≥ 2 whose a priori size relative to ρ is below this (dimensionless,
        :func:`heom_generator.filtered`); 0 keeps every ADO.

    Notes
    -----
    The wide band's exponents come from the expansion of f − 1/2 chosen by :func:`fermi_expansion` (Padé
    unless inside ``fermi_expansion("aaa")``); Lorentzian bands are Padé-expanded by QuTiP. The equations are
    ours (:mod:`heom_generator`, QuTiP's conventions), assembled only when a solve needs the matrix; QuTiP's own
    ``HEOMSolver`` is built only for ``solver="qutip"`` (:func:`qutip_solver`).
    """
    structure, exponents, fermi = filtered_layout(machine, band_width, pade, depth, threshold)
    basis_charges = charges(machine)
    couplings = [annihilator(machine, reservoir.qubit) for reservoir in machine.reservoirs]
    wide = math.isinf(band_width)
    equations = heom_generator.Equations(structure, exponents, hamiltonian(machine), couplings, basis_charges,
                                         wide_band_term(machine) if wide else None)
    return Hierarchy(equations=equations, dim=2**machine.n_qubits, wide=wide, fermi=fermi)


def qutip_solver(machine: Machine, band_width: float, pade: Poles, depth: int) -> Any:
    """QuTiP's ``HEOMSolver`` on the same baths as :func:`build_hierarchy` (QuTiP assembles the hierarchy).

    For the wide band (``math.inf``) it holds the exponents of f − 1/2 but not the time-local term Λ, which
    QuTiP lacks: its ``steady_state`` is then not the wide band's. Its ADOs come in QuTiP's order;
    ``solver.ados.idx(label)`` finds one by its label (excitations per exponent).
    """
    qutip = import_qutip()
    from qutip.solver.heom import HEOMSolver

    baths, _ = _baths(machine, band_width, pade)
    h = qutip.Qobj(hamiltonian(machine), dims=[[2] * machine.n_qubits] * 2)
    return HEOMSolver(h, baths, depth, options={"progress_bar": False})


def qutip_generator(machine: Machine, band_width: float, pade: Poles, depth: int,
                    built: Hierarchy) -> sp.csr_matrix:
    """QuTiP's generator of the hierarchy ``built``, on ``built``'s unknowns in its order (energy units).

    QuTiP's ``HEOMSolver.rhs`` plus, for the wide band, Λ on every ADO by its parity: the same matrix as
    ``built.generator`` when our assembly is right (the tests compare them entry by entry; the benchmark times
    the two constructions).
    """
    solver = qutip_solver(machine, band_width, pade, depth)
    full = sp.csr_matrix(solver.rhs(0).data.as_scipy())
    if built.wide:
        term = wide_band_term(machine)
        parities = 1 - 2 * (np.asarray(solver.ados.labels).sum(axis=1) % 2)
        full = sp.csr_matrix(full + sp.block_diag([term[int(parity)] for parity in parities], format="csr"))
    n2 = built.dim**2
    labels = built.layout.occupations(len(built.exponents.signs))
    theirs = np.array([solver.ados.idx(tuple(int(v) for v in label)) for label in labels], dtype=np.int64)
    positions = theirs[built.layout.kept // n2] * n2 + built.layout.kept % n2
    return sp.csr_matrix(full[positions][:, positions])


# ----------------------------------------------------------------------------------- currents
def currents(machine: Machine, hierarchy: Hierarchy, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Particle and energy current from every reservoir into the system, from the first-tier ADOs.

    Returns
    -------
    particle, energy : ndarray
        Per reservoir, in the order of ``machine.reservoirs`` (energy and energy² units).
    imaginary : float
        The largest imaginary part the exponents' sums carried before taking the real part (a consistency
        check, zero up to round-off for a Hermitian hierarchy state).

    Notes
    -----
    The tier-0 row of the generator is dρ/dt = L_S ρ + Σ_k L_0k ρ_k, and Σ_{k ∈ r} L_0k ρ_k is exactly
    −i Tr_B [H_T^(r), ρ_total], so J_r = Σ_{k ∈ r} Tr[N L_0k ρ_k]. The energy current −d⟨H_r⟩/dt is the
    same expression with the lead operator B = Σ t_q c_q replaced by Σ ε_q t_q c_q = i ∂_t B (for B†:
    −i ∂_t B†); in the influence functional that differentiates the correlation function at the later time,
    and for exponent k (C_k ∝ exp(−ν_k t)) it multiplies the term by φ_k = i ν_k ("+") or −i ν_k ("−").

    A wide-band lead adds its time-local term: Tr[N Λ_r ρ] to J_r, and to J^E_r the W → ∞ limit of its
    Lorentzian pole's φ-weighted terms (:func:`wide_band_energy`).
    """
    number = np.diag(charges(machine).astype(float))
    offsets, exponents = hierarchy.layout.offsets, hierarchy.exponents
    weights = number.T.reshape(-1, order="F")  # Tr[N Y] = Σ_ab N_ba Y_ab for column-stacked Y
    weights = weights[hierarchy.layout.kept[:offsets[1]]]  # ρ's unknowns come first
    tier0 = hierarchy.rho_rows()
    particle = np.zeros(len(machine.reservoirs), dtype=complex)
    energy = np.zeros(len(machine.reservoirs), dtype=complex)
    for ado, exponent in hierarchy.first_tier():
        block = slice(int(offsets[ado]), int(offsets[ado + 1]))
        flow = complex(weights @ (tier0[:, block] @ vector[block]))
        factor = 1j * exponents.signs[exponent] * exponents.frequencies[exponent]
        particle[exponents.reservoir[exponent]] += flow
        energy[exponents.reservoir[exponent]] += factor * flow
    imaginary = float(max(np.max(np.abs(particle.imag)), np.max(np.abs(energy.imag)))) if len(particle) else 0.0
    particle, energy = particle.real, energy.real
    if hierarchy.wide:
        rho = hierarchy.ado(vector, 0)
        for index, reservoir in enumerate(machine.reservoirs):
            d = annihilator(machine, reservoir.qubit)
            particle[index] += reservoir.rate / 2 * float(np.trace(number @ _jumps(d, rho)).real)
        energy = energy + wide_band_energy(machine, hierarchy, vector)
    return particle, energy, imaginary


def _jumps(d: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The matrix d X d† + d† X d − X (d real)."""
    return d @ x @ d.T + d.T @ x @ d - x


def wide_band_energy(machine: Machine, hierarchy: Hierarchy, vector: np.ndarray) -> np.ndarray:
    """The time-local parts' share of each wide-band lead's energy current (energy² units).

    Notes
    -----
    With a Lorentzian band the pole k = ± of rate ν_k ≈ W contributes φ_k Tr[N L_0k ρ_k] to J^E_r, and its
    ADO obeys ν_k ρ_k = D_k ρ + L_S ρ_k + Σ_j L_j ρ_{k+j} in the steady state (D_k the link down from it,
    L_j the links up). φ_k ν_k grows like W, but the D_k ρ terms of the two branches add up to
    −2 Im λ, λ = (Γ W/2) f_N(iW/T) the pole's amplitude (f_N the Padé approximant), which tends to
    −2 Γ_r T_r Σ_k κ_k. With ρ_k → D̂_k ρ and ρ_{k+j} → D̂_k ρ_j (D̂ = D/ν → Γ/4 times QuTiP's link
    superoperators) the rest tends to

        Tr[H_S Λ_r ρ] − (Γ_r/2) Re Σ_j Tr[O_j ρ_j],

    the time-local term's power into the system plus a sum over the first-tier ADOs ρ_j of every exponent j
    on the same dot d as the lead (O_j = d for a "+", d† for a "−" exponent); ADOs of other dots cancel
    (their operators anticommute with d), and so do the terms through the other poles' ADOs (imaginary).
    The constant −2 Γ_r T_r Σ κ_k grows like the square of the Padé terms and cancels the equally growing
    sum of the Padé exponents' φ-weighted terms (the derivative of C(t) ∝ 1/t near t = 0): only the total
    is the energy current, and it converges with the Padé terms. Any expansion of f − 1/2 of the same pole form
    (``hierarchy.fermi``) has the same limit with its own κ_k, since f_N(x) → 1/2 − 2 Σ_k κ_k / x at large x
    makes Im λ → Γ T Σ_k κ_k. The tests check it against the Landauer energy current at U = 0 and
    Σ_r J^E_r = 0.
    """
    rho = hierarchy.ado(vector, 0)
    h = hamiltonian(machine)
    energy = np.zeros(len(machine.reservoirs))
    tier_one = hierarchy.first_tier()
    for index, reservoir in enumerate(machine.reservoirs):
        d = annihilator(machine, reservoir.qubit)
        total = complex(np.trace(h @ _jumps(d, rho)))
        for ado, exponent in tier_one:
            if machine.reservoirs[hierarchy.exponents.reservoir[exponent]].qubit != reservoir.qubit:
                continue
            operator = d if hierarchy.exponents.signs[exponent] > 0 else d.T
            total -= np.sum(operator.T * hierarchy.ado(vector, ado))
        constant = -2 * reservoir.rate * reservoir.temperature * float(hierarchy.fermi[index].kappa.sum())
        energy[index] = constant + reservoir.rate / 2 * total.real
    return energy
