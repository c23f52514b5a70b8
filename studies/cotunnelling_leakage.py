"""Cotunnelling leakage through the dark state, against the exact (HEOM) answer.

The hot particle current and the concurrence loss 1 − C(0,1) against γ = γ1 = γ3 for the local Lindblad
equation, Pauli, 1vN, 2vN and HEOM (numerically exact, wide band), at the bare resonance (ε1 = ε2) and at
the Lamb-shifted resonance, with power-law fits I ∝ γ^p per approach: the exponent, its standard error, and
the exponents fitted to the lower and to the upper half of the γ range (the exponent may drift).

Operating point close to the ideal limit so that sequential leakage is exponentially small:
U = 40, μ_hot = 20, μ_cold = 0, T = ε = 1, g = 0.05, γ = 0.01 … 0.1 (7 values, log-spaced; 2vN and the
exact resonance on every third: γ = 0.01, 0.0316, 0.1, because a 2vN point below γ ≈ 0.06 costs minutes).
Sequential processes are blocked in the dark state; a current growing like γ² (and not like γ, as in the
local Lindblad equation) is the cotunnelling signature; the leads' Lamb shift detunes the dark state by
δ ∝ γ and adds a leak ∝ δ²γ ∝ γ³.

Rows
    ``local``, ``qmeq:Pauli``, ``qmeq:1vN``, ``qmeq:2vN``, ``heom`` at the bare resonance (ε1 = ε2);
    "... at shifted resonance" detunes qubit 1 (paper's qubit 2) by the level-shift estimate
    (``scans.at_shifted_resonance``: wide band for 1vN and HEOM, the flat band D for 2vN). ``heom at exact
    resonance`` detunes qubit 1 to the exact concurrence maximum δ*, located by ``scans.locate_resonance``
    with HEOM (fixed Padé ``RESONANCE_PADE`` = 10, depth ``DEPTH`` = 3; bracket ±0.05 on 11 points, δ* to
    1e-6); δ*,
    the detuning of the smallest current and the estimate are stored.
2vN
    Energy grid refined at every γ until ρ and the currents converge, up to ``MAX_KPNT`` = 10001 points
    (the first grid at γ = 0.01, spacing 2γ: unrefined there, so unconverged; 20001 points cost ~4 CPU
    minutes per point), flat band of half-width D = 100 (not the default 243) so that the grid resolves
    γ = 0.01; currents judged relative to themselves down to 1e-12 Σγ. Whether each point converged is
    stored.
HEOM
    The wide band in the hierarchy, fixed Padé ``PADE`` = 18 and depth ``DEPTH`` = 3 (``converge=False``, so
    that every γ and every δ is solved with the same hierarchy; at depth 2 the depth step reached 6 %). At
    every point the study also solves Padé ``PADE - 4`` (the Padé error estimate: that change), records the
    solver's residual, and solves the same machine at μ_hot = 0 (equilibrium: any current there is the
    truncation's spurious floor). Depth 4 against depth 3 at Padé ``DEPTH_PADE`` = 12 is solved at the
    smallest and the largest γ and its relative change interpolated in log γ in between. A point
    ``converged`` when the Padé and depth changes of the current and of 1 − C are each ≤ 1 % of the value and
    the floor is ≤ 1 % of the current; its error bar is the sum of the Padé, depth and floor estimates. The exponents'
    ``systematic`` uncertainty propagates these error bars through the fit (linear sum: each point moved
    by its error bar in the worst direction); ``_lower``/``_upper`` are the exponents of the lower and
    upper half of the γ range.

Each part (first-order rows, each 2vN row, each HEOM row) is cached in ``parts/`` of the results folder
with its settings and reused by a rerun with the same settings (``cached_part``; the parts can be computed
in separate processes). ``--quick``: 3 values of γ, 2vN on one coarse unconverged grid, HEOM at Padé 10
(check 6), depth check at Padé 6, δ* to 1e-5: a smoke run, not converged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments
from tqdm.auto import tqdm

from transportbench.backends import heom
from transportbench.cache import cached_dataset
from transportbench.comparison import summarize
from transportbench.figures import PAPER
from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Band, Machine
from transportbench.scans import at_shifted_resonance, leakage_vs_gamma, locate_resonance, power_law

PADE = 18
"""Padé terms of the HEOM production solves (at ``DEPTH``)."""
DEPTH = 3
"""Depth of the HEOM production solves and of the resonance search (``--quick``: 2)."""
DEPTH_PADE = 12
"""Padé terms of the depth check (``DEPTH`` against ``DEPTH`` + 1; depth 4 at Padé 12 needs 1.4 GiB)."""
RESONANCE_PADE = 10
"""Padé terms of the HEOM solves that locate the exact resonance (at ``DEPTH``)."""
MAX_KPNT = 10001
"""Largest 2vN energy grid: the first grid at γ = 0.01 (spacing 2γ on D = 100); refined grids at larger γ."""
RTOL = 0.01
"""A HEOM point converged when its Padé and depth changes and its equilibrium floor are within this fraction."""
CONCURRENCE = PAPER[0]
EXACT = ("heom", "heom at shifted resonance", "heom at exact resonance")


def heom_point(machine: Machine, pade: int, depth: int) -> dict[str, float]:
    """One HEOM solve (wide band, fixed Padé terms and depth): hot current, 1 − C and the error figures.

    Returns ``current`` (particle current from the hot lead, energy units), ``loss`` (1 − C(0,1)),
    ``residual`` (energy units), ``min_eigenvalue`` and ``seconds``.
    """
    result = heom.solve_steady(machine, heom.HeomOptions(pade=pade, depth=depth, converge=False))
    figures = summarize(result, [CONCURRENCE])
    current = float(figures["particle_current"][0])
    return {"current": current, "loss": 1.0 - float(figures[CONCURRENCE.name]),
            "residual": float(figures["residual"]), "min_eigenvalue": float(figures["min_eigenvalue"]),
            "seconds": result.seconds}


EXACT_FIELDS = ("current", "concurrence_loss", "min_eigenvalue", "converged", "residual", "pade_current",
                "pade_loss", "depth_current", "depth_loss", "floor_current",
                "current_error", "loss_error")


def exact_leakage(machine: Machine, gammas: np.ndarray, adjust: Callable[[float, Machine], Machine], *,
                  pade: int, depth: int, depth_pade: int | None, depth_at: tuple[int, ...] | None = None,
                  label: str = "heom") -> dict[str, np.ndarray]:
    """HEOM (wide band, ``pade`` Padé terms, ``depth``) at every γ, with the per-point error estimates.

    Parameters
    ----------
    machine : Machine
        The undetuned machine at the operating point.
    gammas : ndarray
        γ of both reservoirs (energy units).
    adjust : callable (γ, machine) -> machine
        The row's detuning, applied after γ is set.
    pade : int
        Padé terms of the production solve; ``pade - 4`` is solved for the Padé error estimate.
    depth : int
        Depth of the production solves; the depth check solves ``depth`` + 1 against it.
    depth_pade : int or None
        Padé terms of the depth check; None skips it (depth error NaN).
    depth_at : tuple of int, optional
        Indices of the γ where the depth is checked (default every γ); elsewhere the depth error is
        interpolated linearly in log γ from the checked ones (at least two), so that it enters the error bars.
    label : str
        Progress-bar label.

    Returns
    -------
    dict of ndarray
        One array over γ per name of :data:`EXACT_FIELDS`: the production values, the absolute changes
        (``pade_*``, ``depth_*``), the equilibrium floor |I(μ_hot = 0)|, ``converged`` and the
        summed error bars ``current_error``, ``loss_error``.
    """
    out = {name: np.full(len(gammas), np.nan) for name in EXACT_FIELDS}
    for j, gamma in enumerate(tqdm(gammas, desc=label, unit="γ")):
        coupled = adjust(float(gamma), machine.with_parameters(gamma=float(gamma)))
        main = heom_point(coupled, pade, depth)
        coarse = heom_point(coupled, pade - 4, depth)
        out["current"][j], out["concurrence_loss"][j] = main["current"], main["loss"]
        out["min_eigenvalue"][j], out["residual"][j] = main["min_eigenvalue"], main["residual"]
        out["pade_current"][j] = abs(main["current"] - coarse["current"])
        out["pade_loss"][j] = abs(main["loss"] - coarse["loss"])
        if depth_pade is not None and (depth_at is None or j in depth_at):
            shallow, deep = heom_point(coupled, depth_pade, depth), heom_point(coupled, depth_pade, depth + 1)
            out["depth_current"][j] = abs(deep["current"] - shallow["current"])
            out["depth_loss"][j] = abs(deep["loss"] - shallow["loss"])
        equilibrium = coupled.with_parameters(mu_hot=0.0)
        out["floor_current"][j] = abs(heom_point(equilibrium, pade, depth)["current"])
    checked = np.isfinite(out["depth_current"])
    if 2 <= checked.sum() < len(gammas):  # interpolate the relative depth change in log γ
        for name, base in (("depth_current", "current"), ("depth_loss", "concurrence_loss")):
            relative = np.abs(out[name][checked] / out[base][checked])
            out[name] = np.where(checked, out[name], np.abs(out[base]) * np.interp(
                np.log(gammas), np.log(gammas[checked]), relative))
    depth_current = np.nan_to_num(out["depth_current"], nan=np.inf)
    depth_loss = np.nan_to_num(out["depth_loss"], nan=np.inf)
    current, loss = np.abs(out["current"]), np.abs(out["concurrence_loss"])
    out["converged"] = ((out["pade_current"] <= RTOL * current) & (depth_current <= RTOL * current)
                        & (out["pade_loss"] <= RTOL * loss) & (depth_loss <= RTOL * loss)
                        & (out["floor_current"] <= RTOL * current)).astype(float)
    out["current_error"] = out["pade_current"] + np.nan_to_num(out["depth_current"]) + out["floor_current"]
    out["loss_error"] = out["pade_loss"] + np.nan_to_num(out["depth_loss"])
    return out


def fits(gammas: np.ndarray, values: np.ndarray, errors: np.ndarray | None = None) -> dict[str, float]:
    """Power-law fits |values| ∝ γ^p over the whole γ range and over its lower and upper halves.

    Returns p with its standard error, p of the lower and of the upper half and, with ``errors``, the
    systematic uncertainty of p from the points' error bars (worst case, linear sum).
    """
    values = np.abs(values)
    full = power_law(gammas, values)
    half = len(gammas) // 2
    lower = power_law(gammas[:len(gammas) - half], values[:len(gammas) - half])
    upper = power_law(gammas[half:], values[half:])
    systematic = np.nan
    usable = (values > 0) & np.isfinite(values)
    if errors is not None and usable.sum() >= 2:
        log_gamma = np.log(gammas[usable])
        weights = (log_gamma - log_gamma.mean()) / np.sum((log_gamma - log_gamma.mean()) ** 2)
        systematic = float(np.sum(np.abs(weights) * np.abs(errors[usable]) / values[usable]))
    return {"exponent": full.exponent, "error": full.exponent_error, "lower": lower.exponent,
            "upper": upper.exponent, "systematic": systematic}


def exponent_variables(table: xr.Dataset) -> dict[str, tuple[str, np.ndarray, dict[str, str]]]:
    """``{current,loss}_exponent`` with ``_error`` (standard), ``_lower``/``_upper`` (halves), ``_systematic``."""
    gammas = table.gamma.values
    variables = {}
    for kind, values, errors in (("current", "current", "current_error"),
                                 ("loss", "concurrence_loss", "loss_error")):
        rows = [fits(gammas, table[values].sel(approach=a).values,
                     table[errors].sel(approach=a).values if a in EXACT else None) for a in table.approach.values]
        for key, suffix, meaning in (("exponent", "", "fitted exponent p of |y| ∝ γ^p over the whole range"),
                                     ("error", "_error", "standard error of p (fit residuals)"),
                                     ("lower", "_lower", "p fitted to the lower half of the γ range"),
                                     ("upper", "_upper", "p fitted to the upper half of the γ range"),
                                     ("systematic", "_systematic", "uncertainty of p from the HEOM error bars")):
            variables[f"{kind}_exponent{suffix}"] = ("approach", np.array([r[key] for r in rows]),
                                                    {"long_name": meaning})
    return variables


def legend_label(table: xr.Dataset, approach: str, kind: str) -> str:
    """``approach: γ^p ± err (halves lo, hi)`` for the legend."""
    row = table.sel(approach=approach)
    p, err = float(row[f"{kind}_exponent"]), float(row[f"{kind}_exponent_error"])
    systematic = float(row[f"{kind}_exponent_systematic"])
    total = err + (systematic if np.isfinite(systematic) else 0.0)
    return (f"{approach}: γ^{p:.2f}±{total:.2f} "
            f"({float(row[f'{kind}_exponent_lower']):.2f} → {float(row[f'{kind}_exponent_upper']):.2f})")


@dataclass(frozen=True)
class Settings:
    """Every setting of a run (full or ``--quick``); a part's cache is reused only with the same settings."""

    quick: bool
    gammas: tuple[float, ...]
    sparse: tuple[float, ...]
    """The γ of the expensive rows: 2vN (grid refined to 20001 points) and the exact resonance."""
    two_vn: tuple[tuple[str, object], ...]
    pade: int
    depth: int
    depth_pade: int
    resonance_pade: int
    precision: float
    grid: int

    @classmethod
    def of(cls, quick: bool) -> Settings:
        """The quick or the full run's settings."""
        gammas = np.geomspace(0.01, 0.1, 3 if quick else 7)
        two_vn = ({"converge": False, "kpnt": 801, "niter": 8} if quick
                  else {"check_bandwidth": False, "max_kpnt": MAX_KPNT, "current_floor": 1e-12})
        return cls(quick, tuple(map(float, gammas)), tuple(map(float, gammas if quick else gammas[::3])),
                   tuple(two_vn.items()), *((10, 2, 6, 6, 1e-5, 11) if quick
                                             else (PADE, DEPTH, DEPTH_PADE, RESONANCE_PADE, 1e-6, 11)))


