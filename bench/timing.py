"""Shared timing helper of the benchmarks."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int):
    """(median seconds, every run's seconds, the last result) of ``fn()`` run ``repeats`` times."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result
