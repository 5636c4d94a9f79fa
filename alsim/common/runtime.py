"""Process-level settings, made once when a process starts, never by a session or a fit.

BLAS thread pools. A dashboard server runs one heavy run per core at once
(:class:`alsim.storage.memory.WorkSlots`), so parallelism comes from the runs; a multi-threaded
BLAS inside each would oversubscribe the cores. Worse, the small dense solves of the Newton
solver (a 325 x 325 Cholesky per class and iteration) are several times slower with threads
than without when the cores are busy. So the entry points (the command line and the
dashboard) set the BLAS pools once, at start, to ``ALSIM_BLAS_THREADS`` threads (default 1;
``0`` leaves the library's own choice). Changing the pools per fit, as a context manager
does, would race between sessions and leave the process in whatever state the last one
restored.

OpenMP pools (scikit-learn's k-means and pairwise reductions) get the same number, for the
same reason: on a busy 2-core machine a k-means of 500 clusters with a thread per core took
4-5 times as long as with one thread. ``OMP_NUM_THREADS`` is set for the
runtime that loads later (unless the user set it), and the pools already loaded are limited.
"""

from __future__ import annotations

import os
import threading

_DONE = False
_LOCK = threading.Lock()
_CODEC_MESSAGES_DROPPED = False
DEFAULT_BLAS_THREADS = 1


def blas_threads_wanted() -> int | None:
    """Threads asked for by ``ALSIM_BLAS_THREADS`` (None: leave the library's choice)."""
    raw = os.environ.get("ALSIM_BLAS_THREADS", "").strip()
    if not raw:
        return DEFAULT_BLAS_THREADS
    if raw.isascii() and raw.isdigit():
        value = int(raw)
        return None if value == 0 else min(value, os.cpu_count() or 1)
    return DEFAULT_BLAS_THREADS


def configure_process() -> None:
    """Apply the process-level settings; later calls do nothing."""
    global _DONE
    with _LOCK:
        if _DONE:
            return
        _DONE = True
        threads = blas_threads_wanted()
        if threads is not None:
            from threadpoolctl import threadpool_limits

            os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # read when the OpenMP runtime loads
            threadpool_limits(limits=threads, user_api="blas")
            threadpool_limits(limits=threads, user_api="openmp")


def drop_codec_messages() -> None:
    """Keep image codecs' own stderr lines ("libpng error: ...") off this process's terminal.

    Only for a process that owns its terminal, such as one command-line call: the decode then
    points file descriptor 2 elsewhere for its duration (:mod:`alsim.data.importers`), which
    is process-wide. A dashboard server never asks for it (a session must not change
    process-wide state), so there those lines reach the server's log.
    """
    global _CODEC_MESSAGES_DROPPED
    _CODEC_MESSAGES_DROPPED = True


def codec_messages_dropped() -> bool:
    """Whether :func:`drop_codec_messages` was asked for in this process."""
    return _CODEC_MESSAGES_DROPPED
