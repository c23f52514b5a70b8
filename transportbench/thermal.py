"""Reservoir statistics: the Fermi–Dirac distribution and its T = 0 limit."""

from __future__ import annotations

import numpy as np
from scipy.special import expit


def fermi(energy: np.ndarray | float, chemical_potential: float, temperature: float) -> np.ndarray:
    """Fermi–Dirac occupation n_F(E, μ, T) = 1 / (exp((E − μ)/T) + 1).

    Parameters
    ----------
    energy : array_like
        Single-particle energy E (energy units).
    chemical_potential : float
        μ (energy units).
    temperature : float
        T ≥ 0 (energy units, k_B = 1). At T = 0 the step function is returned: 1 below μ, 0 above,
        1/2 at E = μ.

    Notes
    -----
    Evaluated with :func:`scipy.special.expit`, which neither overflows nor loses precision for
    |E − μ| ≫ T.
    """
    energy = np.asarray(energy, dtype=float)
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if temperature == 0:
        return np.where(energy < chemical_potential, 1.0, np.where(energy > chemical_potential, 0.0, 0.5))
    return expit((chemical_potential - energy) / temperature)
