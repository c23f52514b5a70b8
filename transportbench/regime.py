"""Regime validator: the paper's conditions for the local Lindblad equation, with their margins.

The paper (Model section) requires, for every reservoir j on qubit k with partner coupling g,

* weak coupling:   γ_j ≪ max{T_j, |ε_k ± g − μ_j|}   (Markovian Lindblad equation), and
* local coupling:  g ≪ max{T_j, |ε_k − μ_j|}          (dissipation acts locally on the qubits).

and adds one condition found here (``studies/regime_map.py``, ``studies/lamb_shift_band.py``):

* small Lamb shift: |δ*_q| ≪ g_q for every qubit q > 0 without a reservoir (the paper's qubit 2, the W
  machine's arms), where δ*_q is the detuning by which the reservoirs' second-order level shifts move
  the resonance of |1 on qubit 0⟩ with |1 on q⟩ (:func:`~transportbench.level_shifts.relative_level_shift`,
  wide band) and g_q the largest coupling of q. The local Lindblad equation has no level shifts; at the
  Fig. 3 point it differs from QmeQ's 1vN by |ΔC| ≈ 0.01 where this ratio is ≈ 0.07, along a line
  g ∝ γ on which the paper's two inequalities hold comfortably.

Each condition is reported as the ratio of the left side to the right side ("margin"): the smaller,
the safer. A ratio below ``safe`` passes, up to ``marginal`` warns, above fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from transportbench.level_shifts import relative_level_shift
from transportbench.model import Machine


@dataclass(frozen=True)
class Condition:
    """One inequality ``small ≪ large`` for one reservoir, or one qubit (energies in the machine's unit)."""

    name: str
    reservoir: str
    small: float
    large: float
    qubit: int | None = None

    @property
    def subject(self) -> str:
        """What the condition is about: ``"reservoir 'hot'"`` or ``"qubit 1"``."""
        return f"reservoir {self.reservoir!r}" if self.qubit is None else f"qubit {self.qubit}"

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
        lines += [f"  {c.name:<14} {c.subject:<16} {c.small:.4g} << {c.large:.4g}   ratio {c.ratio:.3g}"
                  for c in self.conditions]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def regime_conditions(machine: Machine) -> tuple[Condition, ...]:
    """The paper's weak- and local-coupling inequalities for every reservoir, and the Lamb-shift condition."""
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
    if not machine.ideal_limit:  # infinite U and μ: no finite level shift
        coupled = {reservoir.qubit for reservoir in machine.reservoirs}
        for qubit in sorted(set(range(1, machine.n_qubits)) - coupled):
            g = max([abs(g) for pair, g in machine.couplings if qubit in pair], default=0.0)
            shift = abs(relative_level_shift(machine, qubit))
            conditions.append(Condition("Lamb shift", "", shift, g, qubit=qubit))
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
        f"{c.name} for {c.subject}: {c.small:.4g} is not << {c.large:.4g} (ratio {c.ratio:.3g})"
        for c in conditions if c.ratio > safe)
    worst = max((c.ratio for c in conditions), default=0.0)
    status = "valid" if worst <= safe else ("marginal" if worst <= marginal else "violated")
    if machine.ideal_limit:
        warnings += ("ideal limit: rates use U, mu -> infinity exactly; conditions evaluated at the finite "
                     "values stored in the machine",)
    return Verdict(status, conditions, warnings)
