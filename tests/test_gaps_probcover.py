"""ProbCover's greedy max coverage where the delta-balls overlap heavily.

The reference below is the textbook greedy on a dense ball matrix: pick the open candidate
whose ball holds the most points not yet covered (by the revealed points, by points
covered beforehand, or by earlier picks), ties broken by the generator among the tied
candidates in pool order (:func:`alsim.strategies.common.argmax_random`).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from alsim.strategies.diversity import delta_ball_graph, probcover_select


def greedy_max_coverage(ball, revealed, candidates, k, rng, covered=None):
    """``ball[i, j]``: point j lies in the ball of point i (dense, symmetric).

    Returns (ids in pick order, gain of each pick, each point's uncovered count before the first pick).
    """
    n = len(ball)
    covered = np.zeros(n, dtype=bool) if covered is None else np.asarray(covered, dtype=bool).copy()
    covered |= ball[np.asarray(revealed, dtype=bool)].any(axis=0)
    start = (ball & ~covered).sum(axis=1)
    open_ = np.zeros(n, dtype=bool)
    open_[np.asarray(candidates, dtype=np.int64)] = True
    picks, gains = [], []
    for _ in range(min(k, int(open_.sum()))):
        ids = np.flatnonzero(open_)
        gain = (ball[ids] & ~covered).sum(axis=1)
        tied = np.flatnonzero(gain == gain.max())
        at = int(tied[0] if len(tied) == 1 else rng.choice(tied))
        pick = int(ids[at])
        picks.append(pick)
        gains.append(int(gain[at]))
        covered |= ball[pick]
        open_[pick] = False
    return np.array(picks, dtype=np.int64), gains, start


def _dense_ball(x, delta):
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)) <= delta


def _gains(ball, revealed, picks, covered=None):
    covered = np.zeros(len(ball), dtype=bool) if covered is None else covered.copy()
    covered |= ball[revealed].any(axis=0)
    out = []
    for p in picks:
        out.append(int((ball[p] & ~covered).sum()))
        covered |= ball[p]
    return out


@pytest.mark.parametrize("case", range(12))
def test_heavily_overlapping_balls_follow_the_greedy_max_coverage(case):
    rng = np.random.default_rng(case)
    n = int(rng.integers(40, 160))
    # Integer grid points: distances are exact, so the graph and the dense balls agree and ties are real.
    x = rng.integers(0, 7, size=(n, 2)).astype(np.float64)
    delta = float(rng.choice([2.0, 2.5, 3.0]))  # a ball holds a good part of the pool
    ball = _dense_ball(x, delta)
    assert ball.sum(axis=1).mean() > 0.15 * n  # heavy overlap, the gap this test is about
    graph = delta_ball_graph(x, delta)
    assert_array_equal(graph.toarray(), ball)
    revealed = np.zeros(n, dtype=bool)
    revealed[rng.choice(n, int(rng.integers(0, 3)), replace=False)] = True
    candidates = rng.permutation(np.flatnonzero(~revealed))[: int(rng.integers(5, n - revealed.sum() + 1))]
    k = int(rng.integers(1, 12))
    ids, degree = probcover_select(graph, revealed, candidates, k, np.random.default_rng(100 + case))
    expected, gains, start = greedy_max_coverage(ball, revealed, candidates, k, np.random.default_rng(100 + case))
    assert _gains(ball, revealed, ids) == gains  # the same coverage gained at every step
    assert ids.tolist() == expected.tolist()  # and, with the same tie-breaking, the same points
    expected_degree = np.zeros(n)
    expected_degree[candidates] = start[candidates]
    assert_array_equal(degree, expected_degree)


def test_points_covered_beforehand_count_for_nothing():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 6, size=(90, 2)).astype(np.float64)
    ball = _dense_ball(x, 2.0)
    graph = delta_ball_graph(x, 2.0)
    revealed = np.zeros(90, dtype=bool)
    revealed[[3, 50]] = True
    covered = rng.random(90) < 0.3
    candidates = np.flatnonzero(~revealed)
    ids, degree = probcover_select(graph, revealed, candidates, 8, np.random.default_rng(1), covered=covered)
    expected, gains, start = greedy_max_coverage(ball, revealed, candidates, 8, np.random.default_rng(1), covered)
    assert _gains(ball, revealed, ids, covered) == gains
    assert ids.tolist() == expected.tolist()
    assert_array_equal(degree[candidates], start[candidates])


def test_coverage_gains_never_grow_and_stop_at_zero_once_all_is_covered():
    x = np.random.default_rng(3).integers(0, 4, size=(60, 2)).astype(np.float64)
    graph = delta_ball_graph(x, 3.0)  # a few balls cover everything
    ids, _ = probcover_select(graph, np.zeros(60, dtype=bool), np.arange(60), 20, np.random.default_rng(0))
    gains = _gains(_dense_ball(x, 3.0), np.zeros(60, dtype=bool), ids)
    assert gains == sorted(gains, reverse=True) and sum(gains) == 60 and gains[-1] == 0
