"""Settings, machines and helpers shared by the QmeQ backend's test files (test_qmeq_*.py)."""

from __future__ import annotations

from scipy.special import expit

from transportbench.model import Band, Machine, Reservoir
from transportbench.observables import concurrence

FIRST_ORDER = ("Pauli", "Lindblad", "Redfield", "1vN")
TINY_2VN = {"converge": False, "kpnt": 33, "niter": 2}
"""With :data:`TINY_BAND`, a 2vN solve of a triple dot in well under a second (its numbers mean nothing)."""
TINY_BAND = Band.flat(40.0)


def c01(result) -> float:
    return concurrence(result.reduced_state([0, 1]))


def single_level(epsilon=1.0, left=(0.1, 2.0, 0.5), right=(0.05, -1.0, 0.5)) -> Machine:
    """One level between two leads; ``left``/``right`` are (γ, μ, T)."""
    return Machine(energies=(epsilon,), reservoirs=(Reservoir("left", 0, *left), Reservoir("right", 0, *right)))


def fermi(energy, mu, temperature):
    return expit((mu - energy) / temperature)
