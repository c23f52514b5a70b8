"""transportbench.plot: the figure-against-parameter picture draws what the dataset holds, error bars and flags."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from transportbench.model import Machine  # noqa: E402
from transportbench.plot import figure_against_parameter, swept_parameter  # noqa: E402
from transportbench.sweeps import sweep  # noqa: E402


@pytest.fixture(scope="module")
def data():
    table = sweep(Machine.triple_dot(), {"mu": [4.0, 6.0, 8.0]}, ["local", "qmeq:Pauli"], workers=1, progress=False)
    # an exact-looking approach with its own error bars and one unconverged point, made from the local row
    exact = table.sel(approach=["local"]).assign_coords(approach=["heom"])
    exact["concurrence_uncertainty"] = exact.concurrence_uncertainty.fillna(0.0) + 0.01
    exact["status"] = exact.status.copy(data=np.array([["ok"], ["not converged"], ["ok"]]))
    return xr.concat([table, exact], dim="approach", data_vars="all")


def test_every_approach_is_a_curve_of_its_values_with_its_error_bars_and_flags(data):
    ax = figure_against_parameter(data, "concurrence")
    curves = {container.get_label(): container for container in ax.containers}
    for approach in ("local", "qmeq:Pauli", "heom"):
        assert np.allclose(curves[approach].lines[0].get_ydata(), data.concurrence.sel(approach=approach).values)
    assert curves["heom"].has_yerr and not curves["local"].has_yerr
    flagged = [line for line in ax.lines if line.get_label() == "status not ok"]
    assert len(flagged) == 1 and np.allclose(flagged[0].get_xdata(), [6.0])
    assert flagged[0].get_markeredgecolor() == "red"
    assert ax.get_xlabel().startswith("chemical potential") and "energy unit" in ax.get_xlabel()
    assert ax.get_ylabel() == "concurrence of qubits 0 and 1"
    plt.close(ax.figure)


def test_per_reservoir_variables_and_bad_requests_are_named(data):
    ax = figure_against_parameter(data, "particle_current", reservoir="hot", approaches=["local"])
    assert np.allclose(ax.containers[0].lines[0].get_ydata(),
                       data.particle_current.sel(approach="local", reservoir="hot"))
    assert ax.get_ylabel().endswith("reservoir hot")
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="per reservoir; choose one with reservoir="):
        figure_against_parameter(data, "particle_current")
    with pytest.raises(ValueError, match="no variable 'C'"):
        figure_against_parameter(data, "C")
    assert swept_parameter(data) == "mu"
    with pytest.raises(ValueError, match="sweeps nothing"):
        swept_parameter(data.isel(mu=0, drop=True))
