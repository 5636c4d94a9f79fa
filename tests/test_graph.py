import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.semi_supervised import LabelSpreading

from alsim.common.errors import GraphTooLarge
from alsim.learn.graph import build_graph, check_dense_kernel, predict_new, spread
from alsim.loop.run import predict_labels

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
    """Spreading with carried states equals scikit-learn at every round: labels that only grow
    (the stored iterates are extended) and labels that were removed (a fresh start)."""
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


def test_a_run_spread_beside_others_equals_its_own_spread_to_the_last_bit():
    """A comparison spreads many runs' columns in one product per step: each run's distributions
    must not depend on which runs share it (not even in the last bit), or a batch of seeds could
    break a tie another way than the same seed alone. Rounds that add labels are spread too."""
    graph = build_graph(X, "rbf", gamma=0.25)
    rng = np.random.default_rng(3)
    labels = np.stack([_labels(40, seed) for seed in range(6)])
    together, alone = [None] * 6, [[None] for _ in range(6)]
    for round_index in range(3):
        dists, n_iter = spread(graph, labels, 10, alpha=0.2, max_iter=20, states=together)
        for run in range(6):
            own, own_iter = spread(graph, labels[run], 10, alpha=0.2, max_iter=20, states=alone[run])
            assert np.array_equal(dists[run], own[0]), (round_index, run)
            assert n_iter[run] == own_iter[0]
        for run in range(6):
            new = rng.choice(np.flatnonzero(labels[run] == -1), 10, replace=False)
            labels[run, new] = Y[new]


@pytest.mark.parametrize("kernel, n, params", [
    ("rbf", 150, dict(gamma=2.0)),   # small dense products: BLAS rounds them by their width and memory order
    ("rbf", 400, dict(gamma=2.0)),
    ("rbf", 1300, dict(gamma=2.0)),  # one product for all runs; a run adding one class is a single column
    ("knn", 400, dict(n_neighbors=7)),
])
def test_runs_spread_together_equal_each_alone_on_small_and_large_pools(kernel, n, params):
    """Batch invariance on every pool size: small dense graphs (where BLAS takes other kernels),
    runs that start with several labels of a class (the first product sums them), a run that adds
    a single class in a round (a one-column product), runs that stop before others."""
    rng = np.random.default_rng(n)
    points = rng.choice(len(Y), n, replace=False)
    x, y = X[points] / 16, Y[points]
    graph = build_graph(x, kernel, **params)
    labels = np.full((5, n), -1)
    for run, count in enumerate((3, 12, 30, 45, 60)):
        picked = rng.choice(n, count, replace=False)
        labels[run, picked] = y[picked]
    together, alone = [None] * 5, [[None] for _ in range(5)]
    for round_index in range(4):
        dists, n_iter = spread(graph, labels, 10, tol=1e-5, states=together)
        for run in range(5):
            own, own_iter = spread(graph, labels[run], 10, tol=1e-5, states=alone[run])
            assert np.array_equal(dists[run], own[0]), (round_index, run)
            assert n_iter[run] == own_iter[0], (round_index, run)
        for run in range(5):
            free = np.flatnonzero(labels[run] == -1)
            if run == 0:  # one class only
                free = free[y[free] == y[free[0]]]
            new = rng.choice(free, min(len(free), 1 + run * 3), replace=False)
            labels[run, new] = y[new]


def test_a_zero_tolerance_never_stops_early_even_without_change():
    """scikit-learn's rule stops when the change is below tol: with tol=0 a run without labels (no
    change at all) still runs every iteration, as one with labels does."""
    graph = build_graph(X[:200] / 16, "rbf", gamma=2.0)
    labels = np.stack([np.full(200, -1), _labels(20, 5, n=200)])
    _, n_iter = spread(graph, labels, 10, max_iter=7, tol=0.0)
    assert n_iter.tolist() == [7, 7]


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


# ---------------------------------------------------------------- neighbour lists on disk are checked


def knn_accuracies():
    """Pool and test accuracy of label spreading on a cached 7-nn graph of 1,200 digits."""
    import numpy as np
    from sklearn.datasets import load_digits

    from alsim.learn.graph import build_graph, predict_new, spread

    x, y = load_digits(return_X_y=True)
    labels = np.full(1200, -1)
    labels[::30] = y[:1200:30]
    graph = build_graph(x[:1200], "knn", n_neighbors=7, cache=True)
    dists, _ = spread(graph, labels, 10)
    pool = float(np.mean(dists[0].argmax(axis=1) == y[:1200]))
    test = float(np.mean(predict_new(graph, dists[0], x[1200:]).argmax(axis=1) == y[1200:]))
    return f"{pool:.4f} {test:.4f}"


