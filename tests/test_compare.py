"""compare(): the table of several approaches at one machine, its checks, status, notes and figures of merit.

The resonance and leakage scans are in test_scans.py.
"""

import numpy as np
import pytest

from transportbench.comparison import compare, format_notes, format_table
from transportbench.figures import sink_qubits, target_state
from transportbench.model import Machine
from transportbench.observables import dark_state, w_state


# ---------------------------------------------------------------------------------------- the table
def test_compare_values_match_the_paper_point():
    table = compare(Machine.triple_dot(U=15, mu_hot=15), ["local"])
    assert float(table.concurrence[0]) == pytest.approx(0.25, abs=0.01)
    assert float(table.particle_current.sel(reservoir="hot")[0]) == pytest.approx(
        -float(table.particle_current.sel(reservoir="cold")[0]), rel=1e-10)


def test_compare_table_records_failures_without_losing_other_rows(monkeypatch):
    """A backend failure while solving is a FAILED row; the other rows stay."""
    from transportbench.backends import qmeq
    from transportbench.resources import ResourceBudgetError

    def refuse(machine, **options):
        raise ResourceBudgetError("QmeQ 2vN arrays need an estimated 13 GiB, above the memory budget of 12 GiB")

    monkeypatch.setattr(qmeq, "solve_steady", refuse)
    table = compare(Machine.triple_dot(), ["local", "qmeq:2vN"])
    good = table.sel(approach="local")
    assert str(good.error.values) == "" and str(good.status.values) == "ok"
    assert float(good.concurrence) > 0.99
    failed = table.sel(approach="qmeq:2vN")
    assert "memory budget" in str(failed.error.values) and str(failed.status.values).startswith("FAILED")
    assert np.isnan(float(failed.concurrence))
    text = format_table(table)
    assert "FAILED" in text and "local" in text
    notes = format_notes(table).splitlines()  # only the solved approach has notes
    assert len(notes) == 1 and notes[0].startswith("local notes: ")
    assert table.energy_current.sel(approach="local", reservoir="hot") > 0


def test_status_column_says_what_the_health_says():
    import dataclasses

    from transportbench.backends.local import solve_steady
    from transportbench.comparison import summarize

    result = solve_steady(Machine.triple_dot())
    assert summarize(result)["status"] == "ok"
    for change, expected in [({"min_eigenvalue": -1e-5}, "unphysical"), ({"converged": False}, "not converged"),
                             ({"unique": False}, "not unique"), ({"entropy_production": -1e-3}, "second law"),
                             ({"energy_imbalance": 0.05 * result.health.energy_scale}, "energy not conserved")]:
        broken = dataclasses.replace(result, health=dataclasses.replace(result.health, **change))
        assert expected in summarize(broken)["status"]


def test_deviations_from_a_reference_row():
    from transportbench.comparison import with_deviations

    table = compare(Machine.triple_dot(), ["local"], options={"local": {"solver": "direct"}})
    deviations = with_deviations(table, "local")
    assert float(deviations.concurrence_error[0]) == 0.0
    assert np.all(deviations.current_error.values == 0.0)
    assert "concurrence_error" not in table and "ΔC" in format_table(deviations)
    assert "caution" not in format_table(deviations)  # the reference row is ok


def test_deviations_from_an_unconverged_reference_are_flagged():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = compare(Machine.triple_dot(), ["local", "heom"], options={"heom": {"pade": 6, "depth": 2,
                                                                                   "converge": False}},
                        progress=False)
    assert table.attrs["reference"] == "heom" and table.attrs["reference_status"] == "not converged"
    assert "caution: the reference heom is itself not ok (not converged)" in format_table(table)


def test_compare_records_and_passes_on_warnings():
    from transportbench.backends.local import DegenerateSteadyStateWarning
    from transportbench.model import Reservoir

    machine = Machine(energies=(1.0, 1.0, 1.0), couplings={(0, 1): 0.05, (1, 2): 0.05},
                      coulomb={(0, 1): 10.0, (0, 2): 10.0, (1, 2): 10.0},
                      reservoirs=(Reservoir("hot", 0, 0.1, 5.0, 1.0),), ideal_limit=True)
    with pytest.warns(DegenerateSteadyStateWarning):
        table = compare(machine, ["local"], options={"local": {"solver": "direct"}})
    assert "DegenerateSteadyStateWarning" in str(table.warnings.values[0])
    assert "1 warning; see the notes" in format_table(table)
    assert "local warnings: DegenerateSteadyStateWarning" in format_notes(table)


@pytest.mark.qmeq
def test_compare_runs_every_first_order_approach_at_the_fig3_point():
    FIRST_ORDER = ("qmeq:Pauli", "qmeq:Lindblad", "qmeq:Redfield", "qmeq:1vN")

    table = compare(Machine.triple_dot(), ["local", *FIRST_ORDER])
    assert all(str(e) == "" for e in table.error.values)
    assert np.all(table.concurrence.values > 0.99)
    assert np.allclose(table.particle_current.sel(reservoir="hot").values, 8e-5, rtol=0.3)


