"""The backend registry: built-in names, any letter case, entry points of other packages, the protocol."""

import sys
import types
from importlib.metadata import EntryPoint

import pytest

import transportbench.backends as backends
from transportbench.backends import Backend, get_backend


def test_names_are_case_insensitive_and_unknown_names_list_the_valid_ones():
    assert get_backend("LOCAL") is get_backend("local")
    with pytest.warns(DeprecationWarning, match="'local'"):
        assert get_backend("Lindblad") is get_backend("local")
    assert get_backend("QmeQ").NAME == "qmeq"
    with pytest.raises(ValueError, match=r"valid backends: \['heom', 'local', 'qmeq'"):
        get_backend("nonsense")
    with pytest.raises(ValueError, match="unknown backend"):
        get_backend(None)


def test_other_packages_register_backends_through_entry_points(monkeypatch):
    from transportbench.backends import local

    module = types.ModuleType("toy_backend")
    module.NAME = "toy"
    for name in ("Options", "CAPABILITIES", "check_machine", "estimate_memory", "solve_steady"):
        setattr(module, name, getattr(local, name))
    broken = types.ModuleType("broken_backend")
    monkeypatch.setitem(sys.modules, "toy_backend", module)
    monkeypatch.setitem(sys.modules, "broken_backend", broken)
    points = [EntryPoint("Toy", "toy_backend", backends.ENTRY_POINT_GROUP),
              EntryPoint("broken", "broken_backend", backends.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(backends, "entry_points", lambda group: points if group == backends.ENTRY_POINT_GROUP else [])
    assert get_backend("toy") is module and isinstance(module, Backend)
    assert "toy" in backends.registry()
    with pytest.raises(TypeError, match="lacks NAME, Options, CAPABILITIES, check_machine, estimate_memory"):
        get_backend("broken")
