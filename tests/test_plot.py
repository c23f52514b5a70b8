"""transportbench.plot: the figure-against-parameter picture draws what the dataset holds, error bars and flags."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from transportbench.demo import summary_figure  # noqa: E402
from transportbench.model import Machine  # noqa: E402
from transportbench.plot import error_bars, figure_against_parameter, swept_parameter  # noqa: E402
from transportbench.sweeps import sweep  # noqa: E402


@pytest.fixture(scope="module")
def data():
    table = sweep(Machine.triple_dot(), {"mu": [4.0, 6.0, 8.0]}, ["local", "qmeq:Pauli"], workers=1, progress=False)
    # an exact-looking approach with its own error bars and one unconverged point, made from the local row
    exact = table.sel(approach=["local"]).assign_coords(approach=["heom"])
    exact["concurrence_uncertainty"] = exact.concurrence_uncertainty.fillna(0.0) + 0.01
    exact["current_uncertainty"] = exact.current_uncertainty.fillna(0.0) + 0.02
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


def _half_lengths(container) -> np.ndarray:
    """The half-lengths of the vertical error bars of one errorbar container."""
    segments = container.lines[2][0].get_segments()
    return np.array([(segment[1][1] - segment[0][1]) / 2 for segment in segments])


def test_current_error_bars_are_relative_to_the_largest_current_of_their_kind(data):
    # the cold reservoir carrying a quarter of the hot energy current: its bar is 2 % of the hot one, not of itself
    quarter = xr.DataArray([1.0, 0.25], coords={"reservoir": ["hot", "cold"]})
    data = data.assign(energy_current=data.energy_current * quarter)
    largest = abs(data.energy_current.sel(approach="heom", reservoir="hot"))
    ax = figure_against_parameter(data, "energy_current", reservoir="cold", approaches=["heom"])
    assert np.allclose(_half_lengths(ax.containers[0]), 0.02 * largest.values)
    plt.close(ax.figure)
    errors = error_bars(data, "particle_current")
    assert errors.dims == data.particle_current.dims
    assert np.isnan(errors.sel(approach="local")).all()
    assert np.allclose(error_bars(data, "concurrence").sel(approach="heom"), 0.01)
    assert error_bars(data, "fidelity") is None and error_bars(data.drop_vars("current_uncertainty"),
                                                                "energy_current") is None


def test_the_demo_figure_draws_each_approachs_own_error_bar(data):
    table = data.sel(mu=8.0)
    figure = summary_figure(table)
    current_error = 0.02 * float(abs(table.particle_current.sel(approach="heom")).max())
    for axis, error in zip(figure.axes, (0.01, current_error), strict=True):
        (container,) = axis.containers[1:]  # the bars, then the error bars of the approaches that have them
        assert np.allclose(_half_lengths(container), [error])  # heom's alone
        assert axis.get_legend_handles_labels()[1] == ["HEOM (exact)", "HEOM ± its error",
                                                       "the approach's own error bar"]
    plt.close(figure)
