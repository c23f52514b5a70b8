"""Paper Fig. 2: energy current J(t) and fidelity with |Ψ−⟩⊗|0⟩ from |000⟩ in the ideal limit.

ε = 1 (the paper: 1 GHz, so the unit of time 1/ε is 1 ns; the figure's axis is in 1000/ε, i.e. μs),
T1 = T3 = ε, g13 = g23 = 0.05, U, μ → ∞ (Eq. 3), γ1 = γ3 = γ for the γ values below. Also prints the
relaxation time 1/gap of the Liouvillian.
"""

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments

from transportbench.backends import local
from transportbench.model import Machine
from transportbench.observables import dark_state, fidelity


def main() -> None:
    args = study_arguments(__doc__)
    gammas = [0.005, 0.01, 0.05]  # the legend values are not in the text; these relax within a few μs
    times = np.linspace(0, 6000, 61 if args.quick else 601)  # units of 1/ε (ns for ε = 1 GHz)
    current = np.zeros((len(gammas), len(times)))
    fidelities = np.zeros_like(current)
    relaxation = []
    for i, gamma in enumerate(gammas):
        machine = Machine.triple_dot(gamma_hot=gamma, gamma_cold=gamma, ideal_limit=True)
        evolution = local.evolve(machine, times)
        current[i] = (evolution.energy_currents["hot"] - evolution.energy_currents["cold"]) / 2  # J = (Q1 − Q3)/2
        dark = dark_state(0.05, 0.05)
        fidelities[i] = [fidelity(rho, evolution.occupations, dark, evolution.model) for rho in evolution.states]
        relaxation.append(1 / local.relaxation_rate(machine))
        print(f"gamma = {gamma:g}: relaxation time 1/gap = {relaxation[-1]:.0f} (1/ε), "
              f"F(t_end) = {fidelities[i, -1]:.6f}")

    data = xr.Dataset({"J": (("gamma", "time"), current, {"long_name": "J = (Q1 - Q3)/2", "units": "ε²"}),
                       "fidelity": (("gamma", "time"), fidelities),
                       "relaxation_time": ("gamma", relaxation, {"units": "1/ε"})},
                      coords={"gamma": gammas, "time": ("time", times, {"units": "1/ε (ns for ε = 1 GHz)"})})
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for i, gamma in enumerate(gammas):
        top.plot(times / 1000, current[i], label=f"γ/ε = {gamma:g}")
        bottom.plot(times / 1000, fidelities[i], label=f"γ/ε = {gamma:g}")
    top.set_ylabel("energy current\nJ = (Q_hot − Q_cold)/2 (ε², ħ = 1)")
    bottom.set_ylabel("fidelity with |Ψ⁻⟩|0⟩\n(qubits 0, 1 and sink 2)")
    figure.align_ylabels()
    bottom.set_xlabel("time t in units of 1000/ε (μs for ε = 1 GHz, where 1/ε = 1 ns)")
    top.legend()
    save(results_folder(args.results, "fig2_dynamics"), "fig2", data, figure)


if __name__ == "__main__":
    main()
