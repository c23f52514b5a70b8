"""The thermal machine, specified once: qubits, couplings, Coulomb pairs, reservoirs.

A :class:`Machine` knows nothing about any solver. It is frozen and validated on construction, so
every backend receives the same, checked description.

Conventions
-----------
* Units: ħ = k_B = 1. All energies (ε, g, U, μ, T, γ, dephasing rates) are in one unit of the user's
  choice (the paper: ε = 1 GHz); times are in its inverse.
* Qubits are indexed from 0 in code: qubit ``0`` is the paper's qubit 1 (the one on the hot reservoir),
  qubit ``1`` the paper's qubit 2, qubit ``2`` the paper's sink qubit 3.
* Hamiltonian (paper Eq. 1, generalised)::

      H = Σ_i ε_i n_i + Σ_(i,j) g_ij (a_i† a_j + a_j† a_i) + Σ_(i,j) U_ij n_i n_j

  with ``a = σ−`` for ``statistics="qubit"`` and ``a = c`` (Jordan–Wigner fermions in the dot order
  ``order``) for ``statistics="fermion"``.
* A reservoir on qubit k with rate γ, chemical potential μ and temperature T exchanges excitations
  with qubit k at the energy ε_k + Σ_l U_kl n_l set by k's excited Coulomb partners (paper Eq. 2).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from transportbench.parameters import PARAMETERS, RESERVOIR_FIELDS, split_parameter
from transportbench.validation import choice, flag, integer, nonnegative, positive, real

Statistics = Literal["qubit", "fermion"]
STATISTICS: tuple[str, ...] = ("qubit", "fermion")
BAND_KINDS: tuple[str, ...] = ("wide", "flat", "lorentzian")
FERMI_WINDOW = 10.0
"""Half-width of a reservoir's Fermi window in units of its temperature, for :func:`energy_scale`."""

Pair = tuple[int, int]


@dataclass(frozen=True)
class Band:
    """The density of states of a lead, as a backend sees it.

    Build it with :meth:`wide`, :meth:`flat` or :meth:`lorentzian`. The rate γ of the reservoir is the
    golden-rule rate of a level deep inside the band (at the band's centre).

    Attributes
    ----------
    kind : {"wide", "flat", "lorentzian"}
        ``"wide"``: constant density of states at every energy (the wide-band limit; the default).
        ``"flat"``: constant on [−D, D] around the dots' energy zero, zero outside (QmeQ's lead).
        ``"lorentzian"``: γ W² / ((E − μ)² + W²), centred at the reservoir's chemical potential μ
        (QuTiP's HEOM lead), so leads with different μ have differently placed bands.
    width : float
        D (flat) or W (Lorentzian) in energy units; infinite for the wide band.
    """

    kind: str = "wide"
    width: float = math.inf

    def __post_init__(self) -> None:
        choice("band kind", self.kind, BAND_KINDS)
        if self.kind == "wide":
            if self.width != math.inf:
                raise ValueError(f"a wide band has no width; use Band.flat or Band.lorentzian, got {self.width!r}")
        else:
            object.__setattr__(self, "width", positive(f"{self.kind} band width", self.width))

    @classmethod
    def wide(cls) -> Band:
        """The wide-band limit (constant density of states everywhere)."""
        return cls()

    @classmethod
    def flat(cls, half_width: float) -> Band:
        """A flat band on [−D, D] (energy units) around the dots' energy zero."""
        return cls("flat", half_width)

    @classmethod
    def lorentzian(cls, width: float) -> Band:
        """A Lorentzian band of half-width W (energy units) centred at the reservoir's chemical potential."""
        return cls("lorentzian", width)

    def __str__(self) -> str:
        return "wide band" if self.kind == "wide" else f"{self.kind} band of width {self.width:g}"


@dataclass(frozen=True)
class Reservoir:
    """A thermal fermionic reservoir coupled to one qubit.

    Parameters
    ----------
    name : str
        Label used for the currents of this reservoir (e.g. ``"hot"``, ``"cold"``).
    qubit : int
        Index (from 0) of the qubit it exchanges excitations with.
    rate : float
        Bare coupling rate γ ≥ 0 (energy units; ħ = 1).
    chemical_potential : float
        μ, in energy units.
    temperature : float
        T ≥ 0, in energy units (k_B = 1). T = 0 is the step-function limit of the Fermi function.
    band : Band
        The lead's density of states (default: the wide band). Each backend states how it treats it,
        or refuses a band it cannot represent.
    """

    name: str
    qubit: int
    rate: float
    chemical_potential: float
    temperature: float
    band: Band = field(default_factory=Band)


