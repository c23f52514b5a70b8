"""Extrapolation in the inverse band width: from results at finite widths W to the wide band, 1/W → 0.

A quantity computed at several Lorentzian half-widths W_i (energy units) is extrapolated with the polynomial
in 1/W through the points (1/W_i, y_i), evaluated at 1/W = 0: linear for two widths, quadratic for three.
The result is a weighted sum Σ_i w_i y_i, so it applies as well to density matrices and current arrays as
to numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

Value = TypeVar("Value", float, np.ndarray)


def inverse_width_weights(widths: Sequence[float]) -> np.ndarray:
    """The weights w_i of the extrapolation to 1/W = 0 through the given widths (Lagrange's, at 1/W = 0).

    ValueError unless the widths are finite, positive and distinct (at least two).
    """
    x = 1.0 / np.asarray([float(width) for width in widths])
    if len(x) < 2 or not all(math.isfinite(w) and w > 0 for w in widths) or len(set(x)) < len(x):
        raise ValueError(f"need at least two distinct finite positive widths, got {list(widths)!r}")
    return np.array([np.prod([-x[j] / (x[i] - x[j]) for j in range(len(x)) if j != i]) for i in range(len(x))])


def to_wide_band(values: Sequence[Value], widths: Sequence[float]) -> Value:
    """``values`` (one per width, numbers or arrays) extrapolated to 1/W = 0 (see :func:`inverse_width_weights`)."""
    weights = inverse_width_weights(widths)
    if len(values) != len(weights):
        raise ValueError(f"one value per width: {len(values)} values for {len(weights)} widths")
    return sum(weight * value for weight, value in zip(weights, values, strict=True))
