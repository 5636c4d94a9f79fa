import numpy as np
import pytest
from numpy.testing import assert_allclose

from alsim.strategies import query, select, uncertainty_scores

PROBA = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 0.0]])


def test_entropy_golden():
    assert_allclose(uncertainty_scores(PROBA, "entropy"),
                    [0.0, np.log(2), 0.8979457248567798, np.log(3), np.log(3)])


def test_margin_golden():
    assert_allclose(uncertainty_scores(PROBA, "margin"), [0.0, 1.0, 0.7, 1.0, 1.0])


def test_least_confident_golden():
    assert_allclose(uncertainty_scores(PROBA, "least_confident"), [0.0, 0.5, 0.4, 2 / 3, 1.0])


def test_unknown_measure():
    with pytest.raises(ValueError, match="method must be one of"):
        uncertainty_scores(PROBA, "bald")


def test_select_top_k_among_candidates_only():
    scores = np.array([9.0, 1.0, 5.0, 7.0, 3.0])
    picked = select(scores, np.array([1, 2, 3, 4]), 2, np.random.default_rng(0))
    assert picked.tolist() == [3, 2]  # 0 has the top score but is not a candidate


def test_ties_broken_by_the_seeded_generator():
    scores = np.ones(100)
    candidates = np.arange(100)
    a = select(scores, candidates, 5, np.random.default_rng(1))
    b = select(scores, candidates, 5, np.random.default_rng(1))
    c = select(scores, candidates, 5, np.random.default_rng(2))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert len(set(a.tolist())) == 5


def test_random_and_none_queries():
    rng = np.random.default_rng(0)
    picked = query(PROBA, np.array([0, 2, 4]), 2, "random", rng)
    assert set(picked.tolist()) <= {0, 2, 4} and len(set(picked.tolist())) == 2
    assert query(PROBA, np.array([0, 2]), 5, "entropy", rng).tolist() == [2, 0]
    assert len(query(PROBA, np.array([0, 2]), 2, "none", rng)) == 0
