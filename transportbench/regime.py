"""Regime validator: when to trust the local Lindblad equation (paper Eq. 2), with its margins.

The paper (Model section) requires, for every reservoir j on qubit k with partner coupling g,

* weak coupling:   γ_j ≪ max{T_j, |ε_k ± g − μ_j|}   (Markovian Lindblad equation), and
* local coupling:  g ≪ max{T_j, |ε_k − μ_j|}          (dissipation acts locally on the qubits).

Against the exact answer (HEOM, ``studies/regime_map.py``) these two are far from enough. Four conditions
found there are added, each a ratio small/large:

* detuning: for flip-flop partners that both carry reservoirs, the spurious bias that the local jump
  operators at the bare energies create, max_r |f_r(ε_i) − f_r(ε_j)|, against the real bias between the
  two reservoirs (:func:`detuning_conditions`; currents only: the state barely changes). At equilibrium
  the local equation carries a current between detuned qubits where the exact current is 0; the ratio is
  then infinite.
* Lamb shift: the change of C(0, 1) when the reservoirs' level shifts are added to the qubit energies
  (:func:`lamb_shifted`), against 1, and for the currents ("Lamb shift current") the change of the
  largest current against that current. The shifted local equation follows 1vN closely; the shifts
  matter most where C changes quickly with the detuning.
* dephasing / cotunnelling: a reservoir whose μ lies in its qubit's Coulomb gap cannot exchange electrons
  sequentially but dephases the qubit by cotunnelling at a rate κ ∝ γ² (:func:`cotunnelling_rate`), which
  the local equation lacks. For the state ("dephasing"): κ against I/(C(1 − C)), I the local current and
  C its C(0, 1): the loss of C when dephasing at κ competes with the return to the dark state at
  ≈ I/(1 − C); for the currents ("cotunnelling"): κ against I (the current the local equation lacks).

The measured errors behind these conditions and their thresholds are in the documentation,
``docs/findings/regime_map.md`` ("Where the local equation holds").

The "Lamb shift" and "dephasing"/"cotunnelling" ratios need two local solves (milliseconds for the
paper's machines). Each verdict is "valid" when every ratio is ≤ its ``safe`` threshold, "marginal" up to
``marginal``, "violated" above (``THRESHOLDS``, calibrated on the maps). ``Verdict.status`` is the verdict
for the state and C, ``Verdict.current_status`` for the currents (every condition).
``validate_regime(machine, reference="heom")`` also solves the machine exactly and attaches the local
equation's error.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transportbench.backends import exact_approaches, require_coupled_reservoir
from transportbench.level_shifts import level_shift
from transportbench.model import Machine
from transportbench.thermal import fermi

NO_CURRENT = 1e-12
"""A local current below this × Σγ counts as none (the cotunnelling condition is then not applied)."""
THRESHOLDS: dict[str, tuple[float, float]] = {
    "weak coupling": (0.1, 0.5),
    "local coupling": (0.1, 0.5),
    "detuning": (0.01, 0.1),
    "Lamb shift": (0.007, 0.015),
    "Lamb shift current": (0.01, 0.05),
    "dephasing": (0.007, 0.015),
    "cotunnelling": (0.01, 0.1),
}
"""(safe, marginal) per condition: ratio ≤ safe is "valid", ≤ marginal "marginal", above "violated".

