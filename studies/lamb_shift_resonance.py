"""Lamb-shift resonance shift against γ, with the exact (HEOM) resonance as the reference.

The detuning δ* of qubit 2 (ε2 = ε + δ) that maximises the concurrence,
against γ = γ1 = γ3, for the local Lindblad equation, QmeQ's 1vN and Redfield with and without
principal-value (Lamb-shift) terms, 2vN, and HEOM (exact). Fig. 3 point otherwise (U = 15, μ = 8,
T = ε = 1, g = 0.05).

The local Lindblad resonance is at δ* = 0 by symmetry; dropping the principal parts must bring 1vN and
Redfield back to δ* = 0; the remaining shift of the full approaches is the Lamb shift.

2vN is solved on a fixed energy grid per γ, so that C(δ) is a smooth function for the optimiser (a grid
refined separately at every δ would add steps to it): spacing min(T, 2γ) (``fixed_grid_options``) and, as
the convergence check, half that spacing, both with 10 iterations on the default bandwidth D = 93.3.
The difference between the two 2vN rows is the grid error of δ*. The second-order level-shift estimates
(``transportbench.level_shifts``, wide band and band [−D, D]) are stored and drawn beside them.

HEOM, for the same reason, runs with a fixed hierarchy (``converge=False``): Padé 10, depth 2, wide band
extrapolated in 1/W from W = 373.2, 746.4, 1493 (4 × the backend's default width; the extrapolation leaves
a band error that the same extrapolation of the level-shift estimate measures: ``heom_band_error``). The
bracket is centred on the wide-band estimate (±0.005, 5 points). At γ = 0.1 and 0.2 the rows
"heom, Padé 14", "heom, depth 3" and "heom, 2 × W" repeat the search with one setting raised: their
differences from "heom" are the Padé, depth and band errors of δ*. The noise of C(δ) (the rms residual
of a quartic fit through 9 solves within ±4e-4 of δ* at γ = 0.1) and the curvature of C(δ) give the
smallest meaningful ``precision`` of δ*, sqrt(noise / curvature) (``precision_floor``).

Found (HEOM rows and first-order rows of 2026-11-26; see docs/findings/lamb_shift.md): at γ ≤ 0.05 exact δ* is
within 0.7 % of the wide-band estimate (δ*/γ = −0.0229 against −0.0230), 1vN within 2 %; at γ = 0.1 and 0.2 exact |δ*|
grows faster than linearly (+0.8 %, +3.2 % beyond the estimate) while 1vN falls short (−2.5 %, −2.7 %):
exact and 1vN part by 7e-5 (3 %) at γ = 0.1. Padé 14, depth 3 and 2 × W move δ* by ≤ 1.4e-6.
"""

from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments

from transportbench.backends import heom
from transportbench.backends.qmeq import default_bandwidth, fixed_grid_options
from transportbench.comparison import solve, summarize
from transportbench.level_shifts import extrapolation_band_error, resonance_shift_estimate
from transportbench.model import Band, Machine
from transportbench.scans import resonance_error_bar, resonance_vs_gamma

TWO_VN_ITERATIONS = 10  # at γ = 0.1, kpnt = 935: δ* moves by < 1e-6 between 6, 10 and 20 iterations
HEOM_PADE, HEOM_DEPTH, HEOM_WIDTH_FACTOR = 10, 2, 4.0
"""The fixed hierarchy of the exact rows: Padé terms, depth, wide_band_width in units of the default W."""
HEOM_SEARCH = {"centre": resonance_shift_estimate, "half_width": 0.005, "grid": 5, "precision": 1e-7,
               "current": False}
"""The exact search: a bracket ±0.005 around the wide-band estimate, refined to 1e-7 (see precision_floor)."""


def fixed_grid(halvings: int):
    """2vN options on the grid of spacing min(T, 2γ) / 2**halvings for the machine at each γ."""
    return lambda machine: fixed_grid_options(machine, halvings=halvings, niter=TWO_VN_ITERATIONS)


EXACT = partial(heom.fixed_hierarchy_options, pade=HEOM_PADE, depth=HEOM_DEPTH, width_factor=HEOM_WIDTH_FACTOR)
"""The exact rows' options at each machine (a fixed hierarchy: a smooth C(δ)); its checks change one setting."""


