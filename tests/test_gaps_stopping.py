"""Each stopping rule fires at exactly the round it must, on hand-made round records.

For every rule the records are built so that the round before the answer sits on the far
side of (or exactly at) the threshold: the rule must not fire there, and must fire at the
answer. Thresholds and values are exact binary fractions, so equality is equality.
"""

from __future__ import annotations

import numpy as np
import pytest

from alsim import Config
from alsim.learn.metrics import evaluate
from alsim.loop.records import Round
from alsim.loop.stopping import rule_values, stop_set, stopping_points

N = 8
OFF = dict(stop_kappa=None, stop_uncertainty=None, stop_max_uncertainty=None, stop_change=None, stop_budget=0,
           stop_target=None)


def _round(index, n_labeled=10, predicted=None, uncertainty=None, status=None, n_correct=N, n=N):
    truth = np.zeros(n, dtype=int)
    evaluated = np.zeros(n, dtype=int)
    evaluated[: n - n_correct] = 1  # accuracy n_correct / n
    return Round(index=index, n_labeled=n_labeled, n_pseudo=0, pseudo_precision=None, pool=evaluate(truth, evaluated, 2),
                 test=None, queried=np.zeros(0, dtype=np.int64), threshold=None, auto_added=0, auto_precision=None,
                 status=np.zeros(n, dtype=np.int8) if status is None else np.asarray(status, dtype=np.int8),
                 predicted=np.zeros(n, dtype=np.int16) if predicted is None else np.asarray(predicted, dtype=np.int16),
                 uncertainty=np.full(n, 0.9, dtype=np.float32) if uncertainty is None
                 else np.asarray(uncertainty, dtype=np.float32),
                 uncertainty_measure="margin", n_iter=None, seconds=0.0)


def _stop(rounds, **thresholds):
    (point,) = stopping_points(rounds, Config(**{**OFF, **thresholds}), n_classes=2)
    return point


def test_overall_uncertainty_fires_only_below_the_threshold_not_at_it():
    rounds = [_round(0, uncertainty=[0.5] * N),
              _round(1, uncertainty=[0.5] * 4 + [0.0] * 4),  # mean exactly 0.25: not below
              _round(2, uncertainty=[0.375] * 4 + [0.0] * 4),  # mean 0.1875
              _round(3, uncertainty=[0.0] * N)]
    point = _stop(rounds, stop_uncertainty=0.25)
    assert point.values[1] == 0.25 and point.round == 2


def test_overall_uncertainty_reads_only_the_unlabeled_points():
    status = [1, 1, 0, 0, 0, 0, 0, 0]
    rounds = [_round(0, uncertainty=[0.9] * N, status=status),
              _round(1, uncertainty=[0.9, 0.9] + [0.125] * 6, status=status)]  # unlabeled mean 0.125
    assert _stop(rounds, stop_uncertainty=0.25).round == 1


def test_max_uncertainty_fires_only_below_the_threshold_not_at_it():
    rounds = [_round(0, uncertainty=[0.75] + [0.0] * 7),
              _round(1, uncertainty=[0.5] + [0.25] * 7),  # max exactly 0.5
              _round(2, uncertainty=[0.375] + [0.25] * 7),
              _round(3, uncertainty=[0.0] * N)]
    point = _stop(rounds, stop_max_uncertainty=0.5)
    assert point.values[1] == 0.5 and point.round == 2


def test_max_uncertainty_ignores_a_labeled_point_however_uncertain():
    status = [1, 0, 0, 0, 0, 0, 0, 0]
    rounds = [_round(0, uncertainty=[0.75] * N, status=status),
              _round(1, uncertainty=[1.0] + [0.25] * 7, status=status)]
    assert _stop(rounds, stop_max_uncertainty=0.5).round == 1


def test_classification_change_fires_at_the_share_equal_to_the_threshold():
    p0 = [0, 0, 0, 0, 1, 1, 1, 1]
    p1 = [1, 1, 1, 0, 1, 1, 1, 1]  # 3 of 8 changed: 0.375
    p2 = [0, 0, 1, 0, 1, 1, 1, 1]  # 2 of 8 changed: 0.25, at the threshold
    rounds = [_round(0, predicted=p0), _round(1, predicted=p1), _round(2, predicted=p2), _round(3, predicted=p2)]
    point = _stop(rounds, stop_change=0.25)
    assert point.values == (None, 0.375, 0.25, 0.0) and point.round == 2


