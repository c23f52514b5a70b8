"""Cotunnelling leakage through the dark state.

The hot particle current and the concurrence loss 1 − C against γ = γ1 = γ3, 2vN (explicit leads)
against the local Lindblad equation, with power-law fits.

Operating point close to the ideal limit so that sequential leakage is exponentially small:
U = 40, μ = 20, T = ε = 1, g = 0.05. Sequential processes are blocked in the dark state; a current
growing like γ² in 2vN (and not in the local Lindblad equation) is the cotunnelling signature.

2vN: the energy grid is refined at every γ until C and the currents converge (the grid must resolve γ, so
it grows as 1/γ), on a band of half-width D = 100 instead of the default 3 × 81 = 243 to keep the finest
grid (γ = 0.01) at 20001 points; D is recorded in the data.
"""

import matplotlib.pyplot as plt
import numpy as np

from transportbench.model import Machine
from transportbench.reporting import results_folder, save, study_arguments
from transportbench.scans import leakage_vs_gamma

args = study_arguments(__doc__)
gammas = np.geomspace(0.01, 0.1, 3 if args.quick else 6)
machine = Machine.triple_dot(coulomb_energy=40.0, mu_hot=20.0)
approaches = ["lindblad", "qmeq:pauli", "qmeq:1vN", "qmeq:2vN"]
# --quick: one coarse, unconverged 2vN grid (a smoke run); otherwise the grid is converged at every γ
TWO_VN_BANDWIDTH = 100.0
twovn = ({"converge": False, "kpnt": 801, "niter": 8} if args.quick
         else {"check_bandwidth": False, "bandwidth": TWO_VN_BANDWIDTH, "max_kpnt": 20001})
table = leakage_vs_gamma(machine, approaches, gammas, options={"qmeq:2vN": twovn})
table.attrs["two_vn_options"] = repr(twovn)
print(table.current.to_pandas().to_string())
print("current exponents:", table.current_exponent.to_pandas().round(3).to_dict())
print("concurrence-loss exponents:", table.loss_exponent.to_pandas().round(3).to_dict())
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
for name in approaches:
    left.loglog(gammas, np.abs(table.current.sel(approach=name)), "o-", label=name)
    right.loglog(gammas, np.abs(table.concurrence_loss.sel(approach=name)), "o-", label=name)
reference = abs(float(table.current.sel(approach="qmeq:2vN")[-1]))
left.loglog(gammas, reference * (gammas / gammas[-1]) ** 2, "k:", label="∝ γ²")
left.set_xlabel("γ / ε")
left.set_ylabel("|particle current from the hot lead| (ε)")
right.set_xlabel("γ / ε")
right.set_ylabel("1 − C")
left.legend(fontsize=8)
save(results_folder(args.results, "cotunnelling_leakage"), "leakage", table, figure)
