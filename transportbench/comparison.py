"""Side-by-side comparison: the same Machine through several backends/approaches, as one labelled table.

Approaches are named ``"backend"`` or ``"backend:approach"``: ``"local"`` (our local Lindblad
equation, paper Eq. 2) and ``"qmeq:Pauli"``, ``"qmeq:Lindblad"``, ``"qmeq:Redfield"``, ``"qmeq:1vN"``,
``"qmeq:2vN"`` (QmeQ's approaches with explicit leads), and ``"heom"`` (the exact reference for Lorentzian
bands). Every approach name and option is checked before anything is solved (ValueError); a failure of one
approach while solving is recorded in its row (``error``, status ``FAILED``) and does not lose the others.
When an exact reference (a backend declaring ``Capabilities.exact``: ``"heom"``) is in the table, every row
also gets its deviation from it (from the first, if there are several).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from transportbench import TransportbenchWarning
from transportbench.backends import all_approaches, get_backend, unavailable_approaches
from transportbench.figures import PAPER, ErrorBar, FigureOfMerit, check_figures, evaluate
from transportbench.model import Machine
from transportbench.observables import populations
from transportbench.resources import ResourceBudgetError
from transportbench.result import Result, SolveFailure

HEADERS = {"concurrence": "C(0,1)", "fidelity": "F_target", "sink_population": "sink pop."}
"""Short column headers of the paper's figures in :func:`format_table`."""


