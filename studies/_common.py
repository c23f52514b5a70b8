"""Shared plumbing of the study scripts: the Agg backend, command-line flags, results folders and files.

Every study imports its plumbing from here (``from _common import results_folder, save, study_arguments``);
a study runs as a script (``python studies/NAME.py``, whose folder Python puts on ``sys.path``) or through
``transportbench study NAME``, which puts this folder on ``sys.path`` too.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")  # studies write PNG files; no screen needed

from transportbench.saving import results_folder, save, save_figure  # noqa: E402

__all__ = ["results_folder", "save", "save_figure", "study_arguments"]


def study_arguments(description: str) -> argparse.Namespace:
    """Parse ``--quick`` (reduced grids for a smoke run) and ``--results DIR`` from the command line.

    The default folder is results/, or results/quick/ with ``--quick``: a quick run never meets the sweep
    files of a full run (a sweep refuses to write over a different sweep's file).

    Parameters
    ----------
    description : str
        The study's description for ``--help`` (its module docstring).

    Returns
    -------
    argparse.Namespace
        ``quick`` (bool) and ``results`` (the results root, a str).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="coarse grids: a smoke run (seconds to two minutes)")
    parser.add_argument("--results", default=None,
                        help="folder for data and figures (default results/, or results/quick/ with --quick)")
    arguments = parser.parse_args()
    if arguments.results is None:
        arguments.results = "results/quick" if arguments.quick else "results"
    return arguments
