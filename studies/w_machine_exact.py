"""W machine n = 3 against the exact answer (HEOM): is the Lamb-shift detuning of the arms that 1vN predicts real.

Machine: ``Machine.w_machine(3, U=20, mu_hot=8, T_hot=1, T_sink=0.1)`` (5 qubits; leads "hot", "sink1",
"sink2"; γ = 0.1, g = 0.05, ε = 1), fidelity with |W_3⟩. 1vN with its principal parts gives F = 0.650, the
first-order approaches without them F ≈ 0.997; the wide-band level-shift estimate says each foreign sink
lifts |1 on qubit 0⟩ above |1 on arm j⟩ by ≈ (γ/2π) ln((ε + U)/ε), δ* = +0.0386 in all.

The like-for-like test: detune both arms (qubits 1 and 2, ε → ε + δ) and locate δ*, the detuning that
maximises F, in HEOM, in 1vN (wide band) and in the second-order estimate. HEOM is solved on Lorentzian
leads of half-width W (centred at each lead's μ, one W for all leads), depth 2, with a fixed number of Padé
poles per lead (the backend's per-reservoir ``pade``: the hot lead at T = 1 needs far fewer than the cold
sinks at T = 0.1, and one shared number would not fit the memory budget). The estimate is
evaluated on the same bath as the HEOM, from its exponents (Lorentzian band of width W and the Padé-expanded
Fermi function), so that HEOM's δ* at each (W, Padé) has its own first-order reference; the estimate on the
exact Lorentzian band and on the wide band gives the band correction.

Checks: Padé poles of the sinks (12, 14, 16 at W = 40), band width (W = 20 and 40; W = 80 at T_sink = 0.1
would need ≥ 24 poles per sink, beyond the 8 GiB budget), depth 2 → 3 only for the triple dot n = 2 at the
same U, μ, T_sink, the cheap control (n = 3 at depth 3 needs ≥ 10 GiB even with 4 poles), where W = 20, 40,
80 are affordable too. The triple dot's detuning is the hot lead's alone (estimate −0.010).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from _common import results_folder, save, study_arguments
from tqdm.auto import tqdm

from transportbench.backends import heom
from transportbench.backends.heom_shifts import resonance_estimate_on_bath
from transportbench.comparison import solve
from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Band, Machine
from transportbench.observables import fidelity, w_state
from transportbench.result import Result
from transportbench.scans import MaximumScan, parabolic_maximum

POINT = {"U": 20.0, "mu_hot": 8.0, "T_hot": 1.0, "T_sink": 0.1}
G = 0.05


# ------------------------------------------------------------------------------------------ machine
def w_machine(n: int = 3, T_sink: float = POINT["T_sink"], band: Band | None = None) -> Machine:
    """The W machine at the study's point (U = 20, μ = 8, T_hot = 1), with every lead on ``band``."""
    return Machine.w_machine(n, **{**POINT, "T_sink": T_sink}, g=G, band=band)


def w_fidelity(result: Result, n: int) -> float:
    """⟨W_n|ρ|W_n⟩ (equal couplings) of a result, read in its particle model."""
    return fidelity(result.rho, result.occupations, w_state([(G, G)] * (n - 1)), result.model)


EXACT_FERMI_POLES = 600
"""Padé poles standing in for the exact Fermi function in the estimate (exact to 1e-13 out to |E − μ| ≈ 40 W
for the study's W ≤ 80 and T ≥ 0.1)."""


# ------------------------------------------------------------------------------------------ the HEOM
@dataclass(frozen=True)
class Setting:
    """One HEOM discretisation: Lorentzian half-width, Padé poles per lead (machine.reservoirs order), depth."""

    band_width: float
    pades: tuple[int, ...]
    depth: int = 2

    def label(self) -> str:
        """E.g. ``W=40 pade=6/16/16 depth=2``."""
        return f"W={self.band_width:g} pade={'/'.join(map(str, self.pades))} depth={self.depth}"

    def options(self, machine: Machine) -> heom.HeomOptions:
        """The backend's options for this setting (per-reservoir Padé terms, fixed hierarchy)."""
        pade = {r.name: count for r, count in zip(machine.reservoirs, self.pades, strict=True)}
        return heom.HeomOptions(pade=pade, depth=self.depth, converge=False)


def on_band(machine: Machine, setting: Setting) -> Machine:
    """``machine`` with every lead on the setting's Lorentzian band."""
    return machine.with_band(Band.lorentzian(setting.band_width))


def estimate_bytes(machine: Machine, setting: Setting) -> float:
    """The backend's peak-memory estimate of the setting's hierarchy (bytes)."""
    return heom.estimate_memory(on_band(machine, setting), setting.options(machine))


