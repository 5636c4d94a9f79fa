"""Large pools: the approximate neighbour search, its disk cache, the memory refusal, sampled strategies.

A 2,000-point pool stands in for a million: the approximate backend is asked for by name
(the automatic choice takes it only above :data:`alsim.learn.graph.APPROXIMATE_ABOVE`).
pynndescent compiles its numba code once per process, which most of this module's time is.
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

import alsim.learn.graph as graph_module
import alsim.storage.disk as disk_module
from alsim.common.errors import ConfigError, GraphTooLarge
from alsim.learn.graph import build_graph, check_knn_pool, knn_pool_bytes, neighbour_backend
from alsim.strategies import REVEALED, QueryContext, run_strategy
from alsim.strategies import common as strategies_common

N, D, K = 2000, 16, 10


def _pool(n=N, d=D, seed=0):
    """Points of 5 overlapping Gaussian classes, continuous (no tied distances)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, n)
    centres = rng.normal(0.0, 1.0, (5, d))
    return centres[labels] + rng.normal(0.0, 1.0, (n, d)), labels


X, Y = _pool()


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) for a, b in zip(found.tolist(), truth.tolist())])) / truth.shape[1]


@pytest.fixture(scope="module")
def descent_graph():
    return build_graph(X, "knn", n_neighbors=K, backend="descent")


def test_descent_graph_finds_the_true_neighbours_and_is_reproducible(descent_graph):
    truth = NearestNeighbors(n_neighbors=K).fit(X).kneighbors(X, return_distance=False)
    assert descent_graph.backend == "descent"
    assert _recall(descent_graph.neighbours, truth) >= 0.95
    assert (descent_graph.neighbours[:, 0] == np.arange(N)).mean() > 0.99  # each point first in its own list
    again = build_graph(X, "knn", n_neighbors=K, backend="descent")  # the same seed: the same graph
    np.testing.assert_array_equal(again.neighbours, descent_graph.neighbours)
    assert (again.matrix != descent_graph.matrix).nnz == 0


def test_automatic_backend_switches_above_the_threshold(monkeypatch):
    limit = graph_module.APPROXIMATE_ABOVE
    assert neighbour_backend(limit) == "exact" and neighbour_backend(limit + 1) == "descent"
    assert neighbour_backend(limit + 1, "exact") == "exact"
    with pytest.raises(ConfigError, match="neighbour backend must be one of 'auto', 'exact', 'descent', got 'ann'"):
        neighbour_backend(10, "ann")
    exact = build_graph(X[:300], "knn", n_neighbors=K)
    assert exact.backend == "exact"
    np.testing.assert_array_equal(
        exact.neighbours, NearestNeighbors(n_neighbors=K).fit(X[:300]).kneighbors(X[:300], return_distance=False))


def test_new_points_find_their_neighbours_through_the_approximate_index(descent_graph):
    from alsim.learn.graph import predict_new, spread

    new = X[:200] + 1e-6
    truth = NearestNeighbors(n_neighbors=K).fit(X).kneighbors(new, return_distance=False)
    assert _recall(descent_graph.searcher().kneighbors(new, K), truth) >= 0.95
    labels = np.full(N, -1)
    labels[::20] = Y[::20]
    dists, _ = spread(descent_graph, labels, 5)
    proba = predict_new(descent_graph, dists[0], new)
    expected = dists[0][descent_graph.searcher().kneighbors(new, K)].sum(axis=1)
    np.testing.assert_allclose(proba, expected / expected.sum(axis=1, keepdims=True))


