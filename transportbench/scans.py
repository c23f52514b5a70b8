"""Scans that expose what the local Lindblad picture misses.

The Lamb-shift resonance shift (against γ or any other parameter) and the cotunnelling leakage through
the dark state against γ.

* Resonance: detune one qubit (ε_q = ε + δ) and locate δ* where the concurrence of qubits 0–1 is
  largest, by a coarse grid (bracketing) refined with a bounded scalar optimiser to ``precision``. In
  the local Lindblad equation C(δ) = C(−δ), so δ* = 0; Lamb shifts (principal-value terms) move it,
  as :mod:`transportbench.level_shifts` estimates. The bracket may be centred on that estimate
  (``centre=resonance_shift_estimate``) and narrowed, which saves solves of an expensive approach. The
  optimiser needs a smooth C(δ): an approach that adapts its discretisation per solve (2vN's grid
  refinement, HEOM's automatic convergence) should be given fixed settings for a scan.
* Leakage: the particle current from the hot reservoir and the concurrence loss 1 − C near the ideal
  operating point, with a fitted power law I ∝ γ^p per approach; optionally at the Lamb-shifted
  resonance (:func:`at_shifted_resonance`), which separates the detuning leak (∝ γ³) from the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import xarray as xr
from scipy.optimize import minimize_scalar
from tqdm.auto import tqdm

from transportbench.comparison import solve, summarize
from transportbench.figures import PAPER, FigureOfMerit
from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Machine

ApproachOptions: TypeAlias = Mapping[str, Any] | Callable[[Machine], Mapping[str, Any]]
"""Backend options of one approach: fixed, or computed from the machine at each scanned value (e.g. a 2vN
energy grid whose spacing follows γ)."""


def _options_at(options: Mapping[str, ApproachOptions], approach: str, machine: Machine) -> dict[str, Any]:
    """The options of ``approach`` for ``machine`` (calling them if they depend on the machine)."""
    chosen = options.get(approach) or {}
    return dict(chosen(machine) if callable(chosen) else chosen)


def _scan_points(machine: Machine, approaches: Sequence[str], parameter: str, values: np.ndarray, *,
                 options: Mapping[str, ApproachOptions], specs: Mapping[str, str],
                 adjust: Mapping[str, Callable[[Machine], Machine]], description: str,
                 progress: bool) -> Iterator[tuple[int, int, Machine, str, dict[str, Any]]]:
    """Every (row, column, machine, approach name, options) of a scan, with a progress bar.

    Row i is ``approaches[i]`` (a label, mapped to its approach by ``specs``); column j sets ``parameter`` to
    ``values[j]``, then the row's ``adjust`` changes the machine, and the row's options are resolved for it.
    """
    with tqdm(total=len(approaches) * len(values), desc=description, disable=not progress) as bar:
        for i, label in enumerate(approaches):
            for j, value in enumerate(values):
                changed = machine.with_parameters({parameter: float(value)})
                changed = adjust[label](changed) if label in adjust else changed
                yield i, j, changed, specs.get(label, label), _options_at(options, label, changed)
                bar.update()


@dataclass(frozen=True)
class Resonance:
    """Location of the concurrence maximum in the detuning δ of one qubit (energy units).

    ``delta`` is accurate to ``precision``; ``current_delta`` is where the hot particle current is
    smallest on the same bracket (the dark-state current minimum).
    """

    approach: str
    delta: float
    precision: float
    concurrence: float
    current_delta: float
    evaluations: int


Centre: TypeAlias = float | Callable[[Machine], float]
"""Centre of the bracketing grid of :func:`locate_resonance`: a detuning (energy units), or a function of the
undetuned machine, e.g. :func:`~transportbench.level_shifts.resonance_shift_estimate`."""


def locate_resonance(machine: Machine, approach: str = "local", *, qubit: int = 1,
                     half_width: float | None = None, grid: int = 21, precision: float = 1e-6,
                     options: Mapping[str, Any] | None = None, current: bool = True,
                     figure: FigureOfMerit = PAPER[0], centre: Centre = 0.0) -> Resonance:
    """Find δ* maximising a figure of merit (default: the concurrence of qubits 0–1) when ε_qubit → ε_qubit + δ.

    Parameters
    ----------
    machine : Machine
        The undetuned machine.
    approach : str
        Approach name, e.g. ``"local"`` or ``"qmeq:1vN"``.
    qubit : int
        The detuned qubit (default 1, the paper's qubit 2).
    half_width : float, optional
        Bracketing grid spans δ ∈ [centre − half_width, centre + half_width]; default 4 × the largest
        coupling g.
    grid : int
        Number of bracketing points (odd, ≥ 5).
    precision : float
        Absolute precision of δ* (energy units) for the bounded optimiser.
    options : mapping, optional
        Backend options.
    current : bool
        Also refine the minimum of the hot particle current (``current_delta``; NaN when False). It costs
        as many solves again as the concurrence maximum.
    figure : FigureOfMerit
        What is maximised (:mod:`transportbench.figures`); ``Resonance.concurrence`` holds its maximum.
    centre : float or callable, optional
        Centre of the bracket (default 0), or a function of ``machine`` giving it (see :data:`Centre`): a
        bracket centred on an estimate of δ* can be narrow, which saves solves of an expensive approach.
    """
    if not 0 <= qubit < machine.n_qubits:
        raise ValueError(f"qubit must be in 0..{machine.n_qubits - 1}, got {qubit!r}")
    if grid < 5 or grid % 2 == 0:
        raise ValueError(f"grid must be an odd integer >= 5, got {grid!r}")
    if not precision > 0:
        raise ValueError(f"precision must be > 0, got {precision!r}")
    width = half_width if half_width is not None else 4 * max(abs(g) for _, g in machine.couplings)
    if not width > 0:
        raise ValueError(f"half_width must be > 0, got {width!r}")
    middle = float(centre(machine) if callable(centre) else centre)
    if not np.isfinite(middle):
        raise ValueError(f"centre must be a finite detuning, got {middle!r}")
    options = dict(options or {})
    evaluations = 0

    def figures(delta: float) -> dict[str, Any]:
        nonlocal evaluations
        evaluations += 1
        return summarize(solve(machine.detuned({qubit: delta}), approach, **options), [figure])

    deltas = middle + np.linspace(-width, width, grid)
    coarse = [figures(d) for d in deltas]
    concurrences = np.array([f[figure.name] for f in coarse])
    hot_currents = np.array([abs(f["particle_current"][0]) for f in coarse])
    best = int(np.argmax(concurrences))
    if best in (0, grid - 1):
        raise ValueError(f"the {figure.name} maximum of {approach} lies at the edge of {middle:+g} ± {width:g}; "
                         "widen half_width or move the centre")
    refined = minimize_scalar(lambda d: -figures(d)[figure.name], bounds=(deltas[best - 1], deltas[best + 1]),
                              method="bounded", options={"xatol": precision})
    lowest = int(np.argmin(hot_currents))
    if current and 0 < lowest < grid - 1:
        current_delta = float(minimize_scalar(
            lambda d: abs(figures(d)["particle_current"][0]), bounds=(deltas[lowest - 1], deltas[lowest + 1]),
            method="bounded", options={"xatol": precision}).x)
    else:
        current_delta = float("nan")
    return Resonance(approach, float(refined.x), precision, float(-refined.fun), current_delta, evaluations)


class PowerLaw(NamedTuple):
    """A power-law fit y = prefactor · x^exponent.

    ``exponent_error`` is the standard error of the exponent from the fit's residuals (NaN for two points).
    """

    exponent: float
    prefactor: float
    exponent_error: float


def power_law(x: np.ndarray, y: np.ndarray) -> PowerLaw:
    """Least-squares fit of log y = log a + p log x on the positive data; returns (p, a, standard error of p)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    usable = (x > 0) & (y > 0)
    if usable.sum() < 2:
        return PowerLaw(float("nan"), float("nan"), float("nan"))
    log_x, log_y = np.log(x[usable]), np.log(y[usable])
    (exponent, log_prefactor), residuals, *_ = np.polyfit(log_x, log_y, 1, full=True)
    dof = usable.sum() - 2
    if dof > 0:
        variance = (residuals[0] if len(residuals) else 0.0) / dof
        error = float(np.sqrt(variance / np.sum((log_x - log_x.mean()) ** 2)))
    else:
        error = float("nan")
    return PowerLaw(float(exponent), float(np.exp(log_prefactor)), error)


def resonance_scan(machine: Machine, approaches: Sequence[str], parameter: str, values: Sequence[float], *,
                   options: Mapping[str, ApproachOptions] | None = None, specs: Mapping[str, str] | None = None,
                   adjust: Mapping[str, Callable[[Machine], Machine]] | None = None, progress: bool = True,
                   **locate: Any) -> xr.Dataset:
    """δ* per approach with ``parameter`` (a name of :data:`~transportbench.parameters.PARAMETERS`) set to each value.

    ``approaches`` are row labels; ``specs`` maps a label to its approach name when they differ (e.g.
    ``{"1vN, no Lamb shift": "qmeq:1vN"}`` with ``options={"1vN, no Lamb shift": {"lamb_shift": False}}``).
    An ``options`` entry may be a function of the machine at each value (see :data:`ApproachOptions`);
    ``adjust`` changes a row's machine after the parameter is set (e.g. ``lambda m: m.with_band(Band.flat(D))``);
    ``locate`` goes to :func:`locate_resonance`. Returns a Dataset over (approach, ``parameter``) with
    ``delta_star``, ``concurrence_max`` and ``current_delta_star`` (the current minimum; NaN when it lies
    at the bracket's edge or was not asked for).
    """
    values = np.asarray(values, dtype=float)
    delta_star = np.full((len(approaches), len(values)), np.nan)
    peak = np.full_like(delta_star, np.nan)
    current_delta = np.full_like(delta_star, np.nan)
    points = _scan_points(machine, approaches, parameter, values, options=options or {}, specs=specs or {},
                          adjust=adjust or {}, description=f"resonance vs {parameter}", progress=progress)
    for i, j, changed, approach, settings in points:
        found = locate_resonance(changed, approach, options=settings, **locate)
        delta_star[i, j], peak[i, j], current_delta[i, j] = found.delta, found.concurrence, found.current_delta
    dims = ("approach", parameter)
    return xr.Dataset(
        {"delta_star": (dims, delta_star, {"long_name": "resonance detuning", "units": "energy"}),
         "concurrence_max": (dims, peak),
         "current_delta_star": (dims, current_delta,
                                {"long_name": "detuning of the smallest hot particle current", "units": "energy"})},
        coords={"approach": list(approaches), parameter: (parameter, values, {"units": "energy"})},
        attrs={"machine": repr(machine)})


def resonance_error_bar(table: xr.Dataset, reference: str, band_error: xr.DataArray, band_check: str,
                        checks: Sequence[str] = ()) -> xr.DataArray:
    """The error bar of the ``reference`` row's δ* in a :func:`resonance_scan` table (energy units).

    Parameters
    ----------
    table : xarray.Dataset
        A scan table with the reference row and its check rows (the same search with one setting raised).
    reference : str
        The row whose error is wanted (e.g. ``"heom"``, a fixed hierarchy).
    band_error : xarray.DataArray
        The band error of the reference at every scanned value (energy units, either sign; e.g.
        :func:`~transportbench.level_shifts.extrapolation_band_error`).
    band_check : str
        The check row that widens the band (e.g. ``"heom, 2 × W"``): where it was solved, the band error is the
        larger of its change of δ* and |``band_error``|.
    checks : sequence of str
        The other check rows (e.g. more Padé terms, a deeper hierarchy): their changes of δ* are added where they
        were solved.

    Returns
    -------
    xarray.DataArray
        |band error| (or the band check's change, where larger) plus every other check's |change of δ*|, over
        the scanned values; NaN where the reference has no δ*. Values without a check have the band error only.
    """
    found = table.delta_star.sel(approach=reference, drop=True)

    def change(row: str) -> xr.DataArray:
        return abs(table.delta_star.sel(approach=row, drop=True) - found).fillna(0.0)

    error = np.maximum(abs(band_error), change(band_check)) + sum((change(row) for row in checks), 0.0)
    return error.where(np.isfinite(found))


def resonance_vs_gamma(machine: Machine, approaches: Sequence[str], gammas: Sequence[float], *,
                       options: Mapping[str, ApproachOptions] | None = None,
                       specs: Mapping[str, str] | None = None, progress: bool = True,
                       **locate: Any) -> xr.Dataset:
    """:func:`resonance_scan` over γ of every reservoir, with a fitted slope dδ*/dγ per approach.

    Adds ``slope(approach)`` (a linear fit through the points, energy units per energy unit).
    """
    table = resonance_scan(machine, approaches, "gamma", gammas, options=options, specs=specs,
                           progress=progress, **locate)
    gammas = table.gamma.values
    slopes = [np.polyfit(gammas, row, 1)[0] if len(gammas) > 1 else np.nan for row in table.delta_star.values]
    return table.assign(slope=("approach", np.array(slopes), {"long_name": "d delta_star / d gamma"}))


def _fitted_exponents(name: str, gammas: np.ndarray, rows: np.ndarray) -> dict[str, tuple[str, list[float]]]:
    """``<name>_exponent`` and ``<name>_exponent_error`` per approach (power law in γ, standard error)."""
    fits = [power_law(gammas, row) for row in rows]
    return {f"{name}_exponent": ("approach", [fit.exponent for fit in fits]),
            f"{name}_exponent_error": ("approach", [fit.exponent_error for fit in fits])}


def leakage_vs_gamma(machine: Machine, approaches: Sequence[str], gammas: Sequence[float], *,
                     options: Mapping[str, ApproachOptions] | None = None, specs: Mapping[str, str] | None = None,
                     adjust: Mapping[str, Callable[[Machine], Machine]] | None = None,
                     progress: bool = True, figure: FigureOfMerit = PAPER[0]) -> xr.Dataset:
    """Particle current from the hot reservoir and the loss 1 − F of a figure of merit versus γ, with power-law fits.

    ``approaches`` are row labels; ``specs`` maps a label to its approach name when they differ. An
    ``options`` entry may be a function of the machine at each γ (see :data:`ApproachOptions`); an
    ``adjust`` entry changes the machine of that row after γ is set (e.g. detunes a qubit to the
    Lamb-shifted resonance, :func:`at_shifted_resonance`).

    ``figure`` is the figure whose loss is tracked (default: the concurrence of qubits 0–1, the paper's).
    Returns a Dataset with ``current(approach, gamma)``, ``<figure>_loss(approach, gamma)`` (default
    ``concurrence_loss``), the health figures ``min_eigenvalue`` and ``converged`` per point, and the
    fitted exponents ``current_exponent(approach)``, ``loss_exponent(approach)`` with their standard
    errors ``current_exponent_error``, ``loss_exponent_error``.
    """
    gammas = np.asarray(gammas, dtype=float)
    current = np.full((len(approaches), len(gammas)), np.nan)
    loss = np.full_like(current, np.nan)
    lowest_eigenvalue = np.full_like(current, np.nan)
    converged = np.zeros(current.shape, dtype=bool)
    points = _scan_points(machine, approaches, "gamma", gammas, options=options or {}, specs=specs or {},
                          adjust=adjust or {}, description="leakage", progress=progress)
    for i, j, coupled, approach, settings in points:
        figures = summarize(solve(coupled, approach, **settings), [figure])
        current[i, j] = figures["particle_current"][0]
        loss[i, j] = 1.0 - figures[figure.name]
        lowest_eigenvalue[i, j] = figures.get("min_eigenvalue", np.nan)
        converged[i, j] = figures.get("converged", False)
    return xr.Dataset(
        {"current": (("approach", "gamma"), current, {"long_name": "particle current from the hot reservoir"}),
         f"{figure.name}_loss": (("approach", "gamma"), loss, {"long_name": f"1 - {figure.long_name}"}),
         "min_eigenvalue": (("approach", "gamma"), lowest_eigenvalue, {"long_name": "smallest eigenvalue of rho"}),
         "converged": (("approach", "gamma"), converged, {"long_name": "the backend's convergence criteria met"}),
         **_fitted_exponents("current", gammas, current), **_fitted_exponents("loss", gammas, loss)},
        coords={"approach": list(approaches), "gamma": ("gamma", gammas, {"units": "energy"})},
        attrs={"machine": repr(machine)})


def at_shifted_resonance(bandwidth: float | None = None, qubit: int = 1) -> Callable[[Machine], Machine]:
    """A machine adjustment that detunes ``qubit`` by the level-shift estimate of the resonance.

    With it the leads' Lamb shift no longer detunes the dark state (to the accuracy of
    :func:`~transportbench.level_shifts.resonance_shift_estimate`: ~3 % for 1vN, ~10 % for 2vN), so the
    leakage that remains is cotunnelling and sequential tunnelling. The estimate uses each reservoir's band
    (``Band.flat(D)`` for 2vN's band); ``bandwidth`` is a deprecated alias that puts every lead on
    ``Band.flat(bandwidth)``.
    """
    def adjusted(machine: Machine) -> Machine:
        return machine.detuned({qubit: resonance_shift_estimate(machine, qubit, bandwidth)})
    return adjusted


MAX_EXTENSIONS = 3
"""Points :func:`parabolic_maximum` may add beyond the edges of its grid when the maximum lies there."""


@dataclass
class MaximumScan:
    """A figure F(δ) and the hot current at every evaluated δ (energy units), and the located maximum δ*, F(δ*)."""

    name: str
    deltas: list[float]
    values: list[float]
    currents: list[float]
    delta_star: float = math.nan
    delta_star_error: float = math.nan
    f_star: float = math.nan

    def at(self, delta: float) -> float:
        """F at an evaluated δ (NaN if it was not evaluated)."""
        matches = [v for d, v in zip(self.deltas, self.values, strict=True) if abs(d - delta) < 1e-12]
        return matches[0] if matches else math.nan


def _vertex(deltas: np.ndarray, values: np.ndarray) -> float:
    """δ of the maximum of the parabola through three points (ValueError if it opens upwards)."""
    a, b, _ = np.polyfit(deltas, values, 2)
    if not a < 0:
        raise ValueError(f"no maximum: the parabola through δ = {deltas} opens upwards")
    return float(-b / (2 * a))


def parabolic_maximum(name: str, evaluate: Callable[[float], tuple[float, float]], grid: Sequence[float], *,
         refinements: int = 2, xatol: float = 2e-4, progress: bool = True) -> MaximumScan:
    """F on ``grid``, then δ* by successive parabolic interpolation through the best point and its neighbours.

    For figures whose every evaluation is expensive (a converged exact solve), where a bracketing optimiser
    (:func:`locate_resonance`) would need too many.

    ``evaluate(δ)`` returns (F, hot particle current). Each refinement evaluates F at the vertex of the
    parabola through the three evaluated points around the largest F and refits; it stops after
    ``refinements`` steps or when the vertex moves by less than ``xatol``. ``delta_star_error`` is the last
    move of the vertex, or, with no refinement, the distance between the vertex and the best grid point
    divided by 4 (an interpolation error of the three-point parabola, measured on 1vN: ≤ 6e-4 at spacing 0.01).
    A maximum at the edge of the grid adds a point one spacing beyond it (at most ``MAX_EXTENSIONS``).
    """
    curve = MaximumScan(name, [], [], [])

    def add(delta: float) -> None:
        value, current = evaluate(delta)
        curve.deltas.append(float(delta))
        curve.values.append(float(value))
        curve.currents.append(float(current))

    for delta in tqdm(sorted(grid), desc=f"{name}: F(δ)", disable=not progress, leave=False):
        add(delta)
    previous = math.nan
    step = 0
    while step <= refinements:
        order = np.argsort(curve.deltas)
        deltas, values = np.array(curve.deltas)[order], np.array(curve.values)[order]
        best = int(np.argmax(values))
        if best in (0, len(deltas) - 1):  # extend the grid by one spacing beyond the edge
            if len(deltas) >= len(grid) + MAX_EXTENSIONS:
                raise ValueError(f"{name}: the fidelity maximum lies at the edge of δ = {deltas[0]:g} … {deltas[-1]:g}")
            add(float(2 * deltas[0] - deltas[1]) if best == 0 else float(2 * deltas[-1] - deltas[-2]))
            continue
        vertex = _vertex(deltas[best - 1:best + 2], values[best - 1:best + 2])
        if step > 0:
            curve.delta_star_error = abs(vertex - previous)
        else:
            curve.delta_star_error = abs(vertex - deltas[best]) / 4
        previous = vertex
        if step == refinements or (step > 0 and curve.delta_star_error < xatol):
            break
        if np.min(np.abs(deltas - vertex)) > 1e-6:
            add(vertex)
        step += 1
    curve.delta_star = previous
    curve.f_star = float(np.max(curve.values))
    return curve
