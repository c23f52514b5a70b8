"""Sum-of-poles expansions of the Fermi function for the HEOM baths: Padé, or a rational fit on the machine's window.

Part of the ``heom`` backend. Every expansion here has the Padé form

    f(x) − 1/2 ≈ −Σ_k 2 κ_k x / (x² + ξ_k²),   x = (ω − μ)/T,

poles ±iξ_k on the imaginary axis with residues −κ_k, so each pole gives the exponents of
:func:`~transportbench.backends.heom_hierarchy.wide_band_exponents` (rate ξ_k T ∓ iμ, amplitude −iκ_k T Γ).

The rational fit ("aaa")
------------------------
h(w) = (f(x) − 1/2)/x = −tanh(x/2)/(2x) as a function of w = x² is a Stieltjes function: its only
singularities are the Matsubara poles w = −(2n+1)²π², on the negative real axis, with negative residues.
Its best rational approximations on a real interval [0, X²] therefore keep their poles on the negative real
axis, w_k = −ξ_k², i.e. at x = ±iξ_k, and f − 1/2 keeps the Padé form above: odd, real on the real axis and
decaying at infinity. Where the Padé approximant with N poles is accurate only for |x| ≲ 4N, the fitted
poles spread geometrically out to the window's edge X, so a cold lead (large X = E/T) needs far fewer of them
(the barycentric fits of Xu et al., Phys. Rev. Lett. 129, 230601 (2022), here with the AAA algorithm of
Nakatsukasa, Sète and Trefethen, SIAM J. Sci. Comput. 40, A1494 (2018), in ``scipy.interpolate.AAA``).

The poles come from AAA on h(w); spurious ones (Froissart doublets: tiny residues, or off the negative axis)
are dropped and the residues κ_k are refitted by least squares on f − 1/2 itself with no constant term (the
barycentric form's value at infinity would be a term growing like x in f). The fit's error is measured on a
grid of the window finer than the Fermi function's and the poles' scales. A fit with exactly N poles is
sought by raising AAA's terms; when AAA reaches its floor (machine precision) with fewer poles on the
window, the fit (poles and residues) is made on a wider window, where more poles are useful, so that the
extra poles carry f further out, and its error is still measured on the requested one.

The window of a lead
--------------------
Lead r must be accurate wherever the dots can exchange an electron with it: the window is
|ω − μ_r| ≤ max_E |E − μ_r| + ``WINDOW_MARGIN`` × Σ Γ, E over every transition energy of the lead's dot
(energy differences of the isolated dots' eigenstates that one electron added to that dot connects), in
units of T_r, and at least ``MIN_WINDOW``. The margin covers the levels' broadening; what lies beyond the
window still enters the observables through the spectral functions' tails (∝ Γ/(ω − E)²), which the fit
follows further out as its poles are raised (docs/heom.md).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import numpy as np

from transportbench.model import Machine

EXPANSIONS = ("pade", "aaa")
"""The Fermi-function expansions of the HEOM baths."""
WINDOW_MARGIN = 30.0
"""Margin beyond the largest transition energy, in units of the total tunnelling rate Σ Γ (the levels' widths)."""
MIN_WINDOW = 20.0
"""Smallest window half-width in units of T (f is within 2e-9 of 0 or 1 beyond it)."""
GRID_STEP = 0.05
"""Spacing of the error grid in units of T."""
AAA_SAMPLES = 600
"""Sample points of h(w) per sampling (a linear run near x = 0 and a geometric run to the edge)."""
EXTRA_TERMS = 8
"""AAA terms tried beyond N + 1 while looking for a fit with exactly N poles."""
SATURATED = 3
"""AAA terms in a row giving the same number of genuine poles: AAA has reached its floor on this window."""
WIDENINGS = 40
"""Window widenings (×2 at AAA's floor, ×1.2 when the count skipped N) tried before giving up on N poles."""


@dataclass(frozen=True)
class FermiExpansion:
    """f(x) − 1/2 ≈ −Σ_k 2 κ_k x / (x² + ξ_k²) (dimensionless, x = (ω − μ)/T).

    Attributes
    ----------
    kappa, xi : ndarray
        Residues κ_k and pole distances ξ_k > 0 (poles at ±iξ_k), ξ ascending.
    window : float
        Half-width X of the window in x on which ``error`` was measured (and, for "aaa", the fit requested).
    error : float
        max |approximant − f| on [−X, X].
    """

    kappa: np.ndarray
    xi: np.ndarray
    window: float
    error: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The approximant of f at ``x`` (units of T from μ)."""
        x = np.asarray(x, dtype=float)
        return 0.5 - np.sum(2 * self.kappa * x[..., None] / (x[..., None] ** 2 + self.xi**2), axis=-1)


def fermi_error(kappa: np.ndarray, xi: np.ndarray, window: float) -> float:
    """The largest |approximant − f| on [−``window``, ``window``] (odd about 1/2: x ≥ 0 suffices)."""
    x = _grid(window)
    return float(np.max(np.abs(_design(x, xi) @ kappa - np.tanh(x / 2) / 2)))


def _grid(window: float) -> np.ndarray:
    return np.linspace(0.0, window, int(math.ceil(window / GRID_STEP)) + 1)


def _design(x: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """Columns 2x/(x² + ξ_k²): tanh(x/2)/2 = 1/2 − f ≈ Σ κ_k of them."""
    return 2 * x[:, None] / (x[:, None] ** 2 + xi**2)


def pade_expansion(count: int, window: float) -> FermiExpansion:
    """The [count − 1 / count] Padé approximant (:func:`heom_hierarchy.pade_poles`) with its error on ``window``."""
    from transportbench.backends.heom_hierarchy import pade_poles

    kappa, xi = pade_poles(count)
    order = np.argsort(xi)
    return FermiExpansion(kappa[order], xi[order], window, fermi_error(kappa, xi, window))


def _aaa_poles(window: float, terms: int) -> np.ndarray:
    """ξ of the genuine poles of AAA's ``terms``-term fit of h(w) on w ∈ [0, window²] (ascending)."""
    from scipy.interpolate import AAA

    x = np.unique(np.concatenate([np.linspace(0.0, min(window, 60.0), AAA_SAMPLES),
                                  np.geomspace(1e-2, window, AAA_SAMPLES)]))
    h = -np.tanh(x / 2) / (2 * np.where(x > 0, x, 1.0))
    h[x == 0] = -0.25
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rtol = 0 is never "achieved"
        fit = AAA(x**2, h, max_terms=terms, rtol=0.0)
    poles, residues = fit.poles(), fit.residues()
    genuine = ((np.abs(poles.imag) <= 1e-6 * np.abs(poles)) & (poles.real < -1e-2) & (residues.real < 0)
               & (np.abs(residues) > 1e-9))
    return np.sort(np.sqrt(-poles.real[genuine]))


def _refit(xi: np.ndarray, window: float) -> np.ndarray:
    """Least-squares κ for fixed poles ξ on the grid of [0, ``window``], no constant term (columns scaled)."""
    x = _grid(window)
    design = _design(x, xi)
    scale = np.max(np.abs(design), axis=0)
    return np.linalg.lstsq(design / scale, np.tanh(x / 2) / 2, rcond=None)[0] / scale


@functools.lru_cache(maxsize=256)
def aaa_expansion(count: int, window: float) -> FermiExpansion:
    """The ``count``-pole rational fit of f on [−``window``, ``window``] (module docstring), its error there.

    Parameters
    ----------
    count : int
        Poles ξ_k (each gives one exponent per branch), ≥ 1.
    window : float
        Half-width X in units of T (≥ 1).

    Raises
    ------
    ValueError
        No fit with exactly ``count`` poles was found (not seen for count ≤ 40).
    """
    span = window
    for _ in range(WIDENINGS):
        found, counts = [], []
        for terms in range(count + 1, count + 2 + EXTRA_TERMS):
            xi = _aaa_poles(span, terms)
            counts.append(len(xi))
            if len(xi) == count:
                kappa = _refit(xi, span)
                found.append((fermi_error(kappa, xi, window), kappa, xi))
            if len(xi) > count or counts[-SATURATED:] == [len(xi)] * SATURATED:
                break
        if found:
            error, kappa, xi = min(found, key=lambda item: item[0])
            return FermiExpansion(kappa, xi, window, error)
        span *= 2.0 if max(counts) < count else 1.2  # AAA's floor reached with fewer poles, or N skipped
    raise ValueError(f"no rational fit of the Fermi function with {count} poles on |x| <= {window:g}")


def expansion(kind: str, count: int, window: float) -> FermiExpansion:
    """The ``kind`` ("pade" or "aaa") expansion with ``count`` poles, its error on [−``window``, ``window``]."""
    if kind == "pade":
        return pade_expansion(count, window)
    if kind == "aaa":
        return aaa_expansion(count, round(window, 6))
    raise ValueError(f"expansion must be one of {EXPANSIONS}, got {kind!r}")


def poles_for(kind: str, window: float, tol: float, *, max_count: int = 400) -> FermiExpansion:
    """The ``kind`` expansion with the fewest poles whose error on [−``window``, ``window``] is ≤ ``tol``.

    Padé's error falls monotonically with its count (doubling, then bisection); the fit's is searched upward. ValueError
    beyond ``max_count`` poles.
    """
    if kind == "pade":
        low, high = 1, 1
        while pade_expansion(high, window).error > tol:
            if high >= max_count:
                raise ValueError(f"Padé needs more than {max_count} poles for {tol:g} on |x| <= {window:g}")
            low, high = high + 1, min(2 * high, max_count)
        while low < high:
            middle = (low + high) // 2
            low, high = (low, middle) if pade_expansion(middle, window).error <= tol else (middle + 1, high)
        return pade_expansion(low, window)
    for count in range(1, max_count + 1):
        if (fit := expansion(kind, count, window)).error <= tol:
            return fit
    raise ValueError(f"{kind} needs more than {max_count} poles for {tol:g} on |x| <= {window:g}")


def transition_energies(machine: Machine, qubit: int) -> np.ndarray:
    """E_a − E_b of every pair of the isolated dots' eigenstates that c†_qubit connects (energy units).

    Pairs with |⟨a|c†|b⟩| ≤ 1e-12 (unreachable by a lead on ``qubit``) are left out.
    """
    from transportbench.backends.heom_hierarchy import annihilator, charges, hamiltonian

    h, n = hamiltonian(machine), charges(machine)
    creator = annihilator(machine, qubit).T
    sectors = {count: np.linalg.eigh(h[np.ix_(n == count, n == count)]) for count in np.unique(n)}
    found = []
    for count, (lower, states) in sectors.items():
        if count + 1 not in sectors:
            continue
        upper, upper_states = sectors[count + 1]
        element = upper_states.T @ creator[np.ix_(n == count + 1, n == count)] @ states
        found.append((upper[:, None] - lower[None, :])[np.abs(element) > 1e-12])
    return np.concatenate(found)


def lead_windows(machine: Machine) -> tuple[float, ...]:
    """Each reservoir's window half-width X_r in units of its T_r (module docstring), ``machine.reservoirs`` order."""
    margin = WINDOW_MARGIN * sum(r.rate for r in machine.reservoirs)
    return tuple(max(MIN_WINDOW, (float(np.max(np.abs(transition_energies(machine, r.qubit) - r.chemical_potential)))
                                  + margin) / r.temperature)
                 for r in machine.reservoirs)
