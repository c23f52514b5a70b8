"""The Fig. 3 point, exactly: C(0,1) and the hot currents with error bars, and every approach against them.

The Fig. 3 point is ``Machine.triple_dot()`` (U = 15, μ_hot = 8, μ_cold = 0, T = ε = 1, g = 0.05,
γ = 0.1, wide-band leads). The exact answer is HEOM on Lorentzian bands of half-width W (centred at each
lead's μ) extrapolated linearly in 1/W to the wide band. The convergence table solves every
(depth, Padé terms, W) of depth 2 and 3 × Padé 6, 8, 10, 12, 14 × W = W0, 2W0, 4W0, 8W0 (W0 = 93.3,
``heom.default_band_width``) that fits the memory budget, and depth 4 at Padé 6, each at fixed Padé and
depth (``converge=False``). Extrapolations in 1/W from the pairs (W0, 2W0), (2W0, 4W0), (4W0, 8W0) (and the
quadratic one through 2W0, 4W0, 8W0) are made from ρ and the currents, as the backend does.

The exact value is the (4W0, 8W0) extrapolation at depth 3 and the most Padé terms solved at depth 3. Its
error bar is the sum of three estimates (linear sum, conservative; the quadrature sum is stored too):
Padé = the change of the extrapolated value from the second-most to the most Padé terms at depth 3; depth =
the change from depth 3 to depth 4 at Padé 6 (or, without depth 4, from depth 2 to 3); band = the difference
between the (2W0, 4W0) and (4W0, 8W0) extrapolations. ``heom.solve_steady`` with its automatic
convergence (W0, 2W0, 4W0) is the cross-check.

Every registered approach (``backends.all_approaches()``) (2vN converged in its grid on the default flat band
D = 93.3, as the old ``si_2vn_check``) is then listed with ΔC and ΔI/I against the exact value and whether
the deviation exceeds the exact error bar. ``--quick``: depth 2 only and Padé 6, 10, 2vN on a fixed coarse grid.
"""

from __future__ import annotations

import math
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments
from tqdm.auto import tqdm

from transportbench.backends import all_approaches, heom
from transportbench.comparison import compare, format_notes, format_table
from transportbench.extrapolation import to_wide_band
from transportbench.model import Band, Machine
from transportbench.observables import concurrence, reduced_state
from transportbench.plot import error_bars
from transportbench.resources import ResourceBudgetError
from transportbench.result import SolveFailure

QUANTITIES = ("concurrence", "I_hot", "JE_hot")
LABELS = {"concurrence": "C(0,1)", "I_hot": "I_hot", "JE_hot": "J^E_hot"}
PAIRS = ((1, 2), (2, 4), (4, 8))
"""Pairs of multiples of W0 for the linear extrapolations in 1/W."""


def solve_lorentzian(machine: Machine, width: float, pade: int, depth: int) -> dict[str, object]:
    """One HEOM solve on Lorentzian leads of half-width ``width`` at fixed Padé terms and depth.

    Parameters
    ----------
    machine : Machine
        The machine; its leads are put on ``Band.lorentzian(width)`` (centred at each lead's μ).
    width : float
        Lorentzian half-width W (energy units).
    pade, depth : int
        Padé terms per lead and branch; hierarchy depth.

    Returns
    -------
    dict
        ``rho``, ``occupations``, ``model`` (the particle model of ``rho``), ``concurrence``, ``I_hot``
        (particle current from the hot lead, energy units), ``JE_hot`` (energy current, energy² units),
        ``ados``, ``seconds``.
    """
    result = heom.solve_steady(machine.with_band(Band.lorentzian(width)),
                               heom.HeomOptions(pade=pade, depth=depth, converge=False))
    return {"rho": result.rho, "occupations": result.occupations, "model": result.model,
            "concurrence": concurrence(result.reduced_state([0, 1])),
            "I_hot": result.particle_currents["hot"], "JE_hot": result.energy_currents["hot"],
            "ados": result.stats["ados"], "seconds": result.seconds}


