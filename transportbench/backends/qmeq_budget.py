"""Memory and time of a QmeQ solve from closed formulas, checked before QmeQ allocates anything.

QmeQ's ``Builder`` itself allocates arrays of the full many-body space (2^N states for N dots), so the
estimate never builds one: every size below is a closed formula in N, the number of leads L and the 2vN
energy grid, read off QmeQ 1.1's source (``indexing.py``, ``leadstun.py``, ``approach/aprclass.py``,
``approach/c_aprclass.pyx``, ``approach/base/neumann2.py``). Charge sectors c = 0 … N hold
n_c = C(N, c) states (``indexing="charge"``).

Sizes
-----
``n_many`` = 2^N
    Many-body states.
``npauli`` = Σ_c n_c = 2^N
    Populations: the Pauli kernel is ``npauli × npauli``.
``ndm0`` = Σ_c n_c² = C(2N, N)
    Elements of ρ within the charge sectors. Lindblad, Redfield and 1vN store them as real numbers
    (``si.ndm0r``), so their kernel is ``ndm0 × ndm0``; 2vN stores them complex (``StateIndexingDMc``).
``ndm1`` = Σ_c n_c n_{c+1} = C(2N, N + 1)
    First-order (lead-resolved) elements between neighbouring sectors (2vN: Φ[1]).

Memory (bytes; the estimate of :func:`estimate`, ``qmeq.estimate_memory`` of the backend contract)
---------------------------------------------------------------------------------------------------
Builder
    The index maps ``mapdm0``/``booldm0``/``conjdm0`` (10 bytes per sector element, Σ_c n_c² of them,
    allocated for every approach, Pauli included), the dictionary ``inddm0`` (≈ ``DICT_ENTRY_BYTES`` per
    element), the sector Hamiltonians and eigenvectors (3 × 16 bytes per element), and the tunnelling
    matrices: ``Tba`` (L × n_many² complex) before and after its rotation to the eigenbasis, the rotation
    and one product temporary, (2L + 2) × n_many² × 16; QmeQ's Lindblad approach keeps one more L × n_many².
First-order kernel
    ``kern`` (n × n float64, n = npauli or ndm0) and the copy LAPACK factorises (``make_kern_copy``), plus
    the singular-value check of uniqueness (a copy and its workspace, 2 × n² × 8) where it runs.
2vN, per point of the energy grid (kpnt points)
    ``phi1k`` and ``phi1k_delta`` (L × ndm1 × ndm0 complex each), ``kern1k_inv`` (L × ndm1² complex), and
    per point of QmeQ's extended grid (the band plus ``ext_fct`` × the largest two-electron energy on each
    side, bounded here by 2 × :func:`~transportbench.model.energy_scale`) the padded ``phi1k_delta``
    and its Hilbert transform (2 × L × ndm1 × ndm0 complex). A 2vN solve keeps one grid at a time.

Time (2vN)
----------
Per grid point and lead, QmeQ's 2vN iteration applies an ndm1 × ndm1 kernel to ndm0 columns and Hilbert
transforms every element of Φ[1]: ``SECONDS_PER_PRODUCT`` × L × ndm1² × ndm0 + ``SECONDS_PER_ELEMENT`` × L ×
ndm1 × ndm0 seconds per grid point and iteration, fitted to this project's 2-core machine (compiled
kernels): 8.1e-4 s for the triple dot (L = 2, ndm1 = 15, ndm0 = 20) and 1.3 s for the n = 3 W machine (L = 3,
ndm1 = 210, ndm0 = 252). A rough figure, stated with every 2vN result and refusal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from transportbench.model import Machine
from transportbench.resources import check_memory, format_bytes, memory_budget_bytes

COMPLEX_BYTES = 16
FLOAT_BYTES = 8
FIXED_BYTES = 32 * 2**20
"""Work buffers of the libraries (e.g. OpenBLAS) beyond the arrays: measured 7 MB (Pauli, W(4)) to 15 MB."""
INDEX_MAP_BYTES = 10
"""``mapdm0`` (int64), ``booldm0`` and ``conjdm0`` (bool) per sector element."""
DICT_ENTRY_BYTES = 200
"""Python dictionary entry with a tuple of two ints (QmeQ's ``inddm0``), generously rounded up."""
EXTENSION_FACTOR = 1.1
"""QmeQ's ``funcp.ext_fct``: how far beyond the band its 2vN grid is extended, per unit of transition energy."""
SECONDS_PER_PRODUCT = 3.5e-8
"""2vN seconds per grid point, iteration and unit of L × ndm1² × ndm0 (see the module docstring)."""
SECONDS_PER_ELEMENT = 8e-7
"""2vN seconds per grid point, iteration and element of Φ[1] (L × ndm1 × ndm0)."""
UNIQUENESS_LIMIT = 2000
"""Largest first-order kernel (n × n) whose null space is measured by a singular-value decomposition
(about 1 s at n = 2000 on two cores); larger kernels are not checked (``Health.unique`` is None)."""


def _as_float(count: int) -> float:
    """An exact integer count as a float; inf beyond the float range (never an OverflowError)."""
    return float(count) if count.bit_length() < 1020 else math.inf


@dataclass(frozen=True)
class Sizes:
    """QmeQ's state counts for a machine (see the module docstring); Python ints, exact at any size."""

    n_dots: int
    n_leads: int

    @property
    def n_many(self) -> int:
        """Many-body states, 2^N (= ``npauli``)."""
        return 2**self.n_dots

    @property
    def ndm0(self) -> int:
        """Σ_c C(N, c)² = C(2N, N): elements of ρ within the charge sectors."""
        return math.comb(2 * self.n_dots, self.n_dots)

    @property
    def ndm1(self) -> int:
        """Σ_c C(N, c) C(N, c + 1) = C(2N, N + 1): elements between neighbouring charge sectors."""
        return math.comb(2 * self.n_dots, self.n_dots + 1)

    def kernel_size(self, kerntype: str) -> int:
        """Rows (= columns) of QmeQ's kernel for ``kerntype``: npauli for Pauli, ndm0 otherwise."""
        return self.n_many if kerntype == "Pauli" else self.ndm0

    def builder_bytes(self, kerntype: str) -> float:
        """The Builder's index maps, Hamiltonians and tunnelling matrices (bytes)."""
        sector = INDEX_MAP_BYTES + DICT_ENTRY_BYTES + 3 * COMPLEX_BYTES
        tunnelling = (3 if kerntype == "Lindblad" else 2) * self.n_leads + 2
        return _as_float(self.ndm0) * sector + tunnelling * _as_float(self.n_many) ** 2 * COMPLEX_BYTES

    def two_vn_point_bytes(self) -> float:
        """2vN arrays per point of the energy grid: ``phi1k``, ``phi1k_delta`` and ``kern1k_inv`` (bytes)."""
        ndm0, ndm1 = _as_float(self.ndm0), _as_float(self.ndm1)
        return self.n_leads * (2 * ndm1 * ndm0 + ndm1**2) * COMPLEX_BYTES

    def two_vn_extended_point_bytes(self) -> float:
        """2vN arrays per point of the extended grid: padded ``phi1k_delta`` and its Hilbert transform."""
        return 2 * self.n_leads * _as_float(self.ndm1) * _as_float(self.ndm0) * COMPLEX_BYTES

    def two_vn_point_seconds(self) -> float:
        """Estimated seconds per 2vN grid point and iteration."""
        elements = self.n_leads * _as_float(self.ndm1) * _as_float(self.ndm0)
        return elements * (SECONDS_PER_PRODUCT * _as_float(self.ndm1) + SECONDS_PER_ELEMENT)


def sizes(machine: Machine) -> Sizes:
    """QmeQ's sizes for ``machine``: one dot per qubit, one lead per reservoir."""
    return Sizes(machine.n_qubits, len(machine.reservoirs))


@dataclass(frozen=True)
class Estimate:
    """Estimated peak memory (bytes) of one QmeQ solve and, for 2vN, seconds per iteration."""

    bytes: float
    what: str
    seconds_per_iteration: float = math.nan

    def fits(self) -> bool:
        """Whether the estimate is within the memory budget (:func:`transportbench.resources.memory_budget_bytes`)."""
        return self.bytes <= memory_budget_bytes()

    def check(self) -> None:
        """:class:`~transportbench.resources.ResourceBudgetError` (a ValueError) unless the estimate fits."""
        check_memory(self.bytes, self.what)


def format_seconds(seconds: float) -> str:
    """``seconds`` as a short duration (``'40 ms'``, ``'3.2 min'``, ``'6.5 h'``, ``'2.1e+03 days'``)."""
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds * 1e3:.3g} ms"


