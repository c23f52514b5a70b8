"""HEOM benchmark: our steady state of the hierarchy against QuTiP's ``HEOMSolver.steady_state``, and more.

Rows (each measured in a fresh subprocess with one BLAS/OpenMP thread, so that peak memory is its own):

* the Fig. 3 point on Lorentzian leads (``Band.lorentzian(93.3)``) at depth 2 and 3 on the same hierarchy,
  solved by our charge-reduced solver (``solver="auto"``) and by QuTiP's ``steady_state`` (``solver="qutip"``);
  max |Δρ| between the two, wall time, peak RSS;
* the converged HEOM point (default ``solve_steady``: Padé terms, then depth, until C changes < 1e-4 and
  the currents < 1 %) against the converged 2vN point of the QmeQ backend (``--no-2vn`` skips it, ~1 min);
* the W machine with n = 3 (5 dots, 3 leads) at depth 2 with a fixed number of Padé terms;
* the converged Fig. 3 point on wide-band leads, the wide band in the hierarchy against the extrapolation in
  1/W, each with our assembly of the hierarchy and with QuTiP's (``HEOMSolver`` builds every hierarchy, as
  this package did before 2026-12-07: the baseline), their time ratios in the same run;
* the cold W machine (n = 3, T_sink = 0.1, wide band in the hierarchy) at fixed per-reservoir pole counts
  (``expansion``: Padé or the AAA fit), depth 2, 3 and 4 and ADO thresholds, within an 8 GiB budget: ADOs,
  charge-reduced unknowns, memory estimate, F, currents, or the refusal with its estimate; then the same machine
  converged by ``solve_steady`` (``W_CONVERGED``: poles, depth and ADO threshold refined in turn).

Run ``.venv/bin/python benchmarks/heom.py`` (about an hour, most of it QuTiP's steady state at depth 3 and the
W machine; QuTiP's (6, 3) solve is killed after ``--qutip-timeout`` seconds); ``--quick`` runs only the
wide-band rows and three small cold W machine hierarchies (a few minutes); ``--w-machine`` only the cold W
machine's rows and its converged solve (about 30 minutes), ``--w-converged`` only the latter.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from table_format import markdown_table  # noqa: E402

from transportbench.resources import BLAS_THREAD_VARIABLES, MEMORY_ENVIRONMENT, THREADS_ENVIRONMENT  # noqa: E402

THREAD_VARIABLES = (*BLAS_THREAD_VARIABLES, THREADS_ENVIRONMENT)
FIG3_HIERARCHIES = ((10, 2), (4, 3), (6, 3))
"""(Padé terms, depth) of the Fig. 3 hierarchies solved by both steady-state solvers (QuTiP needed 319 s and
4.2 GiB for (4, 3) and did not finish (6, 3) in 34 min, 6.8 GiB and growing, on 2 shared cores)."""
W_MACHINE_PADE = 8
W_COLD = {"U": 20.0, "mu_hot": 8.0, "T_hot": 1.0, "T_sink": 0.1}
"""The W machine (n = 3) of issue #20's goal: ``Machine.w_machine(3, **W_COLD)`` on wide-band leads."""
W_COLD_HIERARCHIES = (("pade", (6, 16), 2, 0.0), ("aaa", (6, 10), 2, 0.0), ("aaa", (8, 14), 2, 0.0),
                      ("aaa", (10, 18), 2, 0.0), ("aaa", (12, 22), 2, 0.0), ("aaa", (6, 10), 3, 0.0),
                      ("aaa", (8, 14), 3, 0.0), ("pade", (6, 16), 3, 0.0), ("aaa", (8, 14), 4, 0.0),
                      ("aaa", (8, 14), 3, 1e-6), ("aaa", (8, 14), 4, 1e-6), ("aaa", (8, 14), 3, 1e-7),
                      ("aaa", (8, 14), 4, 1e-7))
