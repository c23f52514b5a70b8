"""Paper Fig. 3: concurrence of qubits 1–2 over (μ, U), local Lindblad, against the exact answer (HEOM).

γ1 = γ3 = 0.1, g13 = g23 = 0.05, T = ε = 1, wide-band leads. Quoted in the paper: C(U=15, μ=8) > 0.99 and
C(U=15, μ=15) ≈ 0.25.

* The map: local Lindblad (paper Eq. 2) on a 41 × 41 grid, μ, U ∈ [0, 20].
* The exact overlay: HEOM (the wide band in the hierarchy; Padé terms, then depth, raised automatically
  until C moves by < 1e-4 and the currents by < 1 %) on the 9 × 9 sub-grid μ ∈ {2, 4, …, 18},
  U ∈ {4, 6, …, 20} (``--quick``: 5 × 5, a fixed unconverged hierarchy, Padé 6 and depth 2), run as three
  sweeps: the 2vN grid, the μ values between, the U values between. Every HEOM point keeps its convergence
  flag and its error estimates (last Padé step, last depth step) as figures of the sweep
  (``heom_*_error_*``); points that a budget (TRANSPORTBENCH_MEMORY_GIB, 3 GiB for the studies, or the
  backend's ``max_ados``) stopped are flagged unconverged (* in the figures).
* On the same sub-grid: local, QmeQ's Pauli, Lindblad, Redfield and 1vN (cheap); 2vN (QmeQ, explicit leads
  on a flat band D = 3 × the energy scale, energy grid converged per point, ``--quick``: one fixed grid) on
  the 5 × 5 sub-grid μ ∈ {2, 6, 10, 14, 18}, U ∈ {4, 8, 12, 16, 20}; it needs the compiled QmeQ of
  `make setup`.

Figures: ``fig3`` (local map, HEOM numbers), ``fig3_deviations`` (ΔC = C(approach) − C(HEOM) per approach
on one diverging scale, numbers 100 ΔC in the cells; second row the relative error of the hot lead's current,
numbers in %). The summary lists the largest |ΔC| per approach and, at the 2vN points, where the exact value
lies between the local map and 2vN, with the wide-band and the finite-band Lamb-shift estimates |δ*|/g.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, save_figure, study_arguments
from matplotlib.colors import Normalize

from transportbench.backends.qmeq import default_bandwidth
from transportbench.comparison import compare
from transportbench.figures import PAPER, ErrorBar
from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Band, Machine
from transportbench.sweeps import sweep

EXACT = "heom"
CHEAP = ["local", "qmeq:Pauli", "qmeq:Lindblad", "qmeq:Redfield", "qmeq:1vN"]
TWOVN = "qmeq:2vN"
LABELS = {"local": "local (Eq. 2)", "qmeq:Pauli": "Pauli", "qmeq:Lindblad": "QmeQ-Lindblad",
          "qmeq:Redfield": "Redfield", "qmeq:1vN": "1vN", TWOVN: "2vN (D = 3 × scale)"}
LARGE_C = 0.5  # "where C is large": the local map's C above this at the 2vN points


ERROR_FIGURES = tuple(ErrorBar(quantity, stage, name=f"heom_{stage}_error_{'C' if quantity == 'concurrence' else 'I'}")
                      for stage in ("pade", "depth", "band") for quantity in ("concurrence", "currents"))
"""HEOM's error estimate per stage as figures of the sweep (NaN where a stage made no step)."""


def heom_error(table: xr.Dataset, quantity: str = "C") -> xr.DataArray:
    """The HEOM error estimate per point: Padé + depth (0 where not measured) + band, summed.

    ``quantity`` "C": of C(0,1) (absolute); "I": of the currents, relative to the largest current of its kind (for
    the two leads of the triple dot, relative to |I_hot|).
    """
    heom = table.sel(approach=EXACT)
    return sum(heom[f"heom_{stage}_error_{quantity}"].fillna(0.0) for stage in ("pade", "depth", "band"))


