"""Figures of merit: small named functions of a :class:`~transportbench.result.Result`, one number each.

``compare`` and ``sweep`` compute a list of them per approach (default :data:`PAPER`: the concurrence of
qubits 0 and 1, the fidelity with the machine's ideal state and the sinks' population), e.g.
``compare(machine, approaches, figures=[Concurrence(0, 1), Concurrence(0, 2), Fidelity()])``.
Populations, currents, entropy production and the health figures are always in the tables.
Qubits are 0-based everywhere: ``Concurrence(0, 1)`` is the paper's C of qubits 1 and 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from transportbench.model import Machine
from transportbench.observables import SparseKet, concurrence, fidelity, populations, w_state
from transportbench.result import Result
from transportbench.validation import integer


@runtime_checkable
class FigureOfMerit(Protocol):
    """A named number computed from a result: ``figure(result) -> float`` (NaN where it does not apply).

    ``name`` is the variable name in tables (an identifier), ``long_name`` says what it is, ``units`` its
    units ("" for dimensionless). Figures are small frozen dataclasses defined at module level, so that they
    travel to sweep worker processes. A figure that names qubits also has ``check(machine)``, a ValueError
    unless the machine has them, which :func:`check_figures` calls before any solve.
    """

    name: str
    long_name: str
    units: str

    def __call__(self, result: Result) -> float:
        """The figure's value for ``result``."""
        ...


def target_state(machine: Machine) -> SparseKet | None:
    """The machine's ideal steady state (paper Eq. 4 or Eqs. 10–11), or None if it has no triangle layout.

    A machine of 2n − 1 qubits whose couplings include (0, n−1+j) and (j, n−1+j) for j = 1…n−1 (the
    layout of :meth:`Machine.triple_dot` and :meth:`Machine.w_machine`) targets the W-type state built
    from those couplings; the triple dot's is the dark state.
    """
    if machine.n_qubits < 3 or machine.n_qubits % 2 == 0:
        return None
    n = (machine.n_qubits + 1) // 2
    couplings = dict(machine.couplings)
    try:
        triangles = [(couplings[(0, n - 1 + j)], couplings[(j, n - 1 + j)]) for j in range(1, n)]
    except KeyError:
        return None
    if any(arm == 0 for _, arm in triangles):
        return None
    return w_state(triangles)


def sink_qubits(machine: Machine) -> list[int]:
    """Qubits on a reservoir other than the one with the highest chemical potential (the sinks)."""
    if not machine.reservoirs:
        return []
    source = max(machine.reservoirs, key=lambda r: r.chemical_potential)
    return sorted({r.qubit for r in machine.reservoirs if r.name != source.name})


@dataclass(frozen=True)
class Concurrence:
    """Wootters' concurrence of the reduced state of qubits ``first`` and ``second`` (0-based).

    The reduced state is the result's physical one (:meth:`Result.reduced_state`): the plain partial trace
    for spins, the fermionic partial trace for a fermion model (independent of the Jordan–Wigner order).
    """

    first: int = 0
    second: int = 1
    name: str = ""
    units: str = ""

    def __post_init__(self) -> None:
        first, second = integer("first", self.first, minimum=0), integer("second", self.second, minimum=0)
        if first == second:
            raise ValueError(f"the concurrence needs two different qubits, got ({first}, {second})")
        object.__setattr__(self, "name", self.name or f"concurrence_{first}_{second}")

    @property
    def long_name(self) -> str:
        """What the figure is."""
        return f"concurrence of qubits {self.first} and {self.second}"

    def check(self, machine: Machine) -> None:
        """ValueError unless ``machine`` has both qubits."""
        if max(self.first, self.second) >= machine.n_qubits:
            raise ValueError(f"the {self.long_name} needs at least {max(self.first, self.second) + 1} qubits; the "
                             f"machine has {machine.n_qubits} (qubits are counted from 0)")

    def __call__(self, result: Result) -> float:
        """C of the pair in ``result`` (:meth:`check` refuses a machine without both qubits)."""
        self.check(result.machine)
        return concurrence(result.reduced_state([self.first, self.second]))


