"""Command line: ``transportbench compare | sweep | study NAME | validate``.

All energies are in one unit of your choice (the paper: ε = 1 GHz), ħ = k_B = 1. Everything is checked
before any solve. Exit status: 0 done; 1 done, but an approach failed or a sweep has failed points (rerun
the sweep to retry only those); 2 bad input, one line on stderr naming it, nothing computed; 130 / 143
interrupted by SIGINT / SIGTERM (a sweep stops its workers at once and keeps every finished point in its
journal: rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import os
import runpy
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import xarray as xr

from transportbench import __version__
from transportbench.backends import all_approaches, get_backend, require_coupled_reservoir
from transportbench.comparison import check_comparison, compare, format_notes, format_table
from transportbench.journal import JournalWriteError, count_failed_points
from transportbench.model import Machine
from transportbench.parameters import PARAMETERS
from transportbench.regime import validate_regime
from transportbench.storage import LockWriteError, OutputWriteError, check_output_folder, save_json, save_netcdf
from transportbench.sweeps import MAX_GRID_POINTS, SweepInterrupted, WorkerDied, plan_sweep

SOURCE_STUDIES = Path(__file__).resolve().parents[1] / "studies"
"""The study scripts of a source checkout."""
INSTALLED_STUDIES = Path(sys.prefix) / "share" / "transportbench" / "studies"
"""Where an installed package (a wheel) puts the same scripts (``[tool.setuptools.data-files]``)."""


def studies_folder(given: str | None = None) -> Path:
    """The folder of the study scripts: ``given``, else the source checkout's, else the installed copy's."""
    if given:
        return Path(given)
    return SOURCE_STUDIES if SOURCE_STUDIES.is_dir() else INSTALLED_STUDIES


def available_studies(folder: Path) -> list[str]:
    """The study names in ``folder`` (its ``*.py`` scripts but the ``_`` plumbing), sorted; [] if none."""
    return sorted(path.stem for path in folder.glob("*.py") if not path.stem.startswith("_"))
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
"""Exit statuses; an interrupt exits with 128 + the signal number (130 SIGINT, 143 SIGTERM)."""


def _machine_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("machine (energies in one unit, e.g. GHz; hbar = k_B = 1)")
    group.add_argument("--machine", choices=("triple", "w"), default="triple",
                       help="the paper's triple dot (default) or the (2n-1)-qubit W machine")
    group.add_argument("--n", type=int, default=3, help="W machine: number n of entangled qubits (>= 2)")
    group.add_argument("--epsilon", type=float, default=1.0, help="qubit energy ε (default 1)")
    group.add_argument("--g13", type=float, default=0.05, help="triple dot: coupling g13 (default 0.05)")
    group.add_argument("--g23", type=float, default=0.05, help="triple dot: coupling g23 (default 0.05)")
    group.add_argument("--g", type=float, default=0.05, help="W machine: every coupling (default 0.05)")
    group.add_argument("--U", type=float, default=15.0, help="Coulomb energy U (default 15)")
    group.add_argument("--mu-hot", "--mu", dest="mu_hot", type=float, default=8.0,
                       help="chemical potential of the hot reservoir (default 8)")
    group.add_argument("--T-hot", type=float, default=1.0, help="temperature of the hot reservoir (default 1)")
    group.add_argument("--T-cold", type=float, default=1.0,
                       help="temperature of the cold/sink reservoirs (default 1)")
    group.add_argument("--gamma-hot", type=float, default=0.1, help="rate γ of the hot reservoir (default 0.1)")
    group.add_argument("--gamma-cold", type=float, default=0.1,
                       help="rate γ of each cold/sink reservoir (default 0.1)")
    group.add_argument("--ideal", action="store_true",
                       help="apply the ideal limit U, μ -> ∞ (paper Eq. 3) to the rates")
    group.add_argument("--statistics", choices=("qubit", "fermion"), default="qubit",
                       help="particle model of the local equation: qubit (spins, the paper's; default) or fermion "
                            "(spinless fermionic dots, the model QmeQ and HEOM always solve: like for like)")


def machine_from(args: argparse.Namespace) -> Machine:
    """The Machine described by the command-line options."""
    if args.machine == "triple":
        return Machine.triple_dot(epsilon=args.epsilon, g13=args.g13, g23=args.g23, U=args.U,
                                  mu_hot=args.mu_hot, T_hot=args.T_hot, T_cold=args.T_cold, gamma_hot=args.gamma_hot,
                                  gamma_cold=args.gamma_cold, statistics=args.statistics, ideal_limit=args.ideal)
    return Machine.w_machine(args.n, epsilon=args.epsilon, g=args.g, U=args.U, mu_hot=args.mu_hot,
                             T_hot=args.T_hot, T_sink=args.T_cold, gamma_hot=args.gamma_hot,
                             gamma_sink=args.gamma_cold, statistics=args.statistics, ideal_limit=args.ideal)


def parse_axis(text: str) -> tuple[str, np.ndarray]:
    """``"mu=0:20:41"`` (start:stop:count, inclusive) or ``"U=10,15"`` → (name, values)."""
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise ValueError(f"--over expects NAME=start:stop:count or NAME=v1,v2,..., got {text!r}")
    try:
        if ":" in spec:
            start, stop, count = spec.split(":")
            bounds, size = (float(start), float(stop)), int(count)
        else:
            values = np.array([float(v) for v in spec.split(",")])
    except ValueError:
        raise ValueError(f"--over {name}: cannot read the values {spec!r}") from None
    if ":" not in spec:
        return name, values
    if size > MAX_GRID_POINTS:  # refused before the values are allocated
        raise ValueError(f"--over {name}: {size:,} values, more than the sweep's limit MAX_GRID_POINTS = "
                         f"{MAX_GRID_POINTS:,}")
    return name, np.linspace(*bounds, size)


def parse_axes(texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Every ``--over`` as {name: values}; a parameter given twice is an error (not the last one winning)."""
    axes: dict[str, np.ndarray] = {}
    for text in texts:
        name, values = parse_axis(text)
        if name in axes:
            raise ValueError(f"--over {name} is given twice; give each parameter once (values: v1,v2,... or "
                             "start:stop:count)")
        axes[name] = values
    return axes