"""(expansion, (poles of the hot lead, of each sink), depth, ADO threshold) of the cold W machine's rows, the wide
band in the hierarchy: Padé at depth 2 as before, the AAA fit's pole steps at depth 2, depth 3 at two AAA counts
and at Padé's (its estimate against the budget), depth 4 whole (refused) and filtered by ADO thresholds (the depth
step 3 → 4 and the threshold step at each depth)."""
W_COLD_QUICK = (("aaa", (8, 14), 2, 0.0), ("aaa", (6, 10), 3, 0.0), ("aaa", (6, 10), 4, 1e-6))
W_CONVERGED = {"pade": {"hot": 8, "sink1": 14, "sink2": 14}, "depth": 2, "converge": True, "expansion": "aaa",
               "ado_threshold": 1e-6, "tol": 1e-3, "current_rtol": 0.02}
"""The cold W machine converged by ``solve_steady``: AAA poles from 8/14, depth from 2, the ADO threshold from
1e-6 (Padé terms, then depth, then threshold), to issue #20's tolerances (1e-3 absolute, here on C(0, 1), and
2 % on the currents). At the default 1e-4 its threshold step (2.2e-4 in C at poles 10/16) does not settle within
8 GiB."""
MEMORY_GIB = 8.0
"""Memory budget of every worker (``TRANSPORTBENCH_MEMORY_GIB``): the goal's 8 GiB."""


# ------------------------------------------------------------------------------------ the worker
def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _machine(name: str):  # noqa: ANN202
    from transportbench.model import Machine

    if name == "w3":
        return Machine.w_machine(3)
    if name == "w3cold":
        return Machine.w_machine(3, **W_COLD)
    return Machine.triple_dot()


def _run_task(task: dict) -> dict:
    """One measurement in this process; returns JSON-able figures (or the refusal and its estimate)."""
    import numpy as np

    from transportbench.model import Band
    from transportbench.observables import concurrence, fidelity, w_state
    from transportbench.resources import ResourceBudgetError

    machine = _machine(task["machine"])
    if task["kind"] == "heom":  # one hierarchy per solve: Lorentzian leads of half-width 3 × the energy scale
        from transportbench.backends.heom import default_band_width

        machine = machine.with_band(Band.lorentzian(default_band_width(machine)))
    if task["kind"] == "2vn":
        from transportbench.backends import qmeq as backend

        options = {"approach": "2vN"}
    else:
        import qutip  # noqa: F401  (imported before the baseline is taken)

        from transportbench.backends import heom as backend

        options = task.get("options", {})
    size = {}
    if task["kind"] != "2vn" and "depth" in options and "pade" in options:
        from transportbench.backends import heom_hierarchy, heom_solve

        wide = task["kind"] == "heom-wide"
        if options.get("ado_threshold", 0.0) > 0:  # counted on the filtered layout (every listed ADO judged)
            with heom_hierarchy.fermi_expansion(options.get("expansion", "pade")):
                structure = heom_hierarchy.filtered_layout(machine, math.inf, options["pade"], options["depth"],
                                                           options["ado_threshold"])[0]
            counted = heom_hierarchy.layout_size(machine, structure)
        else:
            counted = heom_hierarchy.hierarchy_size(machine, options["pade"], options["depth"], wide=wide)
        size = {"ados": counted.ados, "unknowns": counted.reduced_unknowns,
                "estimate": heom_solve.hierarchy_bytes(machine, options["pade"], options["depth"],
                                                       options.get("solver", "auto"), wide=wide, size=counted)}
    if task.get("builder") == "qutip":
        _build_with_qutip()
    baseline = _peak_mib()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        result = backend.solve_steady(machine, **options)
    except ResourceBudgetError as refusal:
        return {**size, "refused": str(refusal)}
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rho = np.asarray(result.rho)
    figures = {**size, "wall": wall, "cpu": cpu, "peak_mib": _peak_mib(), "baseline_mib": baseline,
               "rho": [rho.real.tolist(), rho.imag.tolist()],
               "concurrence": concurrence(result.reduced_state([0, 1])),
               "current": result.particle_currents["hot"], "currents": list(result.particle_currents.values()),
               "notes": list(result.health.notes), "status": result.health.status(),
               "residual": result.health.residual}
    if task["machine"].startswith("w3"):
        figures["fidelity"] = fidelity(result.rho, result.occupations, w_state([(0.05, 0.05)] * 2), result.model)
    figures["stages"] = {change.stage: [change.concurrence, change.currents] for change in result.error.stages}
    figures["final_ados"] = result.stats["ados"]
    return figures


