"""The top level: ``compare`` and ``sweep`` importable from it, their modules still modules, a light import."""

import subprocess
import sys
import types

import pytest


def test_compare_and_sweep_are_the_functions_of_their_modules():
    from transportbench import compare, sweep
    from transportbench.comparison import compare as compare_function
    from transportbench.sweeps import sweep as sweep_function

    assert compare is compare_function and sweep is sweep_function
    assert compare.__module__ == "transportbench.comparison" and sweep.__module__ == "transportbench.sweeps"


def test_the_modules_are_not_hidden_by_the_functions():
    import transportbench
    import transportbench.comparison as comparison
    import transportbench.sweeps as sweeps

    assert isinstance(comparison, types.ModuleType) and isinstance(sweeps, types.ModuleType)
    assert transportbench.comparison is comparison and transportbench.sweeps is sweeps
    assert transportbench.compare is comparison.compare and transportbench.sweep is sweeps.sweep


def test_a_patched_function_is_what_the_top_level_gives(monkeypatch):
    import transportbench

    def stand_in():
        """Replaces the sweep for this test."""

    monkeypatch.setattr("transportbench.sweeps.sweep", stand_in)
    assert transportbench.sweep is stand_in


def test_every_public_name_resolves():
    import transportbench

    missing = [name for name in transportbench.__all__ if not hasattr(transportbench, name)]
    assert not missing
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        transportbench.nothing  # noqa: B018


def test_import_transportbench_loads_no_numerics():
    code = ("import sys, transportbench; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'xarray', 'qutip', 'qmeq') "
            "or m.startswith('transportbench.')))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
