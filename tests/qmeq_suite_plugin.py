"""pytest plugin for running QmeQ 1.1's own test suite against our build (see test_qmeq_suite.py).

Two of QmeQ's tests compare the compiled special functions with stored values to an absolute 1e-14;
our build differs from those values by 2 units in the last place (measured below, Python 3.11,
gcc 12, x86-64), so they are expected to fail, strictly: if they start passing, the run fails and
this list must be updated. test_qmeq_suite.py checks separately that the deviations stay at that level.
"""

import pytest

ROUND_OFF_FAILURES = {
    "test_specfunc.py::test_diff_phi": (
        "round-off: c_diff_phi(-0.1, 1000) = 42.54546520657973 vs stored 42.54546520657971, "
        "|diff| = 1.4e-14 (3.3e-16 relative, 2 ulp) > QmeQ's absolute EPS = 1e-14"),
    "test_specfunc.py::test_diff2_phi": (
        "round-off: c_diff2_phi(-0.1, 1000) = -423.8096493945451 vs stored -423.8096493945452, "
        "|diff| = 1.1e-13 (2.7e-16 relative, 2 ulp) > QmeQ's absolute EPS = 1e-14"),
}


def pytest_collection_modifyitems(items):
    """Mark the known round-off failures as strict expected failures, with the measured deviation."""
    for item in items:
        for node_suffix, reason in ROUND_OFF_FAILURES.items():
            if item.nodeid.endswith(node_suffix):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
