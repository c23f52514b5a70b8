"""Second-order level shifts (Lamb shifts) from the reservoirs, and the resonance shift they predict.

A reservoir with rate γ on qubit k, a flat band of unit density of states on [−D, D] (QmeQ's lead, with
γ = 2π|t|²), chemical potential μ and temperature T shifts a product state |n⟩ of the uncoupled qubits
(g = 0) in second order in t by

* (γ/2π) P∫ dE f(E) / (E − E₀) when qubit k is empty (a lead electron at E may tunnel in; the
  addition energy is E₀ = ε_k + Σ_l U_kl n_l), and
* (γ/2π) P∫ dE (1 − f(E)) / (E₀ − E) when qubit k is occupied (the electron may tunnel out; the
  removal energy E₀ is the same expression),

with f the Fermi function. In the wide-band limit both principal values are
Re ψ(½ + i(E₀ − μ)/(2πT)) − ln(D/(2πT)) (ψ the digamma function; ln|E₀ − μ| − ln D at T = 0); the
D-dependent constant is the same for every state (each reservoir contributes exactly one transition to
each state), so it drops out of every energy difference and is left out here (``Band.wide()``). On a
finite band (``Band.flat(D)`` on the reservoir) the principal values are integrated numerically; the band edges then add
ln((D + E_add)/(D − E_rem))-type terms that vanish only as D → ∞. On a Lorentzian band γ W²/((E − μ)² + W²)
centred at the lead's μ (``Band.lorentzian(W)``, the HEOM backend's lead) the Fermi window is integrated
numerically and the tails in closed form (logarithms and an arctangent); the shifts approach the wide band's
as 1/W, so the estimate also measures what the HEOM backend's extrapolation in 1/W (from W, 2W, 4W) leaves
of the band.

The detuning δ* of qubit q that restores the resonance between |1⟩ on qubit 0 and |1⟩ on qubit q (the
two components of the paper's dark state) is ε₀ − ε_q + s(e₀) − s(e_q). For the triple dot with equal U
only the hot lead contributes, δ* ≈ (γ/2π) ln((μ − ε)/(ε + U − μ)) for |E₀ − μ| ≫ T, which vanishes at
μ = ε + U/2: the paper's operating point (U = 15, μ = 8) sits close to that cancellation. The estimate is
first order in γ and zeroth order in g; the 1vN, 2vN and exact (HEOM) resonances are compared with it in the
tests and in ``studies/lamb_shift_resonance.py`` and ``studies/lamb_shift_band.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

from scipy.integrate import quad
from scipy.special import digamma

from transportbench.extrapolation import to_wide_band
from transportbench.model import Band, Machine, Reservoir
from transportbench.thermal import fermi
from transportbench.validation import is_number

QUAD_LIMIT = 400
"""Subintervals allowed to :func:`scipy.integrate.quad` for one finite-band principal value."""
FERMI_TAILS = 40.0
"""Beyond μ ± FERMI_TAILS·T the Fermi function is 0 or 1 to e^-40 and the principal value is a logarithm."""


def _band_half_width(reservoir: Reservoir) -> float | None:
    """D of the reservoir's flat band, None for the wide band; ValueError for a band this module cannot treat."""
    if reservoir.band.kind == "wide":
        return None
    if reservoir.band.kind == "flat":
        return reservoir.band.width
    raise ValueError(f"level shifts are implemented for wide, flat and Lorentzian bands; reservoir "
                     f"{reservoir.name!r} has a {reservoir.band}")


