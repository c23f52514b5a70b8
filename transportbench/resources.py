"""Resource limits of a solve: the memory budget checked before allocating, and BLAS threads in-process.

Memory budget
-------------
Every backend estimates the memory a machine needs *before* it allocates anything large and calls
:func:`check_memory`, which raises :class:`ResourceBudgetError` (a ``ValueError``) with the estimate and the
budget when the estimate exceeds the budget. The budget is, in order of precedence:

1. the innermost ``with memory_budget(gib):`` block,
2. the environment variable ``TRANSPORTBENCH_MEMORY_GIB`` (a positive number, GiB = 2^30 bytes),
3. half of the machine's physical memory (``DEFAULT_MEMORY_FRACTION``).

BLAS threads
------------
SciPy's sparse LU calls BLAS on small dense blocks, where threads cost more than they bring (measured:
five times slower with two OpenBLAS threads on two cores); dense LAPACK factorisations of large
matrices gain from threads. :func:`blas_threads` is a context manager that sets the thread count of the
BLAS/OpenMP pools for a solve. The count is, in order: the ``threads`` argument, the environment variable
``TRANSPORTBENCH_BLAS_THREADS``, the process-wide setting of :func:`set_blas_threads` (sweep workers set
CPUs ÷ workers), and otherwise the backend's preference (``"sparse"``: one thread; ``"dense"``: every CPU).
The memory budget of a ``with memory_budget(...)`` block does not reach sweep worker processes; the
environment variable does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Literal

from threadpoolctl import threadpool_limits

GIB = 2**30
DEFAULT_MEMORY_FRACTION = 0.5
"""Share of the physical memory a single solve may plan to use when no budget is set."""
MEMORY_ENVIRONMENT = "TRANSPORTBENCH_MEMORY_GIB"
THREADS_ENVIRONMENT = "TRANSPORTBENCH_BLAS_THREADS"
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that size the BLAS/OpenMP thread pools of a new process (set before it starts)."""

_budget_override: ContextVar[float | None] = ContextVar("memory_budget_gib", default=None)
_process_threads: int | None = None


class ResourceBudgetError(ValueError):
    """A solve was refused before allocating because its estimated memory exceeds the budget."""


def physical_memory_bytes() -> int:
    """Total physical memory of this machine in bytes (8 GiB if the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return 8 * GIB


def _positive_gib(value: object, source: str) -> float:
    try:
        gib = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be a positive number of GiB, got {value!r}") from None
    if isinstance(value, bool) or not gib > 0 or gib == float("inf"):
        raise ValueError(f"{source} must be a positive, finite number of GiB, got {value!r}")
    return gib


def memory_budget_bytes() -> float:
    """The memory budget of one solve in bytes (see the module docstring for its sources)."""
    override = _budget_override.get()
    if override is not None:
        return override * GIB
    text = os.environ.get(MEMORY_ENVIRONMENT)
    if text:
        return _positive_gib(text, MEMORY_ENVIRONMENT) * GIB
    return DEFAULT_MEMORY_FRACTION * physical_memory_bytes()


@contextlib.contextmanager
def memory_budget(gib: float) -> Iterator[None]:
    """Within the block, refuse solves whose estimated memory exceeds ``gib`` GiB (2^30 bytes)."""
    token = _budget_override.set(_positive_gib(gib, "memory budget"))
    try:
        yield
    finally:
        _budget_override.reset(token)


def format_bytes(size: float) -> str:
    """``size`` in bytes as a short human-readable string (binary units, e.g. ``'17.6 GiB'``)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.3g} {unit}" if unit != "B" else f"{value:.0f} B"
        value /= 1024
    raise AssertionError("unreachable")


def check_memory(estimate_bytes: float, what: str) -> None:
    """Raise :class:`ResourceBudgetError` if ``estimate_bytes`` exceeds the memory budget.

    Parameters
    ----------
    estimate_bytes : float
        The estimated peak memory of the work, in bytes (may be astronomically large; never allocated).
    what : str
        What would be allocated, e.g. ``"QmeQ 1vN kernel (48620 x 48620 float64)"``.
    """
    budget = memory_budget_bytes()
    if not estimate_bytes <= budget:  # NaN or inf estimates are refused too
        raise ResourceBudgetError(
            f"{what} needs an estimated {format_bytes(estimate_bytes)}, above the memory budget of "
            f"{format_bytes(budget)}; raise the budget with {MEMORY_ENVIRONMENT}=<GiB> or "
            "`with transportbench.resources.memory_budget(<GiB>):` if the machine has the memory")


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _positive_threads(value: object, source: str) -> int:
    try:
        count = int(str(value)) if isinstance(value, str) else value
    except ValueError:
        count = None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"{source} must be a positive integer, got {value!r}")
    return count


def set_blas_threads(threads: int | None) -> None:
    """Make every later solve in this process use ``threads`` BLAS threads (None: back to the backends' choice).

    ``TRANSPORTBENCH_BLAS_THREADS`` and a solve's own ``threads`` argument still take precedence.
    """
    global _process_threads
    _process_threads = None if threads is None else _positive_threads(threads, "threads")


def chosen_blas_threads(kind: Literal["sparse", "dense"], threads: int | None = None) -> int:
    """The BLAS thread count a solve of ``kind`` uses (see the module docstring for the order of sources)."""
    if threads is not None:
        return _positive_threads(threads, "threads")
    text = os.environ.get(THREADS_ENVIRONMENT)
    if text:
        return _positive_threads(text, THREADS_ENVIRONMENT)
    if _process_threads is not None:
        return _process_threads
    if kind not in ("sparse", "dense"):
        raise ValueError(f"kind must be 'sparse' or 'dense', got {kind!r}")
    return 1 if kind == "sparse" else _cpu_count()


@contextlib.contextmanager
def blas_threads(kind: Literal["sparse", "dense"], threads: int | None = None) -> Iterator[int]:
    """Run the block with the BLAS/OpenMP pools limited to :func:`chosen_blas_threads`; yields the count.

    threadpoolctl limits only libraries already loaded, so SciPy's BLAS is loaded first.
    """
    import scipy.linalg  # noqa: F401

    count = chosen_blas_threads(kind, threads)
    with threadpool_limits(limits=count):
        yield count
