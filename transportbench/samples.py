"""Seeded random machines, for statistics of an approach's health or error over a region of parameters."""

from __future__ import annotations

import numpy as np

from transportbench.model import Machine
from transportbench.validation import integer

RANDOM_RANGES = {"gamma_hot": (0.01, 0.3), "g": (0.01, 0.2), "U": (5.0, 20.0), "mu_hot": (2.0, 14.0)}
"""Uniform ranges (energy units) of :func:`random_triple_dots`: γ_hot, each of g13 and g23, U, μ_hot."""


def random_triple_dots(count: int, seed: int = 2024) -> list[Machine]:
    """``count`` triple dots with parameters drawn uniformly from :data:`RANDOM_RANGES` (seeded, reproducible).

    Everything else is the Fig. 3 point of :meth:`Machine.triple_dot` (ε = T = 1, γ_cold = 0.1, wide band).
    The draws per machine are g13, g23, γ_hot, U, μ_hot, in that order, from ``numpy.random.default_rng(seed)``.
    """
    count = integer("count", count, minimum=0)
    rng = np.random.default_rng(integer("seed", seed, minimum=0))
    machines = []
    for _ in range(count):
        g13, g23 = rng.uniform(*RANDOM_RANGES["g"], 2)
        gamma_hot = rng.uniform(*RANDOM_RANGES["gamma_hot"])
        coulomb, mu_hot = rng.uniform(*RANDOM_RANGES["U"]), rng.uniform(*RANDOM_RANGES["mu_hot"])
        machines.append(Machine.triple_dot(gamma_hot=gamma_hot, g13=g13, g23=g23, U=coulomb, mu_hot=mu_hot))
    return machines
