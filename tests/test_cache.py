"""The shared cache: one build per key under concurrency, a bound in bytes, read-only values;
and the whole core hammered by threads the way Streamlit sessions use it."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from alsim import Config, run_loop
from alsim.storage.memory import SharedCache, clear_all, nbytes_of, shared_cache


@pytest.fixture
def fast_switching():
    """Force the interpreter to switch threads very often, so races show up."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def test_concurrent_requests_for_one_key_build_once():
    cache = SharedCache("t", 10**9)
    calls = []
    started = threading.Barrier(6)

    def build():
        calls.append(1)
        time.sleep(0.2)
        return np.arange(5)

    results = []

    def ask():
        started.wait()
        results.append(cache.get_or_build("k", build))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(r is results[0] for r in results)
    assert cache.stats()["waits"] == 5


def test_a_failed_build_reaches_every_waiter_and_is_not_stored():
    cache = SharedCache("t", 10**9)
    gate = threading.Event()

    def build():
        gate.wait(2)
        raise ValueError("bad data")

    errors = []

    def ask():
        try:
            cache.get_or_build("k", build)
        except ValueError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join()
    assert errors == ["bad data"] * 3
    assert "k" not in cache
    assert cache.get_or_build("k", lambda: 7) == 7  # a later request builds again


def test_a_stopped_builder_lets_a_waiter_build():
    """A Streamlit rerun stops the building thread with a non-Exception: waiters must not inherit it."""
    cache = SharedCache("t", 10**9)
    first_started = threading.Event()

    class Stop(BaseException):
        pass

    def stopped_build():
        first_started.set()
        time.sleep(0.1)
        raise Stop()

    outcome = {}

    def first():
        try:
            cache.get_or_build("k", stopped_build)
        except Stop:
            outcome["first"] = "stopped"

    def second():
        first_started.wait(2)
        outcome["second"] = cache.get_or_build("k", lambda: "built by the waiter")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcome == {"first": "stopped", "second": "built by the waiter"}


def test_bound_is_in_bytes_least_recently_used_first():
    cache = SharedCache("t", 3 * 8000)
    for key in "abc":
        cache.put(key, np.zeros(1000))  # 8,000 bytes each
    cache.get("a")  # a is now the most recently used
    cache.put("d", np.zeros(1000))
    assert "b" not in cache and all(k in cache for k in "acd")
    assert cache.stats()["bytes"] == 24000
    cache.put("huge", np.zeros(10_000))  # larger than the whole bound: handed back, not kept
    assert "huge" not in cache and cache.stats()["bytes"] == 24000


def test_values_are_read_only():
    cache = SharedCache("t", 10**9)
    value = cache.get_or_build("k", lambda: {"x": np.arange(3), "y": [np.ones(2)]})
    with pytest.raises(ValueError, match="read-only"):
        value["x"][0] = 5
    with pytest.raises(ValueError, match="read-only"):
        value["y"][0][0] = 5


def test_nbytes_counts_shared_arrays_once():
    a = np.zeros(100)
    assert nbytes_of([a, a, a[:10]]) == 800
    assert nbytes_of({"k": (a, np.zeros(50, dtype=np.float32))}) == 1000


def test_two_concurrent_requests_for_one_graph_build_it_once(monkeypatch):
    """Two sessions asking for the same slow graph at once: one build, the other waits for it."""
    import alsim.learn.graph as graph_module
    from alsim.loop.pool import graph_for, prepare

    config = Config(dataset="digits", pool_size=600, gamma=0.31)
    prepared = prepare(config)
    real = graph_module.build_graph
    builds = []

    def slow_build(*args, **kwargs):
        builds.append(threading.get_ident())
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr("alsim.loop.pool.build_graph", slow_build)
    shared_cache("graphs").clear()
    barrier = threading.Barrier(2)
    graphs = []

    def ask():
        barrier.wait()
        graphs.append(graph_for(config, prepared))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert graphs[0] is graphs[1]


def _curve(config: Config) -> list:
    return [(r.n_labeled, r.accuracy, r.queried.tolist()) for r in run_loop(config)]


