"""W states (paper Eqs. 10–12, Fig. 4).

For n = 2…5: fidelity with |W_n⟩ against the sink temperature
and against U and μ, local Lindblad (ideal limit and finite U, μ).

Found here: for n ≥ 3 the sinks are not Coulomb-coupled to the other triangles' qubits, so a warm sink
is excited thermally while the W excitation sits in another triangle; the W state needs T_sink ≪ ε.
"""

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from transportbench.backends import lindblad
from transportbench.model import Machine
from transportbench.observables import fidelity, w_state
from transportbench.reporting import results_folder, save, study_arguments

args = study_arguments(__doc__)
sizes = [2, 3, 4] if args.quick else [2, 3, 4, 5]
temperatures = np.geomspace(0.02, 2.0, 5 if args.quick else 15)
couplings = np.linspace(4, 28, 4 if args.quick else 13)


def w_fidelity(machine: Machine, n: int) -> float:
    result = lindblad.solve_steady(machine)
    return fidelity(result.rho, result.occupations, w_state([(0.05, 0.05)] * (n - 1)))


versus_t = np.array([[w_fidelity(Machine.w_machine(n, ideal_limit=True, t_sink=t), n) for t in temperatures]
                     for n in sizes])
versus_u = np.array([[w_fidelity(Machine.w_machine(n, coulomb_energy=u, mu_hot=8.0, t_sink=0.1, t_hot=0.1), n)
                      for u in couplings] for n in sizes])
data = xr.Dataset({"fidelity_vs_sink_temperature": (("n", "t_sink"), versus_t, {"conditions": "ideal limit"}),
                   "fidelity_vs_coulomb": (("n", "U"), versus_u, {"conditions": "mu = 8, T = 0.1"})},
                  coords={"n": sizes, "t_sink": ("t_sink", temperatures, {"units": "ε"}),
                          "U": ("U", couplings, {"units": "ε"})})
for n, row in zip(sizes, versus_t, strict=True):
    print(f"n = {n}: ideal limit, F(T_sink = {temperatures[0]:.2g}) = {row[0]:.6f}, "
          f"F(T_sink = {temperatures[-1]:.2g}) = {row[-1]:.4f}")
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
for n, row_t, row_u in zip(sizes, versus_t, versus_u, strict=True):
    left.semilogx(temperatures, row_t, "o-", label=f"n = {n}")
    right.plot(couplings, row_u, "o-", label=f"n = {n}")
left.set_xlabel("sink temperature T_sink / ε")
left.set_ylabel("fidelity with |W_n⟩")
left.set_title("ideal limit (U, μ → ∞)")
right.set_xlabel("U / ε  (μ = 8 ε, T = 0.1 ε)")
right.set_title("finite U, μ")
left.legend()
save(results_folder(args.results, "w_states"), "w_states", data, figure)
