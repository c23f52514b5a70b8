"""Where the points of a sweep run (``transportbench.executors``): local worker processes and a Dask cluster."""

import os
import signal

import numpy as np
import pytest

from transportbench.model import Machine
from transportbench.sweep import sweep


def _worker_settings() -> tuple[list[int], int, object]:
    """BLAS thread counts, the process-wide solve setting and the SIGINT handler of this process."""
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS too)
    from threadpoolctl import threadpool_info

    from transportbench.resources import chosen_blas_threads

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return blas, chosen_blas_threads("dense"), signal.getsignal(signal.SIGINT)


def test_local_workers_share_the_cpus_blas_threads_and_leave_interrupts_to_the_parent(monkeypatch):
    from concurrent.futures import ProcessPoolExecutor

    from transportbench.executors import _init_worker, blas_threads_per_worker

    assert blas_threads_per_worker(2, cpus=2) == 1
    assert blas_threads_per_worker(3, cpus=2) == 1
    assert blas_threads_per_worker(2, cpus=8) == 4
    with pytest.raises(ValueError, match="workers"):
        blas_threads_per_worker(0)
    monkeypatch.delenv("TRANSPORTBENCH_BLAS_THREADS", raising=False)
    with ProcessPoolExecutor(1, initializer=_init_worker, initargs=(1, os.getpid())) as pool:
        blas, per_solve, sigint = pool.submit(_worker_settings).result()
    assert blas and blas == [1] * len(blas)
    assert per_solve == 1  # backends' per-solve blas_threads("dense") respect the sweep's share
    assert sigint == signal.SIG_IGN


def test_sweep_on_a_dask_cluster_matches_local_processes(tmp_path):
    import distributed  # the 'dask' extra, installed by make setup

    over = {"mu": [4.0, 15.0], "U": [15.0]}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = sweep(Machine.triple_dot(), over, ["local"], path=tmp_path / "dask.nc",
                       scheduler=cluster.scheduler_address, progress=False)
    local = sweep(Machine.triple_dot(), over, ["local"], workers=1, progress=False)
    assert np.array_equal(remote.concurrence.values, local.concurrence.values)
