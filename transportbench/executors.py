"""Where the points of a sweep run: in this process, on local worker processes, or on a Dask cluster.

:func:`execute` computes ``task(*arguments(key))`` for every key and hands each result to ``record`` as soon
as it finishes. Local workers share the CPUs' BLAS threads (:func:`blas_threads_per_worker`, also set
process-wide with :func:`~transportbench.resources.set_blas_threads`): SciPy's sparse LU calls BLAS for its
dense blocks, and two workers with two BLAS threads each on two cores made factorisations up to 20× slower in
our benchmark. On Ctrl-C (``KeyboardInterrupt``) the local workers are terminated at once (they ignore SIGINT
themselves and die with the parent process), the finished results are recorded, and
:class:`ExecutionInterrupted` says how many running points were stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import Any, TypeVar

from threadpoolctl import threadpool_limits

from transportbench.resources import set_blas_threads
from transportbench.validation import integer

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")

SCHEDULER_TIMEOUT = 5.0
"""Seconds to wait for a Dask scheduler to accept a connection and answer as one before the sweep is refused."""
WORKER_TIMEOUT = 30.0
"""Seconds to wait for a Dask scheduler to have a worker before the sweep is refused."""

STOP_TIMEOUT = 5.0
"""Seconds a terminated worker process gets to exit before it is killed."""


class SchedulerLost(RuntimeError):
    """The Dask scheduler stopped answering during a sweep; every result that had finished was recorded."""


def check_scheduler(address: str) -> None:
    """ImportError without the ``dask`` extra; ValueError if a tcp/tls scheduler does not answer in time."""
    if importlib.util.find_spec("distributed") is None:
        raise ImportError("a Dask scheduler needs the 'dask' extra: pip install 'transportbench[dask]'")
    parts = urllib.parse.urlsplit(address)
    if parts.scheme not in ("tcp", "tls"):
        return  # inproc:// and other transports cannot be probed with a socket
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if host is None or port is None:
        raise ValueError(f"scheduler address {address!r} needs a host and a port, e.g. tcp://10.0.0.5:8786")
    try:
        socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT).close()
    except OSError as error:
        raise ValueError(f"no Dask scheduler answers at {address} within {SCHEDULER_TIMEOUT:g} s ({error}); "
                         "start one with `dask scheduler` or check the address") from None
    _check_speaks_dask(address)


def _check_speaks_dask(address: str) -> None:
    """ValueError unless a Dask scheduler answers at ``address`` and has a worker (within the timeouts)."""
    deadline = time.monotonic() + WORKER_TIMEOUT
    while True:
        try:
            identity = _identity(address)
        except (OSError, TimeoutError, EOFError, ValueError, MemoryError) as error:  # silent, HTTP (a bogus
            # frame length: Dask reads a reply's first 8 bytes as its size), …
            raise ValueError(f"{address} accepts connections but no Dask scheduler answered within "
                             f"{SCHEDULER_TIMEOUT:g} s ({type(error).__name__}); check the address and port") from None
        if not isinstance(identity, dict) or identity.get("type") != "Scheduler":
            raise ValueError(f"{address} answers, but not as a Dask scheduler; check the address and port")
        if identity.get("n_workers", len(identity.get("workers", ()))):
            return
        if time.monotonic() > deadline:
            raise ValueError(f"the Dask scheduler at {address} has no worker after {WORKER_TIMEOUT:g} s; start some "
                             f"with `dask worker {address}`")
        time.sleep(min(1.0, WORKER_TIMEOUT / 10))


def _identity(address: str) -> Any:
    """The scheduler's answer to Dask's ``identity`` request, each step within ``SCHEDULER_TIMEOUT``.

    Run on a thread of its own, so that it works where an event loop is already running (Jupyter).
    """
    from distributed.comm import connect

    async def ask() -> Any:
        comm = await asyncio.wait_for(connect(address, timeout=SCHEDULER_TIMEOUT), SCHEDULER_TIMEOUT + 1)
        try:
            await asyncio.wait_for(comm.write({"op": "identity"}), SCHEDULER_TIMEOUT)
            return await asyncio.wait_for(comm.read(), SCHEDULER_TIMEOUT)
        finally:
            comm.abort()

    with ThreadPoolExecutor(1) as probe:
        return probe.submit(asyncio.run, ask()).result()


def blas_threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """BLAS threads each of ``workers`` local processes may use: the CPUs shared out, at least one."""
    workers = integer("workers", workers, minimum=1)
    return max(1, (cpus or os.cpu_count() or 1) // workers)


def _init_worker(threads: int, parent: int) -> None:
    """Worker initialiser: leave interrupts to the parent, die with it, and use ``threads`` BLAS threads.

    SIGINT is ignored (Ctrl-C reaches the whole process group; the parent stops the workers), SIGTERM
    gets its default action back (a handler inherited by fork would raise in the worker), and on Linux
    the kernel kills the worker when the parent dies, even by SIGKILL. threadpoolctl limits only the
    libraries already loaded, so SciPy's own BLAS is loaded first.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    import scipy.linalg  # noqa: F401

    set_blas_threads(threads)
    threadpool_limits(limits=threads)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in the block (main thread only): a second Ctrl-C cannot cut the clean-up short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