MACHINE = Machine.triple_dot(U=40.0, mu_hot=20.0)
TWO_VN_BAND = Band.flat(100.0)
PARTS = ("first order", "qmeq:2vN", "qmeq:2vN at shifted resonance", "heom", "heom at shifted resonance",
         "heom at exact resonance")
"""The parts of the study, each computed (and cached) on its own."""


def compute_part(name: str, settings: Settings) -> xr.Dataset:
    """One part of the study as a Dataset over (approach, gamma); ``seconds`` in its attributes.

    ``first order``: local, Pauli, 1vN and 1vN at the estimated shifted resonance; ``qmeq:2vN`` (on
    D = 100) bare or at the estimated shifted resonance (on the sparse γ); the HEOM rows with their error
    estimates (:func:`exact_leakage`); ``heom at exact resonance`` also locates δ* (sparse γ).
    """
    clock, cpu = time.perf_counter(), time.process_time()
    shifted = at_shifted_resonance()
    gammas = np.array(settings.gammas)
    sparse = np.array(settings.sparse)
    depth_at = (0, len(gammas) - 1)  # the depth check at the smallest and the largest γ
    keep = ["current", "concurrence_loss", "min_eigenvalue", "converged"]
    if name == "first order":
        table = leakage_vs_gamma(
            MACHINE, ["local", "qmeq:Pauli", "qmeq:1vN", "qmeq:1vN at shifted resonance"], gammas,
            specs={"qmeq:1vN at shifted resonance": "qmeq:1vN"},
            adjust={"qmeq:1vN at shifted resonance": shifted})[keep]
    elif name.startswith("qmeq:2vN"):
        adjust = ((lambda m: shifted(m.with_band(TWO_VN_BAND))) if "shifted" in name
                  else (lambda m: m.with_band(TWO_VN_BAND)))
        table = leakage_vs_gamma(MACHINE, [name], sparse, options={name: dict(settings.two_vn)},
                                 specs={name: "qmeq:2vN"}, adjust={name: adjust})[keep]
    elif name in ("heom", "heom at shifted resonance"):
        adjust = (lambda g, m: m) if name == "heom" else (lambda g, m: shifted(m))
        row = exact_leakage(MACHINE, gammas, adjust, pade=settings.pade, depth=settings.depth,
                            depth_pade=settings.depth_pade, depth_at=depth_at, label=name)
        table = xr.Dataset({k: (("approach", "gamma"), v[None, :]) for k, v in row.items()},
                           coords={"approach": [name], "gamma": gammas})
    elif name == "heom at exact resonance":
        options = {"pade": settings.resonance_pade, "depth": settings.depth, "converge": False}
        found = [locate_resonance(MACHINE.with_parameters(gamma=g), "heom", options=options,
                                  precision=settings.precision, grid=settings.grid, half_width=0.05)
                 for g in tqdm(sparse, desc="exact resonance", unit="γ")]
        delta_star = np.array([f.delta for f in found])
        row = exact_leakage(MACHINE, sparse, lambda g, m: m.detuned({1: float(delta_star[np.argmin(abs(sparse - g))])}),
                            pade=settings.pade, depth=settings.depth, depth_pade=settings.depth_pade,
                            depth_at=(0, len(sparse) - 1), label=name)
        table = xr.Dataset({k: (("approach", "gamma"), v[None, :]) for k, v in row.items()},
                           coords={"approach": [name], "gamma": sparse})
        table = table.assign(
            delta_star_exact=("gamma", delta_star, {"long_name": "HEOM concurrence maximum δ* (qubit 1 detuning)",
                                                    "units": "energy", "pade": settings.resonance_pade,
                                                    "depth": settings.depth, "precision": settings.precision}),
            current_delta_star_exact=("gamma", np.array([f.current_delta for f in found]),
                                      {"long_name": "HEOM detuning of the smallest hot current (Padé and depth "
                                                    "as delta_star_exact)", "units": "energy"}))
    else:
        raise ValueError(f"unknown part {name!r}; one of {PARTS}")
    table["converged"] = table.converged.astype(float)
    table.attrs["seconds"] = time.perf_counter() - clock
    table.attrs["cpu_seconds"] = time.process_time() - cpu
    return table