# ------------------------------------------------- approaches and options, checked before any solve
@pytest.mark.parametrize(("approaches", "options", "message"), [
    ("local", None, "string"),
    (["local", "nonsense"], None, "unknown backend"),
    (["local:foo"], None, "no approaches"),
    (["qmeq:3vN"], None, "unknown approach '3vN'"),
    (["local", "local"], None, "twice"),
    (["local"], {"local": {"tolerance": 1e-9}}, "tolerance"),
    (["qmeq:1vN"], {"qmeq:1vN": {"kpnts": 10}}, "kpnts"),
])
def test_compare_checks_every_approach_and_option_before_solving(approaches, options, message, monkeypatch):
    import transportbench.comparison

    def never(*args, **kwargs):
        raise AssertionError("solved before the arguments were checked")

    monkeypatch.setattr(transportbench.comparison, "solve", never)
    with pytest.raises(ValueError, match=message):
        compare(Machine.triple_dot(), approaches, options)


def test_compare_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least one"):
        compare(Machine.triple_dot(), [])
    with pytest.raises(ValueError, match="not compared"):
        compare(Machine.triple_dot(), ["local"], options={"qmeq:2vN": {}})
    with pytest.raises(ValueError, match="machine must be a transportbench Machine, got NoneType"):
        compare(None, ["local"])
    with pytest.raises(ValueError, match="options must map approach names"):
        compare(Machine.triple_dot(), ["local"], options=["rtol=1e-9"])
    with pytest.raises(ValueError, match=r"options\['local'\] must map setting names"):
        compare(Machine.triple_dot(), ["local"], options={"local": ["rtol", 1e-9]})


def test_one_spelling_of_every_approach():
    from transportbench.comparison import canonical_approach

    assert canonical_approach("QMEQ:pauli") == "qmeq:Pauli" and canonical_approach("qmeq:1VN") == "qmeq:1vN"
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert canonical_approach("lindblad") == "local"
    table = compare(Machine.triple_dot(), ["LOCAL"], options={"local": {"solver": "direct"}})
    assert list(table.approach.values) == ["local"]
    with pytest.raises(ValueError, match="twice"):
        compare(Machine.triple_dot(), ["local", "Local"])
    with pytest.raises(ValueError, match="several approaches; name one: qmeq:Pauli, .*qmeq:2vN"):
        canonical_approach("qmeq")  # it used to mean 2vN without saying so


def test_the_default_comparison_runs_what_is_installed_and_says_what_it_skipped(monkeypatch):
    from transportbench.backends import heom, installed_approaches, qmeq
    from transportbench.comparison import SkippedApproachWarning

    monkeypatch.setattr(qmeq, "missing_dependency", lambda: "QmeQ is not installed; build it with X")
    monkeypatch.setattr(heom, "missing_dependency", lambda: "QuTiP is not installed; pip install Y")
    assert installed_approaches() == ("local",)
    with pytest.warns(SkippedApproachWarning, match=r"skipped qmeq:Pauli, .*heom: QmeQ .* with X \| QuTiP .* Y"):
        table = compare(Machine.triple_dot(), progress=False)
    assert list(table.approach.values) == ["local"] and table.attrs["skipped"].endswith("qmeq:2vN, heom")


# --------------------------------------------------------------- figures of merit and target states
def test_figures_of_merit_are_a_list(monkeypatch):
    from transportbench.backends import local
    from transportbench.figures import Concurrence, Fidelity

    machine = Machine.triple_dot()
    table = compare(machine, ["local"], figures=[Concurrence(0, 1), Concurrence(0, 2), Fidelity()])
    assert set(table.attrs["figures"].split(", ")) == {"concurrence_0_1", "concurrence_0_2", "fidelity"}
    paper = compare(machine, ["local"])
    assert float(table.concurrence_0_1[0]) == float(paper.concurrence[0])
    assert float(table.concurrence_0_2[0]) < 0.01  # the sink is nearly empty: no entanglement with it
    assert "sink_population" not in table and "concurrence_0_2" in format_table(table)
    with pytest.raises(ValueError, match="distinct"):
        compare(machine, ["local"], figures=[Concurrence(0, 1), Concurrence(1, 0, name="concurrence_0_1")])
    with pytest.raises(ValueError, match="two different qubits"):
        Concurrence(1, 1)
    from transportbench.backends.local import solve_steady

    with pytest.raises(ValueError, match="needs at least 8 qubits; the machine has 3"):
        Concurrence(0, 7)(solve_steady(machine))

    def refuse(*args, **kwargs):
        raise AssertionError("solved although a figure does not apply")

    monkeypatch.setattr(local, "solve_steady", refuse)
    with pytest.raises(ValueError, match="concurrence of qubits 0 and 5 needs at least 6 qubits"):
        compare(machine, ["local"], figures=[Concurrence(0, 5)])  # refused before any solve, not NaN with "ok"
    with pytest.raises(ValueError, match="sequence of figures"):
        compare(machine, ["local"], figures=Concurrence(0, 1))


def test_target_states_and_sinks():
    assert np.allclose(target_state(Machine.triple_dot(g13=0.02, g23=0.05)).dense(), dark_state(0.02, 0.05).dense())
    w = Machine.w_machine(3, couplings=[(0.05, 0.02), (0.03, 0.04)])
    assert np.allclose(target_state(w).dense(), w_state([(0.05, 0.02), (0.03, 0.04)]).dense())
    assert sink_qubits(w) == [3, 4]
    assert target_state(Machine(energies=(1.0, 1.0))) is None


def test_the_progress_bar_shows_on_request_and_on_terminals_only(capsys):
    compare(Machine.triple_dot(), ["local"], progress=True)
    assert "solving local" in capsys.readouterr().err
    compare(Machine.triple_dot(), ["local"])  # stderr is no terminal under pytest: no bar by default
    assert capsys.readouterr().err == ""