def parse_options(texts: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every ``--option APPROACH.SETTING=VALUE`` as {approach: {setting: value}}.

    VALUE is read as a Python literal (``12``, ``1e-3``, ``True``, ``{'hot': 16}``), else kept as text
    (``solver=direct``); the approach and setting names are checked by the backend before any work.
    """
    options: dict[str, dict[str, Any]] = {}
    for text in texts:
        target, sep, value = text.partition("=")
        approach, dot, setting = target.rpartition(".")
        if not sep or not dot or not approach or not setting or not value:
            raise ValueError(f"--option expects APPROACH.SETTING=VALUE, e.g. heom.pade=12, got {text!r}")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        options.setdefault(approach, {})[setting] = parsed
    return options


def check_output(out: str | None, suffixes: Sequence[str]) -> None:
    """ValueError unless ``--out`` ends in one of ``suffixes`` and its name and folder can be written (no work yet)."""
    if out is None:
        return
    if not out.endswith(tuple(suffixes)):
        raise ValueError(f"--out must end in {' or '.join(suffixes)}, got {out!r}")
    path = Path(out)
    longest = os.pathconf(path.parent, "PC_NAME_MAX") if path.parent.is_dir() else 255
    if len(path.name.encode()) > longest:
        raise ValueError(f"--out: the file name is {len(path.name.encode())} bytes long; this file system allows "
                         f"{longest}")
    check_output_folder(path)


def _write(dataset: xr.Dataset, out: str | None) -> bool:
    """Write the table (NetCDF, or JSON with NaN as null), atomically; False, with one line, if that fails."""
    if out is None:
        return True
    try:
        if out.endswith(".json"):
            save_json(dataset.to_dict(data="list"), Path(out))
        else:
            save_netcdf(dataset, Path(out))
    except OutputWriteError as error:
        print(f"transportbench: error: could not write the output: {error.strerror}; the table above is the result",
              file=sys.stderr)
        return False
    print(f"wrote {out}")
    return True


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text


def _run_compare(args: argparse.Namespace) -> int:
    check_output(args.out, (".nc", ".json"))
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise ValueError(f"--out {args.out} exists; give --overwrite to replace it")
    machine, options = machine_from(args), parse_options(args.option)
    if args.approaches is not None:
        check_comparison(args.approaches, options, machine)
    with _solving():
        table = compare(machine, args.approaches, options)
    print(format_table(table, wide=args.wide))
    if args.notes:
        print(format_notes(table))
    if not _write(table, args.out):
        return EXIT_FAILED
    failed = [f"{spec}: {_first_line(str(error))}"
              for spec, error in zip(table.approach.values, table.error.values, strict=True) if error]
    if failed:
        print(f"transportbench: {len(failed)} of {table.sizes['approach']} approaches failed: {'; '.join(failed)}",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _run_sweep(args: argparse.Namespace) -> int:
    check_output(args.out, (".nc",))
    machine, axes, options = machine_from(args), parse_axes(args.over), parse_options(args.option)
    if args.out and args.overwrite:
        check_comparison(args.approaches, options, machine)  # nothing is deleted for a command that is refused
        for old in (Path(args.out), Path(args.out + ".points.jsonl")):
            old.unlink(missing_ok=True)
    plan = plan_sweep(machine, axes, args.approaches, path=args.out, options=options, workers=args.workers,
                      scheduler=args.scheduler)
    if plan.complete:
        print(f"already complete: {args.out} (nothing recomputed)")
    with _solving():
        result = plan.run()
    if args.verbose:
        print("concurrence C(0,1) of qubits 0 and 1 (the paper's 1 and 2):")
        print(result.concurrence.to_series().round(6).to_string())
    print(sweep_summary(result))
    if args.out and not plan.complete:
        print(f"wrote {args.out}")
    failed = count_failed_points(result)
    if failed:
        where = "; rerun the same command to retry only them" if args.out else ""
        print(f"transportbench: {failed} of {len(plan.grid)} points failed (NaN, with the reason in the variable "
              f"'error'){where}; first: {_first_failure(result)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def sweep_summary(result: xr.Dataset) -> str:
    """A few lines about a finished sweep: the grid, and per approach the range of C(0,1) and the statuses."""
    swept = [name for name in result.concurrence.dims if name != "approach"]
    lines = [f"sweep over {' x '.join(f'{name} ({result.sizes[name]} values)' for name in swept)}: "
             f"{int(np.prod([result.sizes[name] for name in swept]))} points"]
    for approach in result.approach.values:
        values = result.concurrence.sel(approach=approach).values
        status = result.status.sel(approach=approach).values.astype(str)
        finite = values[np.isfinite(values)]
        span = f"C(0,1) from {finite.min():.6g} to {finite.max():.6g}" if finite.size else "no C(0,1)"
        flagged = int(np.count_nonzero(status != "ok"))
        lines.append(f"  {approach}: {span}; {flagged} point(s) with a status other than ok" if flagged
                     else f"  {approach}: {span}; every point ok")
    return "\n".join(lines)


def _first_failure(result: xr.Dataset) -> str:
    """The coordinates, approach and error of the first failed approach of a sweep table."""
    errors = result.error.stack(point=result.error.dims)
    first = errors[errors.astype(str) != ""][0]
    where = ", ".join(f"{name} = {first[name].item():g}" for name in result.error.dims if name != "approach")
    return f"{where}, {first['approach'].item()}: {_first_line(str(first.item()))}"


def _run_study(args: argparse.Namespace) -> int:
    study_args, given = list(args.study_args), args.studies_dir
    if "--studies-dir" in study_args:  # also after the study's name
        position = study_args.index("--studies-dir")
        if position + 1 == len(study_args):
            raise ValueError("--studies-dir needs a folder")
        given = study_args.pop(position + 1)
        study_args.pop(position)
    folder = studies_folder(given)
    if not folder.is_dir():
        raise ValueError(f"no study scripts at {folder}: give their folder with --studies-dir (a clone has them in "
                         "studies/, an installed package in share/transportbench/studies of its environment)")
    available = available_studies(folder)
    if args.name not in available:
        raise ValueError(f"unknown study {args.name!r}; available in {folder}: {available}")
    script = folder / f"{args.name}.py"
    sys.argv = [str(script), *study_args]
    sys.path.insert(0, str(folder))  # as `python studies/NAME.py` does: a study imports its plumbing, _common
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.path.remove(str(folder))
    return EXIT_OK


def _run_validate(args: argparse.Namespace) -> int:
    machine = machine_from(args)
    require_coupled_reservoir(machine, "the regime check")
    if args.reference:
        get_backend(args.reference).check_machine(machine)
    with _solving():
        print(validate_regime(machine, reference=args.reference))
    return EXIT_OK


class SolveError(RuntimeError):
    """A solve failed after every input was accepted (e.g. a linear-algebra failure): not bad input."""


@contextlib.contextmanager
def _solving() -> Iterator[None]:
    """Inside, a ValueError is a failure of the solve, not bad input: it becomes a :class:`SolveError`."""
    try:
        yield
    except ValueError as error:
        raise SolveError(f"{type(error).__name__}: {error}") from error


class UsageError(ValueError):
    """A command line argparse cannot parse."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (raised as :class:`UsageError`, exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Raise :class:`UsageError` instead of printing the usage and exiting."""
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``transportbench`` command."""
    parser = _Parser(prog="transportbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    compare_cmd = commands.add_parser("compare", help="one machine through several approaches, as a table")
    _machine_arguments(compare_cmd)
    compare_cmd.add_argument("--approaches", nargs="+", default=None,
                             help=f"approaches (default: every installed one of {' '.join(all_approaches())}; "
                                  "those not installed are named with how to add them). The converged qmeq:2vN "
                                  "takes about a minute and heom 10-20 s at the Fig. 3 point")
    compare_cmd.add_argument("--option", action="append", default=[], metavar="APPROACH.SETTING=VALUE",
                             help="a backend setting, e.g. --option heom.pade=12 --option qmeq:2vN.kpnt=513 "
                                  "(repeat for more)")
    compare_cmd.add_argument("--out", help="write the table to a .nc (NetCDF) or .json file")
    compare_cmd.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    compare_cmd.add_argument("--wide", action="store_true",
                             help="also energy currents, every current deviation, min eigenvalue, σ and time")
    compare_cmd.add_argument("--notes", action="store_true", help="also every approach's notes and warnings")
    compare_cmd.set_defaults(run=_run_compare)

    sweep_cmd = commands.add_parser("sweep", help="a parameter grid, resumable, in parallel",
                                    epilog="parameters: " + "; ".join(f"{k}: {v}" for k, v in PARAMETERS.items()))
    _machine_arguments(sweep_cmd)
    sweep_cmd.add_argument("--over", action="append", required=True, metavar="NAME=start:stop:count|v1,v2",
                           help="a swept parameter (repeat for a grid), e.g. --over mu=0:20:41 --over U=10,15")
    sweep_cmd.add_argument("--approaches", nargs="+", default=["local"], help="approaches (default: local)")
    sweep_cmd.add_argument("--option", action="append", default=[], metavar="APPROACH.SETTING=VALUE",
                           help="a backend setting, e.g. --option heom.pade=12 (repeat for more)")
    sweep_cmd.add_argument("--out", help="NetCDF output; finished points are journalled next to it for resuming")
    sweep_cmd.add_argument("--overwrite", action="store_true",
                           help="start afresh: delete an existing --out and its journal (else a different sweep's "
                                "file is refused, and the same sweep's is resumed)")
    sweep_cmd.add_argument("--verbose", action="store_true", help="also print C(0,1) at every point")
    sweep_cmd.add_argument("--workers", type=int, default=None, help="local worker processes (default: all CPUs)")
    sweep_cmd.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    sweep_cmd.set_defaults(run=_run_sweep)

    studies = available_studies(studies_folder())
    study_cmd = commands.add_parser("study", help="run a script from studies/ (writes data and PNGs)",
                                    epilog=f"studies in {studies_folder()}: {', '.join(studies) or 'none found'}; "
                                           "`transportbench study NAME --help` shows a study's own options")
    study_cmd.add_argument("--studies-dir", help="folder of the study scripts (default: studies/ of the source tree, "
                                                 "else the copy installed with the package); also after NAME")
    study_cmd.add_argument("name", help="study name, e.g. fig3_concurrence_map")
    study_cmd.add_argument("study_args", nargs=argparse.REMAINDER, help="arguments passed to the study")
    study_cmd.set_defaults(run=_run_study)

    validate_cmd = commands.add_parser("validate",
                                       help="check the validity conditions of the local Lindblad equation")
    _machine_arguments(validate_cmd)
    validate_cmd.add_argument("--reference", choices=["heom"], default=None,
                              help="also solve the machine exactly (HEOM) and print the local equation's error")
    validate_cmd.set_defaults(run=_run_validate)
    return parser


class _Interrupts:
    """SIGINT and SIGTERM raise ``KeyboardInterrupt`` once; the signal is remembered, later ones are ignored.

    After the first signal both are ignored for the rest of the process (the command is ending), so a
    second Ctrl-C can cut short neither the clean-up of the first nor the interpreter's exit, which resets
    Python-level handlers. Without an interrupt the previous handlers return.
    """

    def __init__(self) -> None:
        self.signal: int | None = None

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            self.previous = {number: signal.signal(number, self._handle) for number in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.signal is None and hasattr(self, "previous"):
            for number, handler in self.previous.items():
                signal.signal(number, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, number: int, frame: object) -> None:
        if self.signal is None:
            self.signal = number
            for ignored in (signal.SIGINT, signal.SIGTERM):
                signal.signal(ignored, signal.SIG_IGN)
            raise KeyboardInterrupt(signal.Signals(number).name)

    @property
    def exit_status(self) -> int:
        """128 + the signal number: 130 for SIGINT (also a KeyboardInterrupt from elsewhere), 143 for SIGTERM."""
        return 128 + (self.signal or signal.SIGINT)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Warnings as one line on stderr, without the source line."""
    print(f"transportbench: warning: {category.__name__}: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status.

    0: done; 1: done, but an approach failed (compare) or a sweep has failed points (rerun to retry them),
    or a sweep worker process died; 2: bad input, nothing computed (one line on stderr naming the problem);
    130 / 143: interrupted by SIGINT / SIGTERM (a sweep's finished points are journalled). Other exceptions
    are bugs and show their traceback.
    """
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        print(f"transportbench: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    with _Interrupts() as interrupts, warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return int(args.run(args))
        except KeyboardInterrupt as interrupt:
            message = str(interrupt) if isinstance(interrupt, SweepInterrupted) else "interrupted"
            print(f"\ntransportbench: {message}", file=sys.stderr)
            return interrupts.exit_status
        except OutputWriteError as error:
            print(f"transportbench: error: could not write the output: {error.strerror}; the finished points stay "
                  "in the journal: rerun the same command to write it", file=sys.stderr)
            return EXIT_FAILED
        except (WorkerDied, JournalWriteError, LockWriteError) as error:
            print(f"transportbench: error: {error}", file=sys.stderr)
            return EXIT_FAILED
        except SolveError as error:
            traceback.print_exception(error.__cause__, file=sys.stderr)
            print(f"transportbench: failed while solving (not bad input): {_first_line(str(error))}", file=sys.stderr)
            return EXIT_FAILED
        except (ValueError, KeyError, FileExistsError, ImportError) as error:
            message = error.args[0] if isinstance(error, KeyError) and error.args else error
            print(f"transportbench: error: {_first_line(str(message))}", file=sys.stderr)
            return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