def extrapolate(solves: list[dict[str, object]], widths: list[float]) -> dict[str, float]:
    """Polynomial extrapolation in 1/W to 1/W = 0 through the given solves (linear for two, quadratic for three).

    ρ and the currents are extrapolated; C(0,1) is the concurrence of the extrapolated ρ (as in the backend).
    """
    rho = to_wide_band([s["rho"] for s in solves], widths)
    out = {name: float(to_wide_band([s[name] for s in solves], widths)) for name in ("I_hot", "JE_hot")}
    out["concurrence"] = concurrence(reduced_state(rho, solves[0]["occupations"], [0, 1], solves[0]["model"]))
    return out


def convergence_table(machine: Machine, pades: list[int], depths: list[int], deep: tuple[int, int] | None,
                      factors: list[float]) -> xr.Dataset:
    """HEOM at every (depth, Padé, W) that fits the memory budget, and the 1/W extrapolations (NaN where refused)."""
    w0 = heom.default_band_width(machine)
    widths = [f * w0 for f in factors]
    all_depths = sorted(set(depths) | ({deep[0]} if deep else set()))
    jobs = [(d, p) for d in depths for p in pades] + ([(deep[0], deep[1])] if deep and deep[0] not in depths else [])
    shape = (len(all_depths), len(pades), len(widths))
    values = {name: np.full(shape, np.nan) for name in (*QUANTITIES, "ados", "seconds")}
    pair_labels = [f"{a:g}W0,{b:g}W0" for a, b in PAIRS] + ["2W0,4W0,8W0 quadratic"]
    extrapolated = {name: np.full((len(all_depths), len(pades), len(pair_labels)), np.nan) for name in QUANTITIES}
    refused: list[str] = []
    for depth, pade in tqdm(jobs, desc="HEOM (depth, pade)", unit="hierarchy"):
        i, j = all_depths.index(depth), pades.index(pade)
        solves: list[dict[str, object]] = []
        for k, width in enumerate(widths):
            try:  # solver "auto" falls back to the direct LU itself when GMRES fails and the LU fits the budget
                solve = solve_lorentzian(machine, width, pade, depth)
            except (ResourceBudgetError, SolveFailure) as refusal:
                refused.append(f"depth {depth}, pade {pade}, W = {width:g}: {refusal}")
                break
            solves.append(solve)
            for name in (*QUANTITIES, "ados", "seconds"):
                values[name][i, j, k] = solve[name]
        if len(solves) != len(widths):
            continue
        for m, (a, b) in enumerate(PAIRS):
            if a in factors and b in factors:
                ext = extrapolate([solves[factors.index(a)], solves[factors.index(b)]], [a * w0, b * w0])
                for name in QUANTITIES:
                    extrapolated[name][i, j, m] = ext[name]
        if all(f in factors for f in (2, 4, 8)):
            ext = extrapolate([solves[factors.index(f)] for f in (2, 4, 8)], [f * w0 for f in (2, 4, 8)])
            for name in QUANTITIES:
                extrapolated[name][i, j, len(PAIRS)] = ext[name]
    units = {"concurrence": "1", "I_hot": "energy unit (hbar = 1)", "JE_hot": "energy unit squared"}
    data = {name: (("depth", "pade", "width"), values[name], {"long_name": f"HEOM {LABELS[name]} on Lorentzian leads",
                                                               "units": units[name]}) for name in QUANTITIES}
    data.update({f"{name}_wide": (("depth", "pade", "extrapolation"), extrapolated[name],
                                  {"long_name": f"HEOM {LABELS[name]} extrapolated in 1/W to the wide band",
                                   "units": units[name]}) for name in QUANTITIES})
    data["ados"] = (("depth", "pade", "width"), values["ados"])
    data["seconds"] = (("depth", "pade", "width"), values["seconds"], {"units": "s"})
    return xr.Dataset(data, coords={"depth": all_depths, "pade": pades,
                                    "width": ("width", widths, {"long_name": "Lorentzian half-width W",
                                                                "units": "energy"}),
                                    "extrapolation": pair_labels},
                      attrs={"W0": w0, "refused": "; ".join(refused), "machine": repr(machine)})


