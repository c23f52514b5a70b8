"""W states (paper Eqs. 10–12, Fig. 4).

For n = 2…5: fidelity with |W_n⟩ against the sink temperature (ideal limit, local Lindblad) and against
U and μ (finite U, μ at T_hot = 1, T_sink = 0.1), local Lindblad and QmeQ's Pauli, 1vN and 1vN without
principal parts for n ≤ 3. From n = 4 on no fermion order makes every flip-flop join neighbouring dots, so
QmeQ's fermion model is a different model from the qubit machine and the qmeq backend refuses it.

Found here: for n ≥ 3 the sinks are not Coulomb-coupled to the other triangles' qubits, so a warm sink
is excited thermally while the W excitation sits in another triangle; the W state needs T_sink ≪ ε.
For the same reason the sinks' principal parts shift |1 on qubit 0⟩ against |1 on arm j⟩ by
(γ/2π) ln((ε + U)/ε) per other sink (0.038 at U = 20, comparable with g): 1vN with its Lamb shift loses
the W state for n ≥ 3 (and leaves positivity, smallest eigenvalue ~ −7e-3), without it agrees with Pauli
and the local Lindblad equation.
"""

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments
from tqdm.auto import tqdm

from transportbench.backends import local
from transportbench.comparison import compare
from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Machine
from transportbench.observables import fidelity, w_state

QMEQ_LARGEST_N = 3  # the qmeq backend refuses n >= 4 (flip-flops across other dots: see the docstring)
APPROACHES = ["local", "qmeq:Pauli", "qmeq:1vN", "qmeq:1vN-no-lamb"]
FINITE = {"T_hot": 1.0, "T_sink": 0.1}
AT_FIXED = {"U": 20.0, "mu_hot": 8.0}


def w_fidelity(machine: Machine, n: int) -> float:
    result = local.solve_steady(machine)
    return fidelity(result.rho, result.occupations, w_state([(0.05, 0.05)] * (n - 1)), result.model)


def fidelities(n: int, **parameters: float) -> tuple[list[float], list[float]]:
    """Fidelity with |W_n⟩ and smallest eigenvalue of ρ per approach (NaN where not run or failed)."""
    machine = Machine.w_machine(n, **{**FINITE, **parameters})
    tables = [compare(machine, ["local", "qmeq:Pauli", "qmeq:1vN"] if n <= QMEQ_LARGEST_N else ["local"])]
    if n <= QMEQ_LARGEST_N:
        plain = compare(machine, ["qmeq:1vN"], options={"qmeq:1vN": {"lamb_shift": False}})
        tables.append(plain.assign_coords(approach=["qmeq:1vN-no-lamb"]))
    rows = {str(name): table.sel(approach=name) for table in tables for name in table.approach.values
            if not str(table.error.sel(approach=name).values)}
    return ([float(rows[name].fidelity) if name in rows else np.nan for name in APPROACHES],
            [float(rows[name].min_eigenvalue) if name in rows else np.nan for name in APPROACHES])