def estimate(machine: Machine, kerntype: str, *, kpnt: int | None = None, bandwidth: float = math.nan,
             energy_scale: float = math.nan) -> Estimate:
    """Peak memory of building and solving ``machine`` with QmeQ's ``kerntype`` (closed formulas only).

    Parameters
    ----------
    machine : Machine
        The machine (only its number of qubits and reservoirs enter).
    kerntype : {"Pauli", "Lindblad", "Redfield", "1vN", "2vN"}
        QmeQ's approach.
    kpnt : int, optional
        2vN energy grid points (required for 2vN).
    bandwidth, energy_scale : float
        2vN: band half-width D and the bound on one-electron transition energies (energy units), for the
        extension of QmeQ's grid beyond the band.

    Returns
    -------
    Estimate
        Bytes, a description naming the sizes, and for 2vN the estimated seconds per iteration.
    """
    size = sizes(machine)
    builder = size.builder_bytes(kerntype)
    states = f"{size.n_many}" if size.n_many < 10**9 else f"{_as_float(size.n_many):.3g}"
    header = (f"QmeQ {kerntype} on {size.n_dots} dots and {size.n_leads} leads ({states} many-body states, "
              f"Builder {format_bytes(builder)}")
    if kerntype != "2vN":
        n = size.kernel_size(kerntype)
        copies = 4 if n <= UNIQUENESS_LIMIT else 2  # the uniqueness check: a copy and its SVD workspace
        kernel = copies * _as_float(n) ** 2 * FLOAT_BYTES
        side = f"{n}" if n < 10**9 else f"{_as_float(n):.3g}"
        extra = " and uniqueness check" if copies == 4 else ""
        return Estimate(FIXED_BYTES + builder + kernel, f"{header}, kernel {side} x {side} float64 x {copies} "
                        f"(LAPACK copy{extra}) {format_bytes(kernel)})")
    if kpnt is None:
        raise ValueError("the 2vN estimate needs the energy grid kpnt")
    extension = math.ceil(2 * EXTENSION_FACTOR * energy_scale * (kpnt - 1) / (2 * bandwidth))
    grid = kpnt * size.two_vn_point_bytes() + (kpnt + 2 * extension) * size.two_vn_extended_point_bytes()
    seconds = kpnt * size.two_vn_point_seconds()
    return Estimate(FIXED_BYTES + builder + grid, f"{header}, 2vN arrays {format_bytes(size.two_vn_point_bytes())} "
                    f"per grid point (ndm1 = {size.ndm1}, ndm0 = {size.ndm0}) on kpnt = {kpnt} points: "
                    f"{format_bytes(grid)}; about {format_seconds(seconds)} per iteration)", seconds)