def exact_value(table: xr.Dataset, deep: tuple[int, int] | None) -> tuple[dict[str, float], dict[str, dict[str, float]],
                                                                           dict[str, object]]:
    """The exact values, their error estimates per source, and the settings they come from."""
    best_pair = table.extrapolation.values[len(PAIRS) - 1]
    previous_pair = table.extrapolation.values[len(PAIRS) - 2]
    depth = int(table.depth.values[0])
    for candidate in sorted(table.depth.values, reverse=True):  # the deepest depth with two Padé values solved
        finite = np.isfinite(table.concurrence_wide.sel(depth=candidate, extrapolation=best_pair).values)
        if finite.sum() >= 2:
            depth = int(candidate)
            break
    at_depth = table.sel(depth=depth, extrapolation=best_pair)
    pades = [int(p) for p in table.pade.values if np.isfinite(at_depth.concurrence_wide.sel(pade=p))]
    pade, previous_pade = pades[-1], pades[-2]
    exact, errors = {}, {"pade": {}, "depth": {}, "band": {}}
    depth_source = ""
    for name in QUANTITIES:
        wide = table[f"{name}_wide"]
        value = float(wide.sel(depth=depth, pade=pade, extrapolation=best_pair))
        exact[name] = value
        errors["pade"][name] = abs(value - float(wide.sel(depth=depth, pade=previous_pade, extrapolation=best_pair)))
        errors["band"][name] = abs(value - float(wide.sel(depth=depth, pade=pade, extrapolation=previous_pair)))
        deeper = deep is not None and deep[0] > depth and np.isfinite(
            float(wide.sel(depth=deep[0], pade=deep[1], extrapolation=best_pair)))
        if deeper:
            errors["depth"][name] = abs(float(wide.sel(depth=deep[0], pade=deep[1], extrapolation=best_pair))
                                        - float(wide.sel(depth=depth, pade=deep[1], extrapolation=best_pair)))
            depth_source = f"depth {depth} -> {deep[0]} at Pade {deep[1]}"
        else:
            shallower = depth - 1
            errors["depth"][name] = abs(value - float(wide.sel(depth=shallower, pade=pade, extrapolation=best_pair)))
            depth_source = f"depth {shallower} -> {depth} at Pade {pade} (no deeper hierarchy)"
    settings = {"depth": depth, "pade": pade, "previous_pade": previous_pade, "extrapolation": str(best_pair),
                "depth_error_from": depth_source}
    return exact, errors, settings