def test_thread_hammer_identical_and_distinct_configs(fast_switching):
    """8 threads, some on one config and some on others, every model kind, with eviction churn.

    Every thread must get exactly the serial result, no thread may raise, and the process-wide
    state that other sessions rely on (warning filters, BLAS thread pools) must be unchanged.
    """
    import warnings

    from threadpoolctl import threadpool_info

    specs = [(300, "entropy", 0, "label_spreading"), (300, "entropy", 0, "logistic_regression"),
             (300, "margin", 1, "linear_svc_newton"), (350, "entropy", 2, "linear_svc"),
             (400, "random", 3, "logistic_regression"), (450, "least_confident", 4, "linear_svc_newton"),
             (500, "entropy", 5, "label_spreading"), (300, "entropy", 0, "label_spreading")]
    configs = [Config(dataset="digits", pool_size=size, initial="random", n_initial=20, batch_size=10, n_rounds=4,
                      strategy=strategy, seed=seed, model=model) for size, strategy, seed, model in specs]
    sys.setswitchinterval(0.005)
    expected = [_curve(c) for c in configs]
    sys.setswitchinterval(1e-6)
    # threadpool_info loads modules of its own the first time (which may add warning filters at
    # import): read it before the filters.
    blas_before = [(pool["user_api"], pool["num_threads"]) for pool in threadpool_info()]
    filters_before = list(warnings.filters)
    # Tiny bounds force evictions while other threads read.
    bounds = {}
    for name in ("prepared", "graphs"):
        bounds[name] = shared_cache(name).max_bytes
        shared_cache(name).max_bytes = 3 * 2**20
    clear_all()
    results: list = [None] * len(configs)
    errors: list = []
    start = threading.Barrier(len(configs))

    def work(i):
        try:
            start.wait()
            for _ in range(3):
                results[i] = _curve(configs[i])
        except Exception as exc:  # noqa: BLE001 - the test reports every failure
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(configs))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
    finally:
        for name, bound in bounds.items():
            shared_cache(name).max_bytes = bound
    assert errors == []
    assert results == expected
    # A fit that silences warnings with catch_warnings + simplefilter("ignore") from several threads
    # leaves a catch-all "ignore" behind. (Other libraries' background threads may add filters of
    # their own categories at import; those are not a fit's doing.)
    added = [f for f in warnings.filters if f not in filters_before]
    assert not [f for f in added if f[0] == "ignore" and f[2] is Warning], \
        f"a fit changed the process-wide warning filters: {added}"
    assert [(pool["user_api"], pool["num_threads"]) for pool in threadpool_info()] == blas_before, \
        "a fit changed the process-wide BLAS thread count"


def test_work_slots_limit_concurrency_and_report_the_queue():
    from alsim.storage.memory import WorkSlots

    slots = WorkSlots(2)
    running, peak, waits = [0], [0], []
    lock = threading.Lock()

    def job(i):
        with slots.slot(on_wait=lambda ahead: waits.append(ahead), poll=0.01):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=job, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
    assert waits and max(waits) >= 1
    assert slots.stats() == {"slots": 2, "busy": 0, "queued": 0}


def test_a_queued_run_that_is_interrupted_leaves_the_queue():
    from alsim.storage.memory import WorkSlots

    slots = WorkSlots(1)
    release = threading.Event()

    def holder():
        with slots.slot():
            release.wait(2)

    class Rerun(BaseException):
        pass

    def interrupted(ahead):
        raise Rerun()

    t = threading.Thread(target=holder)
    t.start()
    time.sleep(0.05)
    with pytest.raises(Rerun):
        with slots.slot(on_wait=interrupted):
            pass
    assert slots.stats()["queued"] == 0
    release.set()
    t.join()
    with slots.slot():  # the slot is free again
        assert slots.stats()["busy"] == 1


def test_an_extra_slot_is_taken_only_when_free_and_given_back_when_a_run_queues():
    from alsim.storage.memory import WorkSlots

    slots = WorkSlots(2)
    started = threading.Event()
    with slots.slot():
        with slots.extra_slot() as extra:
            assert extra.held and extra.keep() and slots.stats()["busy"] == 2
            with slots.extra_slot() as third:  # no slot free: not taken
                assert not third.held and slots.stats()["busy"] == 2

            def other_run():
                with slots.slot(poll=0.01):
                    started.set()

            waiter = threading.Thread(target=other_run)
            waiter.start()
            deadline = time.monotonic() + 30
            while slots.stats()["queued"] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not extra.keep()  # a run waits: the extra slot goes to it
            assert started.wait(30)
            waiter.join()
        assert slots.stats()["busy"] == 1
    assert slots.stats() == {"slots": 2, "busy": 0, "queued": 0}
