"""Sweep grids and a spy on the points a sweep computes, shared by test_sweep.py, test_journal.py, test_storage.py."""

OVER = {"mu": [4.0, 8.0, 15.0], "U": [10.0, 15.0]}
SMALL = {"mu": [4.0, 8.0, 12.0], "U": [15.0]}


def counting_run_point(monkeypatch) -> list:
    import transportbench.sweeps as module

    calls = []
    original = module.run_point
    monkeypatch.setattr(module, "run_point", lambda *args: calls.append(args) or original(*args))
    return calls
