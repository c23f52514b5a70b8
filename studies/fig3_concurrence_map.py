"""Paper Fig. 3: concurrence of qubits 1–2 over (μ, U), local Lindblad, with a 2vN overlay.

γ1 = γ3 = 0.1, g13 = g23 = 0.05, T = ε = 1. Quoted in the paper: C(U=15, μ=8) > 0.99 and
C(U=15, μ=15) ≈ 0.25. The 2vN overlay (QmeQ, explicit leads) runs on a coarser (μ, U) grid with its
energy grid converged per point (``--quick``: one fixed grid); it needs the compiled QmeQ of `make setup`.
"""

import matplotlib.pyplot as plt
import numpy as np

from transportbench.compare import compare
from transportbench.model import Machine
from transportbench.reporting import results_folder, save, study_arguments
from transportbench.sweep import sweep


def main() -> None:
    args = study_arguments(__doc__)
    machine = Machine.triple_dot()
    fine = {"mu": np.linspace(0, 20, 11 if args.quick else 41), "U": np.linspace(0, 20, 11 if args.quick else 41)}
    folder = results_folder(args.results, "fig3_concurrence_map")
    local = sweep(machine, fine, ["local"], path=folder / "lindblad_map.nc")
    coarse = {"mu": np.linspace(2, 18, 3 if args.quick else 5), "U": np.linspace(4, 20, 3 if args.quick else 5)}
    # converged energy grid per point (about 45 s each); --quick uses one fixed, unconverged grid
    twovn_options = {"converge": False, "kpnt": 1001} if args.quick else {"check_bandwidth": False}
    overlay = sweep(machine, coarse, ["qmeq:2vN"], path=folder / "2vn_overlay.nc", options={"qmeq:2vN": twovn_options})

    for mu in (8.0, 15.0):
        point = compare(Machine.triple_dot(U=15.0, mu_hot=mu), ["local"])
        print(f"U = 15, mu = {mu:g}: local Lindblad C = {float(point.concurrence[0]):.4f}")

    figure, axis = plt.subplots(figsize=(6, 5))
    values = local.concurrence.sel(approach="local").transpose("U", "mu")
    mesh = axis.pcolormesh(local.mu, local.U, values, shading="auto", vmin=0, vmax=1, cmap="viridis")
    figure.colorbar(mesh, label="concurrence C (local Lindblad)")
    twovn = overlay.concurrence.sel(approach="qmeq:2vN")
    converged = overlay.converged.sel(approach="qmeq:2vN")
    for i, mu in enumerate(overlay.mu.values):
        for j, u in enumerate(overlay.U.values):
            mark = "" if bool(converged[i, j]) else "*"  # the grid budget (max_kpnt) ran out first
            axis.annotate(f"{float(twovn[i, j]):.2f}{mark}", (mu, u), ha="center", va="center", fontsize=8,
                          bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.8, "linewidth": 0})
    axis.set_ylim(-0.5, 21)
    axis.set_xlabel("μ / T")
    axis.set_ylabel("U / T")
    axis.set_title("numbers: 2vN (QmeQ, " + ("fixed kpnt = 1001, unconverged)" if args.quick
                                              else "converged grid; * = grid budget ran out)"))
    save(folder, "fig3", local, figure)


if __name__ == "__main__":
    main()
