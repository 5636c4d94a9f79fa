"""Run the core live on a page: stream rounds into placeholders, remember finished runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import streamlit as st

from alsim.loop.config import Config
from alsim.loop.pool import data_key
from alsim.loop.records import Round
from alsim.loop.run import run_arms
from alsim.storage.memory import shared_cache, work_slots


@dataclass(frozen=True)
class Finished:
    """Rounds of every arm of a finished run, and how long it took."""

    configs: tuple[Config, ...]
    rounds: tuple[tuple[Round, ...], ...]
    seconds: float


def _key(configs: Sequence[Config]) -> tuple:
    """Configs plus the content of their data (the same config on other data differs)."""

    return tuple((c, data_key(c)) for c in configs)


#: Seconds between two progress-bar updates.
PROGRESS_EVERY = 0.1


class _Progress:
    """A progress bar in a placeholder, shown only once the work has taken ``after`` seconds.

    A run of the default page finishes in about 0.1 s: a bar that appears, is updated once
    per round (60 messages) and disappears again costs the browser more than the run, and
    moves everything below it twice. Updates are at most one per :data:`PROGRESS_EVERY`
    seconds; waiting for a worker and building a graph show at once.
    """

    def __init__(self, after: float):
        self.slot = st.empty()
        self.after = after
        self.started = self.last = time.perf_counter()
        self.shown = False

    def update(self, fraction: float, text: str, at_once: bool = False) -> None:
        now = time.perf_counter()
        if not at_once and (now - self.started < self.after or (self.shown and now - self.last < PROGRESS_EVERY)):
            return
        self.slot.progress(min(1.0, fraction), text=text)
        self.shown, self.last = True, now

    def clear(self) -> None:
        if self.shown:
            self.slot.empty()


def run_live(configs: Sequence[Config], on_round: Callable[[list[list[Round]], int, int], None],
             label: str = "Running", progress_after: float = 0.0) -> Finished:
    """Run arms in lockstep, calling ``on_round(rounds_so_far, done, total)`` after every round.

    A progress bar shows ``round i of n`` once the run has taken ``progress_after`` seconds
    (0: from the start); it is cleared at the end. Finished runs are kept in the server-wide
    ``runs`` cache (bounded in bytes, see :mod:`alsim.storage.memory`), so returning to a setting
    already run is instant, for every session.
    """
    key = _key(configs)
    store = shared_cache("runs")
    done_before = store.get(key)
    if done_before is not None:
        return done_before
    total = max(c.n_rounds for c in configs) * len(configs)
    bar = _Progress(progress_after)
    bar.update(0.0, f"{label}: starting")
    rounds: list[list[Round]] = [[] for _ in configs]

    def waiting(ahead: int) -> None:
        bar.update(0.0, f"Waiting for a free worker, {ahead} ahead "
                        f"({work_slots().slots} runs compute at once on this server)", at_once=True)

    def graph_progress(fraction: float, message: str) -> None:
        bar.update(fraction, f"Building the graph once: {message}", at_once=True)

    # Heavy runs take turns (one per core), so the server keeps answering new visitors.
    with work_slots().slot(on_wait=waiting, poll=1.0):
        started = time.perf_counter()
        done = 0
        for arm, record in run_arms(list(configs), progress=graph_progress):
            rounds[arm].append(record)
            done += 1
            bar.update(done / total, f"{label}: round {record.index + 1} of {configs[arm].n_rounds}")
            on_round(rounds, done, total)
    bar.clear()
    finished = Finished(tuple(configs), tuple(tuple(r) for r in rounds), time.perf_counter() - started)
    return store.put(key, finished)