class ExecutionInterrupted(KeyboardInterrupt):
    """Points stopped by an interrupt; every result that had finished was recorded.

    Parameters
    ----------
    running : int or None
        Points that were being computed and were stopped (None: not known, e.g. on a Dask cluster).
    """

    def __init__(self, running: int | None) -> None:
        super().__init__(running)
        self.running = running


def execute(task: Callable[..., Result], arguments: Callable[[Key], tuple[Any, ...]], todo: Sequence[Key],
            record: Callable[[Key, Result], None], *, workers: int | None = None,
            scheduler: str | None = None) -> None:
    """Compute ``task(*arguments(key))`` for every key of ``todo``; ``record(key, result)`` as each finishes.

    Parameters
    ----------
    task : callable
        The computation of one point; a module-level function (it is pickled for worker processes).
    arguments : callable
        The positional arguments of ``task`` for a key (called in this process).
    todo : sequence
        The keys (e.g. grid indices) to compute.
    record : callable
        Called in this process with each key and its result, in the order they finish.
    workers : int, optional
        Local worker processes (default: the number of CPUs; capped at ``len(todo)``); with 1, or a single
        key, everything runs in this process.
    scheduler : str, optional
        Address of a Dask distributed scheduler: the points run on its cluster instead (``workers`` unused).

    Raises
    ------
    ExecutionInterrupted
        On ``KeyboardInterrupt``; local workers are terminated and every finished result is recorded first.
    concurrent.futures.process.BrokenProcessPool
        A local worker process died; every finished result is recorded first.
    """
    if scheduler is not None:
        _execute_dask(scheduler, task, arguments, todo, record)
    elif workers == 1 or len(todo) <= 1:
        for key in todo:
            try:
                result = task(*arguments(key))
            except KeyboardInterrupt as interrupt:
                raise ExecutionInterrupted(running=1) from interrupt
            record(key, result)
    else:
        _execute_local(task, arguments, todo, record, min(workers or os.cpu_count() or 1, len(todo)))


def _execute_local(task: Callable[..., Result], arguments: Callable[[Key], tuple[Any, ...]], todo: Sequence[Key],
                   record: Callable[[Key, Result], None], processes: int) -> None:
    pool = ProcessPoolExecutor(max_workers=processes, initializer=_init_worker,
                               initargs=(blas_threads_per_worker(processes), os.getpid()))
    futures: dict[Future[Result], Key] = {}
    try:
        for key in todo:
            futures[pool.submit(task, *arguments(key))] = key
        for future in as_completed(list(futures)):
            record(futures.pop(future), future.result())
    except BaseException as error:
        running = min(processes, sum(future.running() for future in futures))
        with _sigint_ignored():
            _stop(pool)
            _harvest(futures, record)
        if isinstance(error, KeyboardInterrupt):
            raise ExecutionInterrupted(running) from error
        raise
    pool.shutdown()


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued points and terminate the workers now (the executor has no public way to do so).

    The executor's manager thread is joined at the end: ``shutdown(wait=False)`` forgets it, and a manager
    thread still closing its wake-up pipe at interpreter exit raced ``concurrent.futures``' exit hook
    ("OSError: Bad file descriptor" printed after an interrupted sweep).
    """
    processes = list((pool._processes or {}).values())
    manager = pool._executor_manager_thread
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(STOP_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()
    if manager is not None:
        manager.join(STOP_TIMEOUT)  # it sees the dead workers, closes its pipes and ends


def _harvest(futures: Mapping[Future[Result], Key], record: Callable[[Key, Result], None]) -> None:
    """Record the points that finished but were not recorded yet."""
    for future, key in futures.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            record(key, future.result())


def _execute_dask(scheduler: str, task: Callable[..., Result], arguments: Callable[[Key], tuple[Any, ...]],
                  todo: Sequence[Key], record: Callable[[Key, Result], None]) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed
    from distributed.comm.core import CommClosedError

    with Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT}s") as client:
        futures = {client.submit(task, *arguments(key), pure=False): key for key in todo}
        try:
            for future in dask_completed(list(futures)):
                record(futures.pop(future), future.result())
        except KeyboardInterrupt as interrupt:
            with _sigint_ignored():
                client.cancel(list(futures))
            raise ExecutionInterrupted(running=None) from interrupt
        except (CommClosedError, OSError, TimeoutError) as error:  # the scheduler went away
            raise SchedulerLost(f"lost the Dask scheduler at {scheduler} ({type(error).__name__}); "
                                f"{len(todo) - len(futures)} of {len(todo)} points finished") from error
