"""A worker process beside the caller, for the seeds of a comparison.

A comparison's seeds are independent runs: the caller computes some and a worker process
computes others (:func:`alsim.evidence.compare.run_comparison` with ``workers=2``). Threads
would not do: the dense products already use every core through BLAS, and the rest of a
round (strategies, records, metrics) holds the GIL; a process runs its own interpreter.

The pool is one per process, made on first use and kept, so the worker's imports, data and
graph are paid once per server, not per comparison. Its processes are started with
``spawn`` (a fork of a server whose threads hold locks can hang) and each makes the
process settings an entry point makes (:mod:`alsim.common.runtime`), in its own process;
the caller's are left as they are. Its BLAS threads are the caller's: the number of BLAS
threads moves the last bits of a dense product, and a seed computed by the worker must
equal the same seed computed by the caller. A caller that changes its BLAS threads gets a
new pool on its next call (an entry point sets them once, so a server keeps one pool).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from alsim.common.runtime import configure_process

_LOCK = threading.Lock()
_POOL: ProcessPoolExecutor | None = None
_POOL_THREADS: int | None = None  # the BLAS threads its processes were given
_WARM = threading.Event()  # a worker has returned a result: its imports, data and graph are loaded


def extra_workers() -> int:
    """Worker processes the pool holds: one per core beyond the caller's (at least one)."""
    return max(1, (os.cpu_count() or 1) - 1)


def blas_threads() -> int | None:
    """This process's BLAS threads (threadpoolctl's count; None when no BLAS library is loaded)."""
    from threadpoolctl import threadpool_info

    counts = [info["num_threads"] for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(counts) if counts else None


def _start_worker(threads: int | None) -> None:
    """Runs in each worker process: the process settings of an entry point, then the caller's BLAS threads.

    NumPy's and SciPy's BLAS libraries are loaded first: a limit reaches only the loaded ones,
    and one loaded later would start with its own default.
    """
    configure_process()
    if threads is not None:
        import numpy  # noqa: F401
        import scipy.linalg  # noqa: F401
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")


def worker_pool() -> ProcessPoolExecutor:
    """The process-wide pool of :func:`extra_workers` processes (made on first use, and again when the
    caller's BLAS threads changed since)."""
    global _POOL, _POOL_THREADS
    threads = blas_threads()
    with _LOCK:
        if _POOL is not None and _POOL_THREADS != threads:
            _POOL.shutdown(wait=False)  # work already given to it finishes there
            _POOL = None
            _WARM.clear()
        if _POOL is None:
            _POOL = ProcessPoolExecutor(extra_workers(), mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_worker, initargs=(threads,))
            _POOL_THREADS = threads
        return _POOL


def submit(fn, *args) -> Future | None:
    """``fn(*args)`` on a worker, or None when no worker can take it (the caller then computes it)."""
    global _POOL
    try:
        future = worker_pool().submit(fn, *args)
    # A worker died, the interpreter is shutting down, or no process can be made here (OSError; an
    # ImportError where the platform lacks the semaphores multiprocessing needs).
    except (BrokenProcessPool, RuntimeError, OSError, ImportError):
        with _LOCK:
            _POOL = None
        _WARM.clear()
        return None
    future.add_done_callback(lambda done: done.cancelled() or done.exception() is not None or _WARM.set())
    return future


def warm() -> bool:
    """Whether a worker has returned a result yet (before that, it may still be starting: seconds)."""
    return _WARM.is_set()


def wait_warm(timeout: float) -> bool:
    """:func:`warm`, waiting up to ``timeout`` seconds for it (a future's waiters wake before its callbacks run)."""
    return _WARM.wait(timeout)
