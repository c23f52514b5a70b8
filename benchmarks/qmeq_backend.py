"""Time every QmeQ approach through transportbench's QmeQ backend, and the converged 2vN solve.

Machines: the paper's triple dot at the Fig. 3 point (``Machine.triple_dot()``) and the n = 3 W machine
(``Machine.w_machine(3)``, five dots). First-order approaches report the best of ``--repeat`` solves.
2vN on the triple dot runs once with the default convergence control (grid refinement, iteration control,
bandwidth check), and its grid, iterations and error estimates are printed. 2vN on the W machine is
timed on a small fixed grid only (its C(0,1) means nothing on so coarse a grid): its cost per grid
point and iteration and its memory (7 MB of 2vN arrays per grid point: 3 leads, 210 first-order and 252
zeroth-order density-matrix elements) put a converged run far beyond a benchmark; the script prints what
the first grid of one would need.

``--bandwidth-scan`` adds 2vN on the triple dot at fixed spacing 0.1 and 16 iterations for band
half-widths D = 100, 200, 400, 800 (several minutes): the D dependence quoted in the backend's docs.

``--thermodynamics`` instead measures, for every QmeQ approach, the relative energy imbalance
|Σ_r J^E_r| / max_r |J^E_r|, the entropy production σ and the smallest eigenvalue of ρ at the Fig. 3 point and
on ``RANDOM_MACHINES`` seeded random triple dots (γ_hot ∈ [0.01, 0.3], g ∈ [0.01, 0.2], U ∈ [5, 20],
μ ∈ [2, 14]); 2vN there on a fixed grid of spacing ``THERMO_SPACING`` with ``THERMO_NITER`` iterations
(indicative, not converged; several minutes).

Wall times are noisy on a shared 2-core machine; CPU seconds of this process are printed beside them.

Usage::

    python benchmarks/qmeq_backend.py [--repeat 5] [--bandwidth-scan]
    python benchmarks/qmeq_backend.py --thermodynamics
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable

import numpy as np
from table_format import markdown_table

from transportbench.backends import qmeq as qmeq_backend
from transportbench.backends import qmeq_options, qmeq_system
from transportbench.convergence import ConvergenceWarning
from transportbench.model import Band, Machine
from transportbench.observables import concurrence
from transportbench.result import Result
from transportbench.samples import random_triple_dots

FIRST_ORDER = ("Pauli", "Lindblad", "Redfield", "1vN")
W_MACHINE_KPNT, W_MACHINE_NITER = 17, 2
SCAN_BANDWIDTHS, SCAN_SPACING, SCAN_NITER = (100.0, 200.0, 400.0, 800.0), 0.1, 16
RANDOM_MACHINES, RANDOM_SEED, THERMO_SPACING, THERMO_NITER = 20, 2024, 0.2, 12


def timed(solve: Callable[[], Result], repeat: int) -> tuple[Result, float, float]:
    """The result of the fastest of ``repeat`` calls, its wall seconds and its CPU seconds."""
    best = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = solve()
        timing = (time.perf_counter() - wall, time.process_time() - cpu)
        if best is None or timing[0] < best[1]:
            best = (result, *timing)
    return best


def concurrence_01(result: Result) -> float:
    """Concurrence of qubits 0 and 1."""
    return concurrence(result.reduced_state([0, 1]))


def row(machine_name: str, result: Result, settings: str, wall: float, cpu: float) -> tuple[str, ...]:
    """One table row."""
    return (machine_name, result.backend, settings, f"{concurrence_01(result):.5f}",
            f"{result.particle_currents['hot']:.4e}", f"{wall:.3f}", f"{cpu:.3f}")


def first_order_rows(machine_name: str, machine: Machine, repeat: int) -> list[tuple[str, ...]]:
    """Every first-order approach with principal parts (itype 1)."""
    rows = []
    for approach in FIRST_ORDER:
        result, wall, cpu = timed(lambda a=approach: qmeq_backend.solve_steady(machine, approach=a), repeat)
        rows.append(row(machine_name, result, f"lamb_shift={result.options['lamb_shift']}", wall, cpu))
    return rows


def converged_2vn_row(machine: Machine) -> tuple[tuple[str, ...], Result, list[str]]:
    """2vN with the default convergence control; warnings are collected and printed, not raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", qmeq_backend.BandwidthWarning)
        warnings.simplefilter("always", ConvergenceWarning)
        result, wall, cpu = timed(lambda: qmeq_backend.solve_steady(machine), 1)
    settings = f"converged: D={result.stats['band_half_width']:.1f}, grids listed below"
    return row("Fig. 3 triple dot", result, settings, wall, cpu), result, [str(w.message) for w in caught]


def fixed_2vn_row(machine_name: str, machine: Machine, kpnt: int, niter: int) -> tuple[str, ...]:
    """2vN on one fixed grid."""
    result, wall, cpu = timed(lambda: qmeq_backend.solve_steady(machine, converge=False, kpnt=kpnt, niter=niter), 1)
    return row(machine_name, result, f"fixed: D={result.stats['band_half_width']:.1f}, kpnt={kpnt}, niter={niter}",
               wall, cpu)