def exact_evaluator(machine: Machine, setting: Setting) -> Callable[[float], tuple[float, float]]:
    """δ ↦ (F, hot current) of the HEOM steady state with both arms detuned by δ."""
    n = (machine.n_qubits + 1) // 2
    options = setting.options(machine)

    def evaluate(delta: float) -> tuple[float, float]:
        result = heom.solve_steady(on_band(machine.detuned(dict.fromkeys(range(1, n), delta)), setting), options)
        return w_fidelity(result, n), float(result.particle_currents["hot"])
    return evaluate


def first_order_evaluator(machine: Machine, approach: str, **options) -> Callable[[float], tuple[float, float]]:
    """δ ↦ (F, hot current) of a first-order approach (e.g. ``"qmeq:1vN"``; options such as lamb_shift)."""
    n = (machine.n_qubits + 1) // 2

    def evaluate(delta: float) -> tuple[float, float]:
        result = solve(machine.detuned(dict.fromkeys(range(1, n), delta)), approach, **options)
        return w_fidelity(result, n), float(result.particle_currents["hot"])
    return evaluate


# ------------------------------------------------------------------------------------------ the study
@dataclass(frozen=True)
class Run:
    """One curve to compute: machine size n, label, and either an exact setting or a first-order approach."""

    n: int
    name: str
    grid: tuple[float, ...]
    setting: Setting | None = None
    approach: str = ""
    options: tuple[tuple[str, object], ...] = ()
    refinements: int = 2


def plan(quick: bool) -> list[Run]:
    """The curves of the study (``quick``: a smoke run with cheap, unconverged hierarchies)."""
    fine = tuple(np.round(np.arange(-0.03, 0.1001, 0.005), 4))
    first_order = [Run(3, "1vN", fine, approach="qmeq:1vN"),
                   Run(3, "1vN-no-lamb", fine, approach="qmeq:1vN", options=(("lamb_shift", False),)),
                   Run(3, "Pauli", fine, approach="qmeq:Pauli"),
                   Run(2, "1vN", fine, approach="qmeq:1vN"),
                   Run(2, "1vN-no-lamb", fine, approach="qmeq:1vN", options=(("lamb_shift", False),))]
    if quick:
        return first_order + [
            Run(3, "HEOM W=40 pade 6/10", (0.0, 0.02, 0.04), Setting(40.0, (6, 10, 10)), refinements=0),
            Run(2, "HEOM W=40 pade 8/16", (-0.02, -0.01, 0.0, 0.01), Setting(40.0, (8, 16)), refinements=1)]
    three = (0.0, 0.02, 0.03, 0.04)
    triple = (-0.03, -0.02, -0.01, 0.0, 0.01)
    return first_order + [
        Run(3, "HEOM W=40 pade 6/16", (-0.02, 0.0, 0.02, 0.03, 0.04, 0.06), Setting(40.0, (6, 16, 16))),
        Run(3, "HEOM W=40 pade 6/12", three, Setting(40.0, (6, 12, 12)), refinements=1),
        Run(3, "HEOM W=40 pade 6/14", three, Setting(40.0, (6, 14, 14)), refinements=1),
        Run(3, "HEOM W=20 pade 6/16", three, Setting(20.0, (6, 16, 16)), refinements=1),
        Run(2, "HEOM W=20 pade 8/40", triple, Setting(20.0, (8, 40))),
        Run(2, "HEOM W=40 pade 8/40", triple, Setting(40.0, (8, 40))),
        Run(2, "HEOM W=80 pade 8/40", triple, Setting(80.0, (8, 40))),
        Run(2, "HEOM W=40 pade 8/16", triple, Setting(40.0, (8, 16))),
        Run(2, "HEOM W=40 pade 8/16 depth 3", (-0.02, -0.01, 0.0), Setting(40.0, (8, 16), 3), refinements=1)]


def estimates(n: int, setting: Setting | None) -> tuple[float, float, float]:
    """δ* estimates: wide band; exact Lorentzian band of the setting's W; the setting's own Padé bath."""
    wide = resonance_shift_estimate(w_machine(n))
    if setting is None:
        return wide, math.nan, math.nan
    exact_band = resonance_estimate_on_bath(w_machine(n), setting.band_width, (EXACT_FERMI_POLES,) * len(setting.pades))
    return wide, exact_band, resonance_estimate_on_bath(w_machine(n), setting.band_width, setting.pades)


def run(item: Run) -> MaximumScan:
    machine = w_machine(item.n)
    if item.setting is not None:
        evaluate = exact_evaluator(machine, item.setting)
    else:
        evaluate = first_order_evaluator(machine, item.approach, **dict(item.options))
    return parabolic_maximum(f"n={item.n} {item.name}", evaluate, item.grid, refinements=item.refinements,
                progress=item.setting is not None)


