"""The memory budget and the BLAS thread choice: their sources, in order of precedence, and bad values."""

import pytest

from transportbench import resources
from transportbench.resources import (
    GIB,
    ResourceBudgetError,
    check_memory,
    chosen_blas_threads,
    format_bytes,
    memory_budget,
    memory_budget_bytes,
    set_blas_threads,
)


def test_budget_sources_in_order(monkeypatch):
    monkeypatch.delenv(resources.MEMORY_ENVIRONMENT, raising=False)
    assert memory_budget_bytes() == resources.DEFAULT_MEMORY_FRACTION * resources.physical_memory_bytes()
    monkeypatch.setenv(resources.MEMORY_ENVIRONMENT, "3")
    assert memory_budget_bytes() == 3 * GIB
    with memory_budget(0.5):
        assert memory_budget_bytes() == 0.5 * GIB
    assert memory_budget_bytes() == 3 * GIB
    monkeypatch.setenv(resources.MEMORY_ENVIRONMENT, "lots")
    with pytest.raises(ValueError, match="TRANSPORTBENCH_MEMORY_GIB"):
        memory_budget_bytes()
    for bad in (0, -1, float("inf"), True):
        with pytest.raises(ValueError, match="memory budget"), memory_budget(bad):
            pass


def test_refusal_names_the_estimate_and_the_budget():
    with memory_budget(1.0):
        check_memory(0.5 * GIB, "half a GiB")
        with pytest.raises(ResourceBudgetError, match=r"a kernel needs an estimated 2 GiB, above the memory budget "
                                                      r"of 1 GiB; raise the budget with TRANSPORTBENCH_MEMORY_GIB"):
            check_memory(2 * GIB, "a kernel")
        with pytest.raises(ResourceBudgetError):
            check_memory(float("nan"), "an unknown amount")
    assert format_bytes(1.86e108 * 2**50).endswith("PiB") and format_bytes(512) == "512 B"


def test_blas_thread_sources_in_order(monkeypatch):
    monkeypatch.delenv(resources.THREADS_ENVIRONMENT, raising=False)
    assert chosen_blas_threads("sparse") == 1
    assert chosen_blas_threads("dense") == resources._cpu_count()
    set_blas_threads(2)
    try:
        assert chosen_blas_threads("dense") == 2 and chosen_blas_threads("sparse") == 2
        monkeypatch.setenv(resources.THREADS_ENVIRONMENT, "3")
        assert chosen_blas_threads("sparse") == 3
        assert chosen_blas_threads("sparse", threads=4) == 4
    finally:
        set_blas_threads(None)
    with pytest.raises(ValueError, match="threads"):
        chosen_blas_threads("sparse", threads=0)