def _lorentzian_principal_value(energy: float, reservoir: Reservoir, occupied: bool) -> float:
    """The principal value of one transition on the Lorentzian band W² / ((E − μ)² + W²) (+ ln W, see the docstring).

    In x = E − μ, a = E₀ − μ the integrand is L(x) f / (x − a) with the antiderivative (f = 1 or 0, the tails
    beyond μ ± FERMI_TAILS·T) F(x) = A ln|x − a| − (A/2) ln(x² + W²) − (A a/W) arctan(x/W), A = W²/(a² + W²);
    the window around μ is integrated numerically.
    """
    mu, temperature, width = reservoir.chemical_potential, reservoir.temperature, reservoir.band.width
    a = energy - mu
    if temperature == 0 and a == 0:
        raise ValueError(f"a transition at E = μ = {mu:g} with a T = 0 reservoir has no finite level shift")
    weight_a = width**2 / (a**2 + width**2)

    def antiderivative(x: float) -> float:
        if math.isinf(x):  # the logarithms cancel at ±∞
            return -math.copysign(1.0, x) * weight_a * a / width * math.pi / 2
        return (weight_a * math.log(abs(x - a)) - weight_a / 2 * math.log(x**2 + width**2)
                - weight_a * a / width * math.atan(x / width))

    half = FERMI_TAILS * temperature
    tails = -(antiderivative(math.inf) - antiderivative(half)) if occupied \
        else antiderivative(-half) - antiderivative(-math.inf)
    if temperature == 0:
        return tails + math.log(width)

    def weight(x: float) -> float:
        occupation = float(fermi(x, 0.0, temperature))
        lorentzian = width**2 / (x**2 + width**2)
        return -lorentzian * (1.0 - occupation) if occupied else lorentzian * occupation

    if -half < a < half:
        window, error = quad(weight, -half, half, weight="cauchy", wvar=a, limit=QUAD_LIMIT,
                             epsabs=1e-12, epsrel=1e-11)
    else:
        window, error = quad(lambda x: weight(x) / (x - a), -half, half, limit=QUAD_LIMIT,
                             epsabs=1e-12, epsrel=1e-11)
    if not abs(error) <= 1e-9 * max(1.0, abs(window)):
        raise ArithmeticError(f"principal value at E = {energy:g} not converged (estimate {window:g} ± {error:g})")
    return tails + window + math.log(width)  # + ln W: the wide-band scale (a constant for every state)


def _with_flat_bands(machine: Machine, bandwidth: float | None) -> Machine:
    """``machine`` itself, or (deprecated ``bandwidth`` argument) with every lead on a flat band of half-width D."""
    if bandwidth is None:
        return machine
    warnings.warn("the bandwidth argument is deprecated: give the reservoirs a band, e.g. "
                  "Machine.triple_dot(band=Band.flat(D)) or reservoir.band = Band.flat(D)", DeprecationWarning,
                  stacklevel=3)
    if not (is_number(bandwidth) and 0 < bandwidth < math.inf):
        raise ValueError(f"bandwidth must be a finite positive number or None (wide band), got {bandwidth!r}")
    return machine.with_band(Band.flat(bandwidth))


def _principal_value(energy: float, reservoir: Reservoir, occupied: bool) -> float:
    """The principal value (energy units⁰) of one transition at ``energy``; see the module docstring."""
    if reservoir.band.kind == "lorentzian":
        return _lorentzian_principal_value(energy, reservoir, occupied)
    mu, temperature = reservoir.chemical_potential, reservoir.temperature
    bandwidth = _band_half_width(reservoir)
    if bandwidth is None:
        if temperature == 0:
            if energy == mu:
                raise ValueError(f"a transition at E = μ = {mu:g} with a T = 0 reservoir has no finite level shift")
            return math.log(abs(energy - mu))
        return float(digamma(0.5 + 1j * (energy - mu) / (2 * math.pi * temperature)).real
                     + math.log(2 * math.pi * temperature))
    if not -bandwidth < energy < bandwidth:
        raise ValueError(f"transition energy {energy:g} lies outside the band [-{bandwidth:g}, {bandwidth:g}]")
    # f = 1 below μ − FERMI_TAILS·T and 0 above μ + FERMI_TAILS·T (to e^-40): those parts are logarithms
    low = max(-bandwidth, mu - FERMI_TAILS * temperature)
    high = min(bandwidth, mu + FERMI_TAILS * temperature)

    def log_integral(start: float, stop: float) -> float:  # P∫ dE / (E − E₀) over [start, stop]
        return math.log(abs(stop - energy)) - math.log(abs(start - energy)) if stop > start else 0.0

    tails = -log_integral(high, bandwidth) if occupied else log_integral(-bandwidth, low)
    if high <= low:
        return tails + math.log(bandwidth)

    def weight(e: float) -> float:
        occupation = float(fermi(e, mu, temperature))
        return -(1.0 - occupation) if occupied else occupation

    if low < energy < high:
        window, error = quad(weight, low, high, weight="cauchy", wvar=energy, limit=QUAD_LIMIT,
                             epsabs=1e-12, epsrel=1e-11)
    else:
        window, error = quad(lambda e: weight(e) / (e - energy), low, high, limit=QUAD_LIMIT,
                             epsabs=1e-12, epsrel=1e-11)
    if not abs(error) <= 1e-9 * max(1.0, abs(window)):
        raise ArithmeticError(f"principal value at E = {energy:g} not converged (estimate {window:g} ± {error:g})")
    return tails + window + math.log(bandwidth)  # + ln D: the wide-band scale (a constant for every state)