def precision_floor(machine: Machine, centre: float, span: float = 4e-4, points: int = 9) -> dict[str, float]:
    """Noise and curvature of the exact C(δ) near its maximum, and the δ resolution sqrt(noise / curvature)."""
    deltas = centre + np.linspace(-span, span, points)
    options = EXACT(machine)
    values = np.array([summarize(solve(machine.detuned({1: d}), "heom",
                                       **options))["concurrence"] for d in deltas])
    quartic = np.polyfit(deltas - centre, values, 4)
    noise = float(np.sqrt(np.mean((values - np.polyval(quartic, deltas - centre)) ** 2)))
    curvature = float(-quartic[2])  # C ≈ C* − curvature (δ − δ*)²
    return {"noise": noise, "curvature": curvature, "floor": float(np.sqrt(max(noise, 1e-16) / curvature))}


def main() -> None:
    args = study_arguments(__doc__)
    machine = Machine.triple_dot()
    gammas = np.array([0.02, 0.05, 0.1]) if args.quick else np.array([0.01, 0.02, 0.05, 0.1, 0.2])
    first_order = ["local", "qmeq:1vN", "qmeq:1vN-no-lamb", "qmeq:Redfield", "qmeq:Redfield-no-lamb"]
    no_lamb = {"lamb_shift": False}
    table = resonance_vs_gamma(machine, first_order, gammas, precision=1e-6,
                               options={"qmeq:1vN-no-lamb": no_lamb, "qmeq:Redfield-no-lamb": no_lamb},
                               specs={name: name.replace("-no-lamb", "") for name in first_order})
    # 2vN: fewer γ (the grid grows as 1/γ), a narrower bracket (δ* is within ±0.01 here), precision 1e-5 (the
    # size of its grid error) and no current search (it would double the solves)
    two_vn_gammas = np.array([0.1]) if args.quick else np.array([0.05, 0.1, 0.2])
    two_vn = {"qmeq:2vN": fixed_grid(0)} if args.quick else {"qmeq:2vN": fixed_grid(0),
                                                              "qmeq:2vN-half-spacing": fixed_grid(1)}
    two_vn_table = resonance_vs_gamma(machine, list(two_vn), two_vn_gammas, options=two_vn,
                                      specs={name: "qmeq:2vN" for name in two_vn}, precision=1e-5,
                                      half_width=0.04, grid=9, current=False)
    # exact: the fixed hierarchy at every γ, and at γ = 0.1 (and 0.2) one setting raised at a time
    heom_gammas = np.array([0.1]) if args.quick else gammas
    exact = resonance_vs_gamma(machine, ["heom"], heom_gammas, options={"heom": EXACT}, **HEOM_SEARCH)
    checks = {"heom, 2 × W": partial(EXACT, width_factor=2 * HEOM_WIDTH_FACTOR)}
    if not args.quick:
        checks.update({"heom, Padé 14": partial(EXACT, pade=HEOM_PADE + 4),
                       "heom, depth 3": partial(EXACT, depth=HEOM_DEPTH + 1)})
    check_gammas = np.array([0.1]) if args.quick else np.array([0.1, 0.2])
    exact_checks = resonance_vs_gamma(machine, list(checks), check_gammas, options=checks,
                                      specs={name: "heom" for name in checks}, **HEOM_SEARCH)
    table = xr.concat([table, two_vn_table, exact, exact_checks], dim="approach", join="outer")
    table.attrs["two_vn_grid"] = (f"fixed grid per gamma: spacing min(T, 2 gamma) / 2**k (k = 0, and 1 for the "
                                  f"half-spacing row) on the default bandwidth, {TWO_VN_ITERATIONS} iterations")
    table.attrs["heom"] = (f"fixed hierarchy: pade {HEOM_PADE}, depth {HEOM_DEPTH}, wide band extrapolated in 1/W "
                           f"from W, 2W, 4W with W = {HEOM_WIDTH_FACTOR:g} x the default width; rows 'heom, ...' "
                           "raise one setting (Pade terms + 4, depth + 1, W x 2); bracket +-0.005 around the "
                           "wide-band estimate, precision 1e-7")
    band = default_bandwidth(machine)
    estimates = {"wide band": Band.wide(), f"D = {band:.4g}": Band.flat(band)}
    at_gamma = [machine.with_parameters(gamma=g) for g in table.gamma.values]
    estimate = [[resonance_shift_estimate(m.with_band(lead)) for m in at_gamma] for lead in estimates.values()]
    table = table.assign(estimate=(("band", "gamma"), estimate,
                                   {"long_name": "second-order level-shift estimate of delta_star", "units": "energy"}))
    table = table.assign_coords(band=list(estimates))
    wide = table.estimate.sel(band="wide band")
    table["relative_to_estimate"] = (table.delta_star / wide - 1).assign_attrs(
        long_name="delta_star / wide-band estimate - 1")
    band_errors = [extrapolation_band_error(m, HEOM_WIDTH_FACTOR * heom.default_band_width(m)) for m in at_gamma]
    table["heom_band_error"] = ("gamma", band_errors, {
        "long_name": "band error of HEOM's extrapolation, measured on the level-shift estimate", "units": "energy"})
    table["heom_error"] = resonance_error_bar(table, "heom", table.heom_band_error, "heom, 2 × W",
                                              [name for name in checks if name != "heom, 2 × W"]).assign_attrs(
        long_name="error bar of HEOM's delta_star: |heom_band_error| (or the 2 x W row's change, where larger) + "
                  "the Pade-14 and depth-3 rows' changes where solved", units="energy")
    floor = precision_floor(machine.with_parameters(gamma=0.1), float(exact.delta_star.sel(gamma=0.1)[0]))
    table.attrs.update({f"precision_{key}": value for key, value in floor.items()})

    print(table.delta_star.to_pandas().to_string(float_format=lambda x: f"{x:+.7f}"))
    print("hot-current minimum:")
    print(table.current_delta_star.to_pandas().to_string())
    print("fitted slopes d(delta*)/d(gamma):", table.slope.to_pandas().round(5).to_dict())
    print("level-shift estimates:")
    print(table.estimate.to_pandas().to_string())
    print("delta* / wide-band estimate - 1:")
    print(table.relative_to_estimate.to_pandas().to_string(float_format=lambda x: f"{x:+.4f}"))
    print("HEOM band error (estimate extrapolated like HEOM minus the wide-band estimate):",
          table.heom_band_error.to_pandas().map(lambda x: f"{x:.1e}").to_dict())
    print(f"exact C(delta) at gamma = 0.1: noise {floor['noise']:.1e}, curvature {floor['curvature']:.4g}; "
          f"meaningful precision of delta* >= {floor['floor']:.1e}")
    print("C at the exact resonance:", table.concurrence_max.sel(approach="heom").to_pandas().round(6).to_dict())

    figure, (axis, relative) = plt.subplots(1, 2, figsize=(11, 4))
    for name in table.approach.values:
        row = table.delta_star.sel(approach=name)
        if str(name).startswith("heom"):
            continue
        axis.plot(table.gamma[np.isfinite(row)], row[np.isfinite(row)], "o-", label=name, ms=4)
        if str(name) in ("qmeq:1vN", "qmeq:Redfield"):  # (2vN: against its finite-band estimate, left panel)
            shown = np.isfinite(row)
            relative.plot(table.gamma[shown], 100 * table.relative_to_estimate.sel(approach=name)[shown], "o-",
                          ms=4, color=axis.lines[-1].get_color(), label=name)
    for name, style in zip(estimates, ("k--", "k:"), strict=True):
        axis.plot(table.gamma, table.estimate.sel(band=name), style, lw=1, label=f"level-shift estimate, {name}")
    exact_row = table.delta_star.sel(approach="heom")
    shown = np.isfinite(exact_row)
    error = table.heom_error[shown]
    label = f"heom (exact) ± its error (≤ {float(error.max()):.1g})"
    axis.errorbar(table.gamma[shown], exact_row[shown], yerr=error, fmt="ks-", lw=2, capsize=3, label=label)
    relative.errorbar(table.gamma[shown], 100 * table.relative_to_estimate.sel(approach="heom")[shown],
                      yerr=100 * error / abs(wide[shown]), fmt="ks-", lw=2, capsize=3, label=label)
    relative.axhline(0, color="k", ls="--", lw=1, label="wide-band estimate")
    axis.set_xlabel("γ / ε")
    axis.set_ylabel("resonance detuning δ* / ε")
    axis.legend(fontsize=7)
    relative.set_xlabel("γ / ε")
    relative.set_ylabel("δ* / (wide-band estimate) − 1  (%)")
    relative.set_title("U = 15 ε, μ = 8 ε, T = ε, g = 0.05 ε", fontsize=9)
    relative.legend(fontsize=7)
    save(results_folder(args.results, "lamb_shift_resonance"), "resonance", table, figure)


if __name__ == "__main__":
    main()
