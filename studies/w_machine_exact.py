"""W machine n = 3 against the exact answer (HEOM on the wide band): is the arms' Lamb-shift detuning real.

Machine: ``Machine.w_machine(3, U=20, mu_hot=8, T_hot=1, T_sink=0.1)`` (5 qubits; wide-band leads "hot",
"sink1", "sink2"; γ = 0.1, g = 0.05, ε = 1), fidelity F with |W_3⟩. 1vN with its principal parts puts the
fidelity maximum at a detuning of the arms, the first-order approaches without them at δ = 0; the
second-order level-shift estimate says each foreign sink lifts |1 on qubit 0⟩ above |1 on arm j⟩ by
≈ (γ/2π) ln((ε + U)/ε).

The like-for-like test: detune both arms (qubits 1 and 2, ε → ε + δ) and locate δ*, the detuning that
maximises F, in HEOM, in 1vN and Pauli (wide band) and in the estimate
(``level_shifts.resonance_shift_estimate`` on the wide band: the exact Fermi functions' principal parts;
``heom_shifts.resonance_estimate_on_bath`` is its counterpart for Lorentzian Padé baths and does not apply).

HEOM solves the wide band in the hierarchy (``wide_band="direct"``: no band width, no extrapolation), each
lead's f − 1/2 fitted with AAA poles (``expansion="aaa"``; poles per lead given as hot / each sink: the cold
sinks need more), in a fixed hierarchy (``converge=False``, so that F(δ) is smooth). The main hierarchy
(poles 8/14, depth 2) is solved on a grid of δ and δ* located by ``scans.parabolic_maximum``. The checks
(more poles at depth 2; depth 3 at the main poles; for n = 3 also depth 4 filtered by the ADO thresholds
1e-6 and 1e-7, the whole depth-4 hierarchy having about a million ADOs; minutes and up to about 8 GiB each,
hence ``MEMORY_GIB``) are solved, like the main hierarchy, at δ = 0 and at δ*₂ − h, δ*₂, δ*₂ + h (δ*₂ the
main δ*, h = ``STEP``): a check's δ* is δ*₂ plus the move of the vertex of the parabola through those three
points from the main hierarchy's, its F(δ*) that parabola's maximum, its currents those at δ = δ*₂.

The exact value of each quantity is the deepest hierarchy solved at the main poles; its error bar is the
sum of the pole error (the largest change from the main poles to more poles, measured at depth 2), the
depth error (the last depth step at the main poles, each depth at its smallest ADO threshold), the ADO
threshold error (the change from the deepest hierarchy to the same one at a larger threshold) and, for δ*,
the main search's location error. The goal is a last depth step below 1e-3 in F and 2 % in the currents;
the report says where it is not met.
Control: the triple dot (n = 2) at the same U, μ, T_sink, where depth 3 and 4 are cheap.

``--quick``: depth 2 only, poles 6/10 (check 8/14) and coarse grids: a smoke run whose HEOM values are not
converged and have no depth error. HEOM solves are kept in ``heom_points.jsonl`` of the results folder,
keyed by every setting, so that a rerun reads them back (an interrupted run resumes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments
from tqdm.auto import tqdm

from transportbench.backends import heom
from transportbench.cache import PointCache
from transportbench.comparison import solve
from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Machine
from transportbench.observables import fidelity, w_state
from transportbench.options import RunOptions
from transportbench.result import Result
from transportbench.scans import MaximumScan, parabolic_maximum

POINT = {"U": 20.0, "mu_hot": 8.0, "T_hot": 1.0, "T_sink": 0.1}
G = 0.05
MEMORY_GIB = 8.0
"""Memory budget of each HEOM solve (n = 3 with poles 8/14: depth 3 62 269 ADOs, 6.0 GiB estimated; depth 4 at
ADO threshold 1e-7 84 321 ADOs, 7.8 GiB)."""
MAX_ADOS = 200_000
"""ADO limit of each hierarchy, above the backend's default: the triple dot at depth 4 has 150 000 (1 GiB)."""
STEP = 0.005
"""h: the checks are solved at δ*₂ − h, δ*₂, δ*₂ + h around the main hierarchy's δ*₂ (energy units)."""
GOAL_FIDELITY, GOAL_CURRENT = 1e-3, 0.02
"""The convergence goal of the last depth step: absolute in F, relative in the currents."""
QUANTITIES = ("delta_star", "F_bare", "F_star", "F_at_main_star", "I_hot_bare", "JE_hot_bare", "I_hot_star",
              "JE_hot_star")
