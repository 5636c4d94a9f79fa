"""Run the core live on a page: stream rounds into placeholders, remember finished runs."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Sequence

import streamlit as st

from alsim.config import Config
from alsim.loop import Round, run_arms


@dataclass(frozen=True)
class Finished:
    """Rounds of every arm of a finished run, and how long it took."""

    configs: tuple[Config, ...]
    rounds: tuple[tuple[Round, ...], ...]
    seconds: float


@st.cache_resource(show_spinner=False)
def _store() -> OrderedDict:
    """Finished runs keyed by their configs, shared by all sessions of this server."""
    return OrderedDict()


def _key(configs: Sequence[Config]) -> tuple:
    """Configs plus where their data came from (the same config on another data folder differs)."""
    from alsim.loop import data_key

    return tuple((c, data_key(c)) for c in configs)


def run_live(configs: Sequence[Config], on_round: Callable[[list[list[Round]], int, int], None],
             label: str = "Running") -> Finished:
    """Run arms in lockstep, calling ``on_round(rounds_so_far, done, total)`` after every round.

    A progress bar shows ``round i of n``; it is cleared at the end. Finished runs are kept
    (LRU, 48 entries), so returning to a setting already run is instant.
    """
    key = _key(configs)
    store = _store()
    if key in store:
        store.move_to_end(key)
        return store[key]
    total = max(c.n_rounds for c in configs) * len(configs)
    bar = st.progress(0.0, text=f"{label}: starting")
    rounds: list[list[Round]] = [[] for _ in configs]
    started = time.perf_counter()
    done = 0

    def graph_progress(fraction: float, message: str) -> None:
        bar.progress(min(1.0, fraction), text=f"Building the graph once: {message}")

    for arm, record in run_arms(list(configs), progress=graph_progress):
        rounds[arm].append(record)
        done += 1
        bar.progress(min(1.0, done / total),
                     text=f"{label}: round {record.index + 1} of {configs[arm].n_rounds}")
        on_round(rounds, done, total)
    bar.empty()
    finished = Finished(tuple(configs), tuple(tuple(r) for r in rounds), time.perf_counter() - started)
    store[key] = finished
    while len(store) > 48:
        store.popitem(last=False)
    return finished
