"""Where do the approaches disagree.

|C_lindblad − C_approach| over (γ, g) at the Fig. 3 point (U = 15, μ = 8, T = ε = 1), with the
paper's validity inequalities overlaid as the curves where the worst ratio of ``validate_regime`` equals 0.1 and 0.5,
and the tolerance ``TOLERANCE`` on the disagreement as a dashed black curve.
"""

import matplotlib.pyplot as plt
import numpy as np

from transportbench.model import Machine
from transportbench.regime import validate_regime
from transportbench.reporting import results_folder, save, study_arguments
from transportbench.sweep import set_parameter, sweep

args = study_arguments(__doc__)
points = 4 if args.quick else 17
TOLERANCE = 1e-2  # |ΔC| above which the approaches are said to disagree
axes = {"gamma": np.geomspace(0.005, 1.0, points), "g": np.geomspace(0.005, 0.5, points)}
other = "qmeq:1vN"
folder = results_folder(args.results, "regime_map")
table = sweep(Machine.triple_dot(), axes, ["lindblad", other], path=folder / "regime_sweep.nc")
difference = abs(table.concurrence.sel(approach="lindblad") - table.concurrence.sel(approach=other))
ratios = np.array([[validate_regime(set_parameter(set_parameter(Machine.triple_dot(), "gamma", gamma), "g", g))
                    .worst_ratio for g in axes["g"]] for gamma in axes["gamma"]])
figure, axis = plt.subplots(figsize=(6, 5))
mesh = axis.pcolormesh(axes["gamma"], axes["g"], difference.T, shading="auto", norm="log")
figure.colorbar(mesh, label=f"|C(lindblad) − C({other})|")
contours = axis.contour(axes["gamma"], axes["g"], ratios.T, levels=[0.1, 0.5], colors=["white", "red"])
axis.clabel(contours, fmt={0.1: "ratio 0.1", 0.5: "ratio 0.5"})
if difference.min() < TOLERANCE < difference.max():
    disagreement = axis.contour(axes["gamma"], axes["g"], difference.T, levels=[TOLERANCE], colors="black",
                                linestyles="--")
    axis.clabel(disagreement, fmt={TOLERANCE: f"|ΔC| = {TOLERANCE:g}"})
disagree = int((difference > TOLERANCE).sum())
print(f"|C(lindblad) - C({other})| > {TOLERANCE:g} at {disagree} of {difference.size} points; "
      f"largest {float(difference.max()):.3g}")
axis.set_xscale("log")
axis.set_yscale("log")
axis.set_xlabel("γ1 = γ3 (ε)")
axis.set_ylabel("g13 = g23 (ε)")
save(folder, "regime_map", table, figure)