def dataset(runs: list[Run], curves: list[MaximumScan], seconds: list[float], cpu: list[float]) -> xr.Dataset:
    """The scans padded to a common number of points, with δ*, its error, F at δ = 0 and at δ*, and the estimates."""
    width = max(len(c.deltas) for c in curves)

    def padded(rows: list[list[float]]) -> np.ndarray:
        table = np.full((len(rows), width), np.nan)
        for i, row in enumerate(rows):
            order = np.argsort(curves[i].deltas)
            table[i, :len(row)] = np.array(row)[order]
        return table

    guesses = np.array([estimates(r.n, r.setting) for r in runs])
    labels = [f"n={r.n} {r.name}" for r in runs]
    conditions = ("U = 20, mu_hot = 8, T_hot = 1, T_sink = 0.1, gamma = 0.1, g = 0.05, epsilon = 1; "
                  "both arms (n = 3) or the arm (n = 2) detuned by delta")
    return xr.Dataset(
        {"delta": (("curve", "point"), padded([c.deltas for c in curves]), {"units": "ε"}),
         "fidelity": (("curve", "point"), padded([c.values for c in curves]), {"long_name": "fidelity with |W_n>"}),
         "hot_current": (("curve", "point"), padded([c.currents for c in curves]), {"units": "ε (particles per time)"}),
         "delta_star": ("curve", [c.delta_star for c in curves], {"units": "ε"}),
         "delta_star_error": ("curve", [c.delta_star_error for c in curves], {"units": "ε"}),
         "fidelity_bare": ("curve", [c.at(0.0) for c in curves]),
         "fidelity_star": ("curve", [c.f_star for c in curves]),
         "estimate_wide_band": ("curve", guesses[:, 0], {"units": "ε"}),
         "estimate_lorentzian_band": ("curve", guesses[:, 1], {"units": "ε", "long_name": "exact Fermi function"}),
         "estimate_on_heom_bath": ("curve", guesses[:, 2], {"units": "ε", "long_name": "Lorentzian W, Padé poles"}),
         "band_width": ("curve", [r.setting.band_width if r.setting else np.inf for r in runs]),
         "depth": ("curve", [r.setting.depth if r.setting else 0 for r in runs]),
         "pade_sinks": ("curve", [r.setting.pades[-1] if r.setting else 0 for r in runs]),
         "pade_hot": ("curve", [r.setting.pades[0] if r.setting else 0 for r in runs]),
         "n": ("curve", [r.n for r in runs]),
         "seconds": ("curve", seconds, {"long_name": "wall time"}),
         "cpu_seconds": ("curve", cpu, {"long_name": "CPU time of this process"})},
        coords={"curve": labels}, attrs={"conditions": conditions})


def report(data: xr.Dataset) -> None:
    """The summary table on stdout."""
    table = data[["delta_star", "delta_star_error", "fidelity_bare", "fidelity_star", "estimate_wide_band",
                  "estimate_lorentzian_band", "estimate_on_heom_bath", "seconds", "cpu_seconds"]].to_pandas()
    print(table.to_string(float_format=lambda v: f"{v:.5g}"))
    for name, value in data.attrs.items():
        if name != "conditions":
            print(f"{name}: {value}")


def conclusions(data: xr.Dataset) -> xr.Dataset:
    """The band-independent comparison, added to ``data.attrs`` (needs the n = 3 HEOM rows of the full run).

    * offset = δ*(HEOM) − estimate on the same bath, per HEOM curve;
    * the exact wide-band δ* inferred as wide-band estimate + offset of the finest W = 40 curve, with an
      error = the offset's change W = 40 → 20 + the last Padé step of δ* + the location error;
    * F at δ = 0 in the wide band, not solved: extrapolated linearly in 1/W from W = 20, 40, and by moving
      the W = 40 curve by the band's change of δ* (F_∞(0) ≈ F_40(δ*_40 − δ*_∞), parabola through its three
      points nearest δ = 0).
    """
    rows = {str(c): data.sel(curve=c) for c in data.curve.values}
    main, coarser, narrow = "n=3 HEOM W=40 pade 6/16", "n=3 HEOM W=40 pade 6/14", "n=3 HEOM W=20 pade 6/16"
    if not {main, coarser, narrow} <= set(rows):
        return data
    offset = {name: float(rows[name].delta_star - rows[name].estimate_on_heom_bath) for name in rows if "HEOM" in name}
    pade_step = abs(float(rows[main].delta_star - rows[coarser].delta_star))
    error = abs(offset[main] - offset[narrow]) + pade_step + float(rows[main].delta_star_error)
    wide = float(rows[main].estimate_wide_band) + offset[main]
    f40, f20 = float(rows[main].fidelity_bare), float(rows[narrow].fidelity_bare)
    deltas, values = rows[main].delta.values, rows[main].fidelity.values
    keep = np.argsort(np.abs(np.nan_to_num(deltas, nan=np.inf)))[:3]
    moved = float(np.polyval(np.polyfit(deltas[keep], values[keep], 2), float(rows[main].delta_star) - wide))
    attrs = {f"offset_from_estimate {name}": value for name, value in offset.items()}
    attrs.update({"pade_step_delta_star (14 -> 16 poles, W = 40)": pade_step,
                  "pade_step_fidelity_bare (14 -> 16 poles, W = 40)": abs(f40 - float(rows[coarser].fidelity_bare)),
                  "exact_wide_band_delta_star (estimate + offset)": wide,
                  "exact_wide_band_delta_star_error": error,
                  "fidelity_bare_wide_band_1_over_W_extrapolation (W = 20, 40)": 2 * f40 - f20,
                  "fidelity_bare_wide_band_from_moved_W40_curve": moved})
    return data.assign_attrs(attrs)


