"""Shared plumbing of the study scripts: command-line flags, results folders, figure files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # studies write PNG files; no screen needed
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402


def study_arguments(description: str) -> argparse.Namespace:
    """Parse ``--quick`` (reduced grids for a smoke run) and ``--results DIR``.

    The default folder is results/, or results/quick/ with ``--quick``: a quick run never meets the sweep
    files of a full run (a sweep refuses to write over a different sweep's file).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="coarse grids: a smoke run (seconds to two minutes)")
    parser.add_argument("--results", default=None,
                        help="folder for data and figures (default results/, or results/quick/ with --quick)")
    arguments = parser.parse_args()
    if arguments.results is None:
        arguments.results = "results/quick" if arguments.quick else "results"
    return arguments


def results_folder(root: str, study: str) -> Path:
    """``root/study``, created if needed."""
    folder = Path(root) / study
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(folder: Path, name: str, data: xr.Dataset | dict[str, Any], figure: plt.Figure | None = None) -> None:
    """Write ``name.nc`` (Dataset) or ``name.json`` (dict) and ``name.png``, and say where."""
    if isinstance(data, xr.Dataset):
        data.to_netcdf(folder / f"{name}.nc", engine="h5netcdf")
        print(f"wrote {folder / name}.nc")
    else:
        (folder / f"{name}.json").write_text(json.dumps(data, indent=1, default=float))
        print(f"wrote {folder / name}.json")
    if figure is not None:
        figure.savefig(folder / f"{name}.png", dpi=130, bbox_inches="tight")
        plt.close(figure)
        print(f"wrote {folder / name}.png")
