import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.semi_supervised import LabelSpreading

from alsim.loop import predict_labels
from alsim.graph import GraphTooLarge, build_graph, check_dense_kernel, predict_new, spread

X, Y = load_digits(return_X_y=True)


def _labels(n_labeled, seed, n=len(Y)):
    rng = np.random.default_rng(seed)
    y = np.full(n, -1)
    idx = rng.choice(n, n_labeled, replace=False)
    y[idx] = Y[:n][idx]
    return y


def _sklearn(kernel, labels, x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LabelSpreading(kernel=kernel, **kw).fit(x, labels)
    full = np.zeros((len(x), 10))
    full[:, model.classes_] = model.label_distributions_
    return model, full


@pytest.mark.parametrize(
    "kernel, params, sizes",
    [
        ("rbf", dict(gamma=0.25, max_iter=20), (40, 13, 200)),
        ("rbf", dict(gamma=0.02, max_iter=30, alpha=0.5), (10, 60)),
        ("knn", dict(n_neighbors=7, max_iter=30), (40, 8, 300)),
        ("knn", dict(n_neighbors=3, max_iter=100, alpha=0.9), (25, 150)),
    ],
)
def test_batched_spreading_equals_sklearn(kernel, params, sizes):
    graph = build_graph(X, kernel, gamma=params.get("gamma", 20.0), n_neighbors=params.get("n_neighbors", 7))
    labels = np.stack([_labels(k, seed) for seed, k in enumerate(sizes)])
    kw = {k: v for k, v in params.items() if k in ("gamma", "n_neighbors", "max_iter", "alpha")}
    dists, n_iter = spread(graph, labels, 10, alpha=params.get("alpha", 0.2), max_iter=params["max_iter"])
    for run, y in enumerate(labels):
        model, expected = _sklearn(kernel, y, X, **kw)
        assert_allclose(dists[run], expected, atol=1e-9, rtol=0)
        assert n_iter[run] == model.n_iter_
        # transduction: a class absent from the labels never wins
        np.testing.assert_array_equal(model.transduction_, predict_labels(dists[run], y))


def test_inductive_predictions_equal_sklearn():
    train, test = X[:500], X[500:700]
    y = _labels(50, 3, n=500)
    for kernel in ("rbf", "knn"):
        graph = build_graph(train, kernel, gamma=0.02, n_neighbors=5)
        dists, _ = spread(graph, y, 10, max_iter=30)
        model, _ = _sklearn(kernel, y, train, gamma=0.02, n_neighbors=5, max_iter=30)
        expected = np.zeros((200, 10))
        expected[:, model.classes_] = model.predict_proba(test)
        assert_allclose(predict_new(graph, dists[0], test), expected, atol=1e-9)


def test_memory_guard_refuses_before_allocating(monkeypatch):
    import sklearn.metrics.pairwise as pairwise

    def boom(*a, **k):
        raise AssertionError("kernel allocated")

    monkeypatch.setattr(pairwise, "rbf_kernel", boom)
    with pytest.raises(GraphTooLarge, match=r"60,000 points .* 26.8 GiB.*kernel 'knn'"):
        build_graph(np.zeros((60000, 2)), "rbf")
    check_dense_kernel(1000)  # small pools pass


def test_incremental_spreading_across_rounds_equals_sklearn():
    """States carry iterates from round to round; labels that only grow reuse them."""
    graph = build_graph(X, "rbf", gamma=0.25)
    rng = np.random.default_rng(7)
    labels = np.stack([_labels(30, 1), _labels(30, 2)])
    states = [None, None]
    for round_index in range(5):
        dists, n_iter = spread(graph, labels, 10, alpha=0.2, max_iter=20, states=states)
        for run, y in enumerate(labels):
            model, expected = _sklearn("rbf", y, X, gamma=0.25, max_iter=20)
            assert_allclose(dists[run], expected, atol=1e-9, rtol=0)
            assert n_iter[run] == model.n_iter_
        for run in range(2):
            new = rng.choice(np.flatnonzero(labels[run] == -1), 10, replace=False)
            labels[run, new] = Y[new]
        if round_index == 3:
            labels[1, np.flatnonzero(labels[1] >= 0)[:3]] = -1  # labels removed: a fresh start
    assert all(s is not None and len(s.history) >= 2 for s in states)


def test_knn_neighbours_are_cached_on_disk(tmp_path, monkeypatch):
    from sklearn.neighbors import NearestNeighbors

    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    first = build_graph(X, "knn", n_neighbors=5, cache=True)
    test_points = X[:50] + 0.5
    y = _labels(60, 4)
    dist, _ = spread(first, y, 10)
    expected = predict_new(first, dist[0], test_points)
    assert len(list((tmp_path / "graphs").glob("*.npy"))) == 2  # pool graph and the query's neighbours

    def fail(*args, **kwargs):
        raise AssertionError("neighbour search repeated although cached")

    monkeypatch.setattr(NearestNeighbors, "kneighbors", fail)
    second = build_graph(X, "knn", n_neighbors=5, cache=True)
    assert (second.matrix != first.matrix).nnz == 0
    np.testing.assert_array_equal(predict_new(second, dist[0], test_points), expected)