# The same with cache=False, checked below; with the entry points' one OpenMP thread (see
# conftest.py: with two, the neighbour search orders equal distances differently: 0.8583).
CLEAN_ACCURACIES = "0.8567 0.8643"


def _neighbour_file(folder, what):
    (path,) = (folder / "graphs").glob(f"knn-{what}-*.npy")
    return path


def _rejections(text, path):
    return [line for line in text.splitlines()
            if f"alsim: cache file {path} rejected (" in line and line.endswith("); rebuilding it")]


def test_clean_knn_accuracies_do_not_depend_on_the_cache(tmp_path, monkeypatch):
    import alsim.learn.graph as graph_module

    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    assert knn_accuracies() == CLEAN_ACCURACIES  # writes the files
    assert knn_accuracies() == CLEAN_ACCURACIES  # reads them
    real = graph_module.build_graph
    monkeypatch.setattr("alsim.loop.pool.build_graph", lambda *a, **k: real(*a, **{**k, "cache": False}))
    assert knn_accuracies() == CLEAN_ACCURACIES


@pytest.mark.parametrize("bad_index, re_sign", [(10**9, False), (-1, True)])
def test_out_of_range_neighbour_index_is_rebuilt_not_a_crash(tmp_path, monkeypatch, bad_index, re_sign):
    """Such an index made csgraph.laplacian crash the process (SIGSEGV / double free).

    Runs in a subprocess, so a crash fails this test instead of killing pytest. With
    ``re_sign`` the digest beside the file is rewritten to match, so the index-range check
    alone has to catch it.
    """
    import inspect
    import subprocess
    import sys
    from pathlib import Path

    import alsim

    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    assert knn_accuracies() == CLEAN_ACCURACIES
    path = _neighbour_file(tmp_path, "pool")
    columns = np.load(path)
    columns[17, 3] = bad_index
    np.save(path, columns)
    if re_sign:
        import hashlib

        (tmp_path / "graphs" / (path.name + ".sha256")).write_text(
            f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    code = ("from alsim.common.runtime import configure_process\nconfigure_process()\n"
            + inspect.getsource(knn_accuracies) + "\nprint(knn_accuracies())\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(alsim.__file__).parents[1])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == CLEAN_ACCURACIES.split()
    assert len(_rejections(run.stderr, path)) == 1, run.stderr
    assert knn_accuracies() == CLEAN_ACCURACIES  # the rebuilt file is trusted again


@pytest.mark.parametrize("what", ["pool", "query"])
@pytest.mark.parametrize("fill", ["random valid indices", "zeros"])
def test_wrong_but_valid_neighbour_lists_are_rebuilt(tmp_path, monkeypatch, caplog, what, fill):
    """Indices in range but wrong silently took the pool accuracy from 0.86 to 0.13."""
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    assert knn_accuracies() == CLEAN_ACCURACIES
    path = _neighbour_file(tmp_path, what)
    columns = np.load(path)
    if fill == "zeros":
        columns[:] = 0
    else:
        columns[:] = np.random.default_rng(0).integers(0, 1200, columns.shape)
    np.save(path, columns)
    with caplog.at_level("WARNING", logger="alsim.storage.disk"):
        assert knn_accuracies() == CLEAN_ACCURACIES
    assert len(_rejections("\n".join(caplog.messages), path)) == 1
    assert len(caplog.records) == 1


def test_empty_neighbour_file_is_a_miss(tmp_path, monkeypatch, caplog):
    """A 0-byte file (power loss after a rename without fsync) raised EOFError on every run."""
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    assert knn_accuracies() == CLEAN_ACCURACIES
    path = _neighbour_file(tmp_path, "pool")
    path.write_bytes(b"")
    with caplog.at_level("WARNING", logger="alsim.storage.disk"):
        assert knn_accuracies() == CLEAN_ACCURACIES
    assert _rejections("\n".join(caplog.messages), path) == [
        f"alsim: cache file {path} rejected (empty file); rebuilding it"]


# ---------------------------------------------------------------- one graph, many threads


def test_query_neighbours_follow_the_content_not_the_address():
    """The per-graph neighbour cache was keyed by the array's address: new values at the
    same address got the old neighbours."""
    graph = build_graph(X[:500], "knn", n_neighbors=5)
    dists, _ = spread(graph, _labels(50, 3, n=500), 10)
    query = X[500:600].copy()
    predict_new(graph, dists[0], query)
    query[:] = X[600:700]  # same address, same shape, other points
    fresh_graph = build_graph(X[:500], "knn", n_neighbors=5)
    np.testing.assert_array_equal(predict_new(graph, dists[0], query),
                                  predict_new(fresh_graph, dists[0], X[600:700]))


def test_named_query_set_is_hashed_never(monkeypatch):
    import hashlib

    import alsim.learn.graph as graph_module

    graph = build_graph(X[:500], "knn", n_neighbors=5)
    dists, _ = spread(graph, _labels(50, 3, n=500), 10)
    expected = predict_new(graph, dists[0], X[500:700])

    def no_hash(features):
        raise AssertionError("query features hashed although named")

    monkeypatch.setattr(graph_module, "_features_digest", no_hash)
    monkeypatch.setattr(hashlib, "sha256", no_hash)
    for _ in range(2):
        np.testing.assert_array_equal(predict_new(graph, dists[0], X[500:700], key="test"), expected)


def test_one_graph_serves_many_threads():
    from concurrent.futures import ThreadPoolExecutor

    graph = build_graph(X[:500], "knn", n_neighbors=5)
    dists, _ = spread(graph, _labels(50, 3, n=500), 10)
    queries = [X[500 + 100 * i: 600 + 100 * i] for i in range(4)]
    serial_graph = build_graph(X[:500], "knn", n_neighbors=5)
    expected = [predict_new(serial_graph, dists[0], q) for q in queries]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: predict_new(graph, dists[0], queries[i % 4]), range(64)))
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, expected[i % 4])
    assert len(graph.neighbour_cache) == 4


