"""Lamb-shift resonance shift.

The detuning δ* of qubit 2 (ε2 = ε + δ) that maximises the concurrence,
against γ = γ1 = γ3, for the local Lindblad equation, QmeQ's 1vN and Redfield with and without
principal-value (Lamb-shift) terms, and 2vN. Fig. 3 point otherwise (U = 15, μ = 8, T = ε = 1, g = 0.05).

The local Lindblad resonance is at δ* = 0 by symmetry; dropping the principal parts must bring 1vN and
Redfield back to δ* = 0; the remaining shift of the full approaches is the Lamb shift.
"""

import matplotlib.pyplot as plt
import numpy as np

from transportbench.model import Machine
from transportbench.reporting import results_folder, save, study_arguments
from transportbench.scans import resonance_vs_gamma

args = study_arguments(__doc__)
gammas = np.array([0.02, 0.05, 0.1]) if args.quick else np.array([0.01, 0.02, 0.05, 0.1, 0.2])
approaches = ["lindblad", "qmeq:1vN", "qmeq:1vN-no-lamb", "qmeq:redfield", "qmeq:redfield-no-lamb"]
if not args.quick:
    approaches.append("qmeq:2vN")
options = {"qmeq:1vN-no-lamb": {"lamb_shift": False}, "qmeq:redfield-no-lamb": {"lamb_shift": False},
           "qmeq:2vN": {"converge": False, "kpnt": 512}}
specs = {name: name.replace("-no-lamb", "") for name in approaches}
table = resonance_vs_gamma(Machine.triple_dot(), approaches, gammas, precision=1e-6,
                           options={name: options.get(name, {}) for name in approaches}, specs=specs)
print(table.delta_star.to_pandas().to_string())
print("fitted slopes d(delta*)/d(gamma):", table.slope.to_pandas().round(5).to_dict())
figure, axis = plt.subplots(figsize=(6, 4))
for name in approaches:
    axis.plot(gammas, table.delta_star.sel(approach=name), "o-", label=name)
axis.set_xlabel("γ / ε")
axis.set_ylabel("resonance detuning δ* / ε")
axis.legend(fontsize=8)
save(results_folder(args.results, "lamb_shift_resonance"), "resonance", table, figure)
