"""Command line: ``transportbench compare | sweep | study NAME | validate``.

All energies are in one unit of your choice (the paper: ε = 1 GHz), ħ = k_B = 1. Bad input exits with
status 2 and a one-line message naming the parameter; Ctrl-C during a sweep leaves a resumable journal.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from transportbench.compare import ALL_APPROACHES, compare, format_table
from transportbench.model import Machine
from transportbench.regime import validate_regime
from transportbench.sweep import PARAMETERS, sweep

STUDIES_DIR = Path(__file__).resolve().parents[1] / "studies"


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
    group.add_argument("--mu", type=float, default=8.0, help="chemical potential of the hot reservoir (default 8)")
    group.add_argument("--T-hot", type=float, default=1.0, help="temperature of the hot reservoir (default 1)")
    group.add_argument("--T-cold", type=float, default=1.0,
                       help="temperature of the cold/sink reservoirs (default 1)")
    group.add_argument("--gamma-hot", type=float, default=0.1, help="rate γ of the hot reservoir (default 0.1)")
    group.add_argument("--gamma-cold", type=float, default=0.1,
                       help="rate γ of each cold/sink reservoir (default 0.1)")
    group.add_argument("--ideal", action="store_true",
                       help="apply the ideal limit U, μ -> ∞ (paper Eq. 3) to the rates")
    group.add_argument("--statistics", choices=("qubit", "fermion"), default="qubit", help="particle statistics")


def machine_from(args: argparse.Namespace) -> Machine:
    """The Machine described by the command-line options."""
    if args.machine == "triple":
        return Machine.triple_dot(epsilon=args.epsilon, g13=args.g13, g23=args.g23, coulomb_energy=args.U,
                                  mu_hot=args.mu, t_hot=args.T_hot, t_cold=args.T_cold, gamma_hot=args.gamma_hot,
                                  gamma_cold=args.gamma_cold, statistics=args.statistics, ideal_limit=args.ideal)
    return Machine.w_machine(args.n, epsilon=args.epsilon, g=args.g, coulomb_energy=args.U, mu_hot=args.mu,
                             t_hot=args.T_hot, t_sink=args.T_cold, gamma_hot=args.gamma_hot,
                             gamma_sink=args.gamma_cold, statistics=args.statistics, ideal_limit=args.ideal)


def parse_axis(text: str) -> tuple[str, np.ndarray]:
    """``"mu=0:20:41"`` (start:stop:count, inclusive) or ``"U=10,15"`` → (name, values)."""
    name, sep, spec = text.partition("=")
    if not sep or not name or not spec:
        raise ValueError(f"--over expects NAME=start:stop:count or NAME=v1,v2,..., got {text!r}")
    try:
        if ":" in spec:
            start, stop, count = spec.split(":")
            return name, np.linspace(float(start), float(stop), int(count))
        return name, np.array([float(v) for v in spec.split(",")])
    except ValueError:
        raise ValueError(f"--over {name}: cannot read the values {spec!r}") from None


def _write(dataset: xr.Dataset, out: str | None) -> None:
    if out is None:
        return
    if out.endswith(".json"):
        Path(out).write_text(json.dumps(dataset.to_dict(data="list"), indent=1, default=str))
    elif out.endswith(".nc"):
        dataset.to_netcdf(out, engine="h5netcdf")
    else:
        raise ValueError(f"--out must end in .nc or .json, got {out!r}")
    print(f"wrote {out}")


def _run_compare(args: argparse.Namespace) -> int:
    table = compare(machine_from(args), args.approaches)
    print(format_table(table))
    _write(table, args.out)
    return 0


def _run_sweep(args: argparse.Namespace) -> int:
    axes = dict(parse_axis(text) for text in args.over)
    path = args.out
    if path is not None and not path.endswith(".nc"):
        raise ValueError(f"--out of a sweep must end in .nc (resumable NetCDF), got {path!r}")
    try:
        result = sweep(machine_from(args), axes, args.approaches, path=path, workers=args.workers,
                       scheduler=args.scheduler)
    except KeyboardInterrupt:
        where = f"{path}.points.jsonl" if path else "nowhere (no --out given)"
        print(f"\ninterrupted: finished points are saved in {where}; rerun the same command to resume",
              file=sys.stderr)
        return 130
    print("concurrence of qubits 1-2:")
    print(result.concurrence.to_series().round(6).to_string())
    if path:
        print(f"wrote {path}")
    return 0


def _run_study(args: argparse.Namespace) -> int:
    script = STUDIES_DIR / f"{args.name}.py"
    if not script.exists():
        available = sorted(p.stem for p in STUDIES_DIR.glob("*.py")) if STUDIES_DIR.exists() else []
        raise ValueError(f"unknown study {args.name!r}; available: {available}")
    sys.argv = [str(script), *args.study_args]
    runpy.run_path(str(script), run_name="__main__")
    return 0


def _run_validate(args: argparse.Namespace) -> int:
    print(validate_regime(machine_from(args)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``transportbench`` command."""
    parser = argparse.ArgumentParser(prog="transportbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    compare_cmd = commands.add_parser("compare", help="one machine through several approaches, as a table")
    _machine_arguments(compare_cmd)
    compare_cmd.add_argument("--approaches", nargs="+", default=list(ALL_APPROACHES),
                             help=f"approaches (default: {' '.join(ALL_APPROACHES)})")
    compare_cmd.add_argument("--out", help="write the table to a .nc (NetCDF) or .json file")
    compare_cmd.set_defaults(run=_run_compare)

    sweep_cmd = commands.add_parser("sweep", help="a parameter grid, resumable, in parallel",
                                    epilog="parameters: " + "; ".join(f"{k}: {v}" for k, v in PARAMETERS.items()))
    _machine_arguments(sweep_cmd)
    sweep_cmd.add_argument("--over", action="append", required=True, metavar="NAME=start:stop:count|v1,v2",
                           help="a swept parameter (repeat for a grid), e.g. --over mu=0:20:41 --over U=10,15")
    sweep_cmd.add_argument("--approaches", nargs="+", default=["lindblad"], help="approaches (default: lindblad)")
    sweep_cmd.add_argument("--out", help="NetCDF output; finished points are journalled next to it for resuming")
    sweep_cmd.add_argument("--workers", type=int, default=None, help="local worker processes (default: all CPUs)")
    sweep_cmd.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    sweep_cmd.set_defaults(run=_run_sweep)

    study_cmd = commands.add_parser("study", help="run a script from studies/ (writes data and PNGs)")
    study_cmd.add_argument("name", help="study name, e.g. fig3_concurrence_map")
    study_cmd.add_argument("study_args", nargs=argparse.REMAINDER, help="arguments passed to the study")
    study_cmd.set_defaults(run=_run_study)

    validate_cmd = commands.add_parser("validate",
                                       help="check the paper's validity conditions of the local Lindblad equation")
    _machine_arguments(validate_cmd)
    validate_cmd.set_defaults(run=_run_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ValueError, KeyError, FileExistsError, ImportError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"transportbench: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
