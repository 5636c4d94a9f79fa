"""k-center greedy on large pools: the lazy path against a plain greedy written here.

Pools of more than :data:`alsim.strategies.diversity.FULL_UPDATE_VALUES` values take a lazy
greedy that refreshes only the candidates whose stale bound reaches the maximum. It
promises the very picks of a full update after every pick, ties included (broken by the
generator among the tied candidates in pool order). Integer-valued features make every
distance exact in both computations, so ties are real ties and the picks must agree one
for one with the reference below.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import alsim.strategies.diversity as diversity
from alsim.strategies import QueryContext, run_strategy
from alsim.strategies.diversity import FULL_UPDATE_VALUES, k_center_greedy


def plain_k_center(features, centres, candidates, k, rng):
    """Sener and Savarese's Algorithm 1 with a full distance update after every pick.

    Distances are ``sqrt`` of squared differences summed exactly (integer-valued inputs).
    A tie at the maximum is broken by ``rng.choice`` over the tied candidates' positions in
    pool order, as :func:`alsim.strategies.common.argmax_random` does.

    Returns (ids in pick order, each candidate's distance to the nearest centre first).
    """
    x = np.asarray(features, dtype=np.float64)
    candidates = np.sort(np.asarray(candidates, dtype=np.int64))
    nearest = np.full(len(candidates), np.inf)
    for c in np.asarray(centres, dtype=np.int64):
        nearest = np.minimum(nearest, np.sqrt(((x[candidates] - x[c]) ** 2).sum(axis=1)))
    first = nearest.copy()
    open_ = np.ones(len(candidates), dtype=bool)
    picks = []
    for _ in range(min(k, len(candidates))):
        value = np.where(open_, nearest, -np.inf)
        tied = np.flatnonzero(value == value.max())
        at = int(tied[0] if len(tied) == 1 else rng.choice(tied))
        picks.append(int(candidates[at]))
        open_[at] = False
        nearest = np.minimum(nearest, np.sqrt(((x[candidates] - x[candidates[at]]) ** 2).sum(axis=1)))
    return np.array(picks, dtype=np.int64), first


def _integer_pool(seed, n, d, high):
    return np.random.default_rng(seed).integers(0, high, size=(n, d)).astype(np.float64)


def test_the_real_threshold_takes_the_lazy_path_and_picks_what_the_plain_greedy_picks(monkeypatch):
    # 4,100 x 64 = 262,400 values, just over 2**18: the lazy path, without touching the threshold.
    x = _integer_pool(0, 4100, 64, 4)
    assert x.size > FULL_UPDATE_VALUES
    calls = []
    real = diversity.squared_distances
    monkeypatch.setattr(diversity, "squared_distances", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(3)
    centres = np.sort(rng.choice(4100, 25, replace=False))
    candidates = np.setdiff1d(np.arange(4100), centres)
    ids, distance = k_center_greedy(x, centres, candidates, 40, np.random.default_rng(11))
    assert calls, "the lazy refresh never ran: the pool did not take the lazy path"
    expected, first = plain_k_center(x, centres, candidates, 40, np.random.default_rng(11))
    assert_array_equal(ids, expected)
    assert_array_equal(distance, first)


@pytest.mark.parametrize("refresh_rows", [64, 3])
def test_lazy_path_equals_the_plain_greedy_with_ties_duplicates_and_no_centres(monkeypatch, refresh_rows):
    """Every pool takes the lazy path (threshold 0); small refresh blocks reach the block branch."""
    monkeypatch.setattr(diversity, "FULL_UPDATE_VALUES", 0)
    monkeypatch.setattr(diversity, "REFRESH_ROWS", refresh_rows)
    master = np.random.default_rng(2024)
    for case in range(60):
        n = int(master.integers(5, 150))
        d = int(master.integers(1, 5))
        x = _integer_pool(case, n, d, int(master.integers(2, 6)))  # few values: many ties and duplicates
        n_centres = int(master.integers(0, 4))
        centres = np.sort(master.choice(n, n_centres, replace=False))
        rest = np.setdiff1d(np.arange(n), centres)
        candidates = master.permutation(rest)[: int(master.integers(1, len(rest) + 1))]  # unsorted on purpose
        k = int(master.integers(1, len(candidates) + 3))  # sometimes more than the candidates
        ids, distance = k_center_greedy(x, centres, candidates, k, np.random.default_rng(case))
        expected, first = plain_k_center(x, centres, candidates, k, np.random.default_rng(case))
        assert ids.tolist() == expected.tolist(), (case, n, d, n_centres, k)
        assert_array_equal(distance, first)
        assert len(set(ids.tolist())) == len(ids) == min(k, len(candidates))


def test_lazy_and_full_update_agree_on_float_features(monkeypatch):
    """Continuous features (no ties): both paths of the module pick the same points."""
    x = np.random.default_rng(8).normal(size=(700, 6))
    centres = np.arange(0, 700, 50)
    candidates = np.setdiff1d(np.arange(700), centres)
    full, full_distance = k_center_greedy(x, centres, candidates, 30, np.random.default_rng(0))
    monkeypatch.setattr(diversity, "FULL_UPDATE_VALUES", 0)
    lazy, lazy_distance = k_center_greedy(x, centres, candidates, 30, np.random.default_rng(0))
    assert lazy.tolist() == full.tolist()
    np.testing.assert_allclose(lazy_distance, full_distance, rtol=1e-9, atol=1e-9)


def test_coreset_strategy_on_a_large_pool_scores_the_distance_to_the_revealed_set():
    x = _integer_pool(5, 4200, 64, 3)
    assert x.size > FULL_UPDATE_VALUES
    status = np.zeros(4200, dtype=np.int8)
    status[np.random.default_rng(1).choice(4200, 30, replace=False)] = 1
    candidates = np.flatnonzero(status == 0)
    context = QueryContext(proba=np.full((4200, 2), 0.5), features=x, status=status, candidates=candidates, k=12,
                           rng=np.random.default_rng(4), params={})
    query = run_strategy("coreset", context)
    expected, first = plain_k_center(x, np.flatnonzero(status == 1), candidates, 12, np.random.default_rng(4))
    assert query.ids.tolist() == expected.tolist()
    assert_array_equal(query.scores[candidates], first)
    assert not query.scores[status == 1].any()
