"""Poles of the Fermi function per lead for a given accuracy: Padé against the rational (AAA) fit.

For each machine and each lead temperature T (every lead set to it) the window is the widest lead window of
the HEOM backend (:func:`transportbench.backends.heom_fermi.lead_windows`: every transition energy of the
lead's dot from its μ, plus 30 × Σ Γ). For each tolerance the table gives the fewest poles per branch whose
largest error |f_expanded − f| on that window is within it (each pole is one exponent per branch, so a
wide-band lead has twice as many exponents in the hierarchy), for the Padé approximant (Hu, Xu and Yan
2010) and for the rational fit of ``heom_fermi.aaa_expansion``, with the fit's smallest pole distance ξ_min
(its slowest exponent decays at ξ_min T) and the time to find the fit (wall clock, every fit from the first
pole count up; the fits are cached across the table's rows).

Machines: the Fig. 3 point (``Machine.triple_dot()``) and the W machine of the exact study
(``Machine.w_machine(3, U=20, mu_hot=8)``).

Usage::

    python benchmarks/fermi_expansion.py

Prints the Markdown table that docs/heom.md records.
"""

from __future__ import annotations

import dataclasses
import time

from table_format import markdown_table

from transportbench.backends import heom_fermi
from transportbench.model import Machine

TEMPERATURES = (1.0, 0.1, 0.02)
TOLERANCES = (1e-4, 1e-6)
MACHINES = {"Fig. 3 point": Machine.triple_dot(), "W machine (n = 3, U = 20)": Machine.w_machine(3, U=20.0,
                                                                                                  mu_hot=8.0)}
MAX_POLES = 3000
"""Padé counts are searched up to this many poles."""


def at_temperature(machine: Machine, temperature: float) -> Machine:
    """``machine`` with every lead at ``temperature`` (energy units)."""
    return machine.replace(reservoirs=tuple(dataclasses.replace(r, temperature=temperature)
                                            for r in machine.reservoirs))


def main() -> None:
    """Print each row as it is measured, then the Markdown table."""
    rows = [["machine", "T", "window |ω − μ| ≤", "X = window/T", "max error", "Padé poles", "AAA poles",
             "AAA ξ_min", "AAA time (s)"]]
    for label, machine in MACHINES.items():
        for temperature in TEMPERATURES:
            windows = heom_fermi.lead_windows(at_temperature(machine, temperature))
            window = max(windows)
            for tol in TOLERANCES:
                pade = heom_fermi.poles_for("pade", window, tol, max_count=MAX_POLES)
                start = time.perf_counter()
                fit = heom_fermi.poles_for("aaa", window, tol)
                seconds = time.perf_counter() - start
                rows.append([label, f"{temperature:g}", f"{window * temperature:.1f}", f"{window:.0f}", f"{tol:.0e}",
                             str(len(pade.xi)), str(len(fit.xi)), f"{fit.xi.min():.3f}", f"{seconds:.1f}"])
                print(" | ".join(rows[-1]), flush=True)
    print()
    print(markdown_table(rows, right_aligned=range(1, 9)))


if __name__ == "__main__":
    main()