def _require_qubit(name: str, index: object, n_qubits: int) -> int:
    try:
        return integer(name, index, 0, n_qubits - 1)
    except ValueError:
        raise ValueError(f"{name} must be a qubit index in 0..{n_qubits - 1}, got {index!r}") from None


def _pair_table(name: str, table: Mapping[Pair, float] | Iterable[tuple[Pair, float]], n_qubits: int,
                nonnegative_values: bool) -> tuple[tuple[Pair, float], ...]:
    """Validate ``{(i, j): value}`` and return it as a sorted tuple with i < j."""
    items = table.items() if isinstance(table, Mapping) else table
    checked: dict[Pair, float] = {}
    for pair, value in items:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise ValueError(f"{name} keys must be qubit pairs (i, j), got {pair!r}")
        i = _require_qubit(f"{name} pair {pair!r}", pair[0], n_qubits)
        j = _require_qubit(f"{name} pair {pair!r}", pair[1], n_qubits)
        if i == j:
            raise ValueError(f"{name} pair {pair!r} couples a qubit to itself")
        key = (min(i, j), max(i, j))
        if key in checked:
            raise ValueError(f"{name} has a duplicate pair {pair!r}")
        check = nonnegative if nonnegative_values else real
        checked[key] = check(f"{name}[{pair!r}]", value)
    return tuple(sorted(checked.items()))


