"""The common picture in one call: a figure of merit against a swept parameter, one curve per approach.

Reads the dataset of :func:`transportbench.sweeps.sweep` (or of a study): each approach's values with its own
error bars (the ``concurrence_uncertainty`` / ``current_uncertainty`` of backends that refine, such as HEOM),
and every point whose ``status`` is not ``ok`` marked, so a figure never hides a failed or unconverged point.
Axis labels come from the dataset's ``long_name`` and ``units`` attributes. Matplotlib is imported when a
picture is drawn, and no backend is chosen here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

TABLE_DIMENSIONS = ("approach", "qubit", "reservoir")
"""Dimensions of a sweep dataset that are not swept parameters."""
ERROR_ESTIMATES = {"concurrence": "concurrence_uncertainty", "particle_current": "current_uncertainty",
                   "energy_current": "current_uncertainty"}
"""Variable → the variable of each approach's own error estimate of it (C: absolute; currents: relative)."""


def swept_parameter(data: xr.Dataset) -> str:
    """The one swept dimension of ``data``; ValueError if there is none or several (name one with ``over``)."""
    swept = [name for name in data.dims if name not in TABLE_DIMENSIONS]
    if len(swept) != 1:
        raise ValueError(f"the dataset sweeps {swept or 'nothing'}; name the parameter to plot against with over=")
    return str(swept[0])


def label(variable: xr.DataArray) -> str:
    """An axis label from a variable's ``long_name`` (else its ``description``, else its name) and ``units``."""
    name = str(variable.attrs.get("long_name") or variable.attrs.get("description") or variable.name)
    units = str(variable.attrs.get("units") or "")
    return f"{name} [{units}]" if units else name


def error_bars(data: xr.Dataset, figure: str) -> xr.DataArray | None:
    """Each approach's own error estimate of ``figure``, in the figure's units (NaN where it has none).

    Parameters
    ----------
    data : xarray.Dataset
        A :func:`~transportbench.comparison.compare` or :func:`~transportbench.sweeps.sweep` dataset (or a
        selection of one that keeps the ``reservoir`` dimension of the currents).
    figure : str
        ``"concurrence"`` (C(0, 1), dimensionless), ``"particle_current"`` (energy units, ħ = 1) or
        ``"energy_current"`` (energy units squared).

    Returns
    -------
    xarray.DataArray or None
        The half-width of the error bar of every value of ``data[figure]`` (same dimensions): the
        ``concurrence_uncertainty`` for C; for a current, the ``current_uncertainty`` (relative to the largest
        current of its kind, :mod:`transportbench.convergence`) times the largest |current| of that kind over the
        reservoirs, which a current near zero (at equilibrium) does not reach (the refinement's absolute floor is
        not in the dataset). None when the dataset holds no estimate of ``figure``.
    """
    estimate = ERROR_ESTIMATES.get(figure)
    if estimate is None or estimate not in data or figure not in data:
        return None
    if figure == "concurrence":
        return data[estimate].broadcast_like(data[figure])
    size = abs(data[figure])
    largest = size.max("reservoir") if "reservoir" in size.dims else size
    return (data[estimate] * largest).broadcast_like(data[figure])


def figure_against_parameter(data: xr.Dataset, figure: str = "concurrence", *, over: str | None = None,
                             reservoir: str | None = None, approaches: list[str] | None = None,
                             ax: Any = None) -> Any:
    """Plot ``figure`` against the swept parameter ``over``, one curve per approach, with error bars.

    Parameters
    ----------
    data : xarray.Dataset
        A sweep's dataset (dimensions: the swept parameter, ``approach``, and ``reservoir``/``qubit`` for
        per-reservoir or per-qubit variables).
    figure : str
        The variable to plot, e.g. ``"concurrence"``, ``"fidelity"``, ``"particle_current"``.
    over : str, optional
        The swept parameter on the horizontal axis (default: the only one).
    reservoir : str, optional
        The reservoir of a per-reservoir variable (required for currents).
    approaches : list of str, optional
        The approaches to draw (default: every one in ``data``).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure's axes).

    Returns
    -------
    matplotlib.axes.Axes
        The axes, with a legend; points whose status is not ``ok`` are circled in red and listed in the
        legend as such. Error bars are each approach's own estimate (:func:`error_bars`), drawn where finite.
    """
    import matplotlib.pyplot as plt

    if figure not in data:
        raise ValueError(f"the dataset has no variable {figure!r}; it has {sorted(map(str, data.data_vars))}")
    over = over or swept_parameter(data)
    values, errors = data[figure], error_bars(data, figure)
    if "reservoir" in values.dims:
        if reservoir is None:
            raise ValueError(f"{figure} is given per reservoir; choose one with reservoir= "
                             f"({', '.join(map(str, data.reservoir.values))})")
        values = values.sel(reservoir=reservoir)
        errors = None if errors is None else errors.sel(reservoir=reservoir)
    extra = [dim for dim in values.dims if dim not in (over, "approach")]
    if extra:
        raise ValueError(f"{figure} also depends on {extra}; select them first, e.g. data.sel({extra[0]}=...)")
    if ax is None:
        ax = plt.subplots(figsize=(6.0, 4.0))[1]
    flagged = False
    for approach in approaches or [str(name) for name in data.approach.values]:
        curve = values.sel(approach=approach).transpose(over)
        x, y = data[over].values, curve.values.astype(float)
        error = (np.full_like(y, np.nan) if errors is None
                 else errors.sel(approach=approach).transpose(over).values.astype(float))
        shown = np.where(np.isfinite(error), error, 0.0)
        ax.errorbar(x, y, yerr=shown if np.isfinite(error).any() else None, marker="o", markersize=3,
                    capsize=2, label=approach)
        if "status" in data:
            bad = data["status"].sel(approach=approach).transpose(over).values != "ok"
            if bad.any():
                ax.plot(x[bad], y[bad], linestyle="none", marker="o", markersize=9, markerfacecolor="none",
                        markeredgecolor="red", label=None if flagged else "status not ok")
                flagged = True
    ax.set_xlabel(label(data[over]))
    ylabel = label(data[figure])
    ax.set_ylabel(f"{ylabel}, reservoir {reservoir}" if reservoir else ylabel)
    ax.legend(fontsize="small")
    return ax
