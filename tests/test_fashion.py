"""Fashion-MNIST: generated Fashion-like IDX data always, the real data where installed."""

import warnings

import numpy as np
import pytest
from conftest import real_fashion, reference_self_training
from numpy.testing import assert_allclose

from alsim import get_preset, run_loop
from alsim.common.errors import ConfigError
from alsim.learn.graph import build_graph, spread
from alsim.loop.pool import prepare
from alsim.strategies import PSEUDO, REVEALED, UNLABELED


def _check_against_liblinear(config, some_wrong=True):
    """The loop with ``linear_svc`` against LinearSVC fitted here on the same rows, pseudo-labels included."""
    from sklearn.svm import LinearSVC

    assert config.model == "linear_svc" and config.strategy == "none" and config.self_training == "pseudo"
    prepared = prepare(config)
    rounds = list(run_loop(config))
    initial = np.flatnonzero(rounds[0].status == REVEALED)
    assert np.bincount(prepared.labels[initial], minlength=10).tolist() == [config.n_initial // 10] * 10
    reference = reference_self_training(lambda: LinearSVC(C=config.C, random_state=config.seed), prepared.features,
                                        prepared.labels, initial, config.thresholds, len(rounds))
    pseudo, correct = set(), 0
    for record, fit in zip(rounds, reference):
        np.testing.assert_array_equal(record.predicted, fit["predicted"])
        assert record.n_labeled == config.n_initial  # pseudo-labels are never revealed labels
        assert set(np.flatnonzero(record.status == REVEALED).tolist()) == set(initial.tolist())
        assert set(np.flatnonzero(record.status == PSEUDO).tolist()) == pseudo and record.n_pseudo == len(pseudo)
        if pseudo:
            assert record.pseudo_precision == pytest.approx(correct / len(pseudo))
        assert record.auto_added == len(fit["moved"])
        if len(fit["moved"]):
            assert record.auto_precision == pytest.approx(fit["correct"] / len(fit["moved"]))
        pseudo |= set(fit["moved"].tolist())
        correct += fit["correct"]
    assert 0 < correct <= len(pseudo)
    if some_wrong:  # then only predictions, not true labels, give these precisions
        assert correct < len(pseudo)
    return rounds


def _check_hybrid(config, k):
    """Revealed labels are the initial draw plus every earlier query, k per round; nothing else."""
    rounds = list(run_loop(config))
    revealed = set(np.flatnonzero(rounds[0].status == REVEALED).tolist())
    assert len(revealed) == config.n_initial
    for record in rounds:
        assert set(np.flatnonzero(record.status == REVEALED).tolist()) == revealed
        assert record.n_labeled == len(revealed)
        queried = set(record.queried.tolist())
        assert not queried & set(np.flatnonzero(record.status != UNLABELED).tolist())  # asked about unlabeled only
        revealed |= queried
    assert [r.n_labeled for r in rounds] == [config.n_initial + k * i for i in range(len(rounds))]
    assert all(len(r.queried) == k for r in rounds[:-1])
    return rounds


def test_fashion_like_pseudo_precision(fashion_like):
    config = get_preset("fashion-selftrain").replace(n_initial=50, model="linear_svc", schedule="list",
                                                     thresholds=(0.3, 0.25, 0.2), n_rounds=4)
    rounds = _check_against_liblinear(config, some_wrong=False)  # bars in noise: every prediction is right
    assert rounds[-1].n_pseudo > 0


def test_fashion_like_hybrid_reveals_exactly_k(fashion_like):
    config = get_preset("fashion-hybrid").replace(n_initial=50, batch_size=20, n_rounds=5,
                                                  thresholds=(0.2,) * 4, model="linear_svc_newton")
    rounds = _check_hybrid(config, 20)
    assert rounds[-1].n_pseudo > 0


def test_dense_rbf_on_fashion_is_refused_with_an_estimate(fashion_like, monkeypatch):
    import sklearn.metrics.pairwise as pairwise

    monkeypatch.setattr(pairwise, "rbf_kernel", lambda *a, **k: pytest.fail("kernel allocated"))
    from alsim import Config

    config = Config(dataset="fashion-mnist", features="hog", model="label_spreading", kernel="rbf",
                    initial="stratified", n_initial=20, evaluation="test")
    monkeypatch.setattr("alsim.learn.graph.DENSE_KERNEL_LIMIT_BYTES", 100_000)
    with pytest.raises(ConfigError, match=r"rbf kernel on 600 points .* GiB.*Use kernel 'knn'"):
        list(run_loop(config))


def test_newton_and_liblinear_give_the_same_loop(fashion_like):
    base = get_preset("fashion-selftrain").replace(n_initial=50, schedule="list", thresholds=(0.3, 0.25),
                                                   n_rounds=3)
    exact = list(run_loop(base))
    fast = list(run_loop(base.replace(model="linear_svc_newton")))
    assert [r.auto_added for r in fast] == pytest.approx([r.auto_added for r in exact], abs=2)
    assert abs(fast[-1].accuracy - exact[-1].accuracy) <= 0.01


@real_fashion
def test_real_fashion_knn_spreading_equals_sklearn_on_a_subset(real_fashion_dir):
    from sklearn.semi_supervised import LabelSpreading

    prepared = prepare(get_preset("fashion-spreading"))
    X, y = prepared.features[:3000], prepared.labels[:3000]
    labels = np.full(3000, -1)
    labels[:200] = y[:200]
    graph = build_graph(X, "knn", n_neighbors=10)
    dists, n_iter = spread(graph, labels, 10, alpha=0.2, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LabelSpreading(kernel="knn", n_neighbors=10, max_iter=30).fit(X, labels)
    expected = np.zeros((3000, 10))
    expected[:, model.classes_] = model.label_distributions_
    assert_allclose(dists[0], expected, atol=1e-9)
    assert n_iter[0] == model.n_iter_


@real_fashion
def test_real_fashion_selftraining_and_hybrid(real_fashion_dir):
    # the first thresholds at which pseudo-labels appear (37, then about 2,000), checked against LinearSVC
    early = get_preset("fashion-selftrain").replace(model="linear_svc", schedule="list", thresholds=(0.45, 0.4),
                                                    n_rounds=3)
    assert _check_against_liblinear(early)[0].test.n == 10000
    rounds = list(run_loop(get_preset("fashion-selftrain").replace(model="linear_svc_newton")))
    assert [r.n_labeled for r in rounds] == [600] * len(rounds)
    moved = correct = 0.0
    for before, after in zip(rounds, rounds[1:]):
        # the pseudo-labels' precision is that of the batches as they moved, weighted by their sizes
        moved += before.auto_added
        correct += before.auto_added * (before.auto_precision or 0.0)
        assert after.n_pseudo == moved
        if moved:
            assert after.pseudo_precision == pytest.approx(correct / moved)
    assert rounds[-1].n_pseudo > 30000 and 0.9 < rounds[-1].pseudo_precision < 1.0
    assert 0.81 < rounds[-1].accuracy < 0.85  # honest pseudo-labels: near the 600-label model
    hybrid = get_preset("fashion-hybrid").replace(model="linear_svc_newton", n_rounds=4, thresholds=(0.4,) * 3)
    _check_hybrid(hybrid, 100)


@real_fashion
def test_real_fashion_dense_kernel_refused(real_fashion_dir):
    from alsim import Config

    config = Config(dataset="fashion-mnist", features="hog", model="label_spreading", kernel="rbf",
                    initial="stratified", n_initial=100, evaluation="test")
    with pytest.raises(ConfigError, match=r"60,000 points .* 26.8 GiB"):
        list(run_loop(config))
