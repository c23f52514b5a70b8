"""Where do the approaches disagree.

|C_lindblad − C_approach| over (γ, g) at the Fig. 3 point (U = 15, μ = 8, T = ε = 1). Overlaid: where the
worst ratio of the paper's two inequalities (``validate_regime``) is 0.1 (white) and 0.5 (red), where the
Lamb-shift ratio |δ*|/g is 0.1 (magenta), and the tolerance ``TOLERANCE`` on the disagreement (dashed).
"""

import matplotlib.pyplot as plt
import numpy as np

from transportbench.model import Machine
from transportbench.regime import validate_regime
from transportbench.reporting import results_folder, save, study_arguments
from transportbench.sweep import set_parameter, sweep

TOLERANCE = 1e-2  # |ΔC| above which the approaches are said to disagree


def worst(verdict, lamb: bool) -> float:
    """The largest ratio of the Lamb-shift condition (``lamb``) or of the paper's two inequalities."""
    return max(c.ratio for c in verdict.conditions if (c.name == "Lamb shift") == lamb)


def main() -> None:
    args = study_arguments(__doc__)
    points = 4 if args.quick else 17
    axes = {"gamma": np.geomspace(0.005, 1.0, points), "g": np.geomspace(0.005, 0.5, points)}
    other = "qmeq:1vN"
    folder = results_folder(args.results, "regime_map")
    table = sweep(Machine.triple_dot(), axes, ["local", other], path=folder / "regime_sweep.nc")
    difference = abs(table.concurrence.sel(approach="local") - table.concurrence.sel(approach=other))
    verdicts = [[validate_regime(set_parameter(set_parameter(Machine.triple_dot(), "gamma", gamma), "g", g))
                 for g in axes["g"]] for gamma in axes["gamma"]]

    ratios = np.array([[worst(v, lamb=False) for v in row] for row in verdicts])
    lamb_ratios = np.array([[worst(v, lamb=True) for v in row] for row in verdicts])
    figure, axis = plt.subplots(figsize=(6, 5))
    mesh = axis.pcolormesh(axes["gamma"], axes["g"], difference.T, shading="auto", norm="log")
    figure.colorbar(mesh, label=f"|C(local) − C({other})|")
    contours = axis.contour(axes["gamma"], axes["g"], ratios.T, levels=[0.1, 0.5], colors=["white", "red"])
    axis.clabel(contours, fmt={0.1: "ratio 0.1", 0.5: "ratio 0.5"}, inline=False)  # inline cuts log-axis lines
    lamb = axis.contour(axes["gamma"], axes["g"], lamb_ratios.T, levels=[0.1], colors="magenta")
    axis.clabel(lamb, fmt={0.1: "|δ*|/g = 0.1"}, inline=False)
    if difference.min() < TOLERANCE < difference.max():
        disagreement = axis.contour(axes["gamma"], axes["g"], difference.T, levels=[TOLERANCE], colors="black",
                                    linestyles="--")
        axis.clabel(disagreement, fmt={TOLERANCE: f"|ΔC| = {TOLERANCE:g}"}, inline=False)
    disagree = int((difference > TOLERANCE).sum())
    print(f"|C(local) - C({other})| > {TOLERANCE:g} at {disagree} of {difference.size} points; "
          f"largest {float(difference.max()):.3g}")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("γ1 = γ3 (ε)")
    axis.set_ylabel("g13 = g23 (ε)")
    save(folder, "regime_map", table, figure)


if __name__ == "__main__":
    main()
