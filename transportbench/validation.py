"""Argument checks shared by the model, the backends and the drivers: one-line ValueErrors naming the argument.

Numbers may be Python or NumPy integers and reals; booleans and strings are never numbers here
(``gamma_hot=True`` or ``T_hot='1'`` is an error, not 1.0).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

MAX_MAGNITUDE = 1e100
"""Largest magnitude of any parameter: products of a few energies must stay finite in double precision."""


def is_number(value: object) -> bool:
    """True for real numbers of Python or NumPy types, False for booleans, strings and everything else."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def real(name: str, value: object) -> float:
    """``value`` as a finite float of magnitude at most ``MAX_MAGNITUDE``; ValueError naming ``name`` otherwise."""
    if not is_number(value):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if abs(number) > MAX_MAGNITUDE:
        raise ValueError(f"{name} = {number:g} is beyond {MAX_MAGNITUDE:g}: products of energies would overflow; "
                         "choose an energy unit that keeps the parameters moderate")
    return number


def nonnegative(name: str, value: object) -> float:
    """:func:`real`, and ≥ 0."""
    number = real(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return number


def positive(name: str, value: object) -> float:
    """:func:`real`, and > 0."""
    number = real(name, value)
    if not number > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return number


def integer(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int (Python or NumPy integer, not bool) within [minimum, maximum]; ValueError otherwise."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or type(value).__name__ == "bool_":
        raise ValueError(f"{name} must be an integer, got {value!r}")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = f">= {minimum}" if maximum is None else (f"<= {maximum}" if minimum is None
                                                          else f"in {minimum}..{maximum}")
        raise ValueError(f"{name} must be an integer {bounds}, got {value!r}")
    return number


def choice(name: str, value: object, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``; ValueError listing them otherwise."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def flag(name: str, value: object) -> bool:
    """``value`` if it is True or False (NumPy booleans included); ValueError otherwise."""
    if not (isinstance(value, bool) or type(value).__name__ == "bool_"):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)