"""The reported quantities (the sinks' currents follow from the hot lead's: each sink carries −1/(n − 1) of it)."""
DESCRIPTIONS = {"delta_star": "δ* (the arms' detuning that maximises F)", "F_bare": "F at δ = 0",
                "F_star": "F(δ*), the maximum over δ", "F_at_main_star": "F at δ = δ*₂ (the main δ*)",
                "I_hot_bare": "hot particle current at δ = 0", "JE_hot_bare": "hot energy current at δ = 0",
                "I_hot_star": "hot particle current at δ = δ*₂", "JE_hot_star": "hot energy current at δ = δ*₂"}


# ------------------------------------------------------------------------------------------ machine
def w_machine(n: int) -> Machine:
    """The W machine at the study's point (U = 20, μ = 8, T_hot = 1, T_sink = 0.1), wide-band leads."""
    return Machine.w_machine(n, **POINT, g=G)


def arms_detuned(machine: Machine, delta: float) -> Machine:
    """``machine`` with every arm (qubits 1 … n − 1) detuned by δ."""
    return machine.detuned(dict.fromkeys(range(1, (machine.n_qubits + 1) // 2), delta))


def w_fidelity(result: Result, n: int) -> float:
    """⟨W_n|ρ|W_n⟩ (equal couplings) of a result, read in its particle model."""
    return fidelity(result.rho, result.occupations, w_state([(G, G)] * (n - 1)), result.model)


# ------------------------------------------------------------------------------------------ the HEOM
@dataclass(frozen=True)
class Hierarchy:
    """One fixed HEOM hierarchy on the wide band: AAA poles of the hot lead and of each sink, depth, ADO threshold."""

    hot: int
    sink: int
    depth: int = 2
    threshold: float = 0.0
    """The backend's ``ado_threshold`` (0: every ADO)."""

    def label(self) -> str:
        """E.g. ``poles 8/14 depth 2`` or ``poles 8/14 depth 4 ADO threshold 1e-07``."""
        return f"poles {self.hot}/{self.sink} depth {self.depth}" + (
            f" ADO threshold {self.threshold:g}" if self.threshold > 0 else "")

    def options(self, machine: Machine) -> heom.HeomOptions:
        """The backend's options: the wide band in the hierarchy, AAA poles per reservoir, no refinement."""
        pade = {r.name: self.hot if r.name == "hot" else self.sink for r in machine.reservoirs}
        return heom.HeomOptions(pade=pade, depth=self.depth, converge=False, wide_band="direct", expansion="aaa",
                                max_ados=MAX_ADOS, ado_threshold=self.threshold)


def heom_point(n: int, hierarchy: Hierarchy, delta: float, cache: PointCache) -> dict[str, Any]:
    """F, the currents and the cost of one HEOM solve at arm detuning δ (read from ``cache`` if kept there)."""
    machine = w_machine(n)

    def compute() -> dict[str, Any]:
        result = heom.solve_steady(arms_detuned(machine, delta), hierarchy.options(machine),
                                   run=RunOptions(memory_gib=MEMORY_GIB))
        return {"fidelity": w_fidelity(result, n), "seconds": result.seconds, "ados": result.stats["ados"],
                "min_eigenvalue": result.health.min_eigenvalue,
                "fermi_error": max(result.stats["fermi_error"].values()),
                **{f"I_{name}": float(value) for name, value in result.particle_currents.items()},
                **{f"JE_{name}": float(value) for name, value in result.energy_currents.items()}}

    key = f"n={n} {POINT} g={G} wide_band=direct expansion=aaa {hierarchy.label()} delta={float(delta)!r}"
    return cache.get(key, compute)


def first_order_evaluator(n: int, approach: str, **options: Any) -> Callable[[float], Result]:
    """δ ↦ the Result of a first-order approach (e.g. ``"qmeq:1vN"``; options such as lamb_shift)."""
    machine = w_machine(n)
    return lambda delta: solve(arms_detuned(machine, delta), approach, **options)


# ------------------------------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class FirstOrder:
    """A first-order curve: machine size n, label, approach and its options, δ grid."""

    n: int
    name: str
    approach: str
    grid: tuple[float, ...]
    options: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Exact:
    """The HEOM of one machine size: the main hierarchy scanned over δ, the checks around δ = 0 and δ*₂."""

    n: int
    main: Hierarchy
    checks: tuple[Hierarchy, ...]
    grid: tuple[float, ...]
    refinements: int = 2

    @property
    def hierarchies(self) -> tuple[Hierarchy, ...]:
        """The main hierarchy and the checks."""
        return (self.main, *self.checks)

    @property
    def depths(self) -> list[Hierarchy]:
        """The hierarchies at the main poles, one per depth (its smallest ADO threshold), shallowest first.

        The last gives the exact value.
        """
        finest: dict[int, Hierarchy] = {}
        for h in self.hierarchies:
            if (h.hot, h.sink) == (self.main.hot, self.main.sink) and (
                    h.depth not in finest or h.threshold < finest[h.depth].threshold):
                finest[h.depth] = h
        return [finest[depth] for depth in sorted(finest)]

    @property
    def threshold_checks(self) -> list[Hierarchy]:
        """The deepest hierarchy's poles and depth with a larger ADO threshold: their change is the threshold error."""
        deepest = self.depths[-1]
        return [h for h in self.checks if (h.hot, h.sink, h.depth) == (deepest.hot, deepest.sink, deepest.depth)
                and h.threshold > deepest.threshold]

    @property
    def more_poles(self) -> list[Hierarchy]:
        """The checks with more poles at the main depth: their changes from the main hierarchy are the pole error."""
        return [h for h in self.checks if h.depth == self.main.depth and (h.hot, h.sink) != (self.main.hot,
                                                                                              self.main.sink)]


def plan(quick: bool) -> tuple[list[FirstOrder], list[Exact]]:
    """The curves of the study (``quick``: coarse grids, depth 2 only, fewer poles: not converged)."""
    fine = tuple(np.round(np.arange(-0.03, 0.1001, 0.01 if quick else 0.005), 4))
    first_order = [FirstOrder(3, "1vN", "qmeq:1vN", fine),
                   FirstOrder(3, "1vN-no-lamb", "qmeq:1vN", fine, (("lamb_shift", False),)),
                   FirstOrder(3, "Pauli", "qmeq:Pauli", fine),
                   FirstOrder(2, "1vN", "qmeq:1vN", fine),
                   FirstOrder(2, "1vN-no-lamb", "qmeq:1vN", fine, (("lamb_shift", False),))]
    if quick:
        return first_order, [Exact(3, Hierarchy(6, 10), (Hierarchy(8, 14),), (0.0, 0.02, 0.04), refinements=1),
                             Exact(2, Hierarchy(6, 10), (Hierarchy(8, 14),), (-0.02, -0.01, 0.0), refinements=1)]
    more_poles = (Hierarchy(10, 18), Hierarchy(12, 22))
    filtered = (Hierarchy(8, 14, 4, 1e-6), Hierarchy(8, 14, 4, 1e-7))  # depth 4 whole: about a million ADOs
    return first_order, [
        Exact(3, Hierarchy(8, 14), (*more_poles, Hierarchy(8, 14, 3), *filtered),
              (-0.02, 0.0, 0.02, 0.03, 0.04, 0.05, 0.06)),
        Exact(2, Hierarchy(8, 14), (*more_poles, Hierarchy(8, 14, 3), Hierarchy(8, 14, 4)),
              (-0.03, -0.02, -0.01, 0.0, 0.01))]


# ------------------------------------------------------------------------------------------ the runs
@dataclass
class Curve:
    """A scanned curve F(δ), I_hot(δ) with its δ*, and F and the hot current at δ = 0 and at δ*."""

    n: int
    name: str
    scan: MaximumScan
    bare: tuple[float, float]
    star: tuple[float, float]
    seconds: float


def first_order_curve(item: FirstOrder) -> Curve:
    """The first-order scan, then F and I_hot at δ = 0 and at its own δ* (two more solves)."""
    start = time.perf_counter()
    solver = first_order_evaluator(item.n, item.approach, **dict(item.options))

    def evaluate(delta: float) -> tuple[float, float]:
        result = solver(delta)
        return w_fidelity(result, item.n), float(result.particle_currents["hot"])

    scan = parabolic_maximum(f"n={item.n} {item.name}", evaluate, item.grid, progress=False)
    return Curve(item.n, item.name, scan, evaluate(0.0), evaluate(scan.delta_star), time.perf_counter() - start)


def parabola(deltas: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """(vertex, value at the vertex) of the parabola through three points (NaN if it opens upwards)."""
    a, b, c = np.polyfit(deltas, values, 2)
    if not a < 0:
        return math.nan, math.nan
    vertex = -b / (2 * a)
    return float(vertex), float(np.polyval([a, b, c], vertex))


def exact_run(item: Exact, cache: PointCache) -> tuple[Curve, dict[Hierarchy, dict[float, dict[str, Any]]]]:
    """The main hierarchy's scan and every hierarchy's solves at δ = 0 and δ*₂ − h, δ*₂, δ*₂ + h."""
    start = time.perf_counter()

    def evaluate(delta: float) -> tuple[float, float]:
        point = heom_point(item.n, item.main, delta, cache)
        return point["fidelity"], point["I_hot"]

    scan = parabolic_maximum(f"n={item.n} HEOM {item.main.label()}", evaluate, item.grid,
                             refinements=item.refinements)
    star = scan.delta_star
    deltas = (0.0, star - STEP, star, star + STEP)
    points = {}
    for hierarchy in item.hierarchies:
        points[hierarchy] = {}
        for delta in tqdm(deltas, desc=f"n={item.n} HEOM {hierarchy.label()}", leave=False):
            points[hierarchy][delta] = heom_point(item.n, hierarchy, delta, cache)
    main = points[item.main]
    for delta, point in main.items():  # the main hierarchy's solves around δ*₂ belong to its curve too
        if min(abs(d - delta) for d in scan.deltas) > 1e-12:
            scan.deltas.append(delta)
            scan.values.append(point["fidelity"])
            scan.currents.append(point["I_hot"])
    curve = Curve(item.n, f"HEOM {item.main.label()}", scan, (main[0.0]["fidelity"], main[0.0]["I_hot"]),
                  (main[star]["fidelity"], main[star]["I_hot"]), time.perf_counter() - start)
    return curve, points


def quantities(points: dict[float, dict[str, Any]], main: dict[float, dict[str, Any]], star: float) -> dict[str, float]:
    """Every quantity of one hierarchy from its solves (δ* and F(δ*) from the parabola around δ*₂)."""
    around = np.array([star - STEP, star, star + STEP])
    vertex, top = parabola(around, np.array([points[d]["fidelity"] for d in around]))
    main_vertex, _ = parabola(around, np.array([main[d]["fidelity"] for d in around]))
    values = {"delta_star": star + vertex - main_vertex, "F_bare": points[0.0]["fidelity"], "F_star": top,
              "F_at_main_star": points[star]["fidelity"]}
    for place, delta in (("bare", 0.0), ("star", star)):
        for name in ("I_hot", "JE_hot"):
            values[f"{name}_{place}"] = points[delta][name]
    return values


@dataclass(frozen=True)
class ExactAnswer:
    """One machine size's exact value of every quantity, its error parts, and every hierarchy's values."""

    n: int
    best: Hierarchy
    values: dict[str, float]
    pole_error: dict[str, float]
    depth_error: dict[str, float]
    threshold_error: dict[str, float]
    location_error: float
    rows: dict[Hierarchy, dict[str, float]]
    seconds: dict[Hierarchy, float]

    def error(self, name: str) -> float:
        """The error bar: the sum of the measured parts (pole, depth, ADO threshold, and for δ* the location)."""
        parts = [self.pole_error[name], self.depth_error[name], self.threshold_error[name]] + (
            [self.location_error] if name == "delta_star" else [])
        measured = [part for part in parts if math.isfinite(part)]
        return sum(measured) if measured else math.nan


def exact_answer(item: Exact, curve: Curve, points: dict[Hierarchy, dict[float, dict[str, Any]]]) -> ExactAnswer:
    """The deepest hierarchy at the main poles, with the pole, depth and ADO-threshold steps as its error bar."""
    star = curve.scan.delta_star
    rows = {h: quantities(points[h], points[item.main], star) for h in item.hierarchies}
    depths = item.depths

    def largest_change(hierarchies: list[Hierarchy], name: str, reference: Hierarchy) -> float:
        return max((abs(rows[h][name] - rows[reference][name]) for h in hierarchies), default=math.nan)

    pole = {name: largest_change(item.more_poles, name, item.main) for name in QUANTITIES}
    depth = {name: largest_change(depths[-1:], name, depths[-2]) if len(depths) > 1 else math.nan
             for name in QUANTITIES}
    threshold = {name: largest_change(item.threshold_checks, name, depths[-1]) for name in QUANTITIES}
    seconds = {h: sum(p["seconds"] for p in points[h].values()) for h in item.hierarchies}
    return ExactAnswer(item.n, depths[-1], rows[depths[-1]], pole, depth, threshold, curve.scan.delta_star_error,
                       rows, seconds)


def point_errors(item: Exact, points: dict[Hierarchy, dict[float, dict[str, Any]]],
                 name: str) -> tuple[list[float], list[float], list[float]]:
    """δ, the deepest hierarchy's value of ``name`` and its error bar (pole + depth + threshold) at each check."""
    depths = item.depths
    deltas, values, errors = [], [], []
    for delta, point in points[depths[-1]].items():
        pole = max((abs(points[h][delta][name] - points[item.main][delta][name]) for h in item.more_poles),
                   default=0.0)
        depth = abs(point[name] - points[depths[-2]][delta][name]) if len(depths) > 1 else 0.0
        threshold = max((abs(points[h][delta][name] - point[name]) for h in item.threshold_checks), default=0.0)
        deltas.append(delta)
        values.append(point[name])
        errors.append(pole + depth + threshold)
    return deltas, values, errors


# ------------------------------------------------------------------------------------------ the data
def dataset(curves: list[Curve], items: list[Exact], answers: list[ExactAnswer],
            points: list[dict[Hierarchy, dict[float, dict[str, Any]]]], quick: bool) -> xr.Dataset:
    """Curves padded to a common length; the exact values and their error parts; every hierarchy's values."""
    width = max(len(c.scan.deltas) for c in curves)

    def padded(name: str) -> np.ndarray:
        table = np.full((len(curves), width), np.nan)
        for i, curve in enumerate(curves):
            order = np.argsort(curve.scan.deltas)
            table[i, :len(order)] = np.array(getattr(curve.scan, name))[order]
        return table

    sizes = [a.n for a in answers]
    rows = [(a.n, h) for a in answers for h in a.rows]
    row_labels = [f"n={n} {h.label()}" for n, h in rows]
    by_n = {a.n: a for a in answers}
    check_points = [point_errors(item, point, name) for item, point in zip(items, points, strict=True)
                    for name in ("fidelity", "I_hot")]
    conditions = ("U = 20, mu_hot = 8, T_hot = 1, T_sink = 0.1, gamma = 0.1, g = 0.05, epsilon = 1, wide-band leads; "
                  "both arms (n = 3) or the arm (n = 2) detuned by delta; HEOM: the wide band in the hierarchy, AAA "
                  "poles per lead (hot/each sink), fixed hierarchies" + ("; QUICK RUN: depth 2 only, not converged"
                                                                         if quick else ""))
    return xr.Dataset(
        {"delta": (("curve", "point"), padded("deltas"), {"units": "ε"}),
         "fidelity": (("curve", "point"), padded("values"), {"long_name": "fidelity with |W_n>"}),
         "hot_current": (("curve", "point"), padded("currents"), {"units": "ε (particles per time)"}),
         "curve_n": ("curve", [c.n for c in curves]),
         "delta_star": ("curve", [c.scan.delta_star for c in curves], {"units": "ε"}),
         "delta_star_error": ("curve", [c.scan.delta_star_error for c in curves],
                              {"units": "ε", "long_name": "location error of the parabolic search"}),
         "fidelity_bare": ("curve", [c.bare[0] for c in curves]),
         "fidelity_star": ("curve", [c.star[0] for c in curves], {"long_name": "F at the curve's delta_star"}),
         "hot_current_bare": ("curve", [c.bare[1] for c in curves]),
         "hot_current_star": ("curve", [c.star[1] for c in curves]),
         "curve_seconds": ("curve", [c.seconds for c in curves], {"long_name": "wall time (cached solves: 0)"}),
         "exact": (("n", "quantity"), [[a.values[q] for q in QUANTITIES] for a in answers],
                   {"long_name": "HEOM, the deepest hierarchy at the main poles"}),
         "exact_error": (("n", "quantity"), [[a.error(q) for q in QUANTITIES] for a in answers],
                         {"long_name": "pole error + depth error + ADO threshold error (+ location error for "
                                       "delta_star), measured parts"}),
         "pole_error": (("n", "quantity"), [[a.pole_error[q] for q in QUANTITIES] for a in answers],
                        {"long_name": "largest change from the main poles to more poles, at depth 2"}),
         "depth_error": (("n", "quantity"), [[a.depth_error[q] for q in QUANTITIES] for a in answers],
                         {"long_name": "the last depth step at the main poles (NaN: one depth only)"}),
         "threshold_error": (("n", "quantity"), [[a.threshold_error[q] for q in QUANTITIES] for a in answers],
                             {"long_name": "largest change from the deepest hierarchy to a larger ADO threshold "
                                           "(NaN: not filtered)"}),
         "quantity_description": ("quantity", [DESCRIPTIONS[q] for q in QUANTITIES]),
         "location_error": ("n", [a.location_error for a in answers], {"units": "ε"}),
         "best_depth": ("n", [a.best.depth for a in answers]),
         "best_threshold": ("n", [a.best.threshold for a in answers], {"long_name": "its ADO threshold (0: none)"}),
         "main_poles": ("n", [f"{item.main.hot}/{item.main.sink}" for item in items]),
         "estimate_wide_band": ("n", [resonance_shift_estimate(w_machine(n)) for n in sizes],
                                {"units": "ε", "long_name": "second-order level-shift estimate of delta_star"}),
         "hierarchy_value": (("hierarchy", "quantity"), [[by_n[n].rows[h][q] for q in QUANTITIES] for n, h in rows]),
         "hierarchy_n": ("hierarchy", [n for n, _ in rows]),
         "hierarchy_depth": ("hierarchy", [h.depth for _, h in rows]),
         "hierarchy_threshold": ("hierarchy", [h.threshold for _, h in rows]),
         "hierarchy_poles_hot": ("hierarchy", [h.hot for _, h in rows]),
         "hierarchy_poles_sink": ("hierarchy", [h.sink for _, h in rows]),
         "hierarchy_seconds": ("hierarchy", [by_n[n].seconds[h] for n, h in rows],
                               {"long_name": "wall time of its four solves at delta = 0 and around delta*"}),
         "hierarchy_min_eigenvalue": ("hierarchy", [min(p["min_eigenvalue"] for p in point[h].values())
                                                    for point in points for h in point]),
         "hierarchy_fermi_error": ("hierarchy", [max(p["fermi_error"] for p in point[h].values())
                                                 for point in points for h in point]),
         "hierarchy_delta": (("hierarchy", "check_point"), [list(point[h]) for point in points for h in point],
                             {"units": "ε", "long_name": "delta = 0, then delta*_2 - h, delta*_2, delta*_2 + h"}),
         "hierarchy_fidelity": (("hierarchy", "check_point"), [[p["fidelity"] for p in point[h].values()]
                                                               for point in points for h in point]),
         "hierarchy_hot_current": (("hierarchy", "check_point"), [[p["I_hot"] for p in point[h].values()]
                                                                  for point in points for h in point]),
         "check_delta": (("n", "check_point"), [check_points[2 * i][0] for i in range(len(items))], {"units": "ε"}),
         "check_fidelity": (("n", "check_point"), [check_points[2 * i][1] for i in range(len(items))]),
         "check_fidelity_error": (("n", "check_point"), [check_points[2 * i][2] for i in range(len(items))]),
         "check_hot_current": (("n", "check_point"), [check_points[2 * i + 1][1] for i in range(len(items))]),
         "check_hot_current_error": (("n", "check_point"), [check_points[2 * i + 1][2] for i in range(len(items))])},
        coords={"curve": [f"n={c.n} {c.name}" for c in curves], "n": sizes, "quantity": list(QUANTITIES),
                "hierarchy": row_labels},
        attrs={"conditions": conditions, "quick": int(quick), "step_h": STEP,
               "goal": f"last depth step below {GOAL_FIDELITY:g} in F and {GOAL_CURRENT:.0%} in the currents"})


def report(data: xr.Dataset) -> None:
    """The tables on stdout: every curve, every hierarchy, the exact values with their errors, the goal."""
    print(data.attrs["conditions"])
    table = data[["delta_star", "delta_star_error", "fidelity_bare", "fidelity_star", "hot_current_bare",
                  "hot_current_star", "curve_seconds"]].to_pandas()
    print(table.to_string(float_format=lambda v: f"{v:.6g}"))
    print("\nHEOM hierarchies (F_star: maximum of the parabola through δ*₂ ± h; currents at δ = δ*₂):")
    values = data.hierarchy_value.to_pandas()
    values["seconds"] = data.hierarchy_seconds.values
    values["min_eig"] = data.hierarchy_min_eigenvalue.values
    values["fermi_err"] = data.hierarchy_fermi_error.values
    print(values.to_string(float_format=lambda v: f"{v:.6g}"))
    for n in data.n.values:
        row = data.sel(n=n)
        print(f"\nn = {n}: HEOM exact ({best_hierarchy(row)}); "
              f"estimate δ* = {float(row.estimate_wide_band):.5f}")
        for q in QUANTITIES:
            value, error = float(row.exact.sel(quantity=q)), float(row.exact_error.sel(quantity=q))
            pole, depth = float(row.pole_error.sel(quantity=q)), float(row.depth_error.sel(quantity=q))
            threshold = float(row.threshold_error.sel(quantity=q))
            relative = f" ({error / abs(value):.1%})" if q.startswith(("I_", "JE_")) else ""
            parts = (f"poles {pole:.2g}, depth {depth:.2g}" + (f", ADO threshold {threshold:.2g}" if
                                                                math.isfinite(threshold) else "")
                     + (f", location {float(row.location_error):.2g}" if q == "delta_star" else ""))
            print(f"  {q:14s} {value:+.6g} ± {error:.2g}{relative}  [{parts}]  {DESCRIPTIONS[q]}")
        if int(row.best_depth) > 2:
            goal = {q: float(row.depth_error.sel(quantity=q)) / (1 if q.startswith("F") else
                                                                  abs(float(row.exact.sel(quantity=q))))
                    for q in QUANTITIES if q != "delta_star"}
            missed = [q for q, step in goal.items() if step > (GOAL_FIDELITY if q.startswith("F") else GOAL_CURRENT)]
            print(f"  goal ({data.attrs['goal']}): " + ("met" if not missed else "NOT met for " + ", ".join(
                f"{q} (step {goal[q]:.2g}{'' if q.startswith('F') else ' relative'})" for q in missed)))
        else:
            print("  depth step not measured (depth 2 only)")


# ------------------------------------------------------------------------------------------ the figure
def error_parts(exact: xr.Dataset) -> str:
    """What the error bars of one machine size hold: "poles + depth (+ ADO threshold)", or the parts measured."""
    parts = [name for name, error in (("poles", exact.pole_error), ("depth", exact.depth_error),
                                      ("ADO threshold", exact.threshold_error))
             if np.isfinite(error.sel(quantity="F_bare"))]
    return " + ".join(parts) or "none measured"


def best_hierarchy(exact: xr.Dataset) -> str:
    """The deepest hierarchy of one machine size in words, e.g. ``depth 4, poles 8/14, ADO threshold 1e-07``."""
    threshold = float(exact.best_threshold)
    return (f"depth {int(exact.best_depth)}, poles {str(exact.main_poles.values)}"
            + (f", ADO threshold {threshold:g}" if threshold > 0 else ""))


def fidelity_panel(axis: plt.Axes, data: xr.Dataset, n: int) -> None:
    """F(δ) of every curve of machine size n, the exact points with their error bars, and every δ*."""
    exact = data.sel(n=n)
    for label in data.curve.values:
        row = data.sel(curve=label)
        if int(row.curve_n) != n:
            continue
        keep = np.isfinite(row.delta.values)
        heom_curve = "HEOM" in str(label)
        style = dict(marker="o", ms=3, lw=0.8, color="C3") if heom_curve else dict(lw=1.5)
        line, = axis.plot(row.delta.values[keep], row.fidelity.values[keep], label=str(label).split(" ", 1)[1],
                          **style)
        if not heom_curve:
            axis.axvline(float(row.delta_star), color=line.get_color(), lw=0.8)
    best = f"HEOM {best_hierarchy(exact)}"
    axis.errorbar(exact.check_delta.values, exact.check_fidelity.values, yerr=exact.check_fidelity_error.values,
                  fmt="s", ms=5, color="k", capsize=3, label=f"{best} (bars: {error_parts(exact)})")
    star, error = float(exact.exact.sel(quantity="delta_star")), float(exact.exact_error.sel(quantity="delta_star"))
    axis.axvspan(star - error, star + error, color="C3", alpha=0.25, lw=0)
    axis.axvline(star, color="C3", lw=1, label=f"HEOM δ* = {star:.5f} ± {error:.1g}")
    axis.axvline(float(exact.estimate_wide_band), color="k", ls="--", lw=1,
                 label=f"estimate δ* = {float(exact.estimate_wide_band):.5f}")
    axis.set_xlabel("arm detuning δ / ε  (ε_arms = ε + δ)")
    axis.set_ylabel(f"fidelity with |W_{n}⟩")
    machine = "" if n == 3 else " (triple dot, control)"
    axis.set_title(f"n = {n}{machine}: U = 20, μ = 8, T_sink = 0.1, wide band; lines: δ*", fontsize=10)
    axis.set_ylim(0.3, 1.05)
    axis.legend(fontsize=6)


def hierarchies_panel(axis: plt.Axes, data: xr.Dataset, n: int) -> None:
    """Near δ*: F of every hierarchy at δ*₂ − h, δ*₂, δ*₂ + h with its parabola and δ*; the exact bars."""
    exact = data.sel(n=n)
    labels = [str(h) for h in data.hierarchy.values if int(data.hierarchy_n.sel(hierarchy=h)) == n]
    for i, label in enumerate(labels):
        row = data.sel(hierarchy=label)
        deltas, values = row.hierarchy_delta.values[1:], row.hierarchy_fidelity.values[1:]  # [0] is δ = 0
        fine = np.linspace(deltas[0], deltas[-1], 50)
        line, = axis.plot(fine, np.polyval(np.polyfit(deltas, values, 2), fine), lw=0.8, color=f"C{i + 3}")
        axis.plot(deltas, values, "o", ms=4, color=line.get_color(), label=label.split(" ", 1)[1])
        axis.axvline(float(row.hierarchy_value.sel(quantity="delta_star")), color=line.get_color(), lw=0.8)
    axis.errorbar(exact.check_delta.values[1:], exact.check_fidelity.values[1:],
                  yerr=exact.check_fidelity_error.values[1:], fmt="none", color="k", capsize=4, lw=1.2,
                  label=f"exact ({best_hierarchy(exact)}), bars: {error_parts(exact)}")
    axis.axvline(float(exact.estimate_wide_band), color="k", ls="--", lw=1, label="estimate δ*")
    first_order = data.delta_star.sel(curve=f"n={n} 1vN")
    axis.axvline(float(first_order), color="C0", lw=1, label=f"1vN δ* = {float(first_order):.5f}")
    axis.set_xlabel("arm detuning δ / ε")
    axis.set_ylabel(f"fidelity with |W_{n}⟩")
    axis.set_title(f"n = {n} near δ*: every hierarchy (parabola through its three points; lines: its δ*)",
                   fontsize=10)
    axis.legend(fontsize=6, loc="lower center")


def current_panel(axis: plt.Axes, data: xr.Dataset, n: int) -> None:
    """The hot particle current of HEOM's main curve and of 1vN against δ, the exact points with error bars."""
    for label in data.curve.values:
        row = data.sel(curve=label)
        if int(row.curve_n) == n and ("HEOM" in str(label) or str(label).endswith("1vN")):
            keep = np.isfinite(row.delta.values)
            heom_curve = "HEOM" in str(label)
            axis.plot(row.delta.values[keep], row.hot_current.values[keep], "o-" if heom_curve else "-", ms=3,
                      lw=0.8 if heom_curve else 1.5, color="C3" if heom_curve else "C0",
                      label=str(label).split(" ", 1)[1])
    exact = data.sel(n=n)
    axis.errorbar(exact.check_delta.values, exact.check_hot_current.values,
                  yerr=exact.check_hot_current_error.values, fmt="s", ms=5, color="k", capsize=3,
                  label=f"HEOM {best_hierarchy(exact)} (bars: {error_parts(exact)})")
    axis.set_yscale("symlog", linthresh=1e-4)
    axis.axhline(0.0, color="k", lw=0.5)
    axis.set_xlabel("arm detuning δ / ε")
    axis.set_ylabel("hot particle current I_hot / ε (symlog)")
    axis.set_title(f"n = {n}: hot current (the dark state blocks it at δ*; 1vN < 0)", fontsize=10)
    axis.legend(fontsize=7)


def figure(data: xr.Dataset) -> plt.Figure:
    """The figure: for n = 3 F(δ), F near δ* for every hierarchy and the hot current; for n = 2 F(δ)."""
    fig, ((top_left, top_right), (bottom_left, bottom_right)) = plt.subplots(2, 2, figsize=(14, 9.5))
    fidelity_panel(top_left, data, 3)
    hierarchies_panel(top_right, data, 3)
    fidelity_panel(bottom_left, data, 2)
    current_panel(bottom_right, data, 3)
    if data.attrs["quick"]:
        fig.suptitle("QUICK smoke run: HEOM depth 2 only, few poles (not converged; no depth error in the bars)",
                     color="C3")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ main
def main() -> None:
    args = study_arguments(__doc__)
    start = time.perf_counter()
    folder = results_folder(args.results, "w_machine_exact")
    cache = PointCache(Path(folder) / "heom_points.jsonl")
    first_order, exact = plan(args.quick)
    for item in exact:
        for hierarchy in item.hierarchies:
            machine = w_machine(item.n)
            print(f"n={item.n} HEOM {hierarchy.label()}: estimated memory "
                  f"{heom.estimate_memory(machine, hierarchy.options(machine)) / 2**30:.2f} GiB")
    curves, answers, solved = [], [], []
    for item in tqdm(first_order, desc="first-order curves"):
        curves.append(first_order_curve(item))
        c = curves[-1]
        tqdm.write(f"n={c.n} {c.name}: delta* = {c.scan.delta_star:+.5f} ± {c.scan.delta_star_error:.1e}, "
                   f"F(0) = {c.bare[0]:.4f}, F(delta*) = {c.star[0]:.4f} ({c.seconds:.0f} s)")
    for item in exact:
        curve, points = exact_run(item, cache)
        curves.append(curve)
        solved.append(points)
        answers.append(exact_answer(item, curve, points))
        tqdm.write(f"n={item.n} HEOM: main delta* = {curve.scan.delta_star:+.5f} ± {curve.scan.delta_star_error:.1e} "
                   f"({curve.seconds:.0f} s for the scan and the checks)")
    data = dataset(curves, exact, answers, solved, args.quick)
    data.attrs["wall_seconds"] = time.perf_counter() - start
    report(data)
    print(f"wall time {data.attrs['wall_seconds']:.0f} s")
    save(folder, "w_machine_exact", data, figure(data))


if __name__ == "__main__":
    main()
