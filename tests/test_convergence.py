"""The shared refinement engine (transportbench.convergence) on toy sequences with known limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from transportbench.convergence import Axis, ConvergenceWarning, Observed, Stop, Tolerances, measure_change, refine
from transportbench.model import Machine

MACHINE = Machine.triple_dot()  # Σγ = 0.2


def geometric(step: int) -> Observed:
    """An observable converging like 2^-step: C = 0.5 + 2^-step, currents (1 + 2^-step) × 1e-3."""
    shift = 2.0**-step
    return Observed(np.eye(2) * (0.5 + shift / 10), np.full(3, 1e-3 * (1 + shift)), np.full(3, 1e-2 * (1 + shift)),
                    0.5 + shift)


def counting(limit: int | None = None) -> Axis[int]:
    return Axis("pade", "Padé terms", lambda n: Stop(f"max={limit}") if limit is not None and n >= limit else n + 1)


def test_the_change_is_absolute_in_c_and_rho_and_relative_in_the_currents():
    change = measure_change(MACHINE, geometric(2), geometric(1), floor=1e-12, stage="depth")
    assert change.stage == "depth"
    assert change.concurrence == pytest.approx(0.25) and change.rho == pytest.approx(0.025)
    assert change.currents == pytest.approx(0.25e-3 / 1.25e-3)  # relative to the new, largest current


def test_currents_below_the_floor_are_judged_against_it():
    zero = Observed(np.eye(2), np.zeros(3), np.zeros(3))
    tiny = Observed(np.eye(2), np.full(3, 1e-9), np.zeros(3))
    assert measure_change(MACHINE, tiny, zero, floor=1e-4).currents == pytest.approx(1e-9 / (1e-4 * 0.2))
    assert measure_change(MACHINE, tiny, zero, floor=0.0).currents == pytest.approx(1.0)


def test_refine_stops_at_the_first_step_within_tolerance_and_reports_it():
    tolerances = Tolerances(currents=1.0, current_floor=1e-12, concurrence=1e-3)
    outcome = refine(0, [counting()], geometric, MACHINE, tolerances, "toy")
    # |ΔC| = 2^-n after step n: 2^-10 < 1e-3 ≤ 2^-9
    assert outcome.final == 10 and outcome.converged and outcome.solves == tuple(range(11))
    assert outcome.error.stage("pade").concurrence == pytest.approx(2.0**-10)
    assert outcome.error.concurrence == pytest.approx(2.0**-10) and not outcome.stopped_by


def test_a_budget_stops_the_axis_with_the_one_warning_and_keeps_the_finest_solve():
    tolerances = Tolerances(currents=1.0, current_floor=1e-12, concurrence=1e-3)
    with pytest.warns(ConvergenceWarning, match=r"toy: the Padé terms did not converge within the budget \(max=4\)"):
        outcome = refine(0, [counting(limit=4)], geometric, MACHINE, tolerances, "toy")
    assert outcome.final == 4 and not outcome.converged and outcome.stopped_by == {"pade": "max=4"}
    assert outcome.error.stage("pade").concurrence == pytest.approx(2.0**-4)
    quiet = refine(0, [counting(limit=4)], geometric, MACHINE, tolerances, "toy", warn=False)
    assert not quiet.converged and "did not converge" in quiet.notes[-1]


def test_axes_run_in_turn_and_a_stop_before_any_step_leaves_the_stage_out():
    tolerances = Tolerances(currents=1.0, current_floor=1e-12, concurrence=1e-3)
    never = Axis("depth", "depth", lambda n: Stop("max_depth=2 reached"))
    with pytest.warns(ConvergenceWarning, match="not measured"):
        outcome = refine(0, [counting(), never], geometric, MACHINE, tolerances, "toy")
    assert [stage.stage for stage in outcome.error.stages] == ["pade"]
    assert outcome.stopped_by == {"depth": "max_depth=2 reached"} and outcome.final == 10


def test_minimum_steps_and_the_fraction_of_the_tolerance():
    loose = Tolerances(currents=1.0, current_floor=1e-12)  # C and ρ not judged: the first step already passes
    assert refine(0, [counting()], geometric, MACHINE, loose, "toy").final == 1
    assert refine(0, [Axis("pade", "Padé terms", lambda n: n + 1, minimum_steps=3)], geometric, MACHINE, loose,
                  "toy").final == 3
    judged = Tolerances(currents=0.1, current_floor=1e-12)  # relative current change 2^-n/(1 + 2^-n)
    halved = Axis("pade", "Padé terms", lambda n: n + 1, fraction=0.5)
    assert refine(0, [counting()], geometric, MACHINE, judged, "toy").final == 4
    assert refine(0, [halved], geometric, MACHINE, judged, "toy").final == 5


def test_an_unmeasured_concurrence_passes_and_stays_unmeasured():
    tolerances = Tolerances(currents=1.0, current_floor=1e-12, concurrence=1e-9)
    unmeasured = refine(0, [counting()], lambda n: Observed(np.eye(2), np.ones(3), np.ones(3)), MACHINE,
                        tolerances, "toy")
    assert unmeasured.final == 1 and math.isnan(unmeasured.error.concurrence)
