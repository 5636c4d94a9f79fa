"""Spreading continued from a run's stored iterates, when a later round needs more iterations.

:func:`alsim.learn.graph.spread` with ``states`` reuses the iterates F_0..F_T of the previous
round's labels and spreads only the added labels (:class:`alsim.learn.graph.SpreadState`).
When the new labels need more than T iterations to converge, the stored iterates must be
extended; the result must still be scikit-learn's ``LabelSpreading`` fitted from scratch
(same kernel, gamma / n_neighbors, alpha, max_iter, tol), as tests/test_graph.py checks for
rounds that need no more iterations than were stored.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.semi_supervised import LabelSpreading

from alsim.learn.graph import build_graph, spread
from alsim.loop.run import predict_labels

X, Y = load_digits(return_X_y=True)
X, Y = X[:600], Y[:600]
ORDER = np.random.default_rng(0).permutation(600)


def _labels(n_labeled: int) -> np.ndarray:
    y = np.full(600, -1)
    y[ORDER[:n_labeled]] = Y[ORDER[:n_labeled]]
    return y


def _sklearn(kernel, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning when max_iter is reached
        model = LabelSpreading(kernel=kernel, **params).fit(X, y)
    full = np.zeros((600, 10))
    full[:, model.classes_] = model.label_distributions_
    return model, full


CASES = [
    ("rbf", dict(gamma=0.02), 0.5, 200, 1e-5),
    ("rbf", dict(gamma=0.02), 0.9, 200, 1e-3),
    ("rbf", dict(gamma=0.02), 0.9, 100, 1e-5),  # round 2 stops at max_iter, round 1 converged well before
    ("knn", dict(n_neighbors=5), 0.9, 200, 1e-3),
    ("knn", dict(n_neighbors=5), 0.5, 200, 1e-5),
]


@pytest.mark.parametrize("kernel, kernel_params, alpha, max_iter, tol", CASES)
def test_a_round_needing_more_iterations_than_were_stored_equals_sklearn_from_scratch(kernel, kernel_params, alpha,
                                                                                       max_iter, tol):
    graph = build_graph(X, kernel, **{"gamma": 20.0, "n_neighbors": 7, **kernel_params})
    params = dict(alpha=alpha, max_iter=max_iter, tol=tol, **kernel_params)
    states = [None]
    rounds = [_labels(5), _labels(200), _labels(260)]
    iterations = []
    for y in rounds:
        stored = None if states[0] is None else len(states[0].history)
        dists, n_iter = spread(graph, y, 10, alpha, max_iter, tol, states=states)
        model, expected = _sklearn(kernel, y, **params)
        assert_allclose(dists[0], expected, atol=1e-9, rtol=0)
        assert n_iter[0] == model.n_iter_
        assert_array_equal(predict_labels(dists[0], y), model.transduction_)
        iterations.append((stored, int(n_iter[0])))
    # The case this file is about: round 2 ran past the iterates round 1 stored.
    (_, first), (stored, second), _ = iterations
    assert stored == first + 1 and second > first


def test_continued_and_fresh_runs_in_one_batch_each_equal_sklearn():
    """A batch where one run continues (and needs more iterations) and another starts afresh."""
    graph = build_graph(X, "rbf", gamma=0.02)
    states = [None, None]
    spread(graph, np.stack([_labels(5), _labels(40)]), 10, 0.9, 200, 1e-3, states=states)
    grown = _labels(200)
    shrunk = _labels(40)
    shrunk[ORDER[:3]] = -1  # labels removed: this run cannot reuse its iterates
    dists, n_iter = spread(graph, np.stack([grown, shrunk]), 10, 0.9, 200, 1e-3, states=states)
    for run, y in enumerate((grown, shrunk)):
        model, expected = _sklearn("rbf", y, gamma=0.02, alpha=0.9, max_iter=200, tol=1e-3)
        assert_allclose(dists[run], expected, atol=1e-9, rtol=0)
        assert n_iter[run] == model.n_iter_