def part_key(name: str, settings: Settings) -> str:
    """The settings a part depends on, as a string (its cache is reused only when they are the same)."""
    fields = {"first order": ("gammas",), "qmeq:2vN": ("sparse", "two_vn"),
              "qmeq:2vN at shifted resonance": ("sparse", "two_vn"),
              "heom": ("gammas", "pade", "depth", "depth_pade"),
              "heom at shifted resonance": ("gammas", "pade", "depth", "depth_pade"),
              "heom at exact resonance": ("sparse", "pade", "depth", "depth_pade", "resonance_pade", "precision",
                                          "grid")}
    # "reduced_state": parts cached before the fermionic partial trace hold string-ordered concurrences
    return repr({"part": name, "quick": settings.quick, "reduced_state": "fermionic", "wide_band": "direct",
                 **{f: getattr(settings, f) for f in fields[name]}})


def cached_part(folder: Path, name: str, settings: Settings) -> xr.Dataset:
    """:func:`compute_part`, or its copy ``<folder>/parts/<name>.nc`` made with the same settings.

    The full run takes ~25 CPU minutes; its parts can be computed in separate processes (call this function)
    and the study then only assembles them.
    """
    path = folder / "parts" / f"{name.replace(':', '_').replace(' ', '_')}.nc"
    table, reused = cached_dataset(path, part_key(name, settings), lambda: compute_part(name, settings))
    if reused:
        print(f"{name}: reused {path} ({table.attrs['seconds']:.0f} s when computed)")
    return table


