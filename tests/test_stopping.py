"""Stopping rules on hand-made round records: golden values, thresholds, windows."""

import dataclasses

import numpy as np
import pytest

from alsim import Config
from alsim.learn.metrics import evaluate
from alsim.loop.records import Round
from alsim.loop.stopping import (
    enabled_rules,
    kappa,
    normalised_uncertainty,
    rule_values,
    stop_set,
    stop_table,
    stopping_points,
)

N = 8


def _round(index, n_labeled, predicted, uncertainty, status=None, accuracy=None, measure="entropy"):
    truth = np.zeros(N, dtype=int)
    pred = np.zeros(N, dtype=int)
    if accuracy is not None:  # accuracy as the share of correct points out of N
        pred[: int(round((1 - accuracy) * N))] = 1
    status = np.zeros(N, dtype=np.int8) if status is None else np.asarray(status, dtype=np.int8)
    return Round(index=index, n_labeled=n_labeled, n_pseudo=0, pseudo_precision=None,
                 pool=evaluate(truth, pred, 2), test=None, queried=np.zeros(0, dtype=np.int64), threshold=None,
                 auto_added=0, auto_precision=None, status=status, predicted=np.asarray(predicted, dtype=np.int16),
                 uncertainty=np.asarray(uncertainty, dtype=np.float32), uncertainty_measure=measure, n_iter=None,
                 seconds=0.0)


P0 = [0, 0, 1, 1, 0, 1, 0, 1]
P1 = [0, 0, 1, 1, 0, 1, 1, 1]  # one of 8 changed
ROUNDS = [
    _round(0, 10, P0, [0.9] * N, accuracy=0.5),
    _round(1, 20, P1, [0.5] * N, accuracy=0.75),
    _round(2, 30, P1, [0.2] * 4 + [0.01] * 4, accuracy=0.875),
    _round(3, 40, P1, [0.01] * N, accuracy=0.875),
    _round(4, 50, P1, [0.01] * N, accuracy=1.0),
]
LOG2 = np.log(2)


def test_kappa_golden_and_identical_predictions():
    # P0 vs P1: observed agreement 7/8; P0 has 4/4, P1 has 3/5 -> expected (4*3 + 4*5)/64 = 0.5
    assert kappa(P0, P1) == pytest.approx((7 / 8 - 0.5) / (1 - 0.5))
    assert kappa([1, 1, 1], [1, 1, 1]) == 1.0



def test_kappa_equals_scikit_learn_to_the_last_bit():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    pairs = [(rng.integers(0, k, n), rng.integers(0, k, n)) for k, n in ((2, 5), (3, 40), (10, 500), (10, 1797))]
    a = rng.integers(0, 10, 300)
    b = a.copy()
    b[:7] = (b[:7] + 1) % 10  # nearly stable predictions, as in late rounds
    pairs += [(a, b), (np.array([0, 0, 0, 0]), np.array([1, 1, 1, 1])), (np.array([2, 5, 5]), np.array([5, 2, 7]))]
    for x, y in pairs:
        assert kappa(x.astype(np.int16), y.astype(np.int16)) == float(cohen_kappa_score(x, y))

def test_rule_values_golden():
    config = Config()
    assert rule_values(ROUNDS, "stabilizing", 2) == [None, pytest.approx(0.75), 1.0, 1.0, 1.0]
    assert rule_values(ROUNDS, "change", 2) == [None, 1 / 8, 0.0, 0.0, 0.0]
    mean = rule_values(ROUNDS, "uncertainty", 2)
    assert mean[2] == pytest.approx((0.2 * 4 + 0.01 * 4) / 8 / LOG2, rel=1e-6)
    assert rule_values(ROUNDS, "max_uncertainty", 2)[2] == pytest.approx(0.2 / LOG2, rel=1e-6)
    assert rule_values(ROUNDS, "target", 2) == [0.5, 0.75, 0.875, 0.875, 1.0]
    assert config.stop_kappa == 0.99