def bandwidth_scan_rows(machine: Machine) -> list[tuple[str, ...]]:
    """2vN at a fixed spacing and iteration count for several band half-widths D."""
    rows = []
    for bandwidth in SCAN_BANDWIDTHS:
        kpnt = round(2 * bandwidth / SCAN_SPACING) + 1
        flat = machine.with_band(Band.flat(bandwidth))
        result, wall, cpu = timed(lambda m=flat, k=kpnt: qmeq_backend.solve_steady(
            m, converge=False, kpnt=k, niter=SCAN_NITER), 1)
        rows.append(row("Fig. 3 triple dot", result, f"fixed: D={bandwidth:g}, kpnt={kpnt}, niter={SCAN_NITER}",
                        wall, cpu))
    return rows


def print_w_machine_estimate(machine: Machine, timed_row: tuple[str, ...]) -> None:
    """What the first grid of a converged 2vN run on ``machine`` would need: timed here and the backend's estimate."""
    bandwidth = qmeq_backend.default_bandwidth(machine)
    kpnt = qmeq_options.initial_kpnt(machine, bandwidth)
    cost = qmeq_system.estimate(machine, "2vN", bandwidth, kpnt)
    per_point = float(timed_row[-2]) / (W_MACHINE_KPNT * W_MACHINE_NITER)
    print(f"\nW machine 2vN: {per_point:.2f} s per grid point and iteration; the first grid of a converged run "
          f"(D={bandwidth:.1f}, kpnt={kpnt}) would take about {per_point * kpnt * 10 / 3600:.1f} h for 10 "
          f"iterations. The backend refuses it beyond the memory budget; its estimate: {cost.what}.")


def thermodynamics_solve(machine: Machine, approach: str) -> Result:
    """First order as by default; 2vN on a fixed grid of spacing ``THERMO_SPACING`` (warnings silenced)."""
    if approach != "2vN":
        return qmeq_backend.solve_steady(machine, approach=approach)
    bandwidth = qmeq_backend.default_bandwidth(machine)
    kpnt = round(2 * bandwidth / THERMO_SPACING) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return qmeq_backend.solve_steady(machine, converge=False, kpnt=kpnt, niter=THERMO_NITER)


def thermodynamics_table() -> list[tuple[str, ...]]:
    """Energy imbalance, entropy production and positivity per approach: Fig. 3 point and random machines."""
    header = ("approach", "Fig. 3: imbalance", "Fig. 3: σ", "Fig. 3: min eig", "random: imbalance median",
              "random: imbalance max", "random: σ < 0", "random: min σ/scale", "random: unphysical",
              "random: min eig")
    machines = random_triple_dots(RANDOM_MACHINES, RANDOM_SEED)
    rows = [header]
    for approach in (*FIRST_ORDER, "2vN"):
        fig3 = thermodynamics_solve(Machine.triple_dot(), approach).health
        healths = [thermodynamics_solve(machine, approach).health for machine in machines]
        imbalance = [health.relative_energy_imbalance() for health in healths]
        rows.append((approach, f"{fig3.relative_energy_imbalance():.2g}", f"{fig3.entropy_production:.3g}",
                     f"{fig3.min_eigenvalue:.2g}", f"{np.median(imbalance):.2g}", f"{np.max(imbalance):.2g}",
                     f"{sum(not health.obeys_second_law() for health in healths)}/{len(healths)}",
                     f"{min(h.entropy_production / h.entropy_scale for h in healths):.2g}",
                     f"{sum(not health.is_physical() for health in healths)}/{len(healths)}",
                     f"{min(health.min_eigenvalue for health in healths):.2g}"))
    return rows


def main() -> None:
    """Run the benchmark and print the table, the 2vN convergence record and the machine."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of first-order solves (best reported)")
    parser.add_argument("--bandwidth-scan", action="store_true", help="add the 2vN bandwidth scan (minutes)")
    parser.add_argument("--thermodynamics", action="store_true",
                        help="only the energy-imbalance / entropy-production table (minutes)")
    arguments = parser.parse_args()
    if arguments.thermodynamics:
        print(markdown_table(thermodynamics_table()))
        return
    triple_dot, w_machine = Machine.triple_dot(), Machine.w_machine(3)

    header = ("machine", "backend", "settings", "C(0,1)", "I hot", "wall s", "CPU s")
    rows = [header, *first_order_rows("Fig. 3 triple dot", triple_dot, arguments.repeat)]
    two_vn, converged, caught = converged_2vn_row(triple_dot)
    rows.append(two_vn)
    rows += first_order_rows("W machine n=3", w_machine, arguments.repeat)
    w_machine_2vn = fixed_2vn_row("W machine n=3", w_machine, W_MACHINE_KPNT, W_MACHINE_NITER)
    rows.append(w_machine_2vn)
    if arguments.bandwidth_scan:
        rows += bandwidth_scan_rows(triple_dot)
    print(markdown_table(rows))

    print("\nConverged 2vN at the Fig. 3 point (the notes list every grid solved):")
    for note in converged.health.notes:
        print(f"  note: {note}")
    for grid in converged.stats["grids"]:
        print(f"  grid: {grid}")
    for message in caught:
        print(f"  warning: {message}")
    print_w_machine_estimate(w_machine, w_machine_2vn)
    print(f"\n{platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} (other processes share the CPUs: wall times are noisy)")


if __name__ == "__main__":
    main()