def test_cached_graph_is_identical_and_keyed_by_backend(tmp_path, monkeypatch, descent_graph):
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    first = build_graph(X, "knn", n_neighbors=K, cache=True, backend="descent")
    exact = build_graph(X, "knn", n_neighbors=K, cache=True, backend="exact")
    names = sorted(p.name for p in (tmp_path / "graphs").glob("*.npy"))
    assert len(names) == 2 and any("descent25-seed0" in name for name in names)

    def no_search(*args, **kwargs):
        raise AssertionError("neighbour search repeated although cached")

    monkeypatch.setattr(graph_module, "pool_neighbours", no_search)
    second = build_graph(X, "knn", n_neighbors=K, cache=True, backend="descent")
    np.testing.assert_array_equal(second.neighbours, first.neighbours)
    np.testing.assert_array_equal(second.neighbours, descent_graph.neighbours)
    for part in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(second.matrix, part), getattr(first.matrix, part))
    again_exact = build_graph(X, "knn", n_neighbors=K, cache=True, backend="exact")
    np.testing.assert_array_equal(again_exact.neighbours, exact.neighbours)


@pytest.mark.parametrize("interrupted", [1, 2])  # 1: while the data file is renamed; 2: its digest
def test_interrupted_graph_write_leaves_nothing(tmp_path, monkeypatch, interrupted):
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    real_replace = os.replace
    calls = []

    def replace(source, target):
        calls.append(target)
        if len(calls) == interrupted:
            raise KeyboardInterrupt
        return real_replace(source, target)

    monkeypatch.setattr(disk_module.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        build_graph(X[:500], "knn", n_neighbors=K, cache=True)
    assert sorted(os.listdir(tmp_path / "graphs")) == []
    monkeypatch.setattr(disk_module.os, "replace", real_replace)
    built = build_graph(X[:500], "knn", n_neighbors=K, cache=True)
    assert len(list((tmp_path / "graphs").glob("*.npy"))) == 1
    monkeypatch.setattr(graph_module, "pool_neighbours", lambda *a, **k: pytest.fail("not read from the cache"))
    np.testing.assert_array_equal(build_graph(X[:500], "knn", n_neighbors=K, cache=True).neighbours,
                                  built.neighbours)


def test_oversized_pool_is_refused_before_allocating(monkeypatch):
    # A million x 64 view of one row: no memory behind it, so a refusal after allocating would show.
    huge = np.broadcast_to(np.zeros(64), (1_000_000, 64))
    need = knn_pool_bytes(1_000_000, 64, K)
    monkeypatch.setattr(graph_module, "memory_limit_bytes", lambda: need - 1)
    message = (f"label spreading on a knn graph of 1,000,000 points x 64 features needs about {need / 2**30:.1f} GiB "
               r"\(features, graph and spreading iterates\); the limit is "
               f"{(need - 1) / 2**30:.1f} GiB")
    with pytest.raises(GraphTooLarge, match=message):
        build_graph(huge, "knn", n_neighbors=K)
    check_knn_pool(1_000_000, 64, K, limit_bytes=need)  # at the limit: accepted


def test_oversized_pool_is_one_config_error_in_a_run(monkeypatch):
    from alsim import Config, run_loop

    monkeypatch.setattr(graph_module, "memory_limit_bytes", lambda: 2**20)
    config = Config(dataset="digits", kernel="knn", n_rounds=1)
    with pytest.raises(ConfigError, match=r"^label spreading on a knn graph of 1,797 points x 64 features needs "
                                          r"about 0\.0 GiB .* the limit is 0\.0 GiB"):
        next(run_loop(config))


@pytest.mark.parametrize("strategy", ["coreset", "typiclust", "badge"])
def test_feature_strategies_pick_from_a_seeded_candidate_sample(monkeypatch, strategy):
    monkeypatch.setattr(strategies_common, "CANDIDATE_SAMPLE", 300)
    monkeypatch.setattr(strategies_common.on_candidate_sample, "__defaults__", (300,))
    rng = np.random.default_rng(0)
    status = np.zeros(N, dtype=np.int8)
    status[rng.choice(N, 30, replace=False)] = REVEALED
    proba = rng.dirichlet(np.ones(5), N)
    candidates = np.flatnonzero(status == 0)

    def ask(seed):
        context = QueryContext(proba=proba, features=X, status=status, candidates=candidates, k=12,
                               rng=np.random.default_rng(seed))
        return run_strategy(strategy, context)

    first, again, other = ask(1), ask(1), ask(2)
    np.testing.assert_array_equal(first.ids, again.ids)
    assert not np.array_equal(first.ids, other.ids)
    assert len(set(first.ids.tolist())) == 12 and status[first.ids].max() == 0
    # The sample: the first 300 candidates the run's generator draws.
    sample = np.random.default_rng(1).choice(candidates, size=300, replace=False)
    assert set(first.ids.tolist()) <= set(sample.tolist())
    assert np.count_nonzero(first.scores) <= 300 and first.scores[np.setdiff1d(candidates, sample)].max() == 0
    if strategy == "coreset":  # scores mapped back: each sampled point's distance to the revealed set
        revealed = np.flatnonzero(status == REVEALED)
        expected = pairwise_distances(X[sample], X[revealed]).min(axis=1)
        np.testing.assert_allclose(first.scores[sample], expected, rtol=1e-9, atol=1e-9)


def test_sweep_task_carries_no_pool_and_a_worker_reads_it_from_the_store(tmp_path, monkeypatch):
    """A sweep cell over an imported pool on a Dask worker: the task names the stored set, not its arrays."""
    from distributed import LocalCluster

    from alsim import Config
    from alsim.data import store
    from alsim.sweep.grid import SweepSpec, plan_tasks
    from alsim.sweep.runner import prepare_sweep, run_sweep
    from alsim.sweep.store import ResultStore

    monkeypatch.setenv("ALSIM_HOME", str(tmp_path / "shared"))
    features, labels = _pool(n=400, d=8, seed=3)
    path = tmp_path / "pool.npz"
    np.savez(path, X=features.astype(np.float32), y=labels)
    entry = store.import_path(path)
    base = Config(dataset=entry.id, features="precomputed", model="label_spreading", kernel="knn", n_neighbors=7,
                  n_initial=20, batch_size=10, n_rounds=3, initial="random")
    spec = SweepSpec(base=base, grid=(), strategies=("entropy",), n_seeds=1, target=0.5)
    tasks = plan_tasks(spec, prepare_sweep(spec), set(), 1)
    assert len(pickle.dumps(tasks[0])) < 20_000 < features.nbytes  # the set's id travels, not its arrays

    with LocalCluster(n_workers=1, processes=False, threads_per_worker=1, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as cluster:
        report = run_sweep(spec, tmp_path / "out", scheduler=cluster.scheduler_address)
    assert report.where == cluster.scheduler_address and len(report.computed) == 1
    rows = ResultStore(tmp_path / "out").rows()
    assert [row["strategy"] for row in rows] == ["entropy"] and len(rows[0]["labels"]) == 3


def test_worker_without_the_shared_store_says_where_the_data_is(tmp_path, monkeypatch):
    from alsim import Config
    from alsim.common.errors import DataError
    from alsim.data import store
    from alsim.sweep.grid import SweepSpec, plan_tasks
    from alsim.sweep.runner import prepare_sweep, run_task

    shared = tmp_path / "shared"
    monkeypatch.setenv("ALSIM_HOME", str(shared))
    features, labels = _pool(n=200, d=4, seed=4)
    np.savez(tmp_path / "pool.npz", X=features, y=labels)
    entry = store.import_path(tmp_path / "pool.npz")
    spec = SweepSpec(base=Config(dataset=entry.id, features="precomputed", kernel="knn", n_rounds=2), grid=(),
                     strategies=("entropy",), n_seeds=1, target=0.5)
    task = plan_tasks(spec, prepare_sweep(spec), set(), 1)[0]
    assert task.data_home == str(shared)
    monkeypatch.setenv("ALSIM_HOME", str(tmp_path / "worker-own"))  # a worker started without the shared folder
    with pytest.raises(DataError, match=f"dataset '{entry.id}' is not in this worker's data store .*worker-own.*; "
                                        f"the sweep's client reads it from {shared}/datasets: start every worker "
                                        f"with ALSIM_HOME={shared}, a folder"):
        run_task(task)
