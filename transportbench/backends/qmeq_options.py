"""The QmeQ backend's settings: approaches, the 2vN grid and tolerances, and how each lead's band is represented.

Part of the ``qmeq`` backend (conventions, bands and principal parts in :mod:`transportbench.backends.qmeq`).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transportbench.model import Band, Machine, energy_scale
from transportbench.options import SolverOptions
from transportbench.validation import flag, integer, nonnegative, positive

NAME = "qmeq"


APPROACHES: dict[str, str] = {"pauli": "Pauli", "lindblad": "Lindblad", "redfield": "Redfield", "1vn": "1vN",
                              "2vn": "2vN"}
"""Accepted approach names (lower case; any letter case is accepted) and QmeQ's ``kerntype`` for each."""


ITYPE_PRINCIPAL_PARTS = 1
"""QmeQ ``itype`` with principal parts (digamma function, wide-band limit)."""


ITYPE_NO_PRINCIPAL_PARTS = 3
"""QmeQ ``itype`` without principal parts (infinite band)."""


BANDWIDTH_FACTOR = 3.0
"""Default band half-width D in units of :func:`energy_scale`."""


FIXED_NITER = 20
"""2vN iterations when ``converge=False`` and ``niter`` is not given."""


MAX_NITER = 40
"""Largest number of 2vN iterations per grid when ``converge=True`` and ``niter`` is not given."""


MAX_KPNT = 8193
"""Default largest 2vN energy grid."""


DEFAULT_RHO_TOL = 3e-4
"""Default 2vN tolerance on max_ij |Δρ_ij| (absolute; ρ in the project's basis). Why this value: at the Fig. 3
point the changes of max |Δρ_ij| and of C(0, 1) that the old tolerance (1e-3 on C) judged were in the ratio
0.3–1.2 (iterations: 0.33; grid refinements 933 → 1867 → 3735 → 7473 points: 1.18, 0.48, 0.32), so 3e-4 on ρ
bounds |ΔC| by about 1e-3 as before; there the current test binds first and the converged result (grid,
iterations, C) is unchanged."""


DEFAULT_CURRENT_RTOL = 1e-2
"""Default 2vN tolerance on the currents (relative to the largest current of its kind)."""


DEFAULT_CURRENT_FLOOR = 1e-4
"""Default ``current_floor``: currents are compared relative to max(largest current, floor), the floor being
DEFAULT_CURRENT_FLOOR × Σγ for particle currents and that times :func:`energy_scale` for energy currents, so that
near-zero currents are judged absolutely. Why this value: at equilibrium (Fig. 3 parameters, μ_hot = 0)
2vN leaves spurious currents that change by up to 1.3e-7 (particle) and 1.2e-6 (energy) between nested
grids, which a relative test can never settle (it ran 468 s into a ConvergenceWarning); with this floor
(2e-5 and 6.2e-4 there) they pass the default 1 % test. At the Fig. 3 point the particle currents (1.3e-4)
stay 6.5 times above the floor and are judged relatively; the energy currents (2.4e-4) fall below theirs,
so they are held to 1 % of 6.2e-4 (2.6 % of their value), while the particle currents, which change with
them, keep the 1 % test."""


TWO_VN_SETTINGS: tuple[str, ...] = ("kpnt", "niter", "converge", "rho_tol", "current_rtol", "current_floor",
                                    "max_kpnt", "check_bandwidth")
"""The settings of :class:`QmeqOptions` that apply to 2vN only."""


WIDE_BAND_2VN = "2vN approaches the wide band only slowly as D grows (band-edge level shifts ~ gamma E / D)"


def canonical_approach(approach: str) -> str:
    """QmeQ's ``kerntype`` for ``approach`` (case-insensitive); ValueError listing the valid names otherwise.

    QmeQ itself replaces an unknown ``kerntype`` by ``'Pauli'`` with only a printed warning.
    """
    kerntype = APPROACHES.get(approach.lower()) if isinstance(approach, str) else None
    if kerntype is None:
        raise ValueError(f"unknown QmeQ approach {approach!r}; valid approaches: {sorted(APPROACHES.values())}")
    return kerntype