@pytest.mark.parametrize("kernel", ["rbf", "knn"])
def test_arrays_a_graph_holds_are_read_only(tmp_path, monkeypatch, kernel):
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(tmp_path))
    features = X[:300].copy()
    for cache in (True, True):  # the second build reads the neighbour lists from disk
        graph = build_graph(features, kernel, gamma=0.02, n_neighbors=5, cache=cache)
        dists, _ = spread(graph, _labels(30, 1, n=300), 10)
        predict_new(graph, dists[0], X[300:400])
        held = [graph.features] + ([graph.matrix.data, graph.matrix.indices, graph.matrix.indptr]
                                   if kernel == "knn" else [graph.matrix])
        held += list(graph.neighbour_cache.values())
        assert held and not any(a.flags.writeable for a in held)
    assert features.flags.writeable  # the caller's own array keeps its flags


@pytest.mark.parametrize("gamma, message", [
    (1e-300, r"gamma=1e-300 is too small for these features: every rbf weight between two points is 1"),
    (1000.0, r"gamma=1000 is too large for these features: every rbf weight between two points underflows to 0"),
])
def test_an_rbf_graph_without_information_is_refused_with_a_range_to_try(gamma, message):
    from alsim.common.errors import ConfigError

    features = X[:300]
    with pytest.raises(ConfigError, match=message) as info:
        build_graph(features, "rbf", gamma=gamma)
    text = str(info.value)
    assert "\n" not in text
    low, high = (float(v) for v in text.rsplit("try gamma between ", 1)[1].split(" and "))
    for good in (low, (low * high) ** 0.5, high):  # the suggested range gives a graph
        build_graph(features, "rbf", gamma=good)


