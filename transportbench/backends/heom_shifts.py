"""The first-order level shifts of the bath a Lorentzian hierarchy actually sees (part of the ``heom`` backend).

A HEOM with finitely many exponents represents each lead by a truncated expansion of its correlation
functions, C⁺(t) = Σ_k c_k e^{−ν_k t} ("+": the dot is filled from the lead) and C⁻(t) likewise. The
principal parts of that expansion give the second-order level shifts of the product states on this bath, the
same quantities :mod:`transportbench.level_shifts` computes for the exact band: so a resonance the hierarchy
locates has a first-order reference at the same band width and number of poles. Lorentzian bands of half-width
W (energy units) centred at each lead's μ, Padé-expanded by QuTiP (imported only when a bath is built).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from transportbench.model import Machine, Reservoir


def lorentzian_pade_bath(reservoir: Reservoir, band_width: float, pade: int, tag: int = 0) -> Any:
    """QuTiP's Padé expansion (``pade`` poles per branch) of the lead of ``reservoir``.

    The band is Lorentzian, of half-width ``band_width`` (energy units) centred at the lead's μ; ``tag`` labels
    the exponents.
    """
    from qutip.core.environment import LorentzianEnvironment

    environment = LorentzianEnvironment(reservoir.temperature, reservoir.chemical_potential, reservoir.rate,
                                        band_width)
    return environment.approx_by_pade(pade, tag=tag)


def principal_parts(expansion: Any, energy: float) -> tuple[float, float]:
    """(empty-state shift, occupied-state shift) of a transition at ``energy`` from a bath's exponents.

    With C⁺(t) = (1/2π)∫ J f e^{iωt} dω = Σ c_k e^{−ν_k t} and C⁻(t) = (1/2π)∫ J (1 − f) e^{−iωt} dω,
    Im ∫₀^∞ C⁺(t) e^{−iEt} dt = (1/2π) P∫ J f/(ω − E) dω (the shift of the state with the dot empty) and
    Im ∫₀^∞ C⁻(t) e^{iEt} dt = (1/2π) P∫ J (1 − f)/(E − ω) dω (dot occupied); energy units.
    """
    plus = sum(e.ck / (e.vk + 1j * energy) for e in expansion.exponents if e.type == e.types["+"])
    minus = sum(e.ck / (e.vk - 1j * energy) for e in expansion.exponents if e.type == e.types["-"])
    return float(np.imag(plus)), float(np.imag(minus))


def level_shift_on_bath(machine: Machine, occupied: Sequence[int], band_width: float, pades: Sequence[int]) -> float:
    """Second-order shift of the product state with ``occupied`` qubits excited, on the hierarchy's own baths.

    ``pades``: Padé poles per reservoir (``machine.reservoirs`` order); energy units.
    """
    excited = set(occupied)
    shift = 0.0
    for index, reservoir in enumerate(machine.reservoirs):
        qubit = reservoir.qubit
        energy = machine.energies[qubit] + sum(machine.coulomb_energy(qubit, p) for p in excited if p != qubit)
        empty, filled = principal_parts(lorentzian_pade_bath(reservoir, band_width, pades[index], index), energy)
        shift += filled if qubit in excited else empty
    return shift


def resonance_estimate_on_bath(machine: Machine, band_width: float, pades: Sequence[int]) -> float:
    """The detuning δ* of qubit 1 (every arm of a W machine) that the level shifts of the hierarchy's bath predict.

    ε₀ − ε₁ plus the shift of |1 on qubit 0⟩ minus that of |1 on qubit 1⟩, on Lorentzian half-width
    ``band_width`` with ``pades`` Padé poles per reservoir (energy units).
    """
    return (machine.energies[0] - machine.energies[1] + level_shift_on_bath(machine, [0], band_width, pades)
            - level_shift_on_bath(machine, [1], band_width, pades))