def main() -> None:
    args = study_arguments(__doc__)
    start = time.perf_counter()
    settings = Settings.of(args.quick)
    folder = results_folder(args.results, "cotunnelling_leakage")
    parts = {name: cached_part(folder, name, settings) for name in PARTS}
    seconds = {name: round(float(part.attrs["seconds"]), 1) for name, part in parts.items()}
    cpu_seconds = {name: round(float(part.attrs.get("cpu_seconds", np.nan)), 1) for name, part in parts.items()}
    gammas = np.array(settings.gammas)
    estimate = np.array([resonance_shift_estimate(MACHINE.with_parameters(gamma=g), 1) for g in gammas])
    resonance = parts["heom at exact resonance"]
    delta_star = resonance.delta_star_exact.reindex(gamma=gammas).values
    current_delta_star = resonance.current_delta_star_exact.reindex(gamma=gammas).values

    # one table --------------------------------------------------------------------------------------------
    rows = [part.drop_vars(["delta_star_exact", "current_delta_star_exact"], errors="ignore").reindex(gamma=gammas)
            for part in parts.values()]
    for row in rows:
        row.attrs.clear()
    table = xr.concat(rows, dim="approach", join="outer")
    table = table.assign(exponent_variables(table))
    table = table.assign(
        delta_star_exact=("gamma", delta_star, resonance.delta_star_exact.attrs),
        current_delta_star_exact=("gamma", current_delta_star, resonance.current_delta_star_exact.attrs),
        delta_star_estimate=("gamma", estimate, {"long_name": "level-shift estimate of δ* (wide band)",
                                                 "units": "energy"}))
    reference = ["heom at shifted resonance" if "resonance" in a else "heom" for a in table.approach.values]
    table = table.assign(
        current_ratio_to_exact=(("approach", "gamma"), table.current.values / table.current.sel(
            approach=reference).values, {"long_name": "current / HEOM current (bare, or estimated shifted resonance)"}),
        loss_ratio_to_exact=(("approach", "gamma"), table.concurrence_loss.values / table.concurrence_loss.sel(
            approach=reference).values, {"long_name": "(1 - C) / HEOM (1 - C) (bare, or estimated shifted resonance)"}))
    detuning = {bare: fits(gammas, table.current.sel(approach=bare).values
                           - table.current.sel(approach=f"{bare} at shifted resonance").values)
                for bare in ("qmeq:1vN", "qmeq:2vN", "heom")}
    table.attrs["detuning_leak_exponents"] = repr({k: round(v["exponent"], 3) for k, v in detuning.items()})
    table.current.attrs.update(long_name="particle current from the hot reservoir", units="energy (ħ = 1)")
    table.concurrence_loss.attrs.update(long_name="1 - C(0,1)")
    table.converged.attrs.update(long_name="1 if the point converged (HEOM: Padé, depth, floor within 1 %)")
    for name in ("pade_current", "depth_current", "floor_current", "current_error"):
        table[name].attrs.update(units="energy (ħ = 1)")
    table.attrs.update(machine=repr(MACHINE), settings=repr(settings), two_vn_band_half_width=100.0,
                       heom_pade=settings.pade, heom_depth=settings.depth, heom_pade_check=settings.pade - 4,
                       heom_depth_check_pade=settings.depth_pade,
                       heom_wide_band="in the hierarchy", seconds=repr(seconds),
                       cpu_seconds=repr(cpu_seconds))

    # summary ----------------------------------------------------------------------------------------------
    with np.printoptions(linewidth=160):
        print("hot particle current (energy units):")
        print(table.current.to_pandas().to_string(float_format=lambda v: f"{v:.4e}"))
        print("1 - C(0,1):")
        print(table.concurrence_loss.to_pandas().to_string(float_format=lambda v: f"{v:.4e}"))
        print("converged:")
        print(table.converged.to_pandas().to_string())
        print("HEOM error estimates (relative to the value): Padé, depth, equilibrium floor; residual")
        for a in EXACT:
            row = table.sel(approach=a)
            for name in ("pade_current", "depth_current", "floor_current", "pade_loss", "depth_loss"):
                base = row.current if name.endswith("current") else row.concurrence_loss
                print(f"  {a:28s} {name:14s}", np.array2string(np.abs(row[name].values / base.values),
                                                              precision=1, formatter={"float": "{:.1e}".format}))
            print(f"  {a:28s} {'residual':14s}", np.array2string(row.residual.values,
                                                                formatter={"float": "{:.1e}".format}))
        print("δ* exact (HEOM, concurrence max):", np.array2string(delta_star, formatter={"float": "{:.4e}".format}))
        print("δ* of the smallest current:     ", np.array2string(current_delta_star,
                                                                  formatter={"float": "{:.4e}".format}))
        print("δ* estimate (wide band):        ", np.array2string(estimate, formatter={"float": "{:.4e}".format}))
    print("exponents: p ± standard error [± systematic] (lower half → upper half)")
    for kind in ("current", "loss"):
        print(f" {kind}:")
        for a in table.approach.values:
            row = table.sel(approach=a)
            systematic = float(row[f"{kind}_exponent_systematic"])
            print(f"  {a:30s} {float(row[f'{kind}_exponent']):6.3f} ± {float(row[f'{kind}_exponent_error']):.3f}"
                  + (f" ± {systematic:.3f}" if np.isfinite(systematic) else "          ")
                  + f"   ({float(row[f'{kind}_exponent_lower']):.3f} → {float(row[f'{kind}_exponent_upper']):.3f})")
    print("ratio to the exact value of the same resonance (bare: heom; shifted: heom at shifted resonance):")
    print(" current:")
    print(table.current_ratio_to_exact.to_pandas().to_string(float_format=lambda v: f"{v:.3g}"))
    print(" 1 - C:")
    print(table.loss_ratio_to_exact.to_pandas().to_string(float_format=lambda v: f"{v:.3g}"))
    print("detuning leak I(bare) - I(estimated shifted resonance): p ± standard error (lower half → upper half)")
    for bare, fit in detuning.items():
        print(f"  {bare:30s} {fit['exponent']:6.3f} ± {fit['error']:.3f}   ({fit['lower']:.3f} → {fit['upper']:.3f})")
    print("wall seconds per part (when computed):", seconds, f"sum {sum(seconds.values()):.0f}; this run "
          f"{time.perf_counter() - start:.0f}")
    print("CPU seconds per part (when computed):", cpu_seconds, f"sum {sum(cpu_seconds.values()):.0f}")

    # figure -----------------------------------------------------------------------------------------------
    figure, axes = plt.subplots(1, 2, figsize=(14, 9.5))
    styles = {"heom": "-", "heom at shifted resonance": "--", "heom at exact resonance": ":"}
    for axis, kind, values, errors in ((axes[0], "current", "current", "current_error"),
                                       (axes[1], "loss", "concurrence_loss", "loss_error")):
        for a in table.approach.values:
            y = np.abs(table[values].sel(approach=a).values)
            shown = np.isfinite(y) & (y > 0)  # 2vN and the exact resonance are solved on every third γ only
            x, y = gammas[shown], y[shown]
            if a in EXACT:
                error = table[errors].sel(approach=a).values[shown]
                below = np.minimum(error, 0.9 * y)  # a log axis: the lower bar stops above zero
                axis.errorbar(x, y, yerr=[below, error], color="k", ls=styles[a],
                              marker="s", ms=4, capsize=2, label=legend_label(table, a, kind), zorder=3)
            else:
                marker = "^" if "shifted" in a else "o"
                axis.loglog(x, y, marker=marker, ls="-" if "shifted" not in a else "--", ms=4,
                            label=legend_label(table, a, kind))
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("γ = γ1 = γ3 (units of ε = T = 1)")
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1,
                    title="fit |y| ∝ γ^p ± (standard + systematic error) (p of lower half → upper half)",
                    title_fontsize=7)
    axes[0].set_ylabel("|particle current from the hot lead| (units of ε, ħ = 1)")
    axes[1].set_ylabel("|1 − C(0,1)| (1vN at shifted resonance: below its accuracy, one point negative)")
    figure.suptitle("Dark-state leakage at U = 40, μ = 20, T = ε = 1, g = 0.05: exact (HEOM, black) and "
                    "approximations; 2vN on D = 100", fontsize=10)
    save(folder, "leakage", table, figure)


if __name__ == "__main__":
    main()
