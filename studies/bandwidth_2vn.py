"""The 2vN bandwidth question: whether the drift of 2vN with its band half-width D is finite-band physics.

At the Fig. 3 point (U = 15, μ_hot = 8, μ_cold = 0, T = ε = 1, g = 0.05, γ = 0.1) QmeQ's 2vN is solved on
flat bands [−D, D] (centred at the dots' energy zero, both leads on one band) for D = 50, 100, 200, 400,
800, on one fixed grid spacing for every D (0.05: the spacing 0.2 of ``initial_kpnt`` halved twice, 12
iterations; the grid error is measured at D = 50 against spacing 0.025). HEOM (depth 3, Padé 10, fixed) is
solved on Lorentzian bands of half-width W (centred at each lead's own μ) for W = 25 … 800 (depth 2 beside
it shows how the depth correction varies with W). Both are fitted against 1/D (1/W) with a + b/D on the
three widest bands and a + b/D + c/D² on the four of 100 … 800 (D = 50 is shown, not fitted: its edge lies
within 19 of the largest addition energy 31.1); the D → ∞ intercepts are compared with the
exact wide-band value (``studies/fig3_point_exact.py``'s result if present, else ``heom.solve_steady``
with automatic convergence) and with each other. If 2vN's intercept equals the exact value within the
errors, its drift is the physics of the finite band; the difference is its truncation error otherwise.

"Comparable width": a flat band and a Lorentzian shift the dark-state resonance |1 on qubit 0⟩ ↔ |1 on
qubit 1⟩ differently. Only the hot lead enters it (removal energy ε = 1, addition energy ε + U = 16); the
flat band's edges add ≈ (γ/2π)(ε + ε + U)/D, the Lorentzian centred at μ adds ≈ γ(ε + ε + U − 2μ)/(4W)
(T = 0 expansions; computed here at T = 1 from the second-order principal values). Equal resonance shift
gives W = D κ_L/κ_F; the equal-slope matching of C (and of I) against 1/D is the empirical alternative.

``--quick``: D = 50, 100 on the coarse grid (spacing 0.2, 8 iterations), HEOM at depth 2.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments
from tqdm.auto import tqdm

from transportbench.backends import heom, qmeq
from transportbench.cache import PointCache
from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Band, Machine
from transportbench.observables import concurrence

QUANTITIES = ("concurrence", "I_hot", "JE_hot")
LABELS = {"concurrence": "C(0,1)", "I_hot": "I_hot", "JE_hot": "J^E_hot"}
FIT_MIN_WIDTH = 100.0
"""Narrower bands are solved and shown but not fitted: at D = 50 the band edge lies within 19 of the largest
addition energy (ε + 2U + 2g = 31.1), where an expansion in E/D (E up to 31) does not hold."""


# ------------------------------------------------------------------------------------------ solves
def observables(result) -> dict[str, float]:
    """C(0,1), the hot particle current and the hot energy current of a Result."""
    return {"concurrence": concurrence(result.reduced_state([0, 1])),
            "I_hot": result.particle_currents["hot"], "JE_hot": result.energy_currents["hot"]}


def solve_2vn(machine: Machine, half_width: float, halvings: int, niter: int, cache: PointCache) -> dict[str, float]:
    """QmeQ 2vN on ``Band.flat(half_width)``, fixed grid (``qmeq.fixed_grid_options``), its observables and cost.

    A point solved before with the same settings is read from ``cache``; a new one is added to it as soon as it
    is solved (minutes per point at large D: a rerun after an interruption resumes).
    """

    def solve() -> dict[str, float]:
        banded = machine.with_band(Band.flat(half_width))
        settings = qmeq.fixed_grid_options(banded, halvings=halvings, niter=niter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a fixed grid is "not converged" by construction; its changes are kept
            result = qmeq.solve_steady(banded, approach="2vN", **settings)
        return {**observables(result), "kpnt": settings["kpnt"], "spacing": 2 * half_width / (settings["kpnt"] - 1),
                "iteration_current_change": result.error.stage("iterations").currents,
                "iteration_rho_change": result.error.stage("iterations").rho, "seconds": result.seconds,
                "status": result.health.status()}

    return cache.get(f"D={half_width:g} halvings={halvings} niter={niter} reduced_state=fermionic", solve)


def solve_heom(machine: Machine, width: float, pade: int, depth: int) -> dict[str, float]:
    """HEOM on ``Band.lorentzian(width)`` (centred at each lead's μ) at fixed Padé terms and depth."""
    result = heom.solve_steady(machine.with_band(Band.lorentzian(width)),
                               heom.HeomOptions(pade=pade, depth=depth, converge=False))
    return {**observables(result), "seconds": result.seconds}


def exact_reference(machine: Machine, results: str) -> tuple[dict[str, float], dict[str, float], str]:
    """The exact wide-band values and error bars: fig3_point_exact's result if present, else HEOM's own convergence."""
    path = Path(results) / "fig3_point_exact" / "fig3_point_exact.nc"
    if path.exists():
        with xr.open_dataset(path, engine="h5netcdf") as table:
            values = {name: float(table.attrs[f"exact_{name}"]) for name in QUANTITIES}
            errors = {name: float(table.attrs[f"error_{name}"]) for name in QUANTITIES}
        return values, errors, f"{path} (HEOM convergence table)"
    result = heom.solve_steady(machine)  # the wide band in the hierarchy
    values = observables(result)
    c_error = max(change.concurrence for change in result.error.stages) * 2
    i_error = max(change.currents for change in result.error.stages) * 2
    errors = {"concurrence": c_error, "I_hot": i_error * abs(values["I_hot"]),
              "JE_hot": i_error * abs(values["JE_hot"])}
    return values, errors, "heom.solve_steady (wide band in the hierarchy, automatic convergence; error = 2 × the " \
                           "largest Padé or depth step)"


# --------------------------------------------------------------------------------------------- fits
def fit(widths: np.ndarray, values: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares polynomial in 1/width of degree ``order``: coefficients (a, b, …) and their standard errors.

    With as many points as coefficients the fit is exact and the standard errors are NaN.
    """
    x = 1.0 / np.asarray(widths, dtype=float)
    design = np.vander(x, order + 1, increasing=True)
    coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
    dof = len(x) - (order + 1)
    if dof <= 0:
        return coefficients, np.full(order + 1, np.nan)
    residual = values - design @ coefficients
    covariance = np.linalg.inv(design.T @ design) * float(residual @ residual) / dof
    return coefficients, np.sqrt(np.diag(covariance))


def fits(widths: np.ndarray, values: np.ndarray) -> dict[str, object]:
    """Linear fit on the three widest points and quadratic fit on all; intercept = quadratic, error = their gap."""
    order = np.argsort(widths)
    widths, values = np.asarray(widths)[order], np.asarray(values)[order]
    linear, linear_error = fit(widths[-3:], values[-3:], 1)
    quadratic, quadratic_error = fit(widths, values, 2) if len(widths) >= 4 else fit(widths, values, 1)
    gap = abs(quadratic[0] - linear[0])
    spread = 0.0 if not np.isfinite(quadratic_error[0]) else float(quadratic_error[0])
    return {"linear": linear, "quadratic": quadratic, "intercept": float(quadratic[0]),
            "intercept_error": float(gap + spread), "linear_error": linear_error, "quadratic_error": quadratic_error}


def evaluate(coefficients: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """The fitted polynomial in 1/width."""
    return np.polynomial.polynomial.polyval(1.0 / np.asarray(width, dtype=float), coefficients)


def crossing(coefficients: np.ndarray, target: float, widths: np.ndarray) -> float:
    """The width in [min(widths)/2, 100 max(widths)] where the fit equals ``target`` (NaN if it never does)."""
    grid = np.geomspace(min(widths) / 2, 100 * max(widths), 4001)
    difference = evaluate(coefficients, grid) - target
    sign_change = np.nonzero(np.diff(np.sign(difference)))[0]
    if not sign_change.size:
        return math.nan
    k = sign_change[0]
    return float(np.interp(0.0, [difference[k], difference[k + 1]], [grid[k], grid[k + 1]])
                 if difference[k] < difference[k + 1] else
                 np.interp(0.0, [difference[k + 1], difference[k]], [grid[k + 1], grid[k]]))


# --------------------------------------------------------------------------------------------- main
def main() -> None:  # noqa: PLR0915 (one linear script)
    args = study_arguments(__doc__)
    start = time.perf_counter()
    machine = Machine.triple_dot()
    if args.quick:
        flat, halvings, niter, check = [50.0, 100.0], 0, 8, (50.0, 1)
        lorentz, depths, pade = [50.0, 100.0, 200.0, 400.0, 800.0], [2], 10
    else:
        flat, halvings, niter, check = [50.0, 100.0, 200.0, 400.0, 800.0], 2, 12, (50.0, 3)
        lorentz, depths, pade = [25.0, 37.0, 50.0, 74.0, 100.0, 200.0, 400.0, 800.0], [2, 3], 10
    depth = depths[-1]

    exact, exact_error, source = exact_reference(machine, args.results)
    print(f"exact wide band ({source}): " + ", ".join(f"{LABELS[n]} = {exact[n]:.6g} ± {exact_error[n]:.2g}"
                                                       for n in QUANTITIES))

    heom_values = {name: np.full((len(depths), len(lorentz)), np.nan) for name in (*QUANTITIES, "seconds")}
    for i, d in enumerate(depths):
        for k, width in enumerate(tqdm(lorentz, desc=f"HEOM depth {d}", unit="W")):
            solved = solve_heom(machine, width, pade, d)
            for name in heom_values:
                heom_values[name][i, k] = solved[name]

    folder = results_folder(args.results, "bandwidth_2vn")
    cache = PointCache(folder / "twovn_points.jsonl")
    two_vn: list[dict[str, float]] = []
    for half_width in tqdm(flat, desc="2vN", unit="D"):
        two_vn.append(solve_2vn(machine, half_width, halvings, niter, cache))
        row = two_vn[-1]
        print(f"2vN D = {half_width:g}: kpnt {row['kpnt']}, C = {row['concurrence']:.6f}, I_hot = {row['I_hot']:.5e}, "
              f"J^E_hot = {row['JE_hot']:.5e}, last iteration changed the currents by "
              f"{row['iteration_current_change']:.1e} (relative), {row['seconds']:.0f} s", flush=True)
    grid_check = solve_2vn(machine, check[0], check[1], niter, cache)
    reference = two_vn[flat.index(check[0])]
    grid_error = {name: abs(grid_check[name] - reference[name]) for name in QUANTITIES}
    print(f"grid error at D = {check[0]:g}: spacing {reference['spacing']:.3g} -> {grid_check['spacing']:.3g} changes "
          + ", ".join(f"{LABELS[n]} by {grid_error[n]:.2g}" for n in QUANTITIES))

    # fits against 1/D and 1/W (HEOM on the same range of widths as 2vN)
    fitted = [k for k, d in enumerate(flat) if d >= FIT_MIN_WIDTH] if len(flat) > 2 else list(range(len(flat)))
    in_range = [k for k, w in enumerate(lorentz) if flat[fitted[0]] <= w <= max(flat)]
    results: dict[str, dict[str, dict[str, object]]] = {"2vN": {}, "HEOM": {}}
    for name in QUANTITIES:
        results["2vN"][name] = fits(np.array(flat)[fitted], np.array([two_vn[k][name] for k in fitted]))
        results["HEOM"][name] = fits(np.array(lorentz)[in_range], heom_values[name][-1, in_range])
    print("\nD -> infinity intercepts (quadratic fit on all widths; error = |quadratic − linear on the three widest| + "
          "fit standard error; 2vN also ± its grid error)")
    verdict = {}
    for name in QUANTITIES:
        two, exact_heom = results["2vN"][name], results["HEOM"][name]
        two_error = two["intercept_error"] + grid_error[name]
        gap = two["intercept"] - exact[name]
        allowed = two_error + exact_error[name]
        verdict[name] = abs(gap) <= allowed
        scale = abs(exact[name]) if name != "concurrence" else 1.0
        print(f"  {LABELS[name]:8s} 2vN {two['intercept']:.6g} ± {two_error:.2g} | HEOM Lorentzian "
              f"{exact_heom['intercept']:.6g} ± {exact_heom['intercept_error']:.2g} | exact {exact[name]:.6g} ± "
              f"{exact_error[name]:.2g} | 2vN − exact = {gap:+.3g} ({gap / scale:+.2%} relative) vs allowed "
              f"{allowed:.2g}: {'agree' if verdict[name] else 'DISAGREE'}")
        print(f"           slopes b (value × width): 2vN {two['quadratic'][1]:+.4g} (linear fit "
              f"{two['linear'][1]:+.4g}), HEOM {exact_heom['quadratic'][1]:+.4g} (linear fit "
              f"{exact_heom['linear'][1]:+.4g})")

    # a + b/D + c/D² halves its steps per doubling of D (asymptotically): the steps say whether it describes the data
    print("\nchange per doubling of the width (a 1/D approach halves it from one doubling to the next):")
    for name in ("concurrence", "I_hot"):
        two_steps = np.diff([row[name] for row in two_vn])
        heom_steps = np.diff(heom_values[name][-1][[k for k, w in enumerate(lorentz) if w in flat]])
        print(f"  {LABELS[name]}: 2vN D = {', '.join(f'{d:g}' for d in flat)}: "
              f"{', '.join(f'{x:+.3g}' for x in two_steps)}; HEOM W = "
              f"{', '.join(f'{w:g}' for w in lorentz if w in flat)}: "
              f"{', '.join(f'{x:+.3g}' for x in heom_steps)}")
        for who, widths, values in (("2vN", np.array(flat), np.array([row[name] for row in two_vn])),
                                    ("HEOM", np.array(lorentz), heom_values[name][-1])):
            mask = widths >= (FIT_MIN_WIDTH if len(flat) > 2 else min(flat))
            residual = values[mask] - evaluate(results[who][name]["quadratic"], widths[mask])
            print(f"    {who} quadratic-fit residuals: {', '.join(f'{x:+.2g}' for x in residual)}")

    # which D makes 2vN agree with exact
    print("\n2vN against exact, point by point (|2vN − exact| ≤ exact error + 2vN grid error?)")
    agreeing = {}
    for name in ("concurrence", "I_hot"):
        ok = [d for d, row in zip(flat, two_vn, strict=True)
              if abs(row[name] - exact[name]) <= exact_error[name] + grid_error[name]]
        agreeing[name] = ok
        scale = abs(exact[name]) if name != "concurrence" else 1.0
        print(f"  {LABELS[name]}: " + ", ".join(f"D = {d:g}: {(row[name] - exact[name]) / scale:+.2g}"
                                               for d, row in zip(flat, two_vn, strict=True))
              + f"  -> agree at D = {ok if ok else 'none'}; fit reaches exact at D ≈ "
                f"{crossing(results['2vN'][name]['quadratic'], exact[name], np.array(flat)):.4g}")

    # comparable widths: equal resonance shift, equal slope
    shift_wide = resonance_shift_estimate(machine)
    matched = max(flat)
    kappa_flat = (resonance_shift_estimate(machine.with_band(Band.flat(matched))) - shift_wide) * matched
    kappa_lorentz = (resonance_shift_estimate(machine.with_band(Band.lorentzian(matched))) - shift_wide) * matched
    shift_ratio = kappa_lorentz / kappa_flat
    slope_ratio = {name: results["HEOM"][name]["quadratic"][1] / results["2vN"][name]["quadratic"][1]
                   for name in QUANTITIES}
    print(f"\nresonance shift δ* wide band {shift_wide:+.6f}; band corrections × width at width {matched:g}: flat "
          f"{kappa_flat:+.4g} (T = 0 estimate (γ/2π)·17 = {0.1 / (2 * math.pi) * 17:+.4g}), Lorentzian "
          f"{kappa_lorentz:+.4g} (T = 0 estimate γ·1/4 = {0.1 / 4:+.4g})")
    print(f"equal resonance shift: W = {shift_ratio:.3g} D; equal slope of C: W = {slope_ratio['concurrence']:.3g} D, "
          f"of I_hot: W = {slope_ratio['I_hot']:.3g} D")
    shift_table = {"D": flat,
                   "flat": [resonance_shift_estimate(machine.with_band(Band.flat(d))) - shift_wide for d in flat],
                   "lorentzian": [resonance_shift_estimate(machine.with_band(Band.lorentzian(w))) - shift_wide
                                  for w in lorentz]}
    # 2vN against the flat band's own second-order resonance shift x(D): if the drift is the band edges moving the
    # dark-state resonance, C and I are smooth (quadratic) in x, and the wide band is x = 0
    x_shift = np.array(shift_table["flat"])
    shift_fits: dict[str, tuple[float, float, np.ndarray]] = {}
    print("\n2vN against x = δ*(flat D) − δ*(wide), the flat band's second-order resonance shift (quadratic in x "
          "on all D; error = |that − the same on D ≥ 100| + grid error):")
    for name in QUANTITIES:
        values = np.array([row[name] for row in two_vn])
        coefficients = np.polynomial.polynomial.polyfit(x_shift, values, min(2, len(flat) - 1))
        narrow_free = np.polynomial.polynomial.polyfit(x_shift[fitted], values[fitted], min(2, len(fitted) - 1))
        error = abs(coefficients[0] - narrow_free[0]) + grid_error[name]
        residual = values - np.polynomial.polynomial.polyval(x_shift, coefficients)
        shift_fits[name] = (float(coefficients[0]), float(error), coefficients)
        scale = abs(exact[name]) if name != "concurrence" else 1.0
        vertex = (f"; extremum at x = {-coefficients[1] / (2 * coefficients[2]):+.2e}, i.e. total δ* = "
                  f"{shift_wide - coefficients[1] / (2 * coefficients[2]):+.2e}" if len(coefficients) == 3 else "")
        print(f"  {LABELS[name]}: x → 0: {coefficients[0]:.6g} ± {error:.2g}; exact {exact[name]:.6g} ± "
              f"{exact_error[name]:.2g}; difference {(coefficients[0] - exact[name]) / scale:+.2g}"
              f"{' (relative)' if scale != 1.0 else ''}; residuals {', '.join(f'{r:+.1g}' for r in residual)}{vertex}")
    print(f"at equal resonance shift (HEOM interpolated linearly in 1/W between its solved widths "
          f"{min(lorentz):g} … {max(lorentz):g}):")
    inverse = 1.0 / np.array(lorentz)
    order = np.argsort(inverse)
    for d, row in zip(flat, two_vn, strict=True):
        w = shift_ratio * d
        if not min(lorentz) <= w <= max(lorentz):
            print(f"  D = {d:g} ↔ W = {w:.3g}: outside the HEOM widths solved")
            continue
        heom_c = float(np.interp(1 / w, inverse[order], heom_values["concurrence"][-1][order]))
        heom_i = float(np.interp(1 / w, inverse[order], heom_values["I_hot"][-1][order]))
        print(f"  D = {d:g} ↔ W = {w:.3g}: C 2vN {row['concurrence']:.5f} vs HEOM {heom_c:.5f}; I_hot 2vN "
              f"{row['I_hot']:.4e} vs HEOM {heom_i:.4e} ({row['I_hot'] / heom_i - 1:+.1%})")

    dataset = xr.Dataset(
        {**{f"twovn_{name}": ("D", np.array([row[name] for row in two_vn]), {"long_name": f"2vN {LABELS[name]}"})
            for name in QUANTITIES},
         "twovn_kpnt": ("D", np.array([row["kpnt"] for row in two_vn])),
         "twovn_seconds": ("D", np.array([row["seconds"] for row in two_vn]), {"units": "s"}),
         "twovn_iteration_current_change": ("D", np.array([row["iteration_current_change"] for row in two_vn])),
         "twovn_status": ("D", np.array([row["status"] for row in two_vn], dtype=object).astype(str)),
         **{f"heom_{name}": (("depth", "W"), heom_values[name],
                             {"long_name": f"HEOM {LABELS.get(name, name)}, Padé {pade}"})
            for name in (*QUANTITIES, "seconds")},
         "flat_resonance_shift": ("D", np.array(shift_table["flat"]),
                                  {"long_name": "second-order delta* on the flat band minus wide band",
                                   "units": "energy"}),
         "lorentzian_resonance_shift": ("W", np.array(shift_table["lorentzian"]),
                                        {"long_name": "second-order delta* on the Lorentzian minus wide band",
                                         "units": "energy"})},
        coords={"D": ("D", flat, {"long_name": "flat band half-width", "units": "energy"}),
                "W": ("W", lorentz, {"long_name": "Lorentzian half-width (centred at each lead's mu)",
                                     "units": "energy"}),
                "depth": depths},
        attrs={**{f"exact_{n}": exact[n] for n in QUANTITIES},
               **{f"exact_error_{n}": exact_error[n] for n in QUANTITIES},
               "exact_source": source, "twovn_spacing": two_vn[0]["spacing"], "twovn_niter": niter,
               **{f"twovn_grid_error_{n}": grid_error[n] for n in QUANTITIES},
               **{f"{who}_intercept_{n}": results[who][n]["intercept"] for who in results for n in QUANTITIES},
               **{f"{who}_intercept_error_{n}": results[who][n]["intercept_error"] for who in results
                  for n in QUANTITIES},
               **{f"{who}_coefficients_{n}": np.asarray(results[who][n]["quadratic"]) for who in results
                  for n in QUANTITIES},
               **{f"twovn_agrees_with_exact_{n}": int(verdict[n]) for n in QUANTITIES},
               "W_per_D_equal_resonance_shift": shift_ratio, "resonance_shift_wide": shift_wide,
               **{f"twovn_shift_fit_intercept_{n}": shift_fits[n][0] for n in QUANTITIES},
               **{f"twovn_shift_fit_intercept_error_{n}": shift_fits[n][1] for n in QUANTITIES},
               **{f"W_per_D_equal_slope_{n}": slope_ratio[n] for n in QUANTITIES},
               "heom_pade": pade, "machine": repr(machine)})
    figure = plot(dataset, results, exact, exact_error, depth, grid_error, shift_fits, shift_wide)
    save(folder, "bandwidth_2vn", dataset, figure)
    print(f"total {time.perf_counter() - start:.0f} s")


def plot(data: xr.Dataset, results: dict[str, dict[str, dict[str, object]]], exact: dict[str, float],
         exact_error: dict[str, float], depth: int, grid_error: dict[str, float],
         shift_fits: dict[str, tuple[float, float, np.ndarray]], shift_wide: float) -> plt.Figure:
    """Left: C(0,1) and I_hot against 1/D (1/W) with the fits and the exact wide band.

    Right: the same against the second-order resonance detuning δ* of each band (flat: D-dependent; Lorentzian:
    nearly the wide band's), with 2vN's quadratic fit in it.
    """
    figure, axes = plt.subplots(2, 2, figsize=(13, 9))
    x_fine = np.linspace(0, 1.1 / FIT_MIN_WIDTH, 200)  # the fits are drawn over their own range only
    with np.errstate(divide="ignore"):
        widths_fine = 1.0 / x_fine
    ylabels = {"concurrence": "C(0,1)", "I_hot": "I_hot  [energy units, ħ = 1]"}
    for row, name in enumerate(("concurrence", "I_hot")):
        axis = axes[row, 0]
        axis.errorbar(1 / data.D, data[f"twovn_{name}"], yerr=grid_error[name], fmt="o", color="tab:blue",
                      label="2vN, flat band [−D, D]")
        for label, colour, coefficients in (("2vN fit a + b/D + c/D² (D ≥ 100)", "tab:blue",
                                             results["2vN"][name]["quadratic"]),
                                            ("HEOM fit (W ≥ 100)", "tab:red", results["HEOM"][name]["quadratic"])):
            axis.plot(x_fine, evaluate(coefficients, widths_fine), "-", color=colour, lw=1, label=label)
        axis.plot(x_fine, evaluate(results["2vN"][name]["linear"], widths_fine), ":", color="tab:blue", lw=1,
                  label="2vN linear fit (3 widest)")
        for i, d in enumerate(data.depth.values):
            axis.plot(1 / data.W, data[f"heom_{name}"].isel(depth=i), "s" if d == depth else "x", color="tab:red",
                      mfc="none" if d != depth else None,
                      label=f"HEOM, Lorentzian W at each μ (depth {d}, Padé {data.attrs['heom_pade']})")
        axis.errorbar([0], [exact[name]], yerr=[exact_error[name]], fmt="*", color="k", ms=10, capsize=4,
                      label="exact wide band (HEOM)")
        axis.axhspan(exact[name] - exact_error[name], exact[name] + exact_error[name], color="k", alpha=0.12)
        axis.set_xlabel("1/D (2vN), 1/W (HEOM)  [1/energy]")
        axis.set_ylabel(ylabels[name])
        shown = np.concatenate([data[f"twovn_{name}"].values, data[f"heom_{name}"].values.ravel(), [exact[name]]])
        margin = 0.08 * (shown.max() - shown.min())
        axis.set_ylim(shown.min() - margin, shown.max() + margin)
        axis.set_xlim(left=-0.001)
        axis = axes[row, 1]
        flat_detuning = shift_wide + data.flat_resonance_shift.values
        axis.errorbar(flat_detuning, data[f"twovn_{name}"], yerr=grid_error[name], fmt="o", color="tab:blue",
                      label="2vN, flat band D (δ* of D)")
        for d, x, y in zip(data.D.values, flat_detuning, data[f"twovn_{name}"].values, strict=True):
            axis.annotate(f"D = {d:g}", (x, y), xytext=(4, 4), textcoords="offset points", fontsize=7)
        fine = np.linspace(min(shift_wide, flat_detuning.min()) - 3e-4, flat_detuning.max() + 3e-4, 200)
        axis.plot(fine, np.polynomial.polynomial.polyval(fine - shift_wide, shift_fits[name][2]), "-",
                  color="tab:blue", lw=1, label="2vN quadratic in δ*")
        axis.plot(shift_wide + data.lorentzian_resonance_shift.values, data[f"heom_{name}"].sel(depth=depth), "s",
                  color="tab:red", label="HEOM, Lorentzian W (δ* of W)")
        axis.errorbar([shift_wide], [exact[name]], yerr=[exact_error[name]], fmt="*", color="k", ms=10, capsize=4,
                      label="exact wide band (δ* wide)")
        axis.axvline(0, color="grey", lw=0.8, ls="--")
        axis.set_xlabel("second-order resonance detuning δ* of the band  [energy]")
        axis.set_ylabel(ylabels[name])
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[0, 1].legend(fontsize=7)
    figure.suptitle("Fig. 3 point (U = 15, μ = 8, T = ε = 1, g = 0.05, γ = 0.1): 2vN on flat bands [−D, D] vs HEOM "
                    "on Lorentzian bands W centred at each μ")
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    main()
