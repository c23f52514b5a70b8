"""The main comparison (``make demo``): the paper's Fig. 3 point through every approach.

Machine: ``Machine.triple_dot()`` — ε = 1, g13 = g23 = 0.05, U = 15 on every pair, hot reservoir
μ = 8, T = 1, γ = 0.1 on qubit 1, cold reservoir μ = 0, T = 1, γ = 0.1 on the sink qubit 3. It is
solved by the local Lindblad equation (paper Eq. 2), by QmeQ's Pauli, Lindblad, Redfield, 1vN and
converged 2vN approaches and by the exact reference, converged HEOM extrapolated to the wide band; every
row gets its deviation from HEOM. The local equation's row is the paper's qubit (spin) model; the others
are fermionic dots, so the local equation is also solved in the fermion model (like for like) below the
table. The table is printed and a summary figure written to ``results/demo/fig3_point.png`` (data beside it
as NetCDF).
"""

from __future__ import annotations

import argparse

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from transportbench.comparison import compare, format_notes, format_table
from transportbench.model import Machine
from transportbench.plot import error_bars
from transportbench.regime import validate_regime
from transportbench.saving import results_folder, save


def summary_figure(table: xr.Dataset) -> plt.Figure:
    """Bars of the concurrence and of the hot particle current per approach, with their own error bars.

    Parameters
    ----------
    table : xarray.Dataset
        A :func:`~transportbench.comparison.compare` table of the machine (currents in energy units, ħ = 1).

    Returns
    -------
    matplotlib.figure.Figure
        Two panels; an approach that estimates its own error (HEOM, 2vN) has it as an error bar, and the exact
        reference (HEOM), where present, is a dashed line with its error bar as a grey band across the panel.
    """
    names = [str(a) for a in table.approach.values]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    panels = ((left, table.concurrence, error_bars(table, "concurrence"), "tab:blue"),
              (right, table.particle_current.sel(reservoir="hot"),
               error_bars(table, "particle_current").sel(reservoir="hot"), "tab:red"))
    for axis, values, errors, colour in panels:
        axis.bar(names, values.values, color=colour)
        estimated = np.isfinite(errors.values)
        if estimated.any():
            axis.errorbar(np.flatnonzero(estimated), values.values[estimated], yerr=errors.values[estimated],
                          fmt="none", ecolor="k", capsize=4, label="the approach's own error bar")
        if "heom" in names:  # the exact reference across the panel
            exact, error = float(values.sel(approach="heom")), float(errors.sel(approach="heom"))
            axis.axhline(exact, color="k", lw=1, ls="--", label="HEOM (exact)")
            if np.isfinite(error):
                axis.axhspan(exact - error, exact + error, color="grey", alpha=0.3, lw=0, label="HEOM ± its error")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    left.set_ylim(min(0.95, float(np.nanmin(table.concurrence.values)) - 0.005), 1.0)
    left.set_ylabel("concurrence C(0,1) (paper: qubits 1, 2)")
    right.set_ylabel("particle current from the hot reservoir (ε)")
    for axis in (left, right):
        axis.tick_params(axis="x", rotation=30)
    figure.suptitle("Fig. 3 point: U = 15, μ = 8, T = ε = 1, g = 0.05, γ = 0.1")
    figure.tight_layout()
    return figure


def main() -> None:
    """Run the comparison, print the table and write the figure and data."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", help="output folder (default results/)")
    args = parser.parse_args()
    machine = Machine.triple_dot()
    print(validate_regime(machine))
    table = compare(machine)
    print()
    print(format_table(table))
    fermion = compare(machine.replace(statistics="fermion"), ["local"]).sel(approach="local", reservoir="hot")
    print(f"local in the fermion model (modes 0, 1; like for like with QmeQ and HEOM): "
          f"C(0,1) = {float(fermion.concurrence):.6g}, I_hot = {float(fermion.particle_current):+.4e}")
    print(format_notes(table))
    save(results_folder(args.results, "demo"), "fig3_point", table, summary_figure(table))


if __name__ == "__main__":
    main()