def hot_current(table: xr.Dataset) -> xr.DataArray:
    """The hot lead's particle current per approach and point."""
    return table.particle_current.sel(reservoir="hot")


def deviations(exact: xr.Dataset, twovn: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    """ΔC = C − C(HEOM) and (I_hot − I_hot(HEOM)) / |I_hot(HEOM)| per approach on the HEOM sub-grid.

    2vN is NaN off its own (coarser) grid.
    """
    reference_c = exact.concurrence.sel(approach=EXACT)
    reference_i = hot_current(exact).sel(approach=EXACT)
    twovn_c = twovn.concurrence.sel(approach=TWOVN).reindex_like(reference_c, method="nearest", tolerance=1e-9)
    twovn_i = hot_current(twovn).sel(approach=TWOVN).reindex_like(reference_i, method="nearest", tolerance=1e-9)
    delta_c = {a: exact.concurrence.sel(approach=a) - reference_c for a in CHEAP}
    delta_c[TWOVN] = twovn_c - reference_c
    delta_i = {a: (hot_current(exact).sel(approach=a) - reference_i) / abs(reference_i) for a in CHEAP}
    delta_i[TWOVN] = (twovn_i - reference_i) / abs(reference_i)
    return (xr.Dataset({a: v.drop_vars("approach", errors="ignore") for a, v in delta_c.items()}),
            xr.Dataset({a: v.drop_vars(("approach", "reservoir"), errors="ignore") for a, v in delta_i.items()}))


def _last_digit(text: str) -> float:
    """The value of the last digit a format such as ``"{:+.1f}"`` writes (0.1; 1 for ``"{:.0f}"``)."""
    return 10.0 ** -int(text.split(".")[1][0])


def annotate(axis: plt.Axes, mus: np.ndarray, us: np.ndarray, values: np.ndarray, marks: np.ndarray,
             text: str, size: float, symbol: str = "*", others: np.ndarray | None = None,
             errors: np.ndarray | None = None) -> None:
    """Write ``text.format(value)`` (plus ``*`` where ``marks``, ``symbol`` where ``others``) at every finite cell.

    With ``errors`` (same shape and units as ``values``), ``±`` the error follows the value where it reaches the
    value's last written digit (half of it or more), in the same format.
    """
    resolution = _last_digit(text)
    for i, mu in enumerate(mus):
        for j, u in enumerate(us):
            if np.isfinite(values[i, j]):
                mark = ("*" if marks[i, j] else "") + (symbol if others is not None and others[i, j] else "")
                error = np.nan if errors is None else errors[i, j]
                bar = f"±{text.replace('+', '').format(error)}" if error >= resolution / 2 else ""
                axis.annotate(text.format(values[i, j]) + bar + mark, (mu, u), ha="center",
                              va="center", fontsize=size, bbox={"boxstyle": "round,pad=0.1", "facecolor": "white",
                                                                "alpha": 0.7, "linewidth": 0})


def map_figure(local: xr.Dataset, exact: xr.Dataset, unconverged: np.ndarray, quick: bool) -> plt.Figure:
    """The local Lindblad map with the HEOM concurrence, and its error bar where it shows, at the sub-grid points."""
    figure, axis = plt.subplots(figsize=(7, 6))
    values = local.concurrence.sel(approach="local").transpose("U", "mu")
    mesh = axis.pcolormesh(local.mu, local.U, values, shading="auto", vmin=0, vmax=1, cmap="viridis")
    figure.colorbar(mesh, label="concurrence C(1, 2), local Lindblad (paper Eq. 2)")
    heom = exact.concurrence.sel(approach=EXACT).transpose("mu", "U").values
    error = heom_error(exact).transpose("mu", "U").values
    annotate(axis, exact.mu.values, exact.U.values, heom, unconverged, "{:.2f}", 6.5 if len(exact.mu) > 5 else 8,
             errors=error)
    axis.set_xlim(-0.25, 20.25)
    axis.set_ylim(-0.25, 21)
    axis.set_xlabel("μ_hot (ε = T = 1)")
    axis.set_ylabel("U (ε = T = 1)")
    hierarchy = ("fixed Padé 6, depth 2, unconverged: error bar of the band alone" if quick
                 else "converged; * = a budget stopped the depth step")
    axis.set_title(f"numbers: exact C (HEOM, wide band, {len(exact.mu)} × {len(exact.U)} points; {hierarchy})\n"
                   f"± HEOM's error estimate (Padé + depth) where it reaches the 2nd decimal; largest "
                   f"{np.nanmax(error):.1g}", fontsize=8)
    return figure


def deviation_figure(deviation: xr.Dataset, reference_error: xr.DataArray, unconverged: np.ndarray,
                     twovn_unconverged: np.ndarray, *, in_percent: bool, quantity: str) -> plt.Figure:
    """One panel per approach and one of HEOM's error bar (2 × 4, one colour scale, every value written in its cell).

    ``deviation``: per approach the deviation from HEOM over (mu, U) (absolute ΔC, or relative current
    deviations shown ``in_percent``); ``reference_error``: HEOM's own error estimate over (mu, U) in the same
    units, the error bar of every deviation, drawn in the last panel on the same scale (grey); ``unconverged``:
    HEOM points flagged unconverged (*); ``twovn_unconverged``: 2vN points whose energy grid budget ran out (†),
    both on the HEOM grid.
    """
    approaches = list(deviation.data_vars)
    coarse = len(deviation.mu) <= 9
    columns = 4
    rows = -(-(len(approaches) + 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 4.6 * rows), sharex=True, sharey=True,
                                layout="constrained", squeeze=False)
    scale = 100.0
    text = "{:+.1f}" if not in_percent else "{:+.0f}"
    limit = scale * float(np.nanmax([np.nanmax(np.abs(deviation[a].values)) for a in approaches]))
    norm = Normalize(-limit, limit)
    for axis, approach in zip(axes.flat, approaches, strict=False):
        values = scale * deviation[approach].transpose("mu", "U").values
        mesh = axis.pcolormesh(deviation.mu, deviation.U, values.T, shading="nearest", cmap="RdBu_r", norm=norm)
        if coarse:
            annotate(axis, deviation.mu.values, deviation.U.values, values, unconverged & np.isfinite(values),
                     text, 7.5, "†", twovn_unconverged if approach == TWOVN else None)
        axis.set_title(LABELS[approach], fontsize=11)
    axis = axes.flat[len(approaches)]
    values = scale * reference_error.transpose("mu", "U").values
    axis.pcolormesh(deviation.mu, deviation.U, values.T, shading="nearest", cmap="Greys", norm=Normalize(0, limit))
    if coarse:
        annotate(axis, deviation.mu.values, deviation.U.values, values, unconverged, text.replace("+", ""), 7.5)
    axis.set_title("± HEOM's own error estimate (Padé + depth)\n(grey scale: the same size as the colours)",
                   fontsize=10)
    for axis in axes.flat[len(approaches) + 1:]:
        axis.set_visible(False)
    for axis in axes[-1, :]:
        axis.set_xlabel("μ_hot of the hot reservoir (units of ε = T = 1)")
    for axis in axes[:, 0]:
        axis.set_ylabel("Coulomb energy U (units of ε = T = 1)")
    label = ("100 ΔC = 100 (C − C(HEOM)), C of qubits 0 and 1" if not in_percent
             else "(I_hot − I_hot(HEOM)) / |I_hot(HEOM)| in %, particle current from the hot reservoir")
    figure.colorbar(mesh, ax=axes, label=label, shrink=0.8)
    figure.suptitle(f"{quantity}: deviation from exact (HEOM, wide band); the number in each cell is the colour's "
                    "value, ± the last panel's (HEOM's error bar); * = HEOM point flagged unconverged, † = 2vN "
                    "energy-grid budget ran out", fontsize=11)
    return figure


def summary(exact: xr.Dataset, twovn: xr.Dataset, delta_c: xr.Dataset, delta_i: xr.Dataset) -> None:
    """Print the largest deviations per approach and the local / 2vN / exact comparison at the 2vN points."""
    heom = exact.sel(approach=EXACT)
    error = heom_error(exact)
    unconverged = ~heom.converged
    print(f"HEOM: {int(unconverged.sum())} of {unconverged.size} points flagged unconverged; error estimate of C "
          f"(Padé + depth) median {float(error.median()):.1e}, largest {float(error.max()):.1e}; depth "
          f"step measured at {int(np.isfinite(heom.heom_depth_error_C).sum())} points; mean "
          f"{float(heom.seconds.mean()):.1f} s per point")
    print("largest |ΔC| and |ΔI/I| against HEOM:")
    for approach in delta_c.data_vars:
        dc, di = delta_c[approach], delta_i[approach]
        where_c = abs(dc).fillna(-1).argmax(...)
        where_i = abs(di).fillna(-1).argmax(...)
        mu_c, u_c = float(dc.mu[where_c["mu"]]), float(dc.U[where_c["U"]])
        mu_i, u_i = float(di.mu[where_i["mu"]]), float(di.U[where_i["U"]])
        print(f"  {approach:14s} ΔC = {float(dc.isel(where_c)):+.4f} at (μ, U) = ({mu_c:g}, {u_c:g}); mean |ΔC| "
              f"{float(abs(dc).mean()):.4f}; ΔI/I = {100 * float(di.isel(where_i)):+.0f} % at ({mu_i:g}, {u_i:g}), "
              f"median |ΔI/I| {100 * float(abs(di).median()):.0f} %")
    print(f"at the 2vN points (C > {LARGE_C:g} in the local map marked #; * HEOM flagged unconverged, † 2vN grid "
          "budget ran out): is the exact value closer to local or to 2vN?")
    print("   mu     U  C_local   C_2vN   C_heom ± err    C_loc−C_ex  C_2vN−C_ex  closer to  |δ*|/g wide  finite D")
    closer = {"local": 0, "2vN": 0}
    for mu in twovn.mu.values:
        for u in twovn.U.values:
            point = {"mu": mu, "U": u}
            local_c = float(exact.concurrence.sel(approach="local", **point))
            twovn_c = float(twovn.concurrence.sel(approach=TWOVN, **point))
            exact_c, err = float(heom.concurrence.sel(**point)), float(error.sel(**point))
            machine = Machine.triple_dot().with_parameters(mu=mu, U=u)
            g = dict(machine.couplings)[(0, 2)]
            wide = abs(resonance_shift_estimate(machine)) / g
            finite = abs(resonance_shift_estimate(machine.with_band(Band.flat(default_bandwidth(machine))))) / g
            nearer = "local" if abs(local_c - exact_c) < abs(twovn_c - exact_c) else "2vN"
            if max(abs(local_c - exact_c), abs(twovn_c - exact_c)) <= err:
                nearer = "both"
            large = local_c > LARGE_C
            if large and nearer in closer:
                closer[nearer] += 1
            star = ("" if bool(heom.converged.sel(**point)) else "*") + \
                ("" if bool(twovn.converged.sel(approach=TWOVN, **point)) else "†")
            print(f"{'#' if large else ' '} {mu:4g} {u:5g}  {local_c:7.4f}  {twovn_c:7.4f}  {exact_c:7.4f} ± "
                  f"{err:.0e}{star:1s} {local_c - exact_c:+10.4f}  {twovn_c - exact_c:+10.4f}  {nearer:>9s}  "
                  f"{wide:11.3f}  {finite:8.3f}")
    print(f"where C_local > {LARGE_C:g}: exact closer to local at {closer['local']}, closer to 2vN at {closer['2vN']}")
    lamb_shift_order(exact)


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation (no tie correction)."""
    ranks = [np.argsort(np.argsort(values)) for values in (first, second)]
    return float(np.corrcoef(*ranks)[0, 1])


def lamb_shift_order(exact: xr.Dataset) -> None:
    """Print whether C(local) − C(HEOM) follows the wide-band Lamb-shift ratio |δ*|/g where C is large."""
    rows = []
    for mu in exact.mu.values:
        for u in exact.U.values:
            local_c = float(exact.concurrence.sel(approach="local", mu=mu, U=u))
            if local_c > LARGE_C:
                machine = Machine.triple_dot().with_parameters(mu=mu, U=u)
                ratio = abs(resonance_shift_estimate(machine)) / dict(machine.couplings)[(0, 2)]
                deficit = local_c - float(exact.concurrence.sel(approach=EXACT, mu=mu, U=u))
                rows.append((ratio, deficit, mu, u))
    if len(rows) < 3:
        return
    rows.sort()
    ratios, deficits = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    print(f"C_local − C_heom where C_local > {LARGE_C:g} ({len(rows)} points), ordered by the wide-band |δ*|/g: "
          + ", ".join(f"{d:+.3f} at {r:.2f} ({m:g}, {u:g})" for r, d, m, u in rows))
    print(f"  rank correlation of the deficit with |δ*|/g: {rank_correlation(ratios, deficits):.2f}; "
          f"deficit < 0 at {int((deficits < 0).sum())} points")


def sweep_specs(quick: bool) -> dict[str, dict]:
    """The study's sweeps (keyword arguments of :func:`~transportbench.sweeps.sweep` but ``path``).

    "local": the map; "exact": HEOM and the cheap approaches on the 2vN grid; "exact_fill": the same on the
    μ values between (together 9 × 5); "exact_rows": the same at the U values between (together 9 × 9);
    "twovn": the 2vN overlay; "local_fermion": the local equation in the fermion model on the 9 × 9 HEOM
    points (like for like with HEOM: both fermionic modes). Each can run in its own process
    (same fingerprint, same file): the study then reads the finished files.
    """
    fine = {"mu": np.linspace(0, 20, 11 if quick else 41), "U": np.linspace(0, 20, 11 if quick else 41)}
    coarse = {"mu": np.linspace(2, 18, 3 if quick else 5), "U": np.linspace(4, 20, 3 if quick else 5)}
    between = {name: (values[:-1] + values[1:]) / 2 for name, values in coarse.items()}
    every_mu = np.sort(np.concatenate([coarse["mu"], between["mu"]]))
    # the wide band in the hierarchy, automatic convergence; --quick: one fixed, unconverged hierarchy
    heom_options = {"pade": 6, "depth": 2, "converge": False} if quick else {}
    exact = {"approaches": [EXACT, *CHEAP], "options": {EXACT: heom_options},
             "figures": (*PAPER, *ERROR_FIGURES)}
    # converged energy grid per point (about 45 s each); --quick uses one fixed, unconverged grid
    twovn_options = {"converge": False, "kpnt": 1001} if quick else {"check_bandwidth": False}
    return {"local": {"over": fine, "approaches": ["local"], "file": "lindblad_map.nc"},
            "exact": {"over": coarse, "file": "exact_overlay.nc", **exact},
            "exact_fill": {"over": {"mu": between["mu"], "U": coarse["U"]}, "file": "exact_overlay_fill.nc", **exact},
            "exact_rows": {"over": {"mu": every_mu, "U": between["U"]}, "file": "exact_overlay_rows.nc", **exact},
            "twovn": {"over": coarse, "approaches": [TWOVN], "file": "2vn_overlay.nc",
                      "options": {TWOVN: twovn_options}},
            "local_fermion": {"over": {"mu": every_mu, "U": np.sort(np.concatenate([coarse["U"], between["U"]]))},
                              "approaches": ["local"], "file": "local_fermion_overlay.nc", "fermion": True}}


def run_sweep(name: str, quick: bool, folder: Path) -> xr.Dataset:
    """Run (or read, when finished) one of :func:`sweep_specs`'s sweeps in this process (one worker)."""
    spec = dict(sweep_specs(quick)[name])
    path = folder / spec.pop("file")
    machine = Machine.triple_dot(statistics="fermion" if spec.pop("fermion", False) else "qubit")
    return sweep(machine, path=path, workers=1, replace_stale=True, **spec)


def main() -> None:
    args = study_arguments(__doc__)
    folder = results_folder(args.results, "fig3_concurrence_map")
    local, exact, fill, rows, twovn = (run_sweep(name, args.quick, folder)
                                       for name in ("local", "exact", "exact_fill", "exact_rows", "twovn"))
    exact = xr.concat([exact, fill], dim="mu", data_vars="all", coords="different", compat="equals",
                      join="exact").sortby("mu")
    exact = xr.concat([exact, rows], dim="U", data_vars="all", coords="different", compat="equals",
                      join="exact").sortby("U")

    for mu in (8.0, 15.0):
        point = compare(Machine.triple_dot(U=15.0, mu_hot=mu), ["local"])
        print(f"U = 15, mu = {mu:g}: local Lindblad C = {float(point.concurrence[0]):.4f}")

    unconverged = ~exact.converged.sel(approach=EXACT).transpose("mu", "U").values
    delta_c, delta_i = deviations(exact, twovn)
    summary(exact, twovn, delta_c, delta_i)
    save(folder, "fig3", local, map_figure(local, exact, unconverged, args.quick))
    fermion = run_sweep("local_fermion", args.quick, folder).concurrence.sel(approach="local", drop=True)
    like_for_like = fermion - exact.concurrence.sel(approach=EXACT, drop=True)
    print(f"local in the fermion model against HEOM (like for like): largest |ΔC| {float(abs(like_for_like).max()):.4f}"
          f", median |ΔC| {float(abs(like_for_like).median()):.4f}, |ΔC| > 0.01 at "
          f"{int((abs(like_for_like) > 0.01).sum())} of {like_for_like.size}; the qubit model (spins) against HEOM "
          f"(modes): median |ΔC| {float(abs(delta_c['local']).median()):.4f}")
    deviation_data = xr.Dataset({"concurrence_error": delta_c.to_array("approach"),
                                 "local_fermion_concurrence_error": like_for_like.transpose("mu", "U"),
                                 "current_relative_error": delta_i.to_array("approach"),
                                 "heom_concurrence_error_estimate": heom_error(exact),
                                 "heom_current_error_estimate": heom_error(exact, "I"),
                                 "heom_converged": exact.converged.sel(approach=EXACT, drop=True)})
    deviation_data.attrs.update(reference=EXACT, units="dimensionless; energies ε = T = 1")
    twovn_unconverged = (~twovn.converged.sel(approach=TWOVN)).reindex_like(
        exact.converged.sel(approach=EXACT), method="nearest", tolerance=1e-9, fill_value=False)
    twovn_marks = twovn_unconverged.transpose("mu", "U").values.astype(bool)
    save(folder, "fig3_deviations", deviation_data,
         deviation_figure(delta_c, heom_error(exact), unconverged, twovn_marks, in_percent=False,
                          quantity="concurrence C(0,1)"))
    save_figure(folder, "fig3_current_deviations",
                deviation_figure(delta_i, heom_error(exact, "I"), unconverged, twovn_marks, in_percent=True,
                                 quantity="hot particle current"))


if __name__ == "__main__":
    main()
