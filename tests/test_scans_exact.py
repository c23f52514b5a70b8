"""The resonance search with a bracket centred on an estimate (``locate_resonance(centre=...)``), and with HEOM."""

import math

import numpy as np
import pytest

from transportbench.level_shifts import resonance_shift_estimate
from transportbench.model import Machine
from transportbench.scans import locate_resonance, resonance_scan


def test_a_bracket_centred_away_from_the_resonance_still_finds_it():
    """Local Lindblad: δ* = 0 exactly; a bracket 0.003 ± 0.01 contains it and gives it back."""
    found = locate_resonance(Machine.triple_dot(), "local", centre=0.003, half_width=0.01, grid=5, precision=1e-8,
                             current=False)
    assert abs(found.delta) < 1e-7
    assert found.evaluations < 30


def test_the_centre_may_be_a_function_of_the_machine_at_each_point():
    """A callable centre is evaluated on each scanned machine (here: the bare detuning of a detuned machine)."""
    seen = []

    def centre(machine: Machine) -> float:
        seen.append(machine.energies[1])
        return machine.energies[0] - machine.energies[1]

    table = resonance_scan(Machine.triple_dot(), ["local"], "epsilon_1", [0.98, 1.03], centre=centre,
                           half_width=0.01, grid=5, precision=1e-8, current=False, progress=False)
    assert seen == pytest.approx([0.98, 1.03])
    np.testing.assert_allclose(table.delta_star.sel(approach="local").values, [0.02, -0.03], atol=1e-7)


def test_a_bad_centre_is_refused_and_the_edge_message_names_the_bracket():
    with pytest.raises(ValueError, match="centre"):
        locate_resonance(Machine.triple_dot(), centre=math.nan)
    with pytest.raises(ValueError, match=r"edge of \+0\.05 ± 0\.01"):
        locate_resonance(Machine.triple_dot(), centre=0.05, half_width=0.01, grid=5, current=False)


def test_heom_resonance_with_fixed_hierarchy_is_near_the_level_shift_estimate():
    """Exact (HEOM, Padé 6, depth 2, wide band by extrapolation) δ* at the Fig. 3 point: within 2 % of the estimate.

    Measured −0.002309 against the estimate −0.002296 (W = 93.3; the band extrapolation leaves ~7e-6).
    """
    pytest.importorskip("qutip")
    machine = Machine.triple_dot()
    found = locate_resonance(machine, "heom", options={"pade": 6, "depth": 2, "converge": False},
                             centre=resonance_shift_estimate, half_width=0.005, grid=5, precision=1e-6,
                             current=False)
    assert found.delta == pytest.approx(resonance_shift_estimate(machine), rel=0.02)
    assert found.concurrence > 0.977  # above C at δ = 0 (0.9772): the detuning compensates the Lamb shift
