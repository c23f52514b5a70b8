"""Cotunnelling leakage through the dark state.

The hot particle current and the concurrence loss 1 − C against γ = γ1 = γ3, 2vN (explicit leads)
against the local Lindblad equation, with power-law fits.

Operating point close to the ideal limit so that sequential leakage is exponentially small:
U = 40, μ = 20, T = ε = 1, g = 0.05. Sequential processes are blocked in the dark state; a current
growing like γ² in 2vN (and not in the local Lindblad equation) is the cotunnelling signature.

Measured here: the leads' Lamb shift detunes the dark state by δ ∝ γ and lets a current ∝ γ³ through
(1vN: exponent 3.0; 2vN, whose finite band makes the shift larger, 2.8). The rows "at shifted resonance"
detune qubit 2 by the level-shift estimate (``scans.at_shifted_resonance``: wide band for 1vN, D for
2vN), which removes most of that and leaves the second-order leakage.

2vN: the energy grid is refined at every γ until ρ and the currents converge (the grid must resolve γ, so
it grows as 1/γ), on a flat band of half-width D = 100 instead of the default 3 × 81 = 243 to keep the
finest grid (γ = 0.01) at 20001 points; the currents are judged relative to themselves down to 1e-12 Σγ
(``current_floor``: the leakage currents are tiny); D is recorded in the data, and so is whether each point
converged.
"""

import matplotlib.pyplot as plt
import numpy as np

from transportbench.model import Band, Machine
from transportbench.reporting import results_folder, save, study_arguments
from transportbench.scans import at_shifted_resonance, leakage_vs_gamma


def main() -> None:
    args = study_arguments(__doc__)
    gammas = np.geomspace(0.01, 0.1, 3 if args.quick else 6)
    machine = Machine.triple_dot(U=40.0, mu_hot=20.0)
    two_vn_band = Band.flat(100.0)
    # --quick: one coarse, unconverged 2vN grid (a smoke run); otherwise the grid is converged at every γ
    twovn = ({"converge": False, "kpnt": 801, "niter": 8} if args.quick
             else {"check_bandwidth": False, "max_kpnt": 20001, "current_floor": 1e-12})
    shifted = at_shifted_resonance()
    adjust = {"qmeq:1vN at shifted resonance": shifted,
              "qmeq:2vN": lambda m: m.with_band(two_vn_band),
              "qmeq:2vN at shifted resonance": lambda m: shifted(m.with_band(two_vn_band))}
    specs = {"qmeq:1vN at shifted resonance": "qmeq:1vN", "qmeq:2vN at shifted resonance": "qmeq:2vN"}
    approaches = ["local", "qmeq:Pauli", "qmeq:1vN", "qmeq:2vN", *specs]
    table = leakage_vs_gamma(machine, approaches, gammas,
                             options={"qmeq:2vN": twovn, "qmeq:2vN at shifted resonance": twovn},
                             specs=specs, adjust=adjust)
    table.attrs["two_vn_options"] = repr(twovn)
    print(table.current.to_pandas().to_string())
    print("current exponents:", table.current_exponent.to_pandas().round(3).to_dict())
    print("concurrence-loss exponents:", table.loss_exponent.to_pandas().round(3).to_dict())
    print("converged:", table.converged.to_pandas().to_string())
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name in approaches:
        left.loglog(gammas, np.abs(table.current.sel(approach=name)), "o-", label=name)
        right.loglog(gammas, np.abs(table.concurrence_loss.sel(approach=name)), "o-", label=name)
    for row, power, style in (("qmeq:2vN at shifted resonance", 2, "k:"), ("qmeq:2vN", 3, "k--")):
        anchor = abs(float(table.current.sel(approach=row)[-1]))
        left.loglog(gammas, anchor * (gammas / gammas[-1]) ** power, style, label=f"∝ γ^{power}")
    left.set_xlabel("γ / ε")
    left.set_ylabel("|particle current from the hot lead| (ε)")
    right.set_xlabel("γ / ε")
    right.set_ylabel("1 − C")
    left.legend(fontsize=8)
    save(results_folder(args.results, "cotunnelling_leakage"), "leakage", table, figure)


if __name__ == "__main__":
    main()