def scan(name: str, values: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Fidelity and min eigenvalue [approach, n, value], ``name`` scanned, the other of U, μ at ``AT_FIXED``."""
    fidelity_table = np.full((len(APPROACHES), len(sizes), len(values)), np.nan)
    eigenvalue_table = np.full_like(fidelity_table, np.nan)
    with tqdm(total=len(sizes) * len(values), desc=f"W states vs {name}") as bar:
        for i, n in enumerate(sizes):
            for j, value in enumerate(values):
                point = {**AT_FIXED, name: float(value)}
                fidelity_table[:, i, j], eigenvalue_table[:, i, j] = fidelities(n, **point)
                bar.update()
    return fidelity_table, eigenvalue_table


def main() -> None:
    args = study_arguments(__doc__)
    sizes = [2, 3, 4] if args.quick else [2, 3, 4, 5]
    temperatures = np.geomspace(0.02, 2.0, 5 if args.quick else 15)
    coulomb_energies = np.linspace(4, 28, 4 if args.quick else 13)
    chemical_potentials = np.linspace(2, 18, 4 if args.quick else 17)
    versus_t = np.array([[w_fidelity(Machine.w_machine(n, ideal_limit=True, T_sink=t), n) for t in temperatures]
                         for n in sizes])
    versus_u, eigenvalues_u = scan("U", coulomb_energies, sizes)
    versus_mu, eigenvalues_mu = scan("mu_hot", chemical_potentials, sizes)
    finite = "T_hot = 1, T_sink = 0.1, gamma = 0.1, g = 0.05, epsilon = 1"
    data = xr.Dataset({"fidelity_vs_sink_temperature": (("n", "T_sink"), versus_t, {"conditions": "ideal limit"}),
                       "fidelity_vs_coulomb": (("approach", "n", "U"), versus_u, {"conditions": f"mu = 8, {finite}"}),
                       "fidelity_vs_mu": (("approach", "n", "mu"), versus_mu, {"conditions": f"U = 20, {finite}"}),
                       "min_eigenvalue_vs_coulomb": (("approach", "n", "U"), eigenvalues_u),
                       "min_eigenvalue_vs_mu": (("approach", "n", "mu"), eigenvalues_mu)},
                      coords={"approach": APPROACHES, "n": sizes, "T_sink": ("T_sink", temperatures, {"units": "ε"}),
                              "U": ("U", coulomb_energies, {"units": "ε"}),
                              "mu": ("mu", chemical_potentials, {"units": "ε"})})
    for n, row in zip(sizes, versus_t, strict=True):
        print(f"n = {n}: ideal limit, F(T_sink = {temperatures[0]:.2g}) = {row[0]:.6f}, "
              f"F(T_sink = {temperatures[-1]:.2g}) = {row[-1]:.4f}")
    print("fidelity at U = 20, mu = 8 (T_sink = 0.1), approach x n:")
    print(data.fidelity_vs_coulomb.sel(U=20.0, method="nearest").to_pandas().round(5).to_string())
    for n in sizes:  # the Lamb shift detunes |1 on qubit 0⟩ from |1 on arm j⟩; see transportbench.level_shifts
        shift = resonance_shift_estimate(Machine.w_machine(n, **{**FINITE, **AT_FIXED}))
        print(f"n = {n}: wide-band level-shift estimate of the resonance detuning of each arm: {shift:+.4f} (g = 0.05)")
    print("smallest eigenvalue of rho over the U and mu scans (negative: outside the approach's validity):")
    print(np.fmin(data.min_eigenvalue_vs_coulomb.min("U"), data.min_eigenvalue_vs_mu.min("mu")).to_pandas().to_string())

    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.2))
    for n, row_t in zip(sizes, versus_t, strict=True):
        left.semilogx(temperatures, row_t, "o-", label=f"n = {n}")
    styles = {"local": "-", "qmeq:Pauli": "--", "qmeq:1vN": ":", "qmeq:1vN-no-lamb": "-."}
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for a, approach in enumerate(APPROACHES):
        for i, n in enumerate(sizes):
            label = f"n = {n}, {approach}"
            middle.plot(coulomb_energies, versus_u[a, i], styles[approach], color=colours[i], label=label)
            right.plot(chemical_potentials, versus_mu[a, i], styles[approach], color=colours[i], label=label)
    left.set_xlabel("sink temperature T_sink / ε")
    left.set_ylabel("fidelity with |W_n⟩")
    left.set_title("ideal limit (U, μ → ∞), local Lindblad")
    left.legend()
    middle.set_xlabel("U / ε  (μ = 8 ε)")
    middle.set_title("finite U, μ: T_hot = 1, T_sink = 0.1")
    right.set_xlabel("μ / ε  (U = 20 ε)")
    right.legend(fontsize=6, ncol=2)
    save(results_folder(args.results, "w_states"), "w_states", data, figure)


if __name__ == "__main__":
    main()