def _build_with_qutip() -> None:
    """Make every hierarchy of this process QuTiP-assembled: ``HEOMSolver`` builds it, mapped onto our unknowns."""
    from transportbench.backends import heom_hierarchy

    ours = heom_hierarchy.build_hierarchy

    def built_by_qutip(machine, band_width, pade, depth):  # noqa: ANN001, ANN202
        built = ours(machine, band_width, pade, depth)
        # seeds the cached property ``generator``: a direct solve uses QuTiP's matrix instead of assembling ours
        built.__dict__["generator"] = heom_hierarchy.qutip_generator(machine, band_width, pade, depth, built)
        return built

    heom_hierarchy.build_hierarchy = built_by_qutip


def _measure(task: dict, timeout: float | None = None) -> dict:
    """Run ``task`` in a fresh interpreter with one BLAS thread (killed after ``timeout`` seconds)."""
    environment = dict(os.environ, **{name: "1" for name in THREAD_VARIABLES}, **{MEMORY_ENVIRONMENT: str(MEMORY_GIB)})
    try:
        completed = subprocess.run([sys.executable, __file__, "--worker", json.dumps(task)], capture_output=True,
                                   text=True, env=environment, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout:.0f} s"}
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1] if completed.stderr else "failed"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ the table
def _versions() -> str:
    import numpy
    import qutip
    import scipy

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"Python {platform.python_version()}, NumPy {numpy.__version__}, SciPy {scipy.__version__}, "
            f"QuTiP {qutip.__version__}; {os.cpu_count()} CPUs, one BLAS thread per run; load average before "
            f"the runs {load}")


def _rho(figures: dict):  # noqa: ANN202
    import numpy as np

    return np.asarray(figures["rho"][0]) + 1j * np.asarray(figures["rho"][1])


def _row(machine: str, solver: str, settings: str, figures: dict, delta: str = "") -> list[str]:
    if "wall" not in figures:
        outcome = figures.get("error") or "refused: " + figures.get("refused", "").split(" needs ")[-1].split(";")[0]
        return [machine, solver, settings, "—", "—", "—", "—", "—", delta or outcome[:80]]
    return [machine, solver, settings, f"{figures['concurrence']:.5f}", f"{figures['current']:.5e}",
            f"{figures['wall']:.2f}", f"{figures['cpu']:.2f}", f"{figures['peak_mib']:.0f}", delta]


def _fig3_rows(qutip_timeout: float) -> list[list[str]]:
    import numpy as np

    rows = []
    for pade, depth in FIG3_HIERARCHIES:
        options = {"pade": pade, "depth": depth}
        ours = _measure({"machine": "fig3", "kind": "heom", "options": options})
        theirs = _measure({"machine": "fig3", "kind": "heom", "options": {**options, "solver": "qutip"}},
                          timeout=qutip_timeout)
        delta = ""
        if "wall" in ours and "wall" in theirs:
            delta = f"max abs Δρ {np.max(np.abs(_rho(ours) - _rho(theirs))):.1e}; {theirs['wall'] / ours['wall']:.0f}x"
        elif "error" in theirs:
            delta = f"QuTiP {theirs['error']}"
        elif "refused" in theirs:
            delta = "QuTiP refused: " + theirs["refused"].split(" needs ")[-1].split(";")[0]
        settings = f"pade={pade}, depth={depth}"
        rows.append(_row("Fig. 3 triple dot", "heom (ours)", settings, ours))
        rows.append(_row("Fig. 3 triple dot", "heom (QuTiP steady_state)", settings, theirs, delta))
    return rows


