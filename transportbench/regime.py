"""Regime validator: the paper's conditions for the local Lindblad equation, with their margins.

The paper (Model section) requires, for every reservoir j on qubit k with partner coupling g,

* weak coupling:   γ_j ≪ max{T_j, |ε_k ± g − μ_j|}   (Markovian Lindblad equation), and
* local coupling:  g ≪ max{T_j, |ε_k − μ_j|}          (dissipation acts locally on the qubits).

Each condition is reported as the ratio of the left side to the right side ("margin"): the smaller,
the safer. A ratio below ``safe`` passes, up to ``marginal`` warns, above fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from transportbench.model import Machine


@dataclass(frozen=True)
class Condition:
    """One inequality ``small ≪ large`` evaluated for one reservoir (energies in the machine's unit)."""

    name: str
    reservoir: str
    small: float
    large: float

    @property
    def ratio(self) -> float:
        """Small / large (∞ when large = 0 and small > 0)."""
        if self.large == 0:
            return float("inf") if self.small > 0 else 0.0
        return self.small / self.large


@dataclass(frozen=True)
class Verdict:
    """Outcome of :func:`validate_regime`: ``status`` is "valid", "marginal" or "violated"."""

    status: str
    conditions: tuple[Condition, ...]
    warnings: tuple[str, ...]

    @property
    def worst_ratio(self) -> float:
        """The largest small/large ratio over all conditions."""
        return max((c.ratio for c in self.conditions), default=0.0)

    def __str__(self) -> str:
        lines = [f"regime: {self.status} (worst ratio {self.worst_ratio:.3g})"]
        lines += [f"  {c.name:<14} {c.reservoir:<8} {c.small:.4g} << {c.large:.4g}   ratio {c.ratio:.3g}"
                  for c in self.conditions]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def regime_conditions(machine: Machine) -> tuple[Condition, ...]:
    """The paper's weak- and local-coupling inequalities for every reservoir of ``machine``."""
    conditions = []
    for reservoir in machine.reservoirs:
        k = reservoir.qubit
        epsilon = machine.energies[k]
        mu, temperature = reservoir.chemical_potential, reservoir.temperature
        couplings = [abs(g) for (i, j), g in machine.couplings if k in (i, j)] or [0.0]
        g = max(couplings)
        detuning = min(abs(epsilon + g - mu), abs(epsilon - g - mu))
        conditions.append(Condition("weak coupling", reservoir.name, reservoir.rate, max(temperature, detuning)))
        conditions.append(Condition("local coupling", reservoir.name, g, max(temperature, abs(epsilon - mu))))
    return tuple(conditions)


def validate_regime(machine: Machine, *, safe: float = 0.1, marginal: float = 0.5) -> Verdict:
    """Check the paper's validity conditions of the local Lindblad equation for ``machine``.

    Parameters
    ----------
    machine : Machine
        The machine to check.
    safe, marginal : float
        Ratio thresholds: every ratio ≤ ``safe`` is "valid"; any ratio in (safe, marginal] makes the
        verdict "marginal"; any ratio above ``marginal`` makes it "violated".

    Returns
    -------
    Verdict
        Status, every condition with its margin, and a warning per condition that is not safe.
    """
    if not 0 < safe <= marginal:
        raise ValueError(f"need 0 < safe <= marginal, got safe={safe!r}, marginal={marginal!r}")
    conditions = regime_conditions(machine)
    warnings = tuple(
        f"{c.name} for reservoir {c.reservoir!r}: {c.small:.4g} is not << {c.large:.4g} (ratio {c.ratio:.3g})"
        for c in conditions if c.ratio > safe)
    worst = max((c.ratio for c in conditions), default=0.0)
    status = "valid" if worst <= safe else ("marginal" if worst <= marginal else "violated")
    if machine.ideal_limit:
        warnings += ("ideal limit: rates use U, mu -> infinity exactly; conditions evaluated at the finite "
                     "values stored in the machine",)
    return Verdict(status, conditions, warnings)
