"""Where the approximations fail against the exact answer, and what ``validate_regime`` says there.

Two maps at T = ε = 1, U = 15, wide-band leads, against HEOM (the wide band in the hierarchy; Padé terms,
then depth, raised automatically until C moves by < 1e-4 and the currents by < 1 %; a point where a budget
stopped the depth step is flagged ``heom_converged`` = False):

* (γ, g) at the Fig. 3 point (μ_hot = 8, μ_cold = 0): γ1 = γ3 = γ = 0.1 × 2^k, g13 = g23 = g = 0.05 × 2^k
  (7 × 7, k = −4…2 and −3…3; ``--quick``: 3 × 3 with a fixed Padé 6, depth 2 hierarchy). Local Lindblad
  (paper Eq. 2), QmeQ's Pauli and 1vN on every point; 2vN (flat band D = 3 × the energy scale, energy grid
  converged per point) on γ ∈ {0.1, 0.4}, g ∈ {0.05, 0.2} (at γ = 0.025 one point took 3 min and its grid
  did not converge in 8193 points; ``--quick``: the Fig. 3 point on one fixed grid).
* Detuning: qubit 0 (the paper's qubit 1) at ε + Δ, Δ ∈ {0} ∪ [0.005, 0.5] (7 log-spaced), γ ∈ {0.025,
  0.1, 0.4}, g = 0.05, at the Fig. 3 point and at equilibrium (μ_hot = μ_cold = 0, T = 1 everywhere).
  At equilibrium HEOM runs on a fixed hierarchy (Padé 10, depth 2: the automatic convergence measures
  currents relative to themselves, which are ~0 there; depth 3 moves the equilibrium current from
  −2.6e-8 to −2.7e-11 at Δ = 0.05, γ = 0.1); local, Pauli and 1vN on the same points. (HEOM's GMRES did
  not converge at four detuned γ = 0.4 points and at γ = 0.4, g = 0.1 on the map; the backend's direct-LU
  fallback solved them.)

Error measures per point: |ΔC| = |C − C_HEOM| and the relative current error |ΔI_hot| / |I_hot,HEOM|. At
equilibrium the exact current vanishes, so the current error there is |ΔI_hot| / I_work, I_work the exact
working current of the undetuned Fig. 3 machine at the same γ and g. An approach counts as wrong when the
error exceeds ``TOLERANCE`` (1 %) and HEOM's own error estimate (Padé + depth steps; at equilibrium
HEOM's own |I_hot|, which should be 0).

``validate_regime`` gives two verdicts per machine (state/concurrence and currents); the confusion table of
each against the exact error of the local equation is printed for all points of both maps together (the
three Δ = 0 points of the Fig. 3 setting repeat map points). Its thresholds were calibrated on these data.

Figures: ``regime_map`` (|ΔC| and current error per approach over (γ, g), the validator's verdict
boundaries), ``regime_detuning`` (errors against Δ; the spurious equilibrium current of the local equation).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments

from transportbench.figures import PAPER, ErrorBar
from transportbench.model import Machine
from transportbench.regime import THRESHOLDS, validate_regime
from transportbench.sweeps import sweep

EXACT = "heom"
CHEAP = ["local", "qmeq:Pauli", "qmeq:1vN"]
TWOVN = "qmeq:2vN"
LABELS = {"local": "local (Eq. 2)", "qmeq:Pauli": "Pauli", "qmeq:1vN": "1vN", TWOVN: "2vN (D = 3 × scale)"}
TOLERANCE = 1e-2
"""|ΔC| and relative current error above which an approach is wrong (if also above HEOM's error)."""
FIGURES = (*PAPER, ErrorBar("concurrence", name="reference_uncertainty_C"),
           ErrorBar("currents", name="reference_uncertainty_I"))
"""The paper's figures and every approach's own error estimate (HEOM's is read as the reference's error bar)."""
EQUILIBRIUM_HEOM = {"pade": 10, "depth": 2, "converge": False}
VERDICTS = ("valid", "marginal", "violated")


def errors(table: xr.Dataset, exact: xr.Dataset, current_scale: xr.DataArray | None = None) -> xr.Dataset:
    """|ΔC| and the current error of every approach in ``table`` against ``exact`` (HEOM rows), per point.

    The current error is |ΔI_hot| / |I_hot,exact|, or |ΔI_hot| / ``current_scale`` when given.
    """
    reference = exact.sel(approach=EXACT)
    current = table.particle_current.sel(reservoir="hot")
    exact_current = reference.particle_current.sel(reservoir="hot")
    scale = abs(exact_current) if current_scale is None else current_scale
    return xr.Dataset({
        "concurrence_error": abs(table.concurrence - reference.concurrence),
        "current_error": abs(current - exact_current) / scale,
        "heom_concurrence_error": reference.reference_uncertainty_C,
        "heom_current_error": reference.reference_uncertainty_I * abs(exact_current).max() / scale
        if current_scale is not None else reference.reference_uncertainty_I,
        "heom_converged": reference.converged,
    })


def wrong(data: xr.Dataset, quantity: str) -> xr.DataArray:
    """Whether the error exceeds ``TOLERANCE`` and HEOM's own error estimate."""
    error, floor = data[f"{quantity}_error"], data[f"heom_{quantity}_error"].fillna(0.0)
    return (error > TOLERANCE) & (error > floor)


def verdicts(machines: list[Machine]) -> dict[str, list]:
    """Both verdicts and the worst ratio of every condition for each machine."""
    out: dict[str, list] = {"verdict_concurrence": [], "verdict_current": [], "worst_ratio": []}
    names = tuple(THRESHOLDS)
    for name in names:
        out[f"ratio_{name.replace(' ', '_')}"] = []
    for machine in machines:
        verdict = validate_regime(machine)
        out["verdict_concurrence"].append(verdict.concurrence_status)
        out["verdict_current"].append(verdict.current_status)
        out["worst_ratio"].append(verdict.worst_ratio)
        for name in names:
            ratios = [c.ratio for c in verdict.conditions if c.name == name]
            out[f"ratio_{name.replace(' ', '_')}"].append(max(ratios, default=0.0))
    return out


def attach_verdicts(data: xr.Dataset, machines: np.ndarray) -> xr.Dataset:
    """``data`` with the validator's verdicts and ratios at each point (machines shaped like the point grid)."""
    dims = [d for d in data.concurrence_error.dims if d != "approach"]
    found = verdicts(list(machines.ravel()))
    shape = machines.shape
    return data.assign({name: (dims, np.array(values).reshape(shape)) for name, values in found.items()})


def confusion(status: np.ndarray, bad: np.ndarray, known: np.ndarray) -> dict[str, tuple[int, int]]:
    """Counts per verdict: (error ≤ tolerance, error > tolerance), over the points with a known error."""
    return {v: (int(((status == v) & ~bad & known).sum()), int(((status == v) & bad & known).sum()))
            for v in VERDICTS}


def print_confusion(title: str, counts: dict[str, tuple[int, int]]) -> None:
    """A Markdown table of one confusion matrix."""
    print(f"\n{title}\n| verdict | error ≤ 1 % | error > 1 % |\n|---|---|---|")
    for verdict in VERDICTS:
        fine, bad = counts[verdict]
        print(f"| {verdict} | {fine} | {bad} |")


def run_map(args, folder) -> xr.Dataset:
    """The (γ, g) map: every approach and HEOM, errors and verdicts."""
    base = Machine.triple_dot()
    if args.quick:
        axes = {"gamma": np.array([0.025, 0.1, 0.4]), "g": np.array([0.0125, 0.05, 0.2])}
        sub = {"gamma": np.array([0.1]), "g": np.array([0.05])}
        heom_options, twovn_options = {"pade": 6, "depth": 2, "converge": False}, {"converge": False, "kpnt": 401}
    else:
        axes = {"gamma": 0.1 * 2.0 ** np.arange(-4, 3), "g": 0.05 * 2.0 ** np.arange(-3, 4)}
        sub = {"gamma": np.array([0.1, 0.4]), "g": np.array([0.05, 0.2])}
        heom_options, twovn_options = {}, {"check_bandwidth": False}
    # a failed point (e.g. a GMRES that does not converge, minutes per attempt) stays failed on a rerun
    table = sweep(base, axes, [EXACT, *CHEAP], path=folder / "map_sweep.nc", workers=1, replace_stale=True,
                  figures=FIGURES, options={EXACT: heom_options}, retry_failed=False)
    twovn = sweep(base, sub, [TWOVN], path=folder / "map_2vn.nc", workers=1, replace_stale=True,
                  options={TWOVN: twovn_options}, retry_failed=False)
    twovn = twovn.reindex(gamma=axes["gamma"], g=axes["g"], method="nearest", tolerance=1e-9)
    both = xr.concat([table.drop_vars(["reference_uncertainty_C", "reference_uncertainty_I"]), twovn],
                     dim="approach", join="outer", data_vars="minimal", coords="minimal", compat="override")
    both = both.sel(approach=[*CHEAP, TWOVN])
    data = errors(both[["concurrence", "particle_current"]], table)
    data = data.assign(concurrence=both.concurrence, current_hot=both.particle_current.sel(reservoir="hot"),
                       heom_seconds=table.seconds.sel(approach=EXACT),
                       heom_warnings=table.warnings.sel(approach=EXACT))
    machines = np.array([[base.with_parameters(gamma=gamma, g=g) for g in axes["g"]] for gamma in axes["gamma"]],
                        dtype=object)
    return attach_verdicts(data, machines)


def run_detuning(args, folder) -> xr.Dataset:
    """The detuning map at the Fig. 3 point and at equilibrium."""
    deltas = np.concatenate([[0.0], np.geomspace(0.005, 0.5, 3 if args.quick else 7)])
    gammas = np.array([0.1] if args.quick else [0.025, 0.1, 0.4])
    axes = {"epsilon_0": 1.0 + deltas, "gamma": gammas}
    heom_options = {"pade": 6, "depth": 2, "converge": False} if args.quick else {}
    parts = []
    for setting, mu in (("fig3", 8.0), ("equilibrium", 0.0)):
        base = Machine.triple_dot(mu_hot=mu)
        options = EQUILIBRIUM_HEOM if setting == "equilibrium" and not args.quick else heom_options
        table = sweep(base, axes, [EXACT, *CHEAP], path=folder / f"detuning_{setting}.nc", workers=1,
                      replace_stale=True, figures=FIGURES, options={EXACT: options},
                      retry_failed=False)
        if setting == "fig3":
            working = abs(table.particle_current.sel(approach=EXACT, reservoir="hot").isel(epsilon_0=0))
            data = errors(table, table)
        else:
            data = errors(table, table, current_scale=working)
        data = data.assign(concurrence=table.concurrence, current_hot=table.particle_current.sel(reservoir="hot"),
                           working_current=working).sel(approach=CHEAP + [EXACT])
        machines = np.array([[base.with_parameters(epsilon_0=e, gamma=gamma) for gamma in gammas]
                             for e in axes["epsilon_0"]], dtype=object)
        parts.append(attach_verdicts(data, machines).expand_dims(setting=[setting]))
    data = xr.concat(parts, dim="setting").assign_coords(delta=("epsilon_0", deltas))
    return data.swap_dims(epsilon_0="delta")


def map_figure(data: xr.Dataset) -> plt.Figure:
    """|ΔC| and the current error per approach over (γ, g), with the validator's verdict boundaries.

    The last column is HEOM's own error estimate on the same scale: the error bar of every error in its row.
    """
    approaches = list(data.approach.values)
    figure, axes = plt.subplots(2, len(approaches) + 1, figsize=(3.6 * (len(approaches) + 1), 6.4), sharex=True,
                                sharey=True, squeeze=False)
    gamma, g = data.gamma.values, data.g.values
    unconverged = ~data.heom_converged.astype(bool).transpose("gamma", "g").values
    codes = {quantity: np.vectorize(VERDICTS.index)(data[f"verdict_{quantity}"].values).astype(float)
             for quantity in ("concurrence", "current")}
    for row, (quantity, label) in enumerate((("concurrence", "|ΔC|"), ("current", "|ΔI_hot| / |I_hot|"))):
        for column, approach in enumerate(approaches):
            axis = axes[row, column]
            values = data[f"{quantity}_error"].sel(approach=approach).transpose("gamma", "g").values
            mesh = axis.pcolormesh(gamma, g, values.T, shading="nearest", norm="log", vmin=1e-5, vmax=10,
                                   cmap="viridis")
            bad = wrong(data, quantity).sel(approach=approach).transpose("gamma", "g").values
            for i, x in enumerate(gamma):
                for j, y in enumerate(g):
                    if np.isfinite(values[i, j]):
                        mark = ("×" if bad[i, j] else "·") + ("*" if unconverged[i, j] else "")
                        axis.text(x, y, mark, ha="center", va="center",
                                  color="white", fontsize=8)
            verdict = codes[quantity].T
            if np.ptp(verdict) > 0:
                axis.contour(gamma, g, verdict, levels=[0.5, 1.5], colors=["white", "red"], linewidths=1.2)
            axis.plot([0.1], [0.05], marker="*", color="orange", markersize=9, linestyle="none")
            axis.set_title(f"{LABELS[approach]}: {label}", fontsize=9)
            if column == 0:
                axis.set_ylabel("g13 = g23 (ε)")
        axis = axes[row, -1]
        reference = data[f"heom_{quantity}_error"].transpose("gamma", "g").values
        axis.pcolormesh(gamma, g, reference.T, shading="nearest", norm="log", vmin=1e-5, vmax=10, cmap="viridis")
        axis.plot([0.1], [0.05], marker="*", color="orange", markersize=9, linestyle="none")
        axis.set_title(f"HEOM's own error ({'C' if quantity == 'concurrence' else 'I, relative'})", fontsize=9)
        figure.colorbar(mesh, ax=list(axes[row]), label=label, shrink=0.9)
    for axis in axes[1]:
        axis.set_xlabel("γ1 = γ3 (ε)")
    for axis in axes.flat:
        axis.set_xscale("log")
        axis.set_yscale("log")
    figure.suptitle(f"against HEOM at U = 15, μ = 8, T = 1 (★ Fig. 3 point); × error > {TOLERANCE:g}; * HEOM "
                    "not converged (a budget stopped a stage); blank: HEOM failed or (last column) gave no estimate\n"
                    "validate_regime: white = valid | marginal, red = marginal | violated (state verdict in the |ΔC| "
                    "row, current verdict in the current row); last column: HEOM's error bar, the floor of the ×",
                    fontsize=9)
    return figure


def detuning_figure(data: xr.Dataset) -> plt.Figure:
    """Errors against the detuning Δ of qubit 0, at the Fig. 3 point and at equilibrium, with the verdicts.

    HEOM's own error estimate is the error bar of every error against it: a wide pale line per γ (an error below
    it is not resolved).
    """
    figure, axes = plt.subplots(1, 3, figsize=(14, 4.4))
    delta = data.delta.values[1:]
    styles = {"local": "-", "qmeq:Pauli": "--", "qmeq:1vN": ":"}
    markers = {"valid": "o", "marginal": "s", "violated": "X"}
    colors = plt.cm.plasma(np.linspace(0.1, 0.8, data.gamma.size))
    panels = ((0, "fig3", "current_error", "current", "Fig. 3 point: |ΔI_hot| / |I_hot,HEOM|"),
              (1, "fig3", "concurrence_error", "concurrence", "Fig. 3 point: |ΔC|"),
              (2, "equilibrium", "current_error", "current", "equilibrium: |ΔI_hot| / I_work"))
    for index, setting, variable, quantity, title in panels:
        axis = axes[index]
        for color, gamma in zip(colors, data.gamma.values, strict=True):
            reference = data[f"heom_{quantity}_error"].sel(setting=setting, gamma=gamma).values[1:]
            if np.isfinite(reference).any():
                axis.plot(delta, reference, color=color, linewidth=5, alpha=0.25, solid_capstyle="butt",
                          label=f"HEOM's own error, γ = {gamma:g}")
            for approach, style in styles.items():
                values = np.maximum(data[variable].sel(setting=setting, gamma=gamma, approach=approach).values[1:],
                                    1e-8)
                axis.plot(delta, values, style, color=color, linewidth=1.2 if approach == "local" else 0.8,
                          label=f"{LABELS[approach]}, γ = {gamma:g}")
                if approach == "local":
                    status = data[f"verdict_{quantity}"].sel(setting=setting, gamma=gamma).values[1:]
                    for verdict, marker in markers.items():
                        chosen = status == verdict
                        axis.plot(delta[chosen], values[chosen], marker, color=color, linestyle="none",
                                  markersize=6, markerfacecolor="none" if verdict == "marginal" else color)
        axis.axhline(TOLERANCE, color="gray", linewidth=0.8)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("detuning Δ of qubit 0 (ε)")
        axis.set_title(title, fontsize=9)
    axes[0].legend(fontsize=6, ncol=1, loc="lower left")
    figure.suptitle("U = 15, g = 0.05, T = 1 (Fig. 3: μ_hot = 8; equilibrium: μ = 0 everywhere). Local markers: "
                    "validate_regime's verdict (● valid, □ marginal, ✖ violated); grey: 1 %; wide pale lines: "
                    "HEOM's own error estimate", fontsize=9)
    return figure


def summary(data: xr.Dataset, detuning: xr.Dataset) -> None:
    """Errors per approach, HEOM's cost and error, and the confusion tables of the validator."""
    print("(gamma, g) map against HEOM: points with error > 1 % (and > HEOM's estimate) per approach")
    for approach in data.approach.values:
        d = data.sel(approach=approach)
        finite = np.isfinite(d.concurrence_error)
        print(f"  {approach:12s} |dC| > 1 %: {int(wrong(data, 'concurrence').sel(approach=approach).sum())}"
              f"/{int(finite.sum())}, |dI|/I > 1 %: {int(wrong(data, 'current').sel(approach=approach).sum())}"
              f"/{int(finite.sum())}; largest |dC| {float(d.concurrence_error.max()):.3g}, largest |dI|/I "
              f"{float(d.current_error.max()):.3g}")
    print(f"HEOM: mean {float(data.heom_seconds.mean()):.1f} s per point; unconverged (a budget stopped a stage) at "
          f"{int((~data.heom_converged.astype(bool)).sum())} of {data.heom_converged.size}; largest error "
          f"estimate C {float(data.heom_concurrence_error.max()):.2g}, I {float(data.heom_current_error.max()):.2g}")
    fig3 = data.sel(gamma=0.1, g=0.05, method="nearest")
    print(f"Fig. 3 point: local |dC| = {float(fig3.concurrence_error.sel(approach='local')):.4f}, |dI|/I = "
          f"{float(fig3.current_error.sel(approach='local')):.3f}; verdicts {str(fig3.verdict_concurrence.values)} "
          f"(C), {str(fig3.verdict_current.values)} (I)")
    for setting in detuning.setting.values:
        d = detuning.sel(setting=setting, approach="local")
        for gamma in d.gamma.values:
            row = d.sel(gamma=gamma)
            print(f"detuning, {setting}, gamma = {gamma:g}: local I_hot = "
                  + ", ".join(f"{float(i):.3g}" for i in row.current_hot.values)
                  + " for delta = " + ", ".join(f"{x:g}" for x in d.delta.values))
        exact = detuning.sel(setting=setting).current_hot.sel(approach=EXACT)
        print(f"  HEOM |I_hot| at most {float(abs(exact).max()):.3g}")
    local_map = data.sel(approach="local")
    local_detuning = detuning.sel(approach="local")
    for quantity in ("concurrence", "current"):
        status = np.concatenate([local_map[f"verdict_{quantity}"].values.ravel(),
                                 local_detuning[f"verdict_{quantity}"].values.ravel()])
        bad = np.concatenate([wrong(data, quantity).sel(approach="local").values.ravel(),
                              wrong(detuning, quantity).sel(approach="local").values.ravel()])
        known = np.isfinite(np.concatenate([local_map[f"{quantity}_error"].values.ravel(),
                                            local_detuning[f"{quantity}_error"].values.ravel()]))
        print_confusion(f"local Lindblad, {quantity}: verdict against the exact error (both maps, {int(known.sum())} "
                        f"points; {int((~known).sum())} without an exact value)", confusion(status, bad, known))
        for name, table, dims in (("map", local_map, ("gamma", "g")), ("detuning", local_detuning,
                                                                         ("setting", "delta", "gamma"))):
            flat = table[[f"verdict_{quantity}", f"{quantity}_error"]].stack(point=list(dims))
            flags = wrong(data if name == "map" else detuning, quantity).sel(approach="local").stack(point=list(dims))
            for k in range(flat.point.size):
                verdict, fails = str(flat[f"verdict_{quantity}"].values[k]), bool(flags.values[k])
                if not np.isfinite(flat[f"{quantity}_error"].values[k]):
                    continue
                if (verdict == "valid" and fails) or (verdict == "violated" and not fails):
                    where = ", ".join(f"{d} = {flat.point.values[k][n]}" for n, d in enumerate(dims))
                    print(f"  {verdict} but error {float(flat[f'{quantity}_error'].values[k]):.3g}: {name}, {where}")


def main() -> None:
    args = study_arguments(__doc__)
    folder = results_folder(args.results, "regime_map")
    data = run_map(args, folder)
    detuning = run_detuning(args, folder)
    summary(data, detuning)
    data.attrs.update(reference=EXACT, tolerance=TOLERANCE, units="energies in ε = T = 1; errors dimensionless")
    detuning.attrs.update(reference=EXACT, tolerance=TOLERANCE, units="energies in ε = T = 1",
                          current_error="Fig. 3: |dI|/|I_exact|; equilibrium: |dI|/I_work (exact, Delta = 0, "
                                        "Fig. 3 point, same gamma)")
    save(folder, "regime_map", data, map_figure(data))
    save(folder, "regime_detuning", detuning, detuning_figure(detuning))


if __name__ == "__main__":
    main()
