"""Results folders of the demo and the study scripts: data as NetCDF or JSON, a figure as PNG.

No plotting backend is chosen here: a script that needs no screen selects one itself (the studies use
Agg, see ``studies/_common.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def results_folder(root: str | Path, study: str) -> Path:
    """The folder ``root/study``, created if needed.

    Parameters
    ----------
    root : str or Path
        The results root, e.g. ``"results"``.
    study : str
        The name of the study (or ``"demo"``).

    Returns
    -------
    Path
        The folder.
    """
    folder = Path(root) / study
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(folder: Path, name: str, data: xr.Dataset | dict[str, Any], figure: Figure | None = None) -> None:
    """Write ``name.nc`` (a Dataset) or ``name.json`` (a dict) and ``name.png``, and print where.

    Parameters
    ----------
    folder : Path
        Where to write (see :func:`results_folder`).
    name : str
        The files' name without extension.
    data : xarray.Dataset or dict
        The data: a Dataset goes to NetCDF (h5netcdf), a dict to indented JSON (numbers as floats).
    figure : matplotlib.figure.Figure, optional
        A figure, written as PNG at 130 dpi and closed.
    """
    if isinstance(data, xr.Dataset):
        data.to_netcdf(folder / f"{name}.nc", engine="h5netcdf")
        print(f"wrote {folder / name}.nc")
    else:
        (folder / f"{name}.json").write_text(json.dumps(data, indent=1, default=float))
        print(f"wrote {folder / name}.json")
    if figure is not None:
        save_figure(folder, name, figure)


def save_figure(folder: Path, name: str, figure: Figure) -> None:
    """Write ``figure`` as ``<folder>/<name>.png`` at 130 dpi, close it, and print where."""
    import matplotlib.pyplot as plt

    figure.savefig(folder / f"{name}.png", dpi=130, bbox_inches="tight")
    plt.close(figure)
    print(f"wrote {folder / name}.png")
