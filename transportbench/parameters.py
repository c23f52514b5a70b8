"""The parameter vocabulary of a machine: names such as ``mu``, ``T_cold`` or ``epsilon_1`` and what they set.

The constructors' keywords (``U``, ``mu_hot``, ``T_hot``, ``gamma_cold``, ``epsilon``, ...), the sweep's
axes and the CLI's flags (``--U``, ``--mu-hot``, ``--T-hot``) use the same words. All values are in the
machine's energy unit (ħ = k_B = 1). :meth:`~transportbench.model.Machine.with_parameters` is the way in;
this module knows machines only through their fields and ``replace``, so that the model can use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from transportbench.validation import real

if TYPE_CHECKING:
    from transportbench.model import Machine, Reservoir

PARAMETERS: dict[str, str] = {
    "mu": "chemical potential of the reservoir 'hot' (alias of mu_hot)",
    "U": "Coulomb energy of every Coulomb pair",
    "g": "every flip-flop coupling",
    "epsilon": "every qubit energy",
    "gamma": "rate of every reservoir",
    "T": "temperature of every reservoir",
    "mu_<reservoir>": "chemical potential of one reservoir (also mu.<reservoir>)",
    "T_<reservoir>": "temperature of one reservoir (also T.<reservoir>)",
    "gamma_<reservoir>": "rate of one reservoir (also gamma.<reservoir>)",
    "epsilon_<qubit>": "energy of one qubit, 0-based index (also epsilon.<qubit>)",
    "dephasing_<qubit>": "pure-dephasing rate of one qubit (also dephasing.<qubit>)",
}
"""Parameter names (all in the machine's energy unit) with what each sets."""
TARGETED = ("mu", "T", "gamma", "epsilon", "dephasing")
"""Parameters that may name one reservoir or qubit: ``<parameter>_<target>`` or ``<parameter>.<target>``."""
RESERVOIR_FIELDS = {"mu": "chemical_potential", "T": "temperature", "gamma": "rate"}
"""The :class:`~transportbench.model.Reservoir` field each reservoir parameter sets."""


def split_parameter(name: str) -> tuple[str, str]:
    """The parameter and its target: ``"mu_hot"`` / ``"mu.hot"`` / ``"mu"`` → ("mu", "hot"); ``"U"`` → ("U", "").

    Parameters
    ----------
    name : str
        A name of :data:`PARAMETERS`, spelt with ``_`` or ``.`` before a target.

    Returns
    -------
    tuple of str
        The parameter (``"mu"``, ``"T"``, ``"U"``, ...) and the reservoir or qubit it names ("" for all).
    """
    if name == "mu":
        return "mu", "hot"
    for head in TARGETED:
        for separator in ("_", "."):
            if name.startswith(head + separator) and len(name) > len(head) + 1:
                return head, name[len(head) + 1:]
    return name, ""


def apply_parameters(machine: Machine, values: Mapping[str, float]) -> Machine:
    """A copy of ``machine`` with the named parameters set, in the given order (validated again).

    Parameters
    ----------
    machine : Machine
        The machine to change.
    values : mapping {name: value}
        Names of :data:`PARAMETERS`, e.g. ``"mu"``, ``"T_cold"``, ``"epsilon.1"``; values in the machine's
        energy unit. A later name wins where two set the same field (``"mu"`` then ``"mu_hot"``).

    Returns
    -------
    Machine
        The changed copy (``machine`` itself when ``values`` is empty).

    Raises
    ------
    ValueError
        An unknown name, a qubit index out of range, a value that is no finite real number, or one the
        machine refuses (e.g. a negative rate).
    KeyError
        A reservoir the machine does not have.
    """
    for name, value in values.items():
        machine = _set(machine, name, value)
    return machine


def _set(machine: Machine, name: str, value: float) -> Machine:
    """A copy of ``machine`` with the parameter ``name`` set to ``value``."""
    value = real(name, value)
    head, tail = split_parameter(name)
    if head in RESERVOIR_FIELDS and tail:
        machine.reservoir(tail)  # KeyError names the valid reservoirs
        reservoirs = tuple(_replace(r, RESERVOIR_FIELDS[head], value) if r.name == tail else r
                           for r in machine.reservoirs)
        return machine.replace(reservoirs=reservoirs)
    if head in ("gamma", "T") and not tail:
        return machine.replace(reservoirs=tuple(_replace(r, RESERVOIR_FIELDS[head], value)
                                                for r in machine.reservoirs))
    if name == "U":
        return machine.replace(coulomb=tuple((pair, value) for pair, _ in machine.coulomb))
    if name == "g":
        return machine.replace(couplings=tuple((pair, value) for pair, _ in machine.couplings))
    if head in ("epsilon", "dephasing"):
        values = list(machine.energies if head == "epsilon" else machine.dephasing)
        if tail:
            values[_qubit_index(name, tail, machine.n_qubits)] = value
        else:
            values = [value] * machine.n_qubits
        return machine.replace(**{"energies" if head == "epsilon" else "dephasing": tuple(values)})
    raise ValueError(f"unknown sweep parameter {name!r}; valid: {sorted(PARAMETERS)}")


def _replace(reservoir: Reservoir, field: str, value: float) -> Reservoir:
    return dataclasses.replace(reservoir, **{field: value})


def _qubit_index(name: str, text: str, n_qubits: int) -> int:
    if not text.isdigit() or int(text) >= n_qubits:
        raise ValueError(f"sweep parameter {name!r} needs a qubit index in 0..{n_qubits - 1}")
    return int(text)