@dataclass(frozen=True)
class Fidelity:
    """⟨ψ|ρ|ψ⟩ with ``target`` (default: the machine's ideal state, :func:`target_state`; NaN if it has none).

    For a fermion-model result the target's amplitudes are read in its own ``SparseKet.order``.
    """

    target: SparseKet | None = None
    name: str = "fidelity"
    units: str = ""

    @property
    def long_name(self) -> str:
        """What the figure is."""
        return "fidelity with " + ("the ideal (dark or W) state" if self.target is None else "the given state")

    def __call__(self, result: Result) -> float:
        """The fidelity of ``result``'s state with the target."""
        state = self.target if self.target is not None else target_state(result.machine)
        if state is None or state.occupations.shape[1] != result.machine.n_qubits:
            return float("nan")
        return fidelity(result.rho, result.occupations, state, result.model)


@dataclass(frozen=True)
class SinkPopulation:
    """Total excitation of the sink qubits (:func:`sink_qubits`)."""

    name: str = "sink_population"
    long_name: str = "total excitation of the sink qubits"
    units: str = ""

    def __call__(self, result: Result) -> float:
        """Σ ⟨n_i⟩ over the sinks of ``result``'s machine."""
        return float(populations(result.rho, result.occupations)[sink_qubits(result.machine)].sum())


ERROR_QUANTITIES = ("concurrence", "currents")
"""What an :class:`ErrorBar` can report: the error of C(0, 1) or of the currents (fields of ``StageChange``)."""


@dataclass(frozen=True)
class ErrorBar:
    """A refining backend's own error estimate (:attr:`Result.error`) as a figure: in total or of one stage.

    ``quantity`` "concurrence" (|ΔC(0, 1)|, absolute) or "currents" (relative to the largest current);
    ``stage`` None for the total (the stages added) or one stage (``"pade"``, ``"depth"``, ``"band"``,
    ``"grid"``, ``"iterations"``). NaN where the backend gives no estimate or the stage made no step.
    """

    quantity: str = "concurrence"
    stage: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.quantity not in ERROR_QUANTITIES:
            raise ValueError(f"quantity must be one of {ERROR_QUANTITIES}, got {self.quantity!r}")
        suffix = "C" if self.quantity == "concurrence" else "I"
        object.__setattr__(self, "name", self.name or f"error_{suffix}" + (f"_{self.stage}" if self.stage else ""))

    @property
    def long_name(self) -> str:
        """What the number is."""
        what = "every refinement stage added" if self.stage is None else f"last {self.stage} step"
        return f"the backend's own error estimate of the {self.quantity} ({what})"

    @property
    def units(self) -> str:
        """Dimensionless (currents: relative to the largest current)."""
        return ""

    def __call__(self, result: Result) -> float:
        """The estimate, NaN where there is none."""
        if result.error is None:
            return float("nan")
        if self.stage is None:
            return float(getattr(result.error, self.quantity))
        change = result.error.stage(self.stage)
        return float("nan") if change is None else float(getattr(change, self.quantity))


PAPER: tuple[FigureOfMerit, ...] = (Concurrence(0, 1, name="concurrence"), Fidelity(), SinkPopulation())
"""The paper's figures: C of qubits 0 and 1 (paper's 1 and 2), fidelity with the ideal state, sink population."""


def check_figures(figures: Sequence[FigureOfMerit], machine: Machine | None = None) -> tuple[FigureOfMerit, ...]:
    """``figures`` as a tuple; ValueError unless they are FigureOfMerit objects with distinct identifier names.

    With ``machine``, also every figure that has a ``check(machine)`` (one that names qubits) must apply to it.
    """
    if isinstance(figures, (str, bytes)) or not isinstance(figures, Iterable):
        raise ValueError(f"figures must be a sequence of figures of merit, got {figures!r}")
    chosen = tuple(figures)
    for figure in chosen:
        if not isinstance(figure, FigureOfMerit):
            raise ValueError(f"figures must be figures of merit (see transportbench.figures), got {figure!r}")
        if not figure.name.isidentifier():
            raise ValueError(f"a figure's name must be an identifier, got {figure.name!r}")
        if machine is not None and hasattr(figure, "check"):
            figure.check(machine)
    names = [figure.name for figure in chosen]
    if len(set(names)) != len(names):
        raise ValueError(f"figure names must be distinct, got {names}")
    return chosen


def evaluate(result: Result, figures: Sequence[FigureOfMerit]) -> dict[str, float]:
    """Every figure of ``result`` by name."""
    return {figure.name: figure(result) for figure in figures}