def test_stop_points_sentences():
    config = Config(stop_kappa=0.99, stop_kappa_window=2, stop_uncertainty=0.05, stop_max_uncertainty=0.1,
                    stop_change=0.0, stop_budget=30, stop_target=0.85)
    points = {p.rule: p for p in stopping_points(ROUNDS, config, n_classes=2)}
    assert list(points) == ["stabilizing", "uncertainty", "max_uncertainty", "change", "budget", "target"]
    # kappas 0.75, 1, 1, 1: the mean of the last two reaches 0.99 at round 3
    assert points["stabilizing"].round == 3 and points["stabilizing"].n_labeled == 40
    assert points["uncertainty"].round == 3  # round 2 mean is 0.105 / log 2 = 0.151
    assert points["max_uncertainty"].round == 3
    assert points["change"].round == 2
    assert points["budget"].round == 2 and points["target"].round == 2
    assert points["change"].sentence() == ("classification change: stops at 30 labels, accuracy then 0.8750, "
                                           "final 1.0000, labels saved 20 at 12.5 points below the final")
    assert points["budget"].labels_saved == 20
    rows = stop_table(points.values())
    assert rows[0]["stops at (labels)"] == 40 and rows[0]["labels saved"] == 10


def test_a_rule_that_never_fires_says_so():
    config = Config(stop_kappa=1.0, stop_kappa_window=5)
    stab = stopping_points(ROUNDS, config, n_classes=2)[0]
    assert stab.round is None and stab.labels_saved is None
    assert stab.sentence() == "stabilizing predictions: never stops within 50 labels (final accuracy 1.0000)"


def test_window_one_fires_on_the_first_stable_pair():
    config = Config(stop_kappa=0.99, stop_kappa_window=1)
    assert stopping_points(ROUNDS, config, n_classes=2)[0].round == 2


def test_disabled_rules_and_defaults():
    assert enabled_rules(Config()) == ("stabilizing", "uncertainty", "max_uncertainty", "change")
    off = Config(stop_kappa=None, stop_uncertainty=None, stop_max_uncertainty=None, stop_change=None)
    assert enabled_rules(off) == ()
    assert enabled_rules(Config(stop_budget=5, stop_target=0.9))[-2:] == ("budget", "target")


def test_only_unlabeled_points_count():
    status = [1, 1, 1, 1, 0, 0, 0, 0]  # labeled points' uncertainty is ignored
    record = _round(0, 4, P0, [0.9] * 4 + [0.1] * 4, status=status)
    assert rule_values([record], "max_uncertainty", 2)[0] == pytest.approx(0.1 / LOG2, rel=1e-6)


def test_normalisation_by_measure():
    r = _round(0, 1, P0, [0.5] * N, measure="least_confident")
    np.testing.assert_allclose(normalised_uncertainty(r, 2), 1.0)
    r = _round(0, 1, P0, [0.5] * N, measure="margin")
    np.testing.assert_allclose(normalised_uncertainty(r, 2), 0.5)


def test_stop_set_is_a_fixed_sample_of_the_first_unlabeled():
    rounds = [_round(0, 2, P0, [0.5] * N, status=[1, 1, 0, 0, 0, 0, 0, 0])]
    assert stop_set(rounds).tolist() == [2, 3, 4, 5, 6, 7]
    picked = stop_set(rounds, 3)
    assert len(picked) == 3 and set(picked.tolist()) <= {2, 3, 4, 5, 6, 7}
    assert picked.tolist() == stop_set(rounds, 3).tolist()


def test_on_a_real_run():
    from alsim import run_loop

    config = Config(stop_budget=50, stop_target=0.92)
    rounds = list(run_loop(config))
    points = {p.rule: p for p in stopping_points(rounds, config)}
    assert points["budget"].n_labeled == 50 and points["budget"].accuracy == pytest.approx(0.9214, abs=1e-4)
    assert points["target"].n_labeled == 50  # 0.9214 is the first accuracy >= 0.92