@dataclass(frozen=True)
class QmeqOptions(SolverOptions):
    """Settings of a QmeQ solve; the 2vN-only ones are ``None`` ("not given") unless set.

    ``Result.options`` holds these with every default resolved (2vN: the grid, iterations and tolerances
    actually used), so ``solve_steady(result.machine, result.options)`` repeats the solve. The lead's band
    is not an option: it is ``Reservoir.band`` of the machine (module docstring, "Bands"). Giving a 2vN-only
    setting with another approach is a ValueError.

    Attributes
    ----------
    approach : {"2vN", "Pauli", "Lindblad", "Redfield", "1vN"}
        QmeQ's kerntype, any letter case on input, its canonical spelling after validation. ``"Lindblad"``
        is QmeQ's Lindblad approach, not the paper's local equation. Default ``"2vN"``.
    lamb_shift : bool
        First-order approaches: keep (QmeQ's ``itype=1``, wide-band digamma principal parts) or drop
        (``itype=3``) the principal parts; Pauli and Lindblad have none. 2vN always keeps them, so
        ``lamb_shift=False`` with 2vN is a ValueError. Default True.
    progress : bool, optional
        2vN: a progress bar on stderr (iterations of every grid, with the last changes); None: only when
        stderr is a terminal. First-order approaches show none.

    Other Parameters
    ----------------
    kpnt : int, optional
        2vN: points of the energy grid on [−D, D] (``converge=False``), or the first grid of the refinement;
        ≥ 3. Default :func:`initial_kpnt` (spacing ≤ min(T, 2γ), energy units).
    niter : int, optional
        2vN: the number of iterations (``converge=False``; default ``FIXED_NITER``) or the most per grid
        (default ``MAX_NITER``); ≥ 1.
    converge : bool, optional
        2vN: refine the grid until ρ and the currents stop changing (default True) or solve once.
    rho_tol : float, optional
        2vN: absolute tolerance on max_ij |Δρ_ij| between iterations (half of it) and between grids
        (dimensionless; default ``DEFAULT_RHO_TOL``).
    current_rtol : float, optional
        2vN: tolerance on every particle and energy current, relative to the largest of its kind
        (default ``DEFAULT_CURRENT_RTOL``).
    current_floor : float, optional
        2vN: currents below ``current_floor`` × Σγ (particles per unit time; energy currents: × that times
        :func:`energy_scale`, energy² units) are judged absolutely, i.e. a change counts relative to the
        floor; ≥ 0, default ``DEFAULT_CURRENT_FLOOR``. Lower it to resolve currents far below the machine's rate
        scale (e.g. cotunnelling leakage); 0 makes the test purely relative, which cannot settle at
        equilibrium.
    max_kpnt : int, optional
        2vN refinement: the largest grid (default ``MAX_KPNT``); the memory budget may stop it earlier.
        Only with ``converge=True``.
    check_bandwidth : bool, optional
        2vN refinement: after the grid converged, solve again on [−2D, 2D] and report the change
        (default True). Only with ``converge=True``.
    """

    approach: str = "2vN"
    lamb_shift: bool = True
    kpnt: int | None = None
    niter: int | None = None
    converge: bool | None = None
    rho_tol: float | None = None
    current_rtol: float | None = None
    current_floor: float | None = None
    max_kpnt: int | None = None
    check_bandwidth: bool | None = None

    def check(self) -> None:
        """Validate and normalise the settings (ValueError naming the setting)."""
        def store(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        store("approach", canonical_approach(self.approach))
        store("lamb_shift", flag("lamb_shift", self.lamb_shift))
        given = [name for name in TWO_VN_SETTINGS if getattr(self, name) is not None]
        if self.approach != "2vN":
            if given:
                raise ValueError(f"options {given} apply to the 2vN approach only, not to {self.approach!r}")
            return
        if not self.lamb_shift:
            raise ValueError("2vN always keeps the principal parts; lamb_shift=False is for first-order approaches")
        checks = {"kpnt": lambda v: integer("kpnt", v, 3), "niter": lambda v: integer("niter", v, 1),
                  "max_kpnt": lambda v: integer("max_kpnt", v, 3), "converge": lambda v: flag("converge", v),
                  "check_bandwidth": lambda v: flag("check_bandwidth", v),
                  "rho_tol": lambda v: positive("rho_tol", v), "current_rtol": lambda v: positive("current_rtol", v),
                  "current_floor": lambda v: nonnegative("current_floor", v)}
        for name in given:
            store(name, checks[name](getattr(self, name)))
        if self.converge is False and (self.max_kpnt is not None or self.check_bandwidth is not None):
            raise ValueError("max_kpnt and check_bandwidth belong to the grid refinement; converge=False solves once")
        if self.kpnt is not None and self.max_kpnt is not None and self.max_kpnt < self.kpnt:
            raise ValueError(f"max_kpnt must be >= kpnt = {self.kpnt}, got {self.max_kpnt}")

    def resolved(self, machine: Machine) -> QmeqOptions:
        """These options with every 2vN default filled in for ``machine`` (first-order: unchanged)."""
        if self.approach != "2vN":
            return self
        converge = True if self.converge is None else self.converge
        kpnt = initial_kpnt(machine, band_half_width(machine)) if self.kpnt is None else self.kpnt
        settings: dict[str, Any] = {
            "converge": converge, "kpnt": kpnt,
            "niter": (MAX_NITER if converge else FIXED_NITER) if self.niter is None else self.niter,
            "rho_tol": DEFAULT_RHO_TOL if self.rho_tol is None else self.rho_tol,
            "current_rtol": DEFAULT_CURRENT_RTOL if self.current_rtol is None else self.current_rtol,
            "current_floor": DEFAULT_CURRENT_FLOOR if self.current_floor is None else self.current_floor,
        }
        if converge:
            settings["max_kpnt"] = MAX_KPNT if self.max_kpnt is None else self.max_kpnt
            settings["check_bandwidth"] = True if self.check_bandwidth is None else self.check_bandwidth
            if settings["max_kpnt"] < kpnt:
                raise ValueError(f"max_kpnt must be >= the first grid kpnt = {kpnt}, got {settings['max_kpnt']}")
        return dataclasses.replace(self, **settings)


def parse_options(options: QmeqOptions | Mapping[str, Any] | None, settings: Mapping[str, Any]) -> QmeqOptions:
    """:meth:`QmeqOptions.build` that also takes a plain mapping of settings (e.g. an old ``Result.options``)."""
    if options is not None and not isinstance(options, QmeqOptions) and isinstance(options, Mapping):
        return QmeqOptions.build(**{**options, **settings})
    return QmeqOptions.build(options, **settings)


def default_bandwidth(machine: Machine) -> float:
    """``BANDWIDTH_FACTOR`` × :func:`energy_scale`: the default band half-width D (energy units).

    Why this value: every transition energy and Fermi window then lies in the inner third of the band,
    so the band edges cut no resonance and no Fermi tail; the first-order approaches do not depend on D at
    all (see the module docstring); the cost of 2vN grows in proportion to D, because its uniform energy
    grid must resolve T and Γ; and 2vN's D-independent (wide-band) limit lies far beyond any affordable D
    (see :func:`solve_steady`).
    For the paper's Fig. 3 point (largest addition energy ε + 2U + 2g = 31.1) this is D = 93.3.
    """
    return BANDWIDTH_FACTOR * energy_scale(machine)


def deprecated_bandwidth(machine: Machine, bandwidth: object, where: str) -> Machine:
    """The ``bandwidth=`` alias: a DeprecationWarning, and ``machine`` with every lead on ``Band.flat(bandwidth)``."""
    warnings.warn(f"{where}(bandwidth=D) is deprecated: the band is the machine's, e.g. "
                  "Machine.triple_dot(band=Band.flat(D)); bandwidth=D puts every lead on Band.flat(D)",
                  DeprecationWarning, stacklevel=3)
    scale = energy_scale(machine)
    if not (isinstance(bandwidth, (int, float)) and not isinstance(bandwidth, bool) and math.isfinite(bandwidth)
            and bandwidth > scale):
        raise ValueError(f"bandwidth must be a finite number above every transition energy and Fermi window "
                         f"(energy_scale = {scale:g}), got {bandwidth!r}")
    return machine.with_band(Band.flat(float(bandwidth)))


def band_half_width(machine: Machine) -> float:
    """The half-width D QmeQ's 2vN uses: the machine's flat band, or :func:`default_bandwidth` for a wide band.

    Assumes :func:`check_machine` passed (one band kind; for 2vN one D).
    """
    widths = [r.band.width for r in machine.reservoirs if r.band.kind == "flat"]
    return max(widths) if widths else default_bandwidth(machine)


def check_bands(machine: Machine, kerntype: str) -> None:
    """ValueError unless QmeQ represents the leads' bands: flat or wide, one kind, D beyond every transition."""
    bands = [r.band for r in machine.reservoirs]
    for reservoir in machine.reservoirs:
        if reservoir.band.kind == "lorentzian":
            raise ValueError(f"the {NAME} backend cannot represent the {reservoir.band} of reservoir "
                             f"{reservoir.name!r}: QmeQ's leads are flat bands [-D, D] (or their wide-band limit); "
                             "use Band.flat(D) or Band.wide(), or the heom backend for Lorentzian leads")
    kinds = sorted({band.kind for band in bands})
    if len(kinds) > 1:
        raise ValueError(f"the {NAME} backend needs one band kind for all leads, got {kinds} "
                         f"({', '.join(f'{r.name}: {r.band}' for r in machine.reservoirs)})")
    widths = sorted({band.width for band in bands if band.kind == "flat"})
    if kerntype == "2vN" and len(widths) > 1:
        raise ValueError(f"the {NAME} backend's 2vN solves all leads on one energy grid, so their flat bands must "
                         f"share one half-width D; got {', '.join(f'{r.name}: {r.band}' for r in machine.reservoirs)}")
    scale = energy_scale(machine)
    for reservoir in machine.reservoirs:
        if reservoir.band.kind == "flat" and not reservoir.band.width > scale:
            raise ValueError(f"the flat band of reservoir {reservoir.name!r} (D = {reservoir.band.width:g}) must "
                             f"contain every transition energy and Fermi window: D > energy_scale = {scale:g}")


def band_notes(machine: Machine, kerntype: str) -> tuple[list[str], str | None]:
    """(notes on how the band is treated, the ``stats["bandwidth"]`` statement or None)."""
    kind = machine.reservoirs[0].band.kind
    if kerntype != "2vN":
        if kind == "wide":
            return [], None
        widths = ", ".join(sorted({f"{r.band.width:g}" for r in machine.reservoirs}))
        return [f"flat band D = {widths}: the first-order approaches use QmeQ's wide-band forms (itype "
                f"{ITYPE_PRINCIPAL_PARTS}/{ITYPE_NO_PRINCIPAL_PARTS}), so D enters neither rates nor principal parts "
                "(every transition lies inside the band)"], None
    width = band_half_width(machine)
    if kind == "wide":
        statement = f"wide band represented by the flat band [-D, D], D = {width:g}; {WIDE_BAND_2VN}"
    else:
        statement = f"flat band [-D, D], D = {width:g} (the machine's)"
    return [f"2vN band: {statement}"], statement


def initial_kpnt(machine: Machine, bandwidth: float) -> int:
    """The first 2vN grid on [−D, D]: spacing at most min(T, 2γ) over the reservoirs (γ > 0).

    Measured at the Fig. 3 point (D = 100): a spacing of about γ gives C(0, 1) to ~1e-5 and the currents
    to ~0.3 %, twice that spacing to ~1e-3 and ~13 %; the refinement starts from the coarser one.
    """
    spacing = min([r.temperature for r in machine.reservoirs] + [2 * r.rate for r in machine.reservoirs if r.rate > 0])
    return math.ceil(2 * bandwidth / spacing) + 1


def fixed_grid_options(machine: Machine, *, bandwidth: float | None = None, halvings: int = 0,
                       niter: int = FIXED_NITER) -> dict[str, Any]:
    """:func:`solve_steady` settings for one 2vN solve on a fixed grid (no refinement).

    The grid spans [−D, D] (D of the machine's band, :func:`band_half_width`) with the spacing of
    :func:`initial_kpnt` halved ``halvings`` times; nested, so each halving contains the previous grid.
    Scans that optimise over a parameter (e.g. a resonance search) need this: a grid refined separately at
    every point would put steps into the scanned function. Compare two ``halvings`` for the grid error.
    ``bandwidth`` is deprecated (DeprecationWarning): the grid is then made for ``Band.flat(bandwidth)``
    and the settings include ``bandwidth``, so that ``solve_steady`` puts the leads on that band too.
    """
    settings: dict[str, Any] = {}
    if bandwidth is not None:
        machine = deprecated_bandwidth(machine, bandwidth, "fixed_grid_options")
        settings["bandwidth"] = float(bandwidth)
    kpnt = initial_kpnt(machine, band_half_width(machine))
    for _ in range(integer("halvings", halvings, 0)):
        kpnt = refined(kpnt)
    return {**settings, "converge": False, "kpnt": kpnt, "niter": integer("niter", niter, 1)}


def refined(kpnt: int) -> int:
    """Twice as fine a grid that contains every point of the old one."""
    return 2 * (kpnt - 1) + 1