@dataclass(frozen=True)
class Machine:
    """A validated, immutable quantum thermal machine.

    Parameters
    ----------
    energies : sequence of float
        Qubit excitation energies ε_i (energy units).
    couplings : mapping {(i, j): g_ij}
        Flip-flop couplings (energy units), any real value; pairs unordered, no duplicates.
    coulomb : mapping {(i, j): U_ij}
        Coulomb energies U_ij ≥ 0 (energy units) added when both qubits are excited.
    reservoirs : sequence of Reservoir
        Thermal reservoirs; names must be unique.
    dephasing : sequence of float, optional
        Pure-dephasing rate κ_i ≥ 0 per qubit: jump operator σz^(i) with rate κ_i, so that a coherence
        of qubit i decays at 2κ_i. Default: none.
    statistics : {"qubit", "fermion"}
        ``"qubit"``: the paper's σ± model. ``"fermion"``: spin-polarised dots, Jordan–Wigner signs in
        the dot order ``order`` (as QmeQ sees them).
    order : sequence of int, optional
        Dot order for the Jordan–Wigner string (a permutation of the qubit indices). Default: 0..N−1.
    ideal_limit : bool
        Apply the paper's limit Eq. (3), U, μ → ∞ with U/μ → ∞, exactly to the reservoir rates: every
        excitation of a qubit with an excited Coulomb partner has rate 0 (and its relaxation rate γ);
        a reservoir with μ > 0 fills its qubit with rate γ when no partner is excited. Reservoirs with
        μ ≤ 0 keep their finite μ and T for unblocked transitions. The Hamiltonian keeps the finite U.
    """

    energies: tuple[float, ...]
    couplings: tuple[tuple[Pair, float], ...] = ()
    coulomb: tuple[tuple[Pair, float], ...] = ()
    reservoirs: tuple[Reservoir, ...] = ()
    dephasing: tuple[float, ...] = ()
    statistics: Statistics = "qubit"
    order: tuple[int, ...] = ()
    ideal_limit: bool = False
    _coulomb_by_qubit: tuple[Mapping[int, float], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        energies = tuple(real(f"energies[{i}]", e) for i, e in enumerate(self.energies))
        if not energies:
            raise ValueError("energies must list at least one qubit, got ()")
        n = len(energies)
        object.__setattr__(self, "energies", energies)
        object.__setattr__(self, "couplings", _pair_table("couplings", self.couplings, n, nonnegative_values=False))
        object.__setattr__(self, "coulomb", _pair_table("coulomb", self.coulomb, n, nonnegative_values=True))
        object.__setattr__(self, "reservoirs", tuple(self._checked_reservoirs(n)))
        dephasing = tuple(self.dephasing) if self.dephasing else (0.0,) * n
        if len(dephasing) != n:
            raise ValueError(f"dephasing must give one rate per qubit ({n}), got {self.dephasing!r}")
        object.__setattr__(self, "dephasing",
                           tuple(nonnegative(f"dephasing[{i}]", k) for i, k in enumerate(dephasing)))
        if self.statistics not in STATISTICS:
            raise ValueError(f"statistics must be one of {STATISTICS}, got {self.statistics!r}")
        order = tuple(self.order) if len(self.order) else tuple(range(n))
        try:
            order = tuple(integer("order", q) for q in order)
        except ValueError:
            order = ()
        if sorted(order) != list(range(n)):
            raise ValueError(f"order must be a permutation of 0..{n - 1}, got {self.order!r}")
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "ideal_limit", flag("ideal_limit", self.ideal_limit))
        partners: list[dict[int, float]] = [{} for _ in range(n)]  # sparse: a W machine of 10^6 qubits stays small
        for (i, j), u in self.coulomb:
            if u != 0.0:
                partners[i][j] = partners[j][i] = u
        object.__setattr__(self, "_coulomb_by_qubit", tuple(partners))

    def _checked_reservoirs(self, n_qubits: int) -> Iterable[Reservoir]:
        names: set[str] = set()
        for reservoir in self.reservoirs:
            if not isinstance(reservoir, Reservoir):
                raise ValueError(f"reservoirs must be Reservoir objects, got {reservoir!r}")
            if not isinstance(reservoir.name, str) or not reservoir.name:
                raise ValueError(f"reservoir names must be non-empty strings, got {reservoir.name!r}")
            label = f"reservoir {reservoir.name!r}"
            if reservoir.name in names:
                raise ValueError(f"reservoir names must be unique, got {reservoir.name!r} twice")
            names.add(reservoir.name)
            yield Reservoir(
                name=reservoir.name,
                qubit=_require_qubit(f"{label} qubit", reservoir.qubit, n_qubits),
                rate=nonnegative(f"{label} rate", reservoir.rate),
                chemical_potential=real(f"{label} chemical_potential", reservoir.chemical_potential),
                temperature=nonnegative(f"{label} temperature", reservoir.temperature),
                band=self._checked_band(label, reservoir.band),
            )

    @staticmethod
    def _checked_band(label: str, band: object) -> Band:
        if not isinstance(band, Band):
            raise ValueError(f"{label} band must be a Band (Band.wide(), Band.flat(D), Band.lorentzian(W)), "
                             f"got {band!r}")
        return band

    # ----------------------------------------------------------------------------------- queries
    @property
    def n_qubits(self) -> int:
        """Number of qubits N."""
        return len(self.energies)

    def coulomb_energy(self, i: int, j: int) -> float:
        """U_ij in energy units (0 for pairs without Coulomb interaction)."""
        return self._coulomb_by_qubit[i].get(j, 0.0)

    def coulomb_partners(self, qubit: int) -> tuple[int, ...]:
        """Qubits with a nonzero Coulomb energy to ``qubit``, in increasing order."""
        return tuple(sorted(self._coulomb_by_qubit[qubit]))

    @property
    def at_equilibrium(self) -> bool:
        """Whether nothing drives the machine: every reservoir at one μ and T, and no dephasing.

        Its steady state then carries no current (a current is an error of the method that gives it).
        """
        return (len({(r.chemical_potential, r.temperature) for r in self.reservoirs}) == 1
                and not any(self.dephasing))

    @property
    def jordan_wigner_trivial(self) -> bool:
        """True when every nonzero flip-flop joins neighbouring dots of ``order``.

        Then the Jordan–Wigner strings cancel in the Hamiltonian, which is the same for qubits and fermions
        (the local dissipators may still differ where jumps of different partner patterns interfere, i.e.
        for U ≲ γ; see :mod:`transportbench.backends.local_model`).
        """
        position = {qubit: p for p, qubit in enumerate(self.order)}
        return all(abs(position[i] - position[j]) == 1 for (i, j), g in self.couplings if g != 0)

    def reservoir(self, name: str) -> Reservoir:
        """The reservoir called ``name``."""
        for reservoir in self.reservoirs:
            if reservoir.name == name:
                return reservoir
        raise KeyError(f"no reservoir named {name!r}; reservoirs: {[r.name for r in self.reservoirs]}")

    def with_band(self, band: Band) -> Machine:
        """A copy with every reservoir on ``band``."""
        return self.replace(reservoirs=tuple(dataclasses.replace(r, band=band) for r in self.reservoirs))

    def with_parameters(self, values: Mapping[str, float] | None = None, /, **named: float) -> Machine:
        """A copy with parameters of the sweep vocabulary set (validated again).

        Parameters
        ----------
        values : mapping {name: value}, optional
            Names of :data:`~transportbench.parameters.PARAMETERS`: ``mu`` (the hot reservoir's), ``U``,
            ``g``, ``epsilon``, ``dephasing``, ``gamma``, ``T`` (every pair, coupling, qubit or reservoir), and targeted
            ``mu_<reservoir>``, ``T_<reservoir>``, ``gamma_<reservoir>``, ``epsilon_<qubit>``,
            ``dephasing_<qubit>`` (also spelt with ``.``, e.g. ``"epsilon.1"``). Values in energy units.
        **named : float
            More of them as keywords, e.g. ``mu_hot=9.0, T_cold=0.5``; set after ``values``.

        Returns
        -------
        Machine
            The changed copy.

        Raises
        ------
        ValueError
            An unknown name (named in the message), a qubit index out of range or a refused value.
        KeyError
            A reservoir this machine does not have.
        """
        machine = self
        for name, value in {**(values or {}), **named}.items():
            machine = machine._with_parameter(name, real(name, value))
        return machine

    def _with_parameter(self, name: str, value: float) -> Machine:
        """A copy with the parameter ``name`` of the vocabulary set to ``value`` (energy units)."""
        head, target = split_parameter(name)
        if head in RESERVOIR_FIELDS:
            if target:
                self.reservoir(target)  # KeyError names the valid reservoirs
            field = RESERVOIR_FIELDS[head]
            return self.replace(reservoirs=tuple(dataclasses.replace(r, **{field: value})
                                                 if r.name == target or not target else r
                                                 for r in self.reservoirs))
        if name in ("U", "g"):
            table = "coulomb" if name == "U" else "couplings"
            return self.replace(**{table: tuple((pair, value) for pair, _ in getattr(self, table))})
        if head in ("epsilon", "dephasing"):
            values = list(self.energies if head == "epsilon" else self.dephasing)
            if target:
                if not target.isdigit() or int(target) >= self.n_qubits:
                    raise ValueError(f"sweep parameter {name!r} needs a qubit index in 0..{self.n_qubits - 1}")
                values[int(target)] = value
            else:
                values = [value] * self.n_qubits
            return self.replace(**{"energies" if head == "epsilon" else "dephasing": tuple(values)})
        raise ValueError(f"unknown sweep parameter {name!r}; valid: {sorted(PARAMETERS)}")

    def detuned(self, deltas: Mapping[int, float]) -> Machine:
        """A copy with δ added to the energies of some qubits.

        Parameters
        ----------
        deltas : mapping {qubit: δ}
            Qubit index (from 0) and the detuning δ added to its ε (energy units).

        Returns
        -------
        Machine
            The changed copy; the other qubits keep their energies.

        Raises
        ------
        ValueError
            A qubit index outside 0..N−1 or a δ that is no finite real number.
        """
        if not isinstance(deltas, Mapping):
            raise ValueError(f"detuning must map qubits to δ, e.g. {{1: 0.02}}, got {type(deltas).__name__} {deltas!r}")
        energies = list(self.energies)
        for qubit, delta in deltas.items():
            energies[_require_qubit("detuning qubit", qubit, self.n_qubits)] += real(f"detuning[{qubit}]", delta)
        return self.replace(energies=tuple(energies))

    def replace(self, **changes: object) -> Machine:
        """A copy with some fields changed (validated again)."""
        fields = {name: getattr(self, name) for name in
                  ("energies", "couplings", "coulomb", "reservoirs", "dephasing", "statistics", "order",
                   "ideal_limit")}
        unknown = set(changes) - set(fields)
        if unknown:
            raise ValueError(f"unknown Machine field(s) {sorted(unknown)}; fields: {sorted(fields)}")
        fields.update(changes)
        return Machine(**fields)  # type: ignore[arg-type]

    # ------------------------------------------------------------------------------ constructors
    @classmethod
    def triple_dot(cls, *, epsilon: float = 1.0, g13: float = 0.05, g23: float = 0.05, U: float = 15.0,
                   mu_hot: float = 8.0, mu_cold: float = 0.0, T_hot: float = 1.0, T_cold: float = 1.0,
                   gamma_hot: float = 0.1, gamma_cold: float = 0.1, detuning: Mapping[int, float] | None = None,
                   dephasing: Iterable[float] = (), statistics: Statistics = "qubit",
                   ideal_limit: bool = False, band: Band | None = None) -> Machine:
        """The paper's three-qubit machine (Eq. 1–2), defaults at the Fig. 3 point.

        Qubit 0 (paper's 1) couples to the reservoir ``"hot"`` (μ_hot, T_hot, γ_hot); qubit 2 (paper's
        sink qubit 3) to ``"cold"`` (μ_cold, T_cold, γ_cold). Flip-flops g13 on (0, 2) and g23 on (1, 2);
        Coulomb energy U on every pair. ``detuning`` adds {qubit: δ} to ε. The dot order is (0, 2, 1),
        i.e. the paper's (1, 3, 2), so both hoppings are nearest neighbours and the fermion model equals
        the qubit model. ``band`` is the band of both leads (default: wide). All energies in one unit
        (paper: ε = 1 GHz), ħ = k_B = 1.
        """
        band = Band() if band is None else band
        u = nonnegative("U", U)
        return cls(
            energies=(real("epsilon", epsilon),) * 3,
            couplings={(0, 2): g13, (1, 2): g23},
            coulomb={(0, 1): u, (0, 2): u, (1, 2): u},
            reservoirs=(Reservoir("hot", 0, gamma_hot, mu_hot, T_hot, band),
                        Reservoir("cold", 2, gamma_cold, mu_cold, T_cold, band)),
            dephasing=tuple(dephasing), statistics=statistics, order=(0, 2, 1), ideal_limit=ideal_limit,
        ).detuned(detuning or {})

    @classmethod
    def w_machine(cls, n: int, *, epsilon: float = 1.0, couplings: Iterable[tuple[float, float]] | None = None,
                  g: float = 0.05, U: float = 15.0, mu_hot: float = 8.0, T_hot: float = 1.0,
                  T_sink: float = 1.0, gamma_hot: float = 0.1, gamma_sink: float = 0.1,
                  statistics: Statistics = "qubit", ideal_limit: bool = False, band: Band | None = None) -> Machine:
        """The (2n−1)-qubit machine of the paper's Fig. 4 that makes an n-qubit W state.

        In 0-based indices: qubit 0 sits on the reservoir ``"hot"``; triangle j = 1…n−1 is
        {0, j, n−1+j}, with flip-flops g_{0,n−1+j} and g_{j,n−1+j}, Coulomb energy U on its three pairs,
        and the sink n−1+j on its own cold reservoir ``"sink{j}"`` (μ = 0, T = T_sink, γ = gamma_sink).
        ``couplings`` gives (g_{1,n+j}, g_{1+j,n+j}) per triangle in the paper's labels; default (g, g).
        Dot order (for fermions): arm 1 reversed, qubit 0, then every further arm as (sink, qubit),
        e.g. (1, 3, 0, 4, 2) for n = 3, which makes every hopping a nearest neighbour for n ≤ 3.
        ``band`` is the band of every lead (default: wide).
        """
        band = Band() if band is None else band
        n = integer("n", n, minimum=2)
        pairs = list(couplings) if couplings is not None else [(g, g)] * (n - 1)
        if len(pairs) != n - 1:
            raise ValueError(f"couplings must give n-1 = {n - 1} (g_1s, g_js) pairs, got {len(pairs)}")
        u = nonnegative("U", U)
        flip_flops: dict[Pair, float] = {}
        coulomb: dict[Pair, float] = {}
        reservoirs = [Reservoir("hot", 0, gamma_hot, mu_hot, T_hot, band)]
        for j, (g_hot_side, g_arm_side) in enumerate(pairs, start=1):
            sink = n - 1 + j
            flip_flops[(0, sink)] = g_hot_side
            flip_flops[(j, sink)] = g_arm_side
            coulomb.update({(0, j): u, (0, sink): u, (j, sink): u})
            reservoirs.append(Reservoir(f"sink{j}", sink, gamma_sink, 0.0, T_sink, band))
        order = [1, n, 0] + [q for j in range(2, n) for q in (n - 1 + j, j)]
        return cls(energies=(real("epsilon", epsilon),) * (2 * n - 1), couplings=flip_flops, coulomb=coulomb,
                   reservoirs=tuple(reservoirs), statistics=statistics, order=tuple(order),
                   ideal_limit=ideal_limit)


def energy_scale(machine: Machine) -> float:
    """Largest single-electron addition energy or Fermi-window edge of the machine (energy units).

    The maximum over qubits k of |ε_k| + Σ_l U_kl + Σ_l |g_kl| (a bound on every many-body transition energy
    of adding or removing one electron) and over reservoirs of |μ| + ``FERMI_WINDOW`` × T; 31.1 at the Fig. 3
    point. The backends size their bands and grids with it.
    """
    addition = [abs(energy) + sum(machine.coulomb_energy(k, q) for q in machine.coulomb_partners(k))
                + sum(abs(g) for pair, g in machine.couplings if k in pair)
                for k, energy in enumerate(machine.energies)]
    windows = [abs(r.chemical_potential) + FERMI_WINDOW * r.temperature for r in machine.reservoirs]
    return max(addition + windows)