def test_the_cli_refuses_a_gamma_that_leaves_the_graph_empty(capsys):
    from alsim.cli.main import main

    assert main(["run", "--preset", "digits-compare", "--set", "gamma=1e-300", "--no-baseline"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # One error line, last (a progress line may come before it when the features are not cached yet).
    assert [line for line in err if line.startswith("alsim:")] == err[-1:], err
    assert err[-1].startswith("alsim: error: gamma=1e-300 is too small"), err
    assert not any("Traceback" in line for line in err), err


# ------------------------------------------------------------------ the compact path of large knn pools
@pytest.fixture
def compact_everywhere(monkeypatch):
    """Every knn graph spreads over its compact copy, in blocks of 100 rows (several blocks a product)."""
    import alsim.learn.graph as graph_module

    monkeypatch.setattr(graph_module, "COMPACT_SPREAD_ABOVE", 0)
    monkeypatch.setattr(graph_module, "COMPACT_BLOCK_ROWS", 100)


def test_compact_graph_is_the_graph_reordered():
    from alsim.learn.graph import compact_graph

    shuffled = X[np.random.default_rng(3).permutation(len(X))]
    matrix = build_graph(shuffled, "knn", n_neighbors=7).matrix
    compact = compact_graph(matrix, block_rows=256)
    n = matrix.shape[0]
    np.testing.assert_array_equal(np.sort(compact.order), np.arange(n))
    np.testing.assert_array_equal(compact.rank[compact.order], np.arange(n))
    expected = matrix[compact.order][:, compact.order]
    assert compact.matrix.dtype == np.float64 and (compact.matrix != expected).nnz == 0
    old_row = compact.order[5]  # a row keeps its entries in their order: the same sums, term by term
    np.testing.assert_array_equal(compact.order[compact.matrix.indices[compact.matrix.indptr[5]:compact.matrix.indptr[6]]],
                                  matrix.indices[matrix.indptr[old_row]:matrix.indptr[old_row + 1]])
    assert [(lo, hi) for lo, hi, _ in compact.blocks] == [(lo, min(n, lo + 256)) for lo in range(0, n, 256)]
    assert all((block != expected[lo:hi]).nnz == 0 for lo, hi, block in compact.blocks)
    # the blocks are the only copy of the reordered weights: nothing else in it holds the graph again
    from alsim.storage.memory import nbytes_of
    assert nbytes_of(compact) == sum(nbytes_of(block) for _, _, block in compact.blocks) + 2 * 8 * n

    def bandwidth(m):
        m = m.tocoo()
        return np.abs(m.row - m.col).mean()

    # neighbours sit close: the mean distance between a point's position and its neighbours' drops
    assert bandwidth(compact.matrix) < bandwidth(matrix) / 3


@pytest.mark.parametrize("params, sizes", [(dict(max_iter=30), (40, 8, 300, 0)),
                                           (dict(max_iter=100, alpha=0.9), (25, 150)),
                                           (dict(max_iter=4, alpha=0.5), (60,))])
def test_compact_spreading_equals_the_float64_iteration(monkeypatch, params, sizes):
    """Fresh runs over the reordered graph: the very numbers of the float64 iteration, and so
    scikit-learn's; a run without labels stops at once."""
    import alsim.learn.graph as graph_module

    labels = np.stack([_labels(k, seed) for seed, k in enumerate(sizes)])
    kw = dict(alpha=params.get("alpha", 0.2), max_iter=params["max_iter"])
    reference, reference_iter = spread(build_graph(X, "knn", n_neighbors=7), labels, 10, **kw)
    monkeypatch.setattr(graph_module, "COMPACT_SPREAD_ABOVE", 0)
    monkeypatch.setattr(graph_module, "COMPACT_BLOCK_ROWS", 100)
    graph = build_graph(X, "knn", n_neighbors=7)
    dists, n_iter = spread(graph, labels, 10, **kw)
    assert graph.compact() is graph.compact() and len(graph.compact().blocks) == 18
    np.testing.assert_array_equal(dists, reference)
    np.testing.assert_array_equal(n_iter, reference_iter)
    for run, y in enumerate(labels):
        if not (y >= 0).any():  # scikit-learn refuses a run without labels
            assert n_iter[run] == 0 and not dists[run].any()
            continue
        model, expected = _sklearn("knn", y, X, n_neighbors=7, **params)
        assert n_iter[run] == model.n_iter_
        assert_allclose(dists[run], expected, atol=1e-9, rtol=0)


def test_compact_spreading_in_float32_is_within_its_rounding(compact_everywhere, monkeypatch):
    """The float32 copy: the same stopping iterations, distributions within float32 rounding, and
    here the same predictions (near-ties can change with float32)."""
    import alsim.learn.graph as graph_module

    monkeypatch.setattr(graph_module, "COMPACT_DTYPE", np.float32)
    graph = build_graph(X, "knn", n_neighbors=7)
    labels = np.stack([_labels(k, seed) for seed, k in enumerate((40, 8, 300))])
    dists, n_iter = spread(graph, labels, 10, max_iter=30)
    assert graph.compact().matrix.dtype == np.float32 and dists.dtype == np.float64
    for run, y in enumerate(labels):
        model, expected = _sklearn("knn", y, X, n_neighbors=7, max_iter=30)
        assert n_iter[run] == model.n_iter_
        assert_allclose(dists[run], expected, atol=1e-6, rtol=0)
        assert np.abs(dists[run] - expected).max() > 1e-12  # float32 indeed
        np.testing.assert_array_equal(predict_labels(dists[run], y), model.transduction_)


def test_compact_spreading_across_rounds_equals_sklearn(compact_everywhere):
    """States carried between rounds (labels that grow, labels removed) change nothing on the compact path."""
    graph = build_graph(X, "knn", n_neighbors=7)
    rng = np.random.default_rng(7)
    labels = np.stack([_labels(30, 1), _labels(30, 2), _labels(30, 1)])  # runs 0 and 2 start as twins
    states = [None, None, None]
    for round_index in range(4):
        dists, n_iter = spread(graph, labels, 10, alpha=0.2, max_iter=20, states=states)
        for run, y in enumerate(labels):
            model, expected = _sklearn("knn", y, X, n_neighbors=7, max_iter=20)
            assert_allclose(dists[run], expected, atol=1e-9, rtol=0)
            assert n_iter[run] == model.n_iter_
            np.testing.assert_array_equal(predict_labels(dists[run], y), model.transduction_)
            np.testing.assert_array_equal(states[run].labels, y)
        for run in range(3):
            new = rng.choice(np.flatnonzero(labels[run] == -1), 10, replace=False)
            labels[run, new] = Y[new]
        if round_index == 2:
            labels[1, np.flatnonzero(labels[1] >= 0)[:3]] = -1


def test_only_large_knn_pools_spread_compact(monkeypatch):
    import alsim.learn.graph as graph_module
    from alsim.learn.graph import spreads_compact

    knn, rbf = build_graph(X[:300], "knn", n_neighbors=5), build_graph(X[:300], "rbf", gamma=0.02)
    assert graph_module.COMPACT_SPREAD_ABOVE == graph_module.APPROXIMATE_ABOVE
    assert not spreads_compact(knn) and not spreads_compact(rbf)
    monkeypatch.setattr(graph_module, "COMPACT_SPREAD_ABOVE", 299)
    assert spreads_compact(knn) and not spreads_compact(rbf)
    monkeypatch.setattr(graph_module, "COMPACT_SPREAD_ABOVE", 300)
    assert not spreads_compact(knn)


def test_compact_spreading_is_the_same_with_one_thread_or_two(compact_everywhere, monkeypatch):
    """The blocks' sums are added in block order whichever thread ran them: identical results."""
    import alsim.learn.graph as graph_module

    labels = np.stack([_labels(40, 0), _labels(300, 1)])
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(graph_module, "COMPACT_THREADS", threads)
        graph = build_graph(X, "knn", n_neighbors=7)
        results.append(spread(graph, labels, 10, max_iter=30))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_sessions_spreading_over_one_compact_graph_at_once_agree(compact_everywhere):
    """Threads sharing one graph (as the dashboard's sessions do) build its compact copy once and
    each get the result a lone call gets."""
    from concurrent.futures import ThreadPoolExecutor

    graph = build_graph(X, "knn", n_neighbors=7)
    labels = [np.stack([_labels(k, seed)]) for seed, k in enumerate((40, 8, 300, 25, 60, 120))]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda y: spread(graph, y, 10, max_iter=30), labels))
    assert len(graph._compact) == 1
    assert not any(block.data.flags.writeable for _, _, block in graph.compact().blocks)
    alone = build_graph(X, "knn", n_neighbors=7)
    for y, (dists, n_iter) in zip(labels, together):
        expected, expected_iter = spread(alone, y, 10, max_iter=30)
        np.testing.assert_array_equal(dists, expected)
        np.testing.assert_array_equal(n_iter, expected_iter)


def test_the_graph_cache_counts_the_compact_copy_built_with_the_graph(compact_everywhere):
    """The shared graph cache's byte bound sees a large knn pool's compact copy: it is built with
    the graph, inside the cache's build, not later at the first spread."""
    from alsim import Config
    from alsim.loop.pool import graph_for, prepare
    from alsim.storage.memory import nbytes_of, shared_cache

    config = Config(dataset="digits", kernel="knn", n_neighbors=11)  # a key no other test builds
    prepared = prepare(config)
    cache = shared_cache("graphs")
    before = cache.stats()["bytes"]
    graph = graph_for(config, prepared)
    assert len(graph._compact) == 1  # built already
    blocks = sum(nbytes_of(block) for _, _, block in graph.compact().blocks)
    assert blocks >= nbytes_of(graph.matrix) * 0.9  # the copy is about the graph's size again
    assert cache.stats()["bytes"] - before == nbytes_of(graph) >= nbytes_of(graph.matrix) + blocks
    assert graph_for(config, prepared) is graph