def test_classification_change_counts_only_points_unlabeled_in_both_rounds():
    p0 = [0, 0, 0, 0, 1, 1, 1, 1]
    p1 = [1, 1, 1, 0, 1, 1, 1, 1]  # 3 of 8: 0.375
    p2 = [0, 1, 1, 0, 1, 1, 0, 0]  # point 0 changed among 0..5; 6 and 7 changed but were just revealed
    status2 = [0, 0, 0, 0, 0, 0, 1, 1]
    rounds = [_round(0, predicted=p0), _round(1, predicted=p1), _round(2, predicted=p2, status=status2)]
    point = _stop(rounds, stop_change=0.25)
    assert point.values[2] == pytest.approx(1 / 6) and point.round == 2


def test_budget_fires_at_the_round_that_reaches_it():
    rounds = [_round(i, n_labeled=n) for i, n in enumerate((10, 20, 30, 40))]
    point = _stop(rounds, stop_budget=30)
    assert point.round == 2 and point.n_labeled == 30 and point.labels_saved == 10
    assert _stop(rounds, stop_budget=31).round == 3


def test_target_fires_at_the_round_whose_accuracy_equals_it():
    rounds = [_round(i, n_labeled=10 * (i + 1), n_correct=c) for i, c in enumerate((4, 5, 6, 8))]
    point = _stop(rounds, stop_target=0.75)  # 6 of 8
    assert point.round == 2 and point.accuracy == 0.75 and point.n_labeled == 30
    assert _stop(rounds, stop_target=0.625).round == 1


@pytest.mark.parametrize("window", [1, 2, 3, 4])
def test_stabilizing_needs_a_full_window_of_kappas(window):
    # Identical predictions from the start: kappa 1 for every pair (1, 2, ...); round 0 has none.
    rounds = [_round(i, n_labeled=10 * (i + 1), predicted=[0, 1] * 4) for i in range(7)]
    point = _stop(rounds, stop_kappa=1.0, stop_kappa_window=window)
    assert point.values == (None,) + (1.0,) * 6
    assert point.round == window  # the window-th pair is round `window`; one round earlier the window is short


def test_stabilizing_waits_for_the_window_to_pass_a_dip():
    stable = [0, 1] * 4
    other = [1, 1, 0, 1, 0, 1, 0, 1]
    predicted = [stable, stable, stable, other, other, other, other, other]  # the pair (2, 3) disagrees
    rounds = [_round(i, n_labeled=10 * (i + 1), predicted=p) for i, p in enumerate(predicted)]
    point = _stop(rounds, stop_kappa=0.99, stop_kappa_window=3)
    assert point.values[3] < 0.99 and point.round == 6  # kappas of 4, 5, 6 are the first clean window


def test_stabilizing_compares_predictions_only_on_the_stop_set():
    status = np.zeros(40, dtype=np.int8)
    base = np.zeros(40, dtype=int)
    rounds0 = [_round(0, predicted=base, status=status, n=40, n_correct=40)]
    chosen = stop_set(rounds0, 10)
    outside = np.setdiff1d(np.arange(40), chosen)
    predicted = [base]
    for i in range(1, 4):
        p = base.copy()
        p[outside[i * 5: i * 5 + 5]] = 1  # changes only outside the stop set
        predicted.append(p)
    rounds = [_round(i, predicted=p, status=status, n=40, n_correct=40) for i, p in enumerate(predicted)]
    assert _stop(rounds, stop_kappa=1.0, stop_kappa_window=2, stop_set_size=10).round == 2
    assert _stop(rounds, stop_kappa=1.0, stop_kappa_window=2, stop_set_size=0).round is None  # the whole set changes
    assert rule_values(rounds, "stabilizing", 2, 10) == [None, 1.0, 1.0, 1.0]