def figure(data: xr.Dataset) -> plt.Figure:
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.6))
    for axis, n in ((left, 3), (middle, 2)):
        for label in data.curve.values:
            row = data.sel(curve=label)
            if int(row.n) != n:
                continue
            keep = np.isfinite(row.delta.values)
            exact = "HEOM" in str(label)
            style = dict(marker="o", ms=4) if exact else dict(lw=1.5)
            line, = axis.plot(row.delta.values[keep], row.fidelity.values[keep], label=str(label).split(" ", 1)[1],
                              **style)
            if np.isfinite(row.delta_star):
                axis.axvline(float(row.delta_star), color=line.get_color(), lw=0.8, ls="-")
        axis.axvline(resonance_shift_estimate(w_machine(n)), color="k", ls="--", lw=1, label="estimate (wide band)")
        exact_rows = [c for c in data.curve.values if int(data.n.sel(curve=c)) == n and "HEOM" in str(c)]
        exact_rows.sort(key=lambda c: "W=40" not in str(c))  # the W = 40 band's estimate, if there is one
        if exact_rows:
            axis.axvline(float(data.estimate_lorentzian_band.sel(curve=exact_rows[0])), color="k", ls=":", lw=1,
                         label=f"estimate (Lorentzian W = {float(data.band_width.sel(curve=exact_rows[0])):g})")
        axis.set_xlabel("arm detuning δ / ε  (ε_arms = ε + δ)")
        axis.set_ylabel(f"fidelity with |W_{n}⟩")
        axis.set_title(f"n = {n}: U = 20, μ = 8, T_sink = 0.1 (vertical lines: δ*)", fontsize=10)
        axis.set_ylim(0.3, 1.05)
        axis.legend(fontsize=6)
    for label in data.curve.values:
        row = data.sel(curve=label)
        if int(row.n) == 3 and ("HEOM W=40 pade 6/16" in str(label) or str(label).endswith("1vN")):
            keep = np.isfinite(row.delta.values)
            right.plot(row.delta.values[keep], row.hot_current.values[keep], "o-" if "HEOM" in str(label)
                       else "-", ms=4, label=str(label).split(" ", 1)[1])
    right.set_yscale("symlog", linthresh=1e-4)
    right.axhline(0.0, color="k", lw=0.5)
    right.set_xlabel("arm detuning δ / ε")
    right.set_ylabel("hot particle current I_hot / ε (symlog; 1vN < 0 near δ*)")
    right.set_title("n = 3: hot current (the dark state blocks it at δ*)", fontsize=10)
    right.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main() -> None:
    args = study_arguments(__doc__)
    runs = plan(args.quick)
    for item in runs:
        if item.setting is not None:
            print(f"n={item.n} {item.setting.label()}: estimated memory "
                  f"{estimate_bytes(w_machine(item.n), item.setting) / 2**30:.2f} GiB")
    curves, seconds, cpu = [], [], []
    for item in tqdm(runs, desc="curves"):
        start, start_cpu = time.perf_counter(), time.process_time()
        curves.append(run(item))
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        c = curves[-1]
        tqdm.write(f"n={item.n} {item.name}: delta* = {c.delta_star:+.5f} ± {c.delta_star_error:.1e}, "
                   f"F(0) = {c.at(0.0):.4f}, F(delta*) = {c.f_star:.4f} ({len(c.deltas)} solves, "
                   f"{seconds[-1]:.0f} s wall, {cpu[-1]:.0f} s CPU)")
    data = conclusions(dataset(runs, curves, seconds, cpu))
    report(data)
    save(results_folder(args.results, "w_machine_exact"), "w_machine_exact", data, figure(data))


if __name__ == "__main__":
    main()