def split_approach(spec: str) -> tuple[str, str | None]:
    """``"qmeq:2vN"`` → ("qmeq", "2vN"); ``"local"`` → ("local", None)."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"approach must be a name like 'local' or 'qmeq:2vN', got {spec!r}")
    backend, _, approach = spec.partition(":")
    return backend, (approach or None)


def canonical_approach(spec: str) -> str:
    """The one spelling of an approach in tables and ``Result.backend``: ``"QMEQ:pauli"`` → ``"qmeq:Pauli"``.

    ValueError for an unknown backend or approach, and for a backend with several approaches named without
    one (``"qmeq"``); deprecated backend names give their new name with a DeprecationWarning.
    """
    backend, approach = split_approach(spec)
    module = get_backend(backend)
    approaches = getattr(module, "APPROACHES", None)
    if approach is None and approaches is not None:  # "qmeq" alone used to mean 2vN without saying so
        raise ValueError(f"the {module.NAME!r} backend has several approaches; name one: "
                         f"{', '.join(f'{module.NAME}:{name}' for name in approaches.values())}")
    if approach is None:
        return module.NAME
    if approaches is None:
        raise ValueError(f"the {module.NAME!r} backend has no approaches to choose from; use {module.NAME!r}, "
                         f"not {spec!r}")
    if approach.lower() not in approaches:
        raise ValueError(f"unknown approach {approach!r} of the {module.NAME!r} backend; valid: "
                         f"{sorted(f'{module.NAME}:{name}' for name in approaches.values())}")
    return f"{module.NAME}:{approaches[approach.lower()]}"


def check_approach(spec: str, options: Mapping[str, Any] | None = None, machine: Machine | None = None) -> None:
    """ValueError unless ``spec`` names a registered backend (and one of its approaches) that accepts ``options``.

    Imports the backend module (never QmeQ or QuTiP themselves) and builds its options object, so a misspelled
    or inapplicable option fails here, before any work; with ``machine``, also asks the backend whether it can
    represent it (``check_machine``). A memory estimate beyond the budget is left to the solve, where it
    becomes that approach's FAILED row (as do :class:`~transportbench.result.SolveFailure` and MemoryError;
    any other exception is a bug and propagates).
    """
    backend, approach = split_approach(canonical_approach(spec))
    module = get_backend(backend)
    settings = {**({"approach": approach} if approach is not None else {}), **dict(options or {})}
    try:
        built = module.Options.build(**settings)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{spec}: {error}") from None
    if machine is not None:
        try:
            module.check_machine(machine, built)
        except ResourceBudgetError:
            pass


def solve(machine: Machine, spec: str, **options: Any) -> Result:
    """Steady state of ``machine`` by the approach ``spec`` (e.g. ``"qmeq:2vN"``) with backend options."""
    backend, approach = split_approach(spec)
    module = get_backend(backend)
    if approach is not None:
        options = {"approach": approach, **options}
    return module.solve_steady(machine, **options)


def summarize(result: Result, figures: Sequence[FigureOfMerit] = PAPER) -> dict[str, Any]:
    """The figures of merit of one result (default: the paper's), populations, currents and health, by name."""
    machine = result.machine
    health = result.health
    summary: dict[str, Any] = {
        **evaluate(result, figures),
        "populations": populations(result.rho, result.occupations),
        "particle_current": np.array([result.particle_currents[r.name] for r in machine.reservoirs]),
        "energy_current": np.array([result.energy_currents[r.name] for r in machine.reservoirs]),
        "seconds": result.seconds,
        "concurrence_uncertainty": ErrorBar("concurrence")(result),
        "current_uncertainty": ErrorBar("currents")(result),
    }
    if health is not None:
        summary.update(trace_error=health.trace_error, hermiticity_error=health.hermiticity_error,
                       min_eigenvalue=health.min_eigenvalue, residual=health.residual,
                       converged=health.converged, notes="; ".join(health.notes),
                       unique={True: "yes", False: "no", None: "not checked"}[health.unique],
                       energy_imbalance=health.relative_energy_imbalance(),
                       entropy_production=health.entropy_production, status=health.status())
    return summary


def compare(machine: Machine, approaches: Sequence[str] | None = None,
            options: Mapping[str, Mapping[str, Any]] | None = None,
            figures: Sequence[FigureOfMerit] = PAPER, progress: bool | None = None) -> xr.Dataset:
    """Solve ``machine`` with every approach and return one labelled table.

    Parameters
    ----------
    machine : Machine
        The machine (energies in one unit, ħ = k_B = 1).
    approaches : sequence of str, optional
        Approach names (see the module docstring); default every registered approach whose packages are
        installed (:func:`~transportbench.backends.installed_approaches`): the others are listed in the
        table's ``skipped`` attribute, with a :class:`SkippedApproachWarning` that says how to add them.
    options : mapping {approach: {option: value}}, optional
        Backend options per approach, e.g. ``{"qmeq:2vN": {"kpnt": 512}}``.
    figures : sequence of FigureOfMerit
        The figures of merit to compute (:mod:`transportbench.figures`); default the paper's.
    progress : bool, optional
        Show which approach is being solved, with the time so far (a tqdm bar on stderr, or a widget in
        Jupyter); removed when the table is complete. None (default): only on a terminal or in Jupyter.

    Returns
    -------
    xarray.Dataset
        Dimensions ``approach``, ``reservoir`` and ``qubit``. Variables: ``model`` (the particle model each
        approach solved: ``qubit`` for spins, ``fermion`` for fermionic modes, whose reduced states are the
        fermionic partial trace, independent of the Jordan–Wigner order), one per figure (default
        ``concurrence`` of qubits 0 and 1, ``fidelity`` with the ideal state, ``sink_population``), ``population``,
        ``particle_current`` and ``energy_current`` per reservoir (into the system > 0),
        ``concurrence_uncertainty`` and ``current_uncertainty`` (the approach's own error estimate,
        :attr:`Result.error`, NaN where it has none), health figures
        (``trace_error``, ``hermiticity_error``, ``min_eigenvalue``, ``residual``, ``converged``, ``unique``,
        ``energy_imbalance``, ``entropy_production``), ``status`` (``ok`` or what is wrong), ``seconds``,
        ``notes``, ``warnings`` (every warning the approach emitted; they are also passed
        on) and ``error`` (empty when the approach succeeded).
    """
    if not isinstance(machine, Machine):
        raise ValueError(f"machine must be a transportbench Machine, got {type(machine).__name__}")
    skipped: dict[str, str] = {}
    if approaches is None:
        skipped = unavailable_approaches()
        approaches = [spec for spec in all_approaches() if spec not in skipped]
        if skipped:
            warnings.warn(f"compare skipped {', '.join(skipped)}: {' | '.join(dict.fromkeys(skipped.values()))}",
                          SkippedApproachWarning, stacklevel=2)
    approaches, options = check_comparison(approaches, options, machine)
    figures = check_figures(figures, machine)
    rows, passed_on = [], []
    bar = tqdm(approaches, desc="compare", unit="approach", leave=False, file=sys.stderr,
               disable=None if progress is None else not progress)
    for spec in bar:
        bar.set_postfix_str(f"solving {spec}")
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                row = summarize(solve(machine, spec, **options.get(spec, {})), figures)
                row["error"] = ""
            except (SolveFailure, ResourceBudgetError, MemoryError) as error:  # recorded; the others still run
                row = {"error": f"{type(error).__name__}: {error}", "seconds": time.perf_counter() - start,
                       "status": f"FAILED: {type(error).__name__}: {error}"}
        row["warnings"] = "; ".join(f"{w.category.__name__}: {w.message}" for w in caught)
        passed_on.extend(caught)
        rows.append(row)
    table = table_from_rows(machine, approaches, rows, figures)
    table.attrs["skipped"] = ", ".join(skipped)
    for caught_warning in passed_on:  # recorded in the rows and passed on once the table is complete
        warnings.warn(caught_warning.message, caught_warning.category, stacklevel=2)
    return table


class SkippedApproachWarning(TransportbenchWarning):
    """A default comparison left out approaches whose packages are not installed (the message says how to add them)."""


def check_comparison(approaches: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None,
                     machine: Machine | None = None) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The approaches in their canonical spelling and the options keyed by it, every name and option checked.

    ValueError for anything wrong. With ``machine``, every backend is also asked whether it can represent it
    (:func:`check_approach`).
    """
    if isinstance(approaches, str):
        raise ValueError(f"approaches must be a list of names, got the string {approaches!r}; "
                         f"write [{approaches!r}]")
    if options is not None and not isinstance(options, Mapping):
        raise ValueError(f"options must map approach names to their settings, e.g. {{'heom': {{'pade': 12}}}}; "
                         f"got {type(options).__name__}")
    for spec, settings in (options or {}).items():
        if not isinstance(settings, Mapping):
            raise ValueError(f"options[{spec!r}] must map setting names to values, got {type(settings).__name__}")
    if not list(approaches):
        raise ValueError("approaches must name at least one approach, got an empty list")
    approaches = [canonical_approach(spec) for spec in approaches]
    duplicates = sorted({spec for spec in approaches if approaches.count(spec) > 1})
    if duplicates:
        raise ValueError(f"approaches are listed twice: {duplicates}")
    options = {canonical_approach(spec): dict(settings) for spec, settings in (options or {}).items()}
    unknown = set(options) - set(approaches)
    if unknown:
        raise ValueError(f"options given for approaches that are not compared: {sorted(unknown)}")
    for spec in approaches:
        check_approach(spec, options.get(spec), machine)
    return approaches, options


def table_from_rows(machine: Machine, approaches: list[str], rows: list[dict[str, Any]],
                    figures: Sequence[FigureOfMerit] = PAPER) -> xr.Dataset:
    """The compare table from one :func:`summarize` dict per approach (missing entries become NaN/empty)."""
    reservoirs = [r.name for r in machine.reservoirs]
    n_res, n_qubits = len(reservoirs), machine.n_qubits

    def column(key: str, fill: Any = np.nan) -> list[Any]:
        return [row.get(key, fill) for row in rows]

    def stacked(key: str, width: int) -> np.ndarray:
        return np.array([row.get(key, np.full(width, np.nan)) for row in rows], dtype=float)

    dataset = xr.Dataset(
        {
            "model": ("approach", np.array([solved_model(machine, spec) for spec in approaches]).astype(str),
                      {"long_name": "particle model solved: qubit (spins) or fermion (modes; reduced states by the "
                                    "fermionic partial trace, independent of the string order)"}),
            **{figure.name: ("approach", np.array(column(figure.name), float),
                             {"long_name": figure.long_name, "units": figure.units}) for figure in figures},
            "population": (("approach", "qubit"), stacked("populations", n_qubits), {"long_name": "<n_i>"}),
            "particle_current": (("approach", "reservoir"), stacked("particle_current", n_res),
                                 {"long_name": "particle current into the system", "units": "energy unit (hbar = 1)"}),
            "energy_current": (("approach", "reservoir"), stacked("energy_current", n_res),
                               {"long_name": "energy current into the system (Eq. 9)", "units": "energy unit squared"}),
            "concurrence_uncertainty": ("approach", np.array(column("concurrence_uncertainty"), float),
                                        {"long_name": "the approach's own error estimate of C(0,1) (refining "
                                                      "backends: HEOM, 2vN; NaN for the others)"}),
            "current_uncertainty": ("approach", np.array(column("current_uncertainty"), float),
                                    {"long_name": "the approach's own error estimate of the currents, relative to "
                                                  "the largest (refining backends; NaN for the others)"}),
            "trace_error": ("approach", np.array(column("trace_error"), float)),
            "hermiticity_error": ("approach", np.array(column("hermiticity_error"), float)),
            "min_eigenvalue": ("approach", np.array(column("min_eigenvalue"), float)),
            "residual": ("approach", np.array(column("residual"), float), {"long_name": "||L rho|| where available"}),
            "converged": ("approach", np.array(column("converged", False), bool)),
            "unique": ("approach", np.array(column("unique", ""), dtype=object).astype(str),
                       {"long_name": "steady state unique: yes, no or not checked"}),
            "energy_imbalance": ("approach", np.array(column("energy_imbalance"), float),
                                 {"long_name": "|sum of energy currents| / largest energy current"}),
            "entropy_production": ("approach", np.array(column("entropy_production"), float),
                                   {"long_name": "-sum_r (J^E_r - mu_r J_r) / T_r (k_B = 1)",
                                    "units": "energy unit (hbar = 1)"}),
            "status": ("approach", np.array(column("status", "FAILED"), dtype=object).astype(str),
                       {"long_name": "ok, or what is wrong (Health.status) or FAILED: error"}),
            "seconds": ("approach", np.array(column("seconds"), float), {"units": "s"}),
            "notes": ("approach", np.array(column("notes", ""), dtype=object).astype(str)),
            "warnings": ("approach", np.array(column("warnings", ""), dtype=object).astype(str)),
            "error": ("approach", np.array(column("error", ""), dtype=object).astype(str)),
        },
        coords={"approach": approaches, "reservoir": reservoirs, "qubit": np.arange(n_qubits)},
        attrs={"machine": repr(machine), "units": "energies in the machine's unit, hbar = k_B = 1",
               "figures": ", ".join(figure.name for figure in figures)},
    )
    references = [spec for spec in approaches if get_backend(split_approach(spec)[0]).CAPABILITIES.exact]
    if references:
        dataset = with_deviations(dataset, references[0])
    return dataset


def solved_model(machine: Machine, spec: str) -> str:
    """``"qubit"`` or ``"fermion"``: the particle model the approach ``spec`` solves ``machine`` in.

    The local equation solves the machine's own ``statistics``; QmeQ and HEOM always solve fermions. Qubit and
    fermion rows of one table compare two models (spins against modes); ``machine.replace(statistics="fermion")``
    puts the local equation in the exact reference's model.
    """
    return get_backend(split_approach(spec)[0]).CAPABILITIES.solved_statistics(machine)


def with_deviations(dataset: xr.Dataset, reference: str) -> xr.Dataset:
    """The table with every approach's deviation from the row ``reference``.

    Adds ``<figure>_error`` (value − reference value) for every figure of merit and ``current_error`` per
    reservoir ((I − I_ref) / max_r |I_ref|, dimensionless), and the attribute ``reference``.
    """
    exact = dataset.sel(approach=reference)
    scale = float(np.max(np.abs(exact.particle_current.values))) if exact.particle_current.size else np.nan
    current_error = (dataset.particle_current - exact.particle_current) / (scale if scale > 0 else np.nan)
    errors = {f"{name}_error": (dataset[name] - exact[name]).assign_attrs(long_name=f"{name} minus that of {reference}")
              for name in _figure_names(dataset)}
    return dataset.assign(
        **errors,
        current_error=current_error.assign_attrs(
            long_name=f"particle current minus that of {reference}, relative to its largest current"),
    ).assign_attrs(reference=reference, reference_status=str(exact.status.values))


def _figure_names(dataset: xr.Dataset) -> list[str]:
    return [name for name in str(dataset.attrs.get("figures", "")).split(", ") if name]


def format_notes(dataset: xr.Dataset) -> str:
    """The backends' notes and warnings of a :func:`compare` dataset, one line per approach that has any."""
    lines = []
    for approach in dataset.approach.values:
        for kind in ("notes", "warnings"):
            text = str(dataset[kind].sel(approach=approach).values)
            if text:
                lines.append(f"{approach} {kind}: {text}")
    return "\n".join(lines)


def _with_error_bar(row: xr.Dataset, name: str) -> str:
    """A figure's value; C(0,1) with the approach's own error bar where it has one."""
    value = f"{float(row[name]):.6g}"
    error = float(row.concurrence_uncertainty) if name == "concurrence" else float("nan")
    return value + (f" ± {error:.1g}" if np.isfinite(error) else "")


def _status_in_words(row: xr.Dataset) -> str:
    """The health status, with the number of warnings the approach emitted (their text: :func:`format_notes`)."""
    count = str(row.warnings.values).count("Warning: ")
    return str(row.status.values) + (f" ({count} warning{'s' * (count > 1)}; see the notes)" if count else "")


def format_table(dataset: xr.Dataset, wide: bool = False) -> str:
    """A readable text table of a :func:`compare` dataset (one row per approach), units in a line below it.

    Compact by default: approach, model, the figures (C(0,1) with the approach's own error bar), the
    particle currents, the signed deviations from the exact reference (when it is in the table) and the
    status. ``wide=True`` adds the energy currents J^E, every reservoir's current deviation, the smallest
    eigenvalue, the entropy production and the time.
    """
    reservoirs = [str(r) for r in dataset.reservoir.values]
    figures = _figure_names(dataset)
    reference = dataset.attrs.get("reference")
    shown = reservoirs if wide else reservoirs[:1]
    header = ["approach", "model", *(HEADERS.get(name, name) for name in figures), *(f"I_{r}" for r in reservoirs)]
    header += [f"J^E_{r}" for r in reservoirs] if wide else []
    header += [f"Δ{HEADERS.get(name, name)}" for name in figures] + [f"ΔI_{r}/I" for r in shown] if reference else []
    header += ["min eig", "σ", "time [s]"] if wide else []
    header += ["status"]
    lines = []
    for spec in dataset.approach.values:
        row = dataset.sel(approach=spec)
        cells = [str(spec), str(row.model.values), *(_with_error_bar(row, name) for name in figures)]
        cells += [f"{float(v):+.4e}" for v in row.particle_current.values]
        cells += [f"{float(v):+.4e}" for v in row.energy_current.values] if wide else []
        if reference:
            cells += [f"{float(row[f'{name}_error']):+.1e}" for name in figures]
            cells += [f"{float(row.current_error.sel(reservoir=r)):+.1%}" for r in shown]
        cells += [f"{float(row.min_eigenvalue):.1e}", f"{float(row.entropy_production):.2e}",
                  f"{float(row.seconds):.2f}"] if wide else []
        lines.append([*cells, _status_in_words(row)])
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(header)]
    render = [" ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), " ".join("-" * w for w in widths)]
    render += [" ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) for cells in lines]
    units = ("currents into the system: I in the machine's energy unit (ħ = 1)" + (", J^E in its square" if wide
                                                                                    else ""))
    if reference:
        units += (f"; Δ = value − {reference}'s (C(0,1) ± is each approach's own error bar), ΔI/I relative to "
                  f"{reference}'s largest current")
    status = str(dataset.attrs.get("reference_status", "ok"))
    caution = ([f"caution: the reference {reference} is itself not ok ({status}): every Δ is measured against an "
                "unconverged or doubtful value"] if reference and status != "ok" else [])
    return "\n".join([*render, units, *caution])
