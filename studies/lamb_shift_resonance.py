"""Lamb-shift resonance shift.

The detuning δ* of qubit 2 (ε2 = ε + δ) that maximises the concurrence,
against γ = γ1 = γ3, for the local Lindblad equation, QmeQ's 1vN and Redfield with and without
principal-value (Lamb-shift) terms, and 2vN. Fig. 3 point otherwise (U = 15, μ = 8, T = ε = 1, g = 0.05).

The local Lindblad resonance is at δ* = 0 by symmetry; dropping the principal parts must bring 1vN and
Redfield back to δ* = 0; the remaining shift of the full approaches is the Lamb shift.

2vN is solved on a fixed energy grid per γ, so that C(δ) is a smooth function for the optimiser (a grid
refined separately at every δ would add steps to it): spacing min(T, 2γ) (``fixed_grid_options``) and, as
the convergence check, half that spacing, both with 10 iterations on the default bandwidth D = 93.3.
The difference between the two 2vN rows is the grid error of δ*. The second-order level-shift estimates
(``transportbench.level_shifts``, wide band and band [−D, D]) are stored and drawn beside them.
"""

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from transportbench.backends.qmeq import default_bandwidth, fixed_grid_options
from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Band, Machine
from transportbench.reporting import results_folder, save, study_arguments
from transportbench.scans import resonance_vs_gamma
from transportbench.sweep import set_parameter

TWO_VN_ITERATIONS = 10  # at γ = 0.1, kpnt = 935: δ* moves by < 1e-6 between 6, 10 and 20 iterations


def fixed_grid(halvings: int):
    """2vN options on the grid of spacing min(T, 2γ) / 2**halvings for the machine at each γ."""
    return lambda machine: fixed_grid_options(machine, halvings=halvings, niter=TWO_VN_ITERATIONS)


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
    table = xr.concat([table, two_vn_table], dim="approach", join="outer")
    table.attrs["two_vn_grid"] = (f"fixed grid per gamma: spacing min(T, 2 gamma) / 2**k (k = 0, and 1 for the "
                                  f"half-spacing row) on the default bandwidth, {TWO_VN_ITERATIONS} iterations")
    band = default_bandwidth(machine)
    estimates = {"wide band": Band.wide(), f"D = {band:.4g}": Band.flat(band)}
    estimate = [[resonance_shift_estimate(set_parameter(machine, "gamma", g).with_band(lead))
                 for g in table.gamma.values] for lead in estimates.values()]
    table = table.assign(estimate=(("band", "gamma"), estimate,
                                   {"long_name": "second-order level-shift estimate of delta_star", "units": "energy"}))
    table = table.assign_coords(band=list(estimates))
    print(table.delta_star.to_pandas().to_string())
    print("hot-current minimum:")
    print(table.current_delta_star.to_pandas().to_string())
    print("fitted slopes d(delta*)/d(gamma):", table.slope.to_pandas().round(5).to_dict())
    print("level-shift estimates:")
    print(table.estimate.to_pandas().to_string())
    figure, axis = plt.subplots(figsize=(6, 4))
    for name in table.approach.values:
        row = table.delta_star.sel(approach=name)
        axis.plot(table.gamma[np.isfinite(row)], row[np.isfinite(row)], "o-", label=name)
    for name, style in zip(estimates, ("k--", "k:"), strict=True):
        axis.plot(table.gamma, table.estimate.sel(band=name), style, lw=1, label=f"level-shift estimate, {name}")
    axis.set_xlabel("γ / ε")
    axis.set_ylabel("resonance detuning δ* / ε")
    axis.legend(fontsize=8)
    save(results_folder(args.results, "lamb_shift_resonance"), "resonance", table, figure)


if __name__ == "__main__":
    main()