def test_curves_show_a_marker_where_each_rule_stops():
    from alsim.report.plots import learning_curves

    config = Config(stop_kappa=0.99, stop_kappa_window=2, stop_budget=30, stop_target=None, stop_uncertainty=None,
                    stop_max_uncertainty=None, stop_change=None)
    points = stopping_points(ROUNDS, config, n_classes=2)
    fig = learning_curves({"entropy": ROUNDS}, stops={"entropy": points})
    markers = [t for t in fig.data if "stop by" in t.name]
    assert [t.name for t in markers] == ["entropy: stop by stabilizing", "entropy: stop by budget"]
    assert [list(t.x) for t in markers] == [[40], [30]]
    assert [list(t.y) for t in markers] == [[0.875], [0.875]]
    never = stopping_points(ROUNDS, config.replace(stop_kappa=1.0, stop_kappa_window=9), n_classes=2)
    fig = learning_curves({"entropy": ROUNDS}, stops={"entropy": never})
    assert [t.name for t in fig.data if "stop by" in t.name] == ["entropy: stop by budget"]


def test_compare_summarizes_stops_over_seeds():
    from alsim.evidence.compare import Curve, stop_sentence, stop_summary

    def stop(round_, n, acc):
        return {"rule": "budget", "description": "30 revealed labels", "round": round_, "n_labeled": n,
                "accuracy": acc, "final_n_labeled": 50, "final_accuracy": 0.9, "labels_saved": None}

    curves = [Curve("entropy", 0, (10, 30, 50), (0.5, 0.8, 0.9), (stop(1, 30, 0.8),)),
              Curve("entropy", 1, (10, 30, 50), (0.5, 0.7, 0.9), (stop(None, None, None),))]
    (row,) = stop_summary(curves)
    assert row["fired"] == 1 and row["stops_at"] == 40 and row["accuracy_then"] == pytest.approx(0.85)
    assert row["labels_saved"] == 10 and row["final_accuracy"] == pytest.approx(0.9)
    assert stop_sentence(row) == ("budget (30 revealed labels): stops at 40 labels, accuracy then 0.8500, "
                                  "final 0.9000, labels saved 10 at 5.0 points below the final (fired on 1/2 seeds)")


def test_what_stopping_early_costs_is_said_only_when_it_costs():
    from alsim.loop.stopping import below_final

    assert below_final(0.8917, 0.9885) == " at 9.7 points below the final"
    assert below_final(0.9, 0.9) == below_final(0.95, 0.9) == below_final(0.9, 0.9004) == ""
    assert below_final(None, 0.9) == below_final(float("nan"), 0.9) == ""


def test_the_stop_set_stays_the_points_unlabeled_at_the_first_fit():
    """Bloodgood and Vijay-Shanker's stop set is fixed: points labeled in later rounds stay in it, so the
    stabilizing kappa sees their predictions change."""
    from types import SimpleNamespace

    statuses = ([1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0, 0])
    predicted = ([0, 1, 0, 1, 0, 1, 0, 1], [0, 1, 1, 0, 1, 0, 0, 1], [0, 1, 0, 1, 0, 1, 0, 1])
    rounds = [SimpleNamespace(status=np.array(s), predicted=np.array(p)) for s, p in zip(statuses, predicted)]
    assert stop_set(rounds).tolist() == [2, 3, 4, 5, 6, 7]
    values = rule_values(rounds, "stabilizing", 2)
    assert values[0] is None and values[1] < 1 and values[2] < 1


def test_a_record_without_costs_costs_its_annotations_not_its_images():
    plain = _round(0, 10, P0, [0.5] * N)
    assert plain.cost == 10.0 and plain.to_dict()["cost_spent"] == 10.0  # one annotation per label
    three = dataclasses.replace(plain, n_annotations=30)  # three annotators per image
    assert three.cost == 30.0 and three.to_dict()["cost_spent"] == 30.0 and three.to_dict()["n_annotations"] == 30
    assert dataclasses.replace(three, cost_spent=12.5).cost == 12.5
