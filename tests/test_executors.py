"""Where the points of a sweep run (``transportbench.executors``): local worker processes and a Dask cluster."""

import contextlib
import os
import signal
import socket
import threading
import time

import numpy as np
import pytest

from transportbench.executors import SCHEDULER_TIMEOUT
from transportbench.model import Machine
from transportbench.sweeps import WorkerDied, plan_sweep, sweep


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


# ------------------------------------------------------------- schedulers that are not, or stop being, there
@contextlib.contextmanager
def _listener(answer: bytes | None):
    """A TCP server on 127.0.0.1 that accepts and then stays silent (``answer`` None) or replies and closes."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        connections = []
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connections.append(connection)
            if answer is not None:
                connection.sendall(answer)
                connection.close()
        for connection in connections:
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        server.close()


@pytest.mark.parametrize("answer", [None, b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi"], ids=["silent", "http"])
def test_a_listener_that_is_not_a_scheduler_is_refused_in_seconds(answer):
    with _listener(answer) as address:
        start = time.monotonic()
        with pytest.raises(ValueError, match="accepts connections but no Dask scheduler answered"):
            plan_sweep(Machine.triple_dot(), {"mu": [4.0]}, scheduler=address)
    assert time.monotonic() - start < 4 * SCHEDULER_TIMEOUT  # it hung for minutes before


def test_a_scheduler_without_workers_is_refused(monkeypatch):
    import distributed

    import transportbench.executors as executors

    monkeypatch.setattr(executors, "WORKER_TIMEOUT", 1.0)
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", dashboard_address=None) as cluster:
        with pytest.raises(ValueError, match="has no worker after 1 s; start some with `dask worker"):
            plan_sweep(Machine.triple_dot(), {"mu": [4.0]}, scheduler=cluster.scheduler_address)


def test_a_scheduler_lost_during_the_sweep_stops_it_with_the_points_journalled(tmp_path, monkeypatch):
    import distributed
    from distributed.comm.core import CommClosedError

    real_result, calls = distributed.Future.result, []

    def lost_after_one(self, *args, **kwargs):
        calls.append(self)
        if len(calls) > 1:
            raise CommClosedError("in <TCP (closed)>: Stream is closed")
        return real_result(self, *args, **kwargs)

    monkeypatch.setattr(distributed.Future, "result", lost_after_one)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with pytest.raises(WorkerDied, match=r"lost the Dask scheduler .*CommClosedError.*1 of 3 points are "
                                             r"journalled .*rerun when the scheduler is back"):
            sweep(Machine.triple_dot(), {"mu": [4.0, 8.0, 12.0]}, ["local"], path=tmp_path / "lost.nc",
                  scheduler=cluster.scheduler_address, progress=False)
    assert len((tmp_path / "lost.nc.points.jsonl").read_text().splitlines()) == 2  # header and the finished point