def level_shift(machine: Machine, occupied: Iterable[int], bandwidth: float | None = None) -> float:
    """Second-order shift (energy units) of the product state with ``occupied`` qubits excited.

    Parameters
    ----------
    machine : Machine
        Its reservoirs shift the levels; flip-flops g are ignored (zeroth order in g).
    occupied : iterable of int
        0-based indices of the excited qubits.
    bandwidth : float, optional
        Deprecated: give the reservoirs ``Band.flat(D)`` instead. Each reservoir's band is used: flat of
        half-width D, Lorentzian of half-width W, or wide (the common −(γ/2π) ln(D/2πT) per reservoir left
        out; ln D or ln W is added on the finite bands so that they tend to it).

    Returns
    -------
    float
        Σ over reservoirs of (γ/2π) × principal value, up to a constant shared by all states.
    """
    excited = set(occupied)
    if not excited <= set(range(machine.n_qubits)):
        raise ValueError(f"occupied qubits must be in 0..{machine.n_qubits - 1}, got {sorted(excited)}")
    if machine.ideal_limit:
        raise ValueError("the ideal limit has infinite U and μ: no finite level shift")
    machine = _with_flat_bands(machine, bandwidth)
    shift = 0.0
    for reservoir in machine.reservoirs:
        qubit = reservoir.qubit
        energy = machine.energies[qubit] + sum(machine.coulomb_energy(qubit, partner) for partner in excited
                                               if partner != qubit)
        principal = _principal_value(energy, reservoir, occupied=qubit in excited)
        shift += reservoir.rate / (2 * math.pi) * principal
    return shift


def relative_level_shift(machine: Machine, qubit: int = 1, bandwidth: float | None = None) -> float:
    """s(e₀) − s(e_qubit): how much the leads lift |1 on qubit 0⟩ above |1 on ``qubit``⟩ (energy units).

    :func:`level_shift` of the two single-excitation states on the reservoirs' bands (``bandwidth``:
    deprecated, see :func:`level_shift`); the part of :func:`resonance_shift_estimate` that the leads add
    to the bare detuning.
    """
    if not 0 < qubit < machine.n_qubits:
        raise ValueError(f"qubit must be in 1..{machine.n_qubits - 1}, got {qubit!r}")
    machine = _with_flat_bands(machine, bandwidth)
    return level_shift(machine, [0]) - level_shift(machine, [qubit])


def resonance_shift_estimate(machine: Machine, qubit: int = 1, bandwidth: float | None = None) -> float:
    """Predicted concurrence maximum δ* when ε_qubit → ε_qubit + δ (energy units).

    The detuning that makes |1 on qubit 0⟩ and |1 on ``qubit``⟩ degenerate including their level shifts:
    ε₀ − ε_qubit + :func:`relative_level_shift` on the reservoirs' bands (``bandwidth``: deprecated).
    """
    shift = relative_level_shift(_with_flat_bands(machine, bandwidth), qubit)
    return machine.energies[0] - machine.energies[qubit] + shift


def extrapolated_estimate(machine: Machine, widths: tuple[float, float], qubit: int = 1) -> float:
    """:func:`resonance_shift_estimate` on Lorentzian bands of two widths, extrapolated linearly in 1/W to 1/W = 0.

    The estimate's image of a wide-band result obtained by extrapolation from finite Lorentzian bands (the
    HEOM backend extrapolates from its two largest widths, 2W and 4W); its difference from the wide-band
    estimate measures the band error such an extrapolation leaves (energy units).

    Parameters
    ----------
    machine : Machine
        The machine; its reservoirs' bands are replaced by ``Band.lorentzian(W)`` for each width.
    widths : tuple of two floats
        W₁ < W₂ (energy units).
    qubit : int
        The detuned qubit, as in :func:`resonance_shift_estimate`.
    """
    first, second = (float(w) for w in widths)
    if not 0 < first < second < math.inf:
        raise ValueError(f"widths must be two finite increasing positive numbers, got {widths!r}")
    return float(to_wide_band([resonance_shift_estimate(machine.with_band(Band.lorentzian(w)), qubit)
                               for w in (first, second)], (first, second)))


def extrapolation_band_error(machine: Machine, width: float, qubit: int = 1) -> float:
    """What HEOM's extrapolation from its two largest widths (2W and 4W) leaves of the band in the estimate.

    :func:`extrapolated_estimate` from 2W and 4W minus the wide-band :func:`resonance_shift_estimate` (energy
    units): the band error of a resonance located with ``wide_band_width=W`` (``wide_band="extrapolate"``).
    """
    return extrapolated_estimate(machine, (2 * width, 4 * width), qubit) - resonance_shift_estimate(machine, qubit)