def _converged_rows(with_2vn: bool) -> tuple[list[list[str]], list[str]]:
    converged = _measure({"machine": "fig3", "kind": "heom"})
    notes = converged.get("notes", [])
    rows = [_row("Fig. 3 triple dot", "heom converged", "tol 1e-4 on C, 1 % on currents", converged,
                 converged.get("status", ""))]
    if with_2vn:
        two = _measure({"machine": "fig3", "kind": "2vn"})
        ratio = f"HEOM {two['wall'] / converged['wall']:.0f}x faster" if "error" not in two else ""
        rows.append(_row("Fig. 3 triple dot", "qmeq:2vN converged", "D=93.3, default refinement", two, ratio))
    return rows, notes


def _w_machine_rows() -> list[list[str]]:
    figures = _measure({"machine": "w3", "kind": "heom", "options": {"pade": W_MACHINE_PADE, "depth": 2}})
    note = next((n for n in figures.get("notes", []) if "ADOs" in n), "")
    return [_row("W machine n=3", "heom (ours)", f"pade={W_MACHINE_PADE}, depth=2", figures,
                 note.split(": ", 1)[-1].split(", residual")[0])]


def _wide_band_rows() -> list[list[str]]:
    """The converged Fig. 3 point on wide-band leads: the wide band in the hierarchy against the extrapolation."""
    runs = {(method, builder): _measure({"machine": "fig3", "kind": "heom-wide", "builder": builder,
                                         "options": {"wide_band": method}})
            for method in ("direct", "extrapolate") for builder in ("ours", "qutip")}
    direct = runs["direct", "ours"]
    baseline = runs["extrapolate", "qutip"]
    labels = {"direct": "heom, wide band in the hierarchy", "extrapolate": "heom, extrapolated in 1/W"}
    rows = []
    for (method, builder), figures in runs.items():
        comparison = _final(figures)
        if "wall" in figures and "wall" in direct and (method, builder) != ("direct", "ours"):
            comparison += (f"; {figures['wall'] / direct['wall']:.1f}x the direct one's time, |ΔC| "
                           f"{abs(direct['concurrence'] - figures['concurrence']):.1e}")
        built = "our assembly" if builder == "ours" else "QuTiP's HEOMSolver builds (baseline)"
        rows.append(_row("Fig. 3 triple dot, wide band", f"{labels[method]}; {built}",
                         "converged, tol 1e-4 on C, 1 % on currents", figures, comparison))
    if "wall" in direct and "wall" in baseline:
        rows.append(["", "", "", "", "", "", "", "", f"direct (ours) against the extrapolation built by QuTiP: "
                     f"{baseline['wall'] / direct['wall']:.1f}x faster"])
    return rows


def _final(figures: dict) -> str:
    return next((note for note in figures.get("notes", []) if note.startswith("final:")), figures.get("error", ""))


def _w_cold_table(hierarchies: tuple) -> str:
    """The cold W machine (wide band in the hierarchy) at fixed Padé terms and depth, budget ``MEMORY_GIB``."""
    from transportbench.resources import GIB

    rows = [["poles hot/sinks", "depth", "ADO threshold", "ADOs", "unknowns", "estimate GiB", "F(W_3)", "I hot",
             "I sink1", "wall s", "peak MiB", "solver / refusal"]]
    for expansion, (hot, sink), depth, threshold in hierarchies:
        pade = {"hot": hot, "sink1": sink, "sink2": sink}
        figures = _measure({"machine": "w3cold", "kind": "heom-wide",
                            "options": {"pade": pade, "depth": depth, "converge": False, "expansion": expansion,
                                        "ado_threshold": threshold, "max_ados": 2_000_000}})
        counts = [str(figures.get("ados", "—")), str(figures.get("unknowns", "—")),
                  f"{figures['estimate'] / GIB:.1f}" if "estimate" in figures else "—"]
        if "wall" not in figures:
            outcome = ("refused: " + figures["refused"].split(" needs ")[-1].split(";")[0] if "refused" in figures
                       else f"failed: {figures.get('error', '')}")
            rows.append([f"{expansion} {hot}/{sink}", str(depth), f"{threshold:g}", *counts, "—", "—", "—", "—", "—",
                         outcome])
            continue
        method = next((n for n in figures["notes"] if "ADOs" in n), "").split("unknowns, ")[-1].split(", residual")[0]
        rows.append([f"{expansion} {hot}/{sink}", str(depth), f"{threshold:g}", *counts, f"{figures['fidelity']:.6f}",
                     f"{figures['currents'][0]:.4e}", f"{figures['currents'][1]:.4e}", f"{figures['wall']:.1f}",
                     f"{figures['peak_mib']:.0f}", method])
    return markdown_table(rows, right_aligned=range(1, 11))


