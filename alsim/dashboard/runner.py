"""Run the core live on a page: stream rounds into placeholders, remember finished runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import streamlit as st

from alsim.cache import shared_cache, work_slots
from alsim.config import Config
from alsim.loop import Round, run_arms


@dataclass(frozen=True)
class Finished:
    """Rounds of every arm of a finished run, and how long it took."""

    configs: tuple[Config, ...]
    rounds: tuple[tuple[Round, ...], ...]
    seconds: float


def _key(configs: Sequence[Config]) -> tuple:
    """Configs plus the content of their data (the same config on other data differs)."""
    from alsim.pool import data_key

    return tuple((c, data_key(c)) for c in configs)


def run_live(configs: Sequence[Config], on_round: Callable[[list[list[Round]], int, int], None],
             label: str = "Running") -> Finished:
    """Run arms in lockstep, calling ``on_round(rounds_so_far, done, total)`` after every round.

    A progress bar shows ``round i of n``; it is cleared at the end. Finished runs are kept
    in the server-wide ``runs`` cache (bounded in bytes, see :mod:`alsim.cache`), so
    returning to a setting already run is instant, for every session.
    """
    key = _key(configs)
    store = shared_cache("runs")
    done_before = store.get(key)
    if done_before is not None:
        return done_before
    total = max(c.n_rounds for c in configs) * len(configs)
    bar = st.progress(0.0, text=f"{label}: starting")
    rounds: list[list[Round]] = [[] for _ in configs]

    def waiting(ahead: int) -> None:
        bar.progress(0.0, text=f"Waiting for a free worker, {ahead} ahead "
                               f"({work_slots().slots} runs compute at once on this server)")

    def graph_progress(fraction: float, message: str) -> None:
        bar.progress(min(1.0, fraction), text=f"Building the graph once: {message}")

    # Heavy runs take turns (one per core), so the server keeps answering new visitors.
    with work_slots().slot(on_wait=waiting, poll=1.0):
        started = time.perf_counter()
        done = 0
        for arm, record in run_arms(list(configs), progress=graph_progress):
            rounds[arm].append(record)
            done += 1
            bar.progress(min(1.0, done / total),
                         text=f"{label}: round {record.index + 1} of {configs[arm].n_rounds}")
            on_round(rounds, done, total)
    bar.empty()
    finished = Finished(tuple(configs), tuple(tuple(r) for r in rounds), time.perf_counter() - started)
    return store.put(key, finished)
