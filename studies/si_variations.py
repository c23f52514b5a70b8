"""Supplementary checks of the paper.

Concurrence against γ1/γ3 and against single-qubit dephasing, local Lindblad at the Fig. 3 point
(U = 15, μ = 8, T = ε = 1, g = 0.05).
"""

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments

from transportbench.model import Machine
from transportbench.sweeps import sweep


def main() -> None:
    args = study_arguments(__doc__)
    count = 5 if args.quick else 21
    rates = {"gamma.hot": np.geomspace(0.005, 0.5, count), "gamma.cold": np.geomspace(0.005, 0.5, count)}
    folder = results_folder(args.results, "si_variations")
    couplings = sweep(Machine.triple_dot(), rates, ["local"], path=folder / "gamma_map.nc", workers=1,
                      replace_stale=True)
    dephasing = {name: np.geomspace(1e-5, 1e-1, count) for name in ("dephasing.0", "dephasing.1", "dephasing.2")}
    rows = [sweep(Machine.triple_dot(), {name: values}, ["local"], workers=1, progress=False)
            .concurrence.sel(approach="local").values for name, values in dephasing.items()]
    data = xr.Dataset({"concurrence_vs_dephasing": (("qubit", "kappa"), np.array(rows))},
                      coords={"qubit": [0, 1, 2], "kappa": ("kappa", dephasing["dephasing.0"], {"units": "ε"})})
    concurrence_map = couplings.concurrence.sel(approach="local")
    print(f"C over gamma1, gamma3 in [0.005, 0.5]: {float(concurrence_map.min()):.4f} ... "
          f"{float(concurrence_map.max()):.4f}")
    for qubit, row in zip((1, 2, 3), rows, strict=True):
        half = np.interp(0.5, row[::-1], dephasing["dephasing.0"][::-1]) if row.min() < 0.5 else np.nan
        print(f"dephasing on qubit {qubit}: C(kappa = {dephasing['dephasing.0'][-1]:g}) = {row[-1]:.4f}, "
              f"C = 0.5 at kappa = {half:.2g}")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"wspace": 0.35})
    mesh = left.pcolormesh(couplings["gamma.hot"], couplings["gamma.cold"],
                           couplings.concurrence.sel(approach="local").T, shading="auto")  # colour range: the data
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("γ1 / ε")
    left.set_ylabel("γ3 / ε")
    figure.colorbar(mesh, ax=left, label="concurrence C")
    for qubit, row in zip((1, 2, 3), rows, strict=True):
        right.semilogx(dephasing["dephasing.0"], row, label=f"dephasing on qubit {qubit}")
    right.set_xlabel("dephasing rate κ / ε")
    right.set_ylabel("C")
    right.legend()
    save(folder, "si_variations", data, figure)


if __name__ == "__main__":
    main()