def _w_converged() -> str:
    """The cold W machine converged by ``solve_steady`` (``W_CONVERGED``): its figures and every hierarchy solved."""
    figures = _measure({"machine": "w3cold", "kind": "heom-wide", "options": W_CONVERGED})
    settings = ", ".join(f"{key}={value}" for key, value in W_CONVERGED.items())
    if "wall" not in figures:
        return f"converged W machine ({settings}): {figures.get('error') or figures.get('refused')}"
    lines = [f"converged W machine ({settings}): F(W_3) = {figures['fidelity']:.6f}, I hot = "
             f"{figures['currents'][0]:.5e}, status {figures['status']}; wall {figures['wall']:.0f} s, CPU "
             f"{figures['cpu']:.0f} s, peak {figures['peak_mib']:.0f} MiB",
             "  error stages (|ΔC(0,1)|, currents relative): " + "; ".join(
                 f"{stage} {c:.1e}, {i:.1e}" for stage, (c, i) in figures["stages"].items())]
    lines += ["  " + note for note in figures["notes"]
              if "W=inf" in note or note.startswith(("final", "error", "HEOM: the"))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark tables (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--no-2vn", action="store_true", help="skip the converged 2vN point (~1 min)")
    parser.add_argument("--quick", action="store_true",
                        help="only the wide-band rows and two W machine hierarchies (no QuTiP, no 2vN; minutes)")
    parser.add_argument("--qutip-timeout", type=float, default=900.0, help="kill QuTiP's solve after this many s")
    parser.add_argument("--w-machine", action="store_true",
                        help="only the cold W machine: its fixed hierarchies and its converged solve (about 30 min)")
    parser.add_argument("--w-converged", action="store_true",
                        help="only the cold W machine's converged solve (about 10 min)")
    arguments = parser.parse_args(argv)
    if arguments.worker:
        print(json.dumps(_run_task(json.loads(arguments.worker))))
        return
    print(_versions() + f"; memory budget {MEMORY_GIB:g} GiB per run\n")
    if arguments.w_machine or arguments.w_converged:
        _print_w_machine(() if arguments.w_converged else W_COLD_HIERARCHIES, converged=True)
        return
    rows = [["machine", "solver", "settings", "C(0,1)", "I hot", "wall s", "CPU s", "peak MiB", "comparison"]]
    notes: list[str] = []
    if not arguments.quick:
        rows += _fig3_rows(arguments.qutip_timeout)
        converged_rows, notes = _converged_rows(not arguments.no_2vn)
        rows += converged_rows + _w_machine_rows()
    rows += _wide_band_rows()
    print(markdown_table(rows, right_aligned=(3, 4, 5, 6, 7)))
    if notes:
        print("\nConverged HEOM point (Lorentzian band), every hierarchy solved:")
        for note in notes:
            print("  " + note)
    _print_w_machine(W_COLD_QUICK if arguments.quick else W_COLD_HIERARCHIES, converged=not arguments.quick)


def _print_w_machine(hierarchies: tuple, *, converged: bool) -> None:
    print(f"\nW machine n = 3, {', '.join(f'{k}={v:g}' for k, v in W_COLD.items())}, wide band in the hierarchy "
          "(QuTiP's steady_state lacks its time-local term: no baseline):")
    if hierarchies:
        print(_w_cold_table(hierarchies))
    if converged:
        print()
        print(_w_converged())
    print(f"\nload average after the runs: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()