def main() -> None:
    args = study_arguments(__doc__)
    start = time.perf_counter()
    machine = Machine.triple_dot()
    if args.quick:
        pades, depths, deep, factors = [6, 10], [2], None, [1.0, 2.0, 4.0, 8.0]
    else:
        pades, depths, deep, factors = [6, 8, 10, 12, 14], [2, 3], (4, 6), [1.0, 2.0, 4.0, 8.0]
    table = convergence_table(machine, pades, depths, deep, factors)
    if args.quick:  # one depth only: the depth error of the quick run comes from a depth-3 Padé-6 row
        extra = convergence_table(machine, [6], [3], None, factors)
        table = xr.concat([table, extra], dim="depth", join="outer")
        deep = (3, 6)
    exact, errors, settings = exact_value(table, deep)
    total = {name: sum(errors[source][name] for source in errors) for name in QUANTITIES}
    quadrature = {name: math.sqrt(sum(errors[source][name] ** 2 for source in errors)) for name in QUANTITIES}

    print(f"HEOM convergence table at the Fig. 3 point (W0 = {table.attrs['W0']:g}; fixed Padé and depth)")
    for name in QUANTITIES:
        print(f"\n{LABELS[name]} on Lorentzian leads; columns W = {', '.join(f'{w:g}' for w in table.width.values)}, "
              f"then the extrapolations {', '.join(table.extrapolation.values)}")
        for depth in table.depth.values:
            for pade in table.pade.values:
                row = list(table[name].sel(depth=depth, pade=pade).values) + list(
                    table[f"{name}_wide"].sel(depth=depth, pade=pade).values)
                if np.isfinite(row).any():
                    print(f"  depth {depth} pade {pade:2d}: " + "  ".join(f"{v:.6g}" for v in row))
    if table.attrs["refused"]:
        print(f"\nrefused or failed: {table.attrs['refused']}")
    print(f"\nexact (depth {settings['depth']}, Padé {settings['pade']}, 1/W extrapolation "
          f"{settings['extrapolation']}):")
    for name in QUANTITIES:
        print(f"  {LABELS[name]:8s} = {exact[name]:.6g} ± {total[name]:.2g} (Padé {errors['pade'][name]:.1g}, "
              f"depth {errors['depth'][name]:.1g}, band {errors['band'][name]:.1g}; quadrature {quadrature[name]:.2g})")
    print(f"  depth error from {settings['depth_error_from']}; Padé error from Padé {settings['previous_pade']} -> "
          f"{settings['pade']}")

    # the automatic cross-check solves the wide band in the hierarchy (the table above extrapolates in 1/W)
    options = {"qmeq:2vN": {"converge": False, "kpnt": 1001}} if args.quick else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every warning is recorded in the table's "warnings" column
        approaches = compare(machine, all_approaches(), options=options)
    print()
    print(format_table(approaches))
    print(format_notes(approaches))
    hot = list(approaches.reservoir.values).index("hot")
    c = approaches.concurrence.values
    current = approaches.particle_current.values[:, hot]
    energy = approaches.energy_current.values[:, hot]
    units = {"I_hot": "energy unit (hbar = 1)", "JE_hot": "energy unit squared"}
    own_errors = {"C_uncertainty": ("approach", approaches.concurrence_uncertainty.values,
                                    {"long_name": "the approach's own error estimate of C(0,1) (HEOM, 2vN; NaN for "
                                                  "the others)"}),
                  **{f"{name}_uncertainty": ("approach", error_bars(approaches, variable).values[:, hot],
                                             {"long_name": f"the approach's own error estimate of {LABELS[name]} "
                                                           "(HEOM, 2vN; NaN for the others)", "units": units[name]})
                     for name, variable in (("I_hot", "particle_current"), ("JE_hot", "energy_current"))}}
    comparison = xr.Dataset(
        {"concurrence": ("approach", c), "I_hot": ("approach", current), "JE_hot": ("approach", energy),
         **own_errors,
         "delta_C": ("approach", c - exact["concurrence"], {"long_name": "C(0,1) minus exact"}),
         "relative_delta_I": ("approach", current / exact["I_hot"] - 1, {"long_name": "I_hot / exact - 1"}),
         "relative_delta_JE": ("approach", energy / exact["JE_hot"] - 1, {"long_name": "J^E_hot / exact - 1"}),
         "C_beyond_error": ("approach", np.abs(c - exact["concurrence"]) > total["concurrence"]),
         "I_beyond_error": ("approach", np.abs(current - exact["I_hot"]) > total["I_hot"]),
         "status": approaches.status, "seconds": approaches.seconds, "notes": approaches.notes,
         "warnings": approaches.warnings},
        coords={"approach": approaches.approach.values},
        attrs={**{f"exact_{name}": exact[name] for name in QUANTITIES},
               **{f"error_{name}": total[name] for name in QUANTITIES},
               **{f"error_{name}_quadrature": quadrature[name] for name in QUANTITIES},
               **{f"error_{name}_{source}": errors[source][name] for source in errors for name in QUANTITIES},
               **{f"exact_{key}": str(value) for key, value in settings.items()},
               "error_combination": "linear sum of the Pade, depth and band estimates"})
    print(f"\nEvery approach against the exact value (C = {exact['concurrence']:.5f} ± {total['concurrence']:.1g}, "
          f"I_hot = {exact['I_hot']:.4e} ± {total['I_hot'] / exact['I_hot']:.1%})")
    print("| approach | C(0,1) | ΔC | |ΔC| > error | I_hot | ΔI/I | |ΔI| > error | ΔJ^E/J^E | status |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, name in enumerate(comparison.approach.values):
        row = comparison.isel(approach=k)
        print(f"| {name} | {float(row.concurrence):.5f} | {float(row.delta_C):+.2g} | "
              f"{'yes' if bool(row.C_beyond_error) else 'no'} | {float(row.I_hot):.4g} | "
              f"{float(row.relative_delta_I):+.1%} | {'yes' if bool(row.I_beyond_error) else 'no'} | "
              f"{float(row.relative_delta_JE):+.1%} | {str(row.status.values)} |")

    figure = plot(table, comparison, exact, total, settings)
    folder = results_folder(args.results, "fig3_point_exact")
    save(folder, "heom_convergence", table)
    save(folder, "fig3_point_exact", comparison, figure)
    print(f"total {time.perf_counter() - start:.0f} s")


def plot(table: xr.Dataset, comparison: xr.Dataset, exact: dict[str, float], total: dict[str, float],
         settings: dict[str, object]) -> plt.Figure:
    """Left: C against Padé terms per depth and W, with the extrapolations and the exact band.

    Right: every approach's ΔC and ΔI/I with the exact error bar, and the approach's own error bar where it has
    one (HEOM's automatic convergence, 2vN).
    """
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1.3, 1, 1]})
    axis = axes[0]
    colours = plt.cm.viridis(np.linspace(0, 0.85, table.width.size))
    styles = {2: ":", 3: "-", 4: "--"}
    markers = {2: "s", 3: "o", 4: "^"}
    for depth in table.depth.values:
        for k, width in enumerate(table.width.values):
            series = table.concurrence.sel(depth=depth, width=width)
            mask = np.isfinite(series.values)
            if mask.any():
                axis.plot(table.pade.values[mask], series.values[mask], styles.get(int(depth), "-"),
                          marker=markers.get(int(depth), "o"), color=colours[k], ms=4,
                          label=f"W = {width:.4g}" if int(depth) == settings["depth"] else None)
        wide = table.concurrence_wide.sel(depth=depth, extrapolation=settings["extrapolation"])
        mask = np.isfinite(wide.values)
        if mask.any():
            axis.plot(table.pade.values[mask], wide.values[mask], styles.get(int(depth), "-"),
                      marker=markers.get(int(depth), "o"), color="crimson", ms=5,
                      label=f"1/W → 0 ({settings['extrapolation']}), depth {depth}")
    axis.axhspan(exact["concurrence"] - total["concurrence"], exact["concurrence"] + total["concurrence"],
                 color="crimson", alpha=0.2, label="exact ± error")
    axis.set_xlabel("Padé terms per lead and branch")
    axis.set_ylabel("C(0,1)")
    axis.set_title("HEOM: depth 2 (dotted), 3 (solid), 4 (dashed)")
    axis.legend(fontsize=6, ncol=2, loc="center", bbox_to_anchor=(0.55, 0.47))
    names = [str(a) for a in comparison.approach.values]
    y = np.arange(len(names))
    for axis, key, error, own, label in ((axes[1], "delta_C", total["concurrence"], comparison.C_uncertainty.values,
                                          "ΔC(0,1) = C − C_exact"),
                                         (axes[2], "relative_delta_I", total["I_hot"] / exact["I_hot"],
                                          comparison.I_hot_uncertainty.values / abs(exact["I_hot"]),
                                          "ΔI_hot / I_hot, exact")):
        values = comparison[key].values
        colours_bar = ["tab:green" if s == "ok" else "tab:orange" for s in comparison.status.values]
        axis.barh(y, values, color=colours_bar)
        estimated = np.isfinite(own)
        if estimated.any():
            axis.errorbar(values[estimated], y[estimated], xerr=own[estimated], fmt="none", ecolor="k", elinewidth=1,
                          capsize=3, label="the approach's own error bar")
        for position, value, bar in zip(y, values, own, strict=True):  # small deviations and bars: write them
            text = f"{value:+.1%}" if key == "relative_delta_I" else f"{value:+.2g}"
            if np.isfinite(bar):
                text += f" ± {100 * bar:.2g}%" if key == "relative_delta_I" else f" ± {bar:.1g}"
            axis.annotate(text, (max(value, 0.0), position), xytext=(3, 0), textcoords="offset points", ha="left",
                          va="center", fontsize=7)  # right of the bar or of zero: clear of the approach names
        axis.margins(x=0.4)  # room for the numbers beside the bars
        axis.axvspan(-error, error, color="crimson", alpha=0.25, label="exact error bar")
        axis.axvline(0, color="k", lw=0.8)
        axis.set_yticks(y, names if axis is axes[1] else [""] * len(names))
        axis.set_xlabel(label)
        if key == "relative_delta_I":
            axis.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # below: clear of the bars
    axes[1].set_title("green: status ok; orange: health flags")
    figure.suptitle(f"Fig. 3 point (U = 15, μ = 8, T = ε = 1, g = 0.05, γ = 0.1): exact C = "
                    f"{exact['concurrence']:.5f} ± {total['concurrence']:.1g}, I_hot = {exact['I_hot']:.4e} ± "
                    f"{total['I_hot'] / exact['I_hot']:.1%} (energy units)")
    figure.tight_layout()
    return figure


if __name__ == "__main__":
    main()