From ``studies/regime_map.py`` (97 points against HEOM, U = 15, T = 1): "Lamb shift" and "dephasing" are
the largest thresholds with no "valid" point whose |ΔC| exceeds 1 %, and the smallest with no "violated"
point within 1 % (|ΔC| ≈ Lamb-shift ratio + 1.3 × dephasing ratio there). The paper's two inequalities bind
nowhere on the maps (their points beyond 0.1 fail the others first) and keep the paper-style 0.1 / 0.5.
The currents' ratios estimate the relative current error; no map point has a local current within 1 % of
exact except by cancellation, so their safe thresholds (1 %) are that estimate, not a fit; their marginal
ones are the smallest with (almost) no "violated" point within 1 %."""


@dataclass(frozen=True)
class Condition:
    """One inequality ``small ≪ large`` for one reservoir, or one qubit (energies in the machine's unit).

    ``currents_only``: the condition bounds the error of the currents, not of the state (cotunnelling).
    """

    name: str
    reservoir: str
    small: float
    large: float
    qubit: int | None = None
    currents_only: bool = False

    @property
    def subject(self) -> str:
        """What the condition is about: ``"reservoir 'hot'"``, ``"qubit 1"`` or ``"machine"``."""
        if self.qubit is not None:
            return f"qubit {self.qubit}"
        return f"reservoir {self.reservoir!r}" if self.reservoir else "machine"

    @property
    def ratio(self) -> float:
        """Small / large (∞ when large = 0 and small > 0)."""
        if self.large == 0:
            return float("inf") if self.small > 0 else 0.0
        return self.small / self.large


@dataclass(frozen=True)
class ExactError:
    """The local Lindblad equation against an exact reference for one machine (:func:`exact_error`).

    Attributes
    ----------
    reference : str
        The exact approach (``"heom"``, wide band or the reservoirs' Lorentzian band).
    concurrence, concurrence_exact : float
        C(0, 1) of the local equation and of the reference.
    current, current_exact : float
        Particle current of the first reservoir (into the system > 0) of each.
    current_scale : float
        The largest |particle current| of the reference over the reservoirs.
    concurrence_uncertainty : float
        The reference's own error estimate of C (Padé, depth and band steps added).
    current_uncertainty : float
        The reference's own error estimate of the currents, relative to ``current_scale``.
    converged : bool
        Whether the reference met its tolerances (False: a budget stopped a stage; the uncertainties lack it).
    """

    reference: str
    concurrence: float
    concurrence_exact: float
    current: float
    current_exact: float
    current_scale: float
    concurrence_uncertainty: float
    current_uncertainty: float
    converged: bool

    @property
    def concurrence_error(self) -> float:
        """|C_local − C_exact|."""
        return abs(self.concurrence - self.concurrence_exact)

    @property
    def current_error(self) -> float:
        """|I_local − I_exact| / max_r |I_exact,r| (∞ when the reference carries no current)."""
        difference = abs(self.current - self.current_exact)
        return difference / self.current_scale if self.current_scale > 0 else (math.inf if difference else 0.0)

    def __str__(self) -> str:
        return (f"against {self.reference}: |ΔC| = {self.concurrence_error:.2g} (C = {self.concurrence:.5g} vs "
                f"{self.concurrence_exact:.5g} ± {self.concurrence_uncertainty:.1g}), |ΔI|/I = "
                f"{self.current_error:.2g} (I = {self.current:.4g} vs {self.current_exact:.4g} ± "
                f"{self.current_uncertainty:.1g} relative)" + ("" if self.converged else "; reference not converged"))


@dataclass(frozen=True)
class Verdict:
    """Outcome of :func:`validate_regime`, each verdict "valid", "marginal" or "violated".

    ``status`` is the verdict for the state and the concurrence (every condition but the currents-only
    ones), ``current_status`` the verdict for the currents (every condition).
    """

    status: str
    conditions: tuple[Condition, ...]
    warnings: tuple[str, ...]
    current_status: str = ""
    exact: ExactError | None = None
    """The local equation's error against the exact reference (``validate_regime(..., reference="heom")``)."""

    def __post_init__(self) -> None:
        if not self.current_status:
            object.__setattr__(self, "current_status", self.status)

    @property
    def concurrence_status(self) -> str:
        """The verdict for the concurrence and the state (the same as ``status``)."""
        return self.status

    @property
    def worst_ratio(self) -> float:
        """The largest small/large ratio over all conditions."""
        return max((c.ratio for c in self.conditions), default=0.0)

    def __str__(self) -> str:
        lines = [f"regime: {self.status} for the state and concurrence, {self.current_status} for the currents"]
        lines += [f"  {c.name:<18} {c.subject:<20} {c.small:.4g} << {c.large:.4g}   ratio {c.ratio:.3g}"
                  f"{'   (currents)' if c.currents_only else ''}" for c in self.conditions]
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.exact is not None:
            lines.append(f"  {self.exact}")
        return "\n".join(lines)


def regime_conditions(machine: Machine, local_result: Any = None) -> tuple[Condition, ...]:
    """Every condition of the module docstring for ``machine``.

    The cotunnelling condition needs the local equation's current: ``local_result`` (a local solve of
    ``machine``) or, when None, a local solve here (milliseconds for the paper's machines).
    """
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
    conditions.extend(detuning_conditions(machine))
    if machine.ideal_limit:  # infinite U and μ: no finite level shift, no cotunnelling
        return tuple(conditions)
    from transportbench.backends import local
    from transportbench.figures import Concurrence

    pair = Concurrence(0, 1) if machine.n_qubits > 1 else (lambda result: 0.0)
    if local_result is None:
        local_result = local.solve_steady(machine)
    shifted = local.solve_steady(lamb_shifted(machine))
    concurrence = pair(local_result)
    conditions.append(Condition("Lamb shift", "", abs(pair(shifted) - concurrence), 1.0))
    current = max(abs(i) for i in local_result.particle_currents.values())
    if current <= NO_CURRENT * sum(r.rate for r in machine.reservoirs):  # no current: nothing to correct
        return tuple(conditions)
    change = max(abs(shifted.particle_currents[name] - i) for name, i in local_result.particle_currents.items())
    conditions.append(Condition("Lamb shift current", "", change, current, currents_only=True))
    rate = cotunnelling_rate(machine)
    if rate > 0:
        at_stake = concurrence * (1.0 - concurrence)  # no entanglement, or none lost: nothing to dephase
        conditions.append(Condition("dephasing", "", rate, current / at_stake if at_stake > 0 else math.inf))
        conditions.append(Condition("cotunnelling", "", rate, current, currents_only=True))
    return tuple(conditions)


def lamb_shifted(machine: Machine) -> Machine:
    """``machine`` with every qubit's energy moved by the reservoirs' level shift of its single excitation.

    ε_k → ε_k + s(|1 on k⟩) − s(|vacuum⟩) (:func:`~transportbench.level_shifts.level_shift`, second order in
    γ, zeroth in g, on the reservoirs' bands; the Coulomb energies are left as they are). The local equation
    of this machine follows QmeQ's 1vN, which has the shifts (``docs/findings/regime_map.md``).
    """
    vacuum = level_shift(machine, [])
    return machine.replace(energies=tuple(e + level_shift(machine, [k]) - vacuum
                                          for k, e in enumerate(machine.energies)))


def cotunnelling_rate(machine: Machine) -> float:
    """κ: the rate at which the reservoirs' cotunnelling dephases their qubits, summed (energy units).

    A reservoir r on qubit k whose μ_r lies in k's Coulomb gap, E_rem < μ_r < E_add with E_rem = ε_k (no
    partner excited) and E_add = ε_k + max_l U_kl (one partner excited), cannot exchange electrons
    sequentially, but it scatters them off k at second order in γ_r: with k full an electron leaves and
    another enters, with k empty one enters and leaves. The two amplitudes differ, so each scattering
    tells which state k is in and dephases it, at
    κ_r = (γ_r² / 2π) T_r (1/(μ_r − E_rem) + 1/(E_add − μ_r))² (|E − μ| ≫ T; denominators at least πT).
    For the paper's hot lead it is of the size of the current that the local equation lacks
    (``docs/findings/regime_map.md``).
    Reservoirs outside their gap tunnel sequentially and are left to the weak-coupling condition.
    """
    rate = 0.0
    for reservoir in machine.reservoirs:
        k, mu, temperature = reservoir.qubit, reservoir.chemical_potential, reservoir.temperature
        removal = machine.energies[k]
        addition = removal + max((machine.coulomb_energy(k, p) for p in machine.coulomb_partners(k)), default=0.0)
        if not removal < mu < addition or temperature == 0:
            continue
        floor = math.pi * temperature
        amplitude = 1.0 / max(mu - removal, floor) + 1.0 / max(addition - mu, floor)
        rate += reservoir.rate ** 2 / (2 * math.pi) * temperature * amplitude ** 2
    return rate


def detuning_conditions(machine: Machine) -> tuple[Condition, ...]:
    """Spurious against real bias for every flip-flop pair whose qubits both carry reservoirs.

    The local equation lets reservoir r on qubit i exchange at i's bare energy ε_i, and r' on j at ε_j. For
    detuned partners (ε_i ≠ ε_j) this is a Fermi-function difference that no real process has: an exchange
    conserves energy, so both reservoirs meet one transition energy. The spurious bias is
    max over r, r' of |f_r(ε_i) − f_r(ε_j)| (≈ |∂f/∂ε| |ε_i − ε_j|), compared with the real bias
    max |f_r(ε̄) − f_r'(ε̄)| between the two sides at the mean energy ε̄ (0 at equilibrium, where every
    current of the local equation between detuned qubits is spurious: ratio ∞). The subject is the
    reservoir pair "r/r'"; bare energies (no Coulomb partner excited).
    """
    conditions = []
    for (i, j), g in machine.couplings:
        left = [r for r in machine.reservoirs if r.qubit == i]
        right = [r for r in machine.reservoirs if r.qubit == j]
        if g == 0 or not left or not right:
            continue
        e_i, e_j = machine.energies[i], machine.energies[j]
        mean = 0.5 * (e_i + e_j)

        def occupation(r: Any, energy: float) -> float:
            return float(fermi(energy, r.chemical_potential, r.temperature))

        spurious = max(abs(occupation(r, e_i) - occupation(r, e_j)) for r in left + right)
        real = max(abs(occupation(a, mean) - occupation(b, mean)) for a in left for b in right)
        names = f"{left[0].name}/{right[0].name}"
        conditions.append(Condition("detuning", names, spurious, real, currents_only=True))
    return tuple(conditions)


def validate_regime(machine: Machine, *, safe: float | None = None, marginal: float | None = None,
                    reference: str | None = None, options: Mapping[str, Any] | None = None) -> Verdict:
    """Check the validity conditions of the local Lindblad equation for ``machine``.

    Parameters
    ----------
    machine : Machine
        The machine to check.
    safe, marginal : float, optional
        Ratio thresholds for every condition, overriding ``THRESHOLDS`` (calibrated per condition against
        HEOM in ``studies/regime_map.py``): every ratio ≤ ``safe`` is "valid"; any ratio in (safe, marginal]
        makes the verdict "marginal"; any ratio above ``marginal`` makes it "violated".
    reference : {None, "heom"}
        With ``"heom"``, also solve ``machine`` exactly and attach the local equation's error
        (:func:`exact_error`, ``Verdict.exact``; a full HEOM solve). None computes nothing expensive.
    options : mapping, optional
        The reference's options (e.g. ``{"pade": 6, "depth": 2, "converge": False}``); only with ``reference``.

    Returns
    -------
    Verdict
        The verdicts for the state and concurrence (``status``) and for the currents (``current_status``),
        every condition with its ratio, a warning per condition that is not safe, and the exact error.
    """
    if reference is not None and reference not in exact_approaches():
        raise ValueError(f"unknown reference {reference!r}; valid: {list(exact_approaches())} or None")
    if options is not None and reference is None:
        raise ValueError("options are the reference's: give them with reference='heom'")
    require_coupled_reservoir(machine, "the regime check")
    thresholds = {}
    for name, (default_safe, default_marginal) in THRESHOLDS.items():
        pair = (default_safe if safe is None else safe, default_marginal if marginal is None else marginal)
        if not 0 < pair[0] <= pair[1]:
            raise ValueError(f"need 0 < safe <= marginal, got safe={pair[0]!r}, marginal={pair[1]!r} ({name})")
        thresholds[name] = pair
    local_result = None
    if not machine.ideal_limit or reference is not None:
        from transportbench.backends import local

        local_result = local.solve_steady(machine)
    conditions = regime_conditions(machine, local_result)
    warnings_ = tuple(
        f"{c.name} for {c.subject}: {c.small:.4g} is not << {c.large:.4g} (ratio {c.ratio:.3g}, safe up to "
        f"{thresholds[c.name][0]:g})" for c in conditions if c.ratio > thresholds[c.name][0])

    def level(selected: list[Condition]) -> str:
        codes = [0 if c.ratio <= thresholds[c.name][0] else (1 if c.ratio <= thresholds[c.name][1] else 2)
                 for c in selected]
        return ("valid", "marginal", "violated")[max(codes, default=0)]

    status = level([c for c in conditions if not c.currents_only])
    current_status = level(list(conditions))
    if machine.ideal_limit:
        warnings_ += ("ideal limit: rates use U, mu -> infinity exactly; conditions evaluated at the finite "
                      "values stored in the machine",)
    exact = exact_error(machine, reference, options, local_result) if reference is not None else None
    return Verdict(status, conditions, warnings_, current_status, exact)


def exact_error(machine: Machine, reference: str = "heom", options: Mapping[str, Any] | None = None,
                local_result: Any = None) -> ExactError:
    """Solve ``machine`` with the local Lindblad equation and with the exact ``reference``; their difference.

    Parameters
    ----------
    machine : Machine
        A machine the reference represents (HEOM: no ideal limit, no dephasing, T > 0, wide or Lorentzian bands).
    reference : {"heom"}
        The exact approach.
    options : mapping, optional
        The reference's options (:class:`~transportbench.backends.heom.HeomOptions` names, e.g.
        ``{"pade": 6, "depth": 2, "converge": False}`` for a cheap fixed hierarchy); default: automatic
        convergence (the most expensive choice).
    local_result : Result, optional
        An existing local solve of ``machine`` to reuse.

    Returns
    -------
    ExactError
        Both concurrences and currents and the reference's own error estimate.
    """
    from transportbench.backends import get_backend, local  # QuTiP only when the reference is solved
    from transportbench.figures import Concurrence, ErrorBar

    if reference not in exact_approaches():
        raise ValueError(f"unknown reference {reference!r}; valid: {list(exact_approaches())} or None")
    backend = get_backend(reference)
    with warnings.catch_warnings(record=True) as caught:  # a ConvergenceWarning is kept as converged=False
        warnings.simplefilter("always")
        exact = backend.solve_steady(machine, backend.Options.build(**dict(options or {})))
    approximate = local_result if local_result is not None else local.solve_steady(machine)
    pair = Concurrence(0, 1)
    name = machine.reservoirs[0].name
    c_error, i_error = ErrorBar("concurrence")(exact), ErrorBar("currents")(exact)
    converged = bool(exact.health.converged) if exact.options.converge else False
    if caught and not converged:
        warnings.warn(f"{reference} did not converge for the regime check: {caught[0].message}", stacklevel=2)
    return ExactError(
        reference=reference, concurrence=pair(approximate), concurrence_exact=pair(exact),
        current=approximate.particle_currents[name], current_exact=exact.particle_currents[name],
        current_scale=max(abs(i) for i in exact.particle_currents.values()),
        concurrence_uncertainty=c_error, current_uncertainty=i_error, converged=converged)
