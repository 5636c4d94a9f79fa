"""Metric choice, class-balanced batches, labeling cost and per-class recall."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import entropy
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score

from alsim import Config, run_loop
from alsim.cli.main import main
from alsim.common.errors import ConfigError
from alsim.evidence.chance import chance_score
from alsim.evidence.compare import Curve, summarize
from alsim.learn.metrics import evaluate
from alsim.loop.annotators import labeling_costs, reference_proba
from alsim.loop.pool import check_feasible, prepare
from alsim.loop.stopping import stop_table, stopping_points
from alsim.strategies.balanced import class_balanced_batch

# A long-tailed digits pool: 10 classes from 60 images down to 6, small enough to run in a moment.
TAIL = dict(dataset="digits", pool_size=600, imbalance=10.0, initial="random", n_initial=20, batch_size=10,
            n_rounds=4)
PER_CLASS = (1.0, 2.0, 3.0, 1.0, 1.0, 5.0, 1.0, 1.0, 0.5, 1.0)


def _scored(config: Config, record):
    """Truth and prediction on the points a pool round is scored on (unrevealed, truth known)."""
    truth = prepare(config).labels
    scored = (record.status != 1) & (truth >= 0)
    return truth[scored], record.predicted[scored]


# --------------------------------------------------------------------------- metric
@pytest.mark.parametrize("metric, reference", [
    ("balanced_accuracy", lambda t, p: balanced_accuracy_score(t, p)),
    ("macro_f1", lambda t, p: f1_score(t, p, labels=np.arange(10), average="macro", zero_division=0)),
])
def test_every_rounds_score_is_scikit_learns_metric(metric, reference):
    config = Config(**TAIL, metric=metric)
    rounds = list(run_loop(config))
    for record in rounds:
        truth, predicted = _scored(config, record)
        assert record.metric == metric
        assert record.score == pytest.approx(reference(truth, predicted), abs=1e-12)
    # the labels, queries and accuracies are those of the same run scored by accuracy
    plain = list(run_loop(Config(**TAIL)))
    assert [r.accuracy for r in rounds] == [r.accuracy for r in plain]
    assert [r.score for r in plain] == [r.accuracy for r in plain]
    assert any(abs(r.score - r.accuracy) > 1e-3 for r in rounds)  # on a long tail the metrics differ


def test_curves_stopping_rules_and_the_target_read_the_metric():
    config = Config(**TAIL, metric="balanced_accuracy", stop_target=0.5)
    rounds = list(run_loop(config))
    points = {p.rule: p for p in stopping_points(rounds, config, 10)}
    first = next(i for i, r in enumerate(rounds) if r.score >= 0.5)
    assert points["target"].round == first and points["target"].accuracy == rounds[first].score
    assert points["target"].final_accuracy == rounds[-1].score
    assert "balanced accuracy then" in points["target"].sentence()
    assert "balanced accuracy then" in stop_table(points.values())[0]


def test_per_class_recall_is_scikit_learns_and_blank_for_a_class_with_nothing_left():
    config = Config(**TAIL)
    record = list(run_loop(config))[-1]
    truth, predicted = _scored(config, record)
    present = np.unique(truth)
    expected = recall_score(truth, predicted, labels=present, average=None, zero_division=0)
    assert_allclose(record.recall[present], expected, atol=1e-12)
    missing = np.setdiff1d(np.arange(10), present)
    assert np.isnan(record.recall[missing]).all()
    # the mean recall over the classes present is balanced accuracy
    assert np.nanmean(record.recall) == pytest.approx(balanced_accuracy_score(truth, predicted), abs=1e-12)
    # a class with no image left to score (here: 9) is blank, not a recall of 0
    none_of_9 = dataclasses.replace(record, pool=evaluate(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 9]), 10))
    assert_allclose(none_of_9.recall[:3], [0.5, 1.0, 0.0])
    assert np.isnan(none_of_9.recall[3:]).all()


def test_chance_of_the_largest_class_guess_per_metric():
    labels = np.array([0] * 6 + [1] * 3 + [2] * 1 + [-1] * 4)
    assert chance_score(labels, "accuracy") == pytest.approx(0.6)
    assert chance_score(labels, "balanced_accuracy") == pytest.approx(1 / 3)
    # F1 of class 0 is 2 * 0.6 / 1.6 = 0.75, the others 0
    assert chance_score(labels, "macro_f1") == pytest.approx(0.75 / 3)


# --------------------------------------------------------------------------- class-balanced batches
def test_class_balanced_batch_golden_round_robin():
    scores = np.arange(10.0)  # higher = wanted first
    predicted = np.array([0, 0, 0, 0, 0, 0, 1, 1, 2, 0])
    # class 2 has 1 candidate, class 1 two, class 0 seven: pass 0 takes 8, 7, 9; pass 1 takes 6, 5
    ids = class_balanced_batch(scores, predicted, np.arange(10), 5, np.random.default_rng(0))
    assert ids.tolist() == [8, 7, 9, 6, 5]


def test_class_balanced_batch_covers_the_predicted_classes_round_robin():
    rng = np.random.default_rng(3)
    n = 500
    predicted = rng.choice(7, size=n, p=[0.5, 0.2, 0.1, 0.1, 0.05, 0.03, 0.02])
    scores = rng.random(n)
    candidates = np.sort(rng.choice(n, 300, replace=False))
    k = 17
    ids = class_balanced_batch(scores, predicted, candidates, k, np.random.default_rng(0))
    assert len(ids) == k and len(set(ids.tolist())) == k and np.isin(ids, candidates).all()
    classes = np.unique(predicted[candidates])
    first_pass = predicted[ids[:len(classes)]]
    assert sorted(first_pass.tolist()) == classes.tolist()  # every predicted class before any repeats
    for c in classes:  # within a class, best score first, and no better candidate of it is left out
        mine = ids[predicted[ids] == c]
        assert (np.diff(scores[mine]) <= 0).all()
        left = np.setdiff1d(candidates[predicted[candidates] == c], mine)
        assert len(left) == 0 or scores[left].max() <= scores[mine].min()


def test_a_class_balanced_run_asks_about_more_predicted_classes_per_batch():
    def classes_per_batch(balanced: bool) -> tuple[list[int], list[int]]:
        rounds = list(run_loop(Config(**TAIL, strategy="entropy", class_balanced=balanced)))
        asked = [len(set(r.predicted[r.queried].tolist())) for r in rounds[:-1]]
        offered = [len(set(r.predicted[r.status == 0].tolist())) for r in rounds[:-1]]
        return asked, offered

    (balanced, offered), (plain, _) = classes_per_batch(True), classes_per_batch(False)
    assert balanced == [min(10, n) for n in offered]  # batch 10: one of each class the model predicts
    assert sum(balanced) > sum(plain)


# --------------------------------------------------------------------------- cost
def test_per_class_cost_sums_over_the_revealed_labels_and_their_annotations():
    for annotators in (1, 3):
        config = Config(**TAIL, cost="per_class", cost_params=PER_CLASS, annotators=annotators)
        truth = prepare(config).labels
        for record in run_loop(config):
            revealed = np.flatnonzero(record.status == 1)
            assert record.cost == pytest.approx(annotators * np.asarray(PER_CLASS)[truth[revealed]].sum())


def test_unit_cost_is_the_annotations_and_difficulty_cost_follows_the_reference_entropy():
    plain = list(run_loop(Config(**TAIL, annotators=3, oracle_noise=0.2, relabel=True)))
    assert [r.cost for r in plain] == [float(r.annotations) for r in plain]
    config = Config(**TAIL, cost="difficulty", cost_params=(2.0,))
    prepared = prepare(config)
    expected = 1.0 + 2.0 * entropy(reference_proba(prepared), axis=1) / np.log(10)
    costs = labeling_costs(config, prepared)
    assert_allclose(costs, expected, rtol=1e-12)
    assert costs.min() >= 1.0 and costs.max() <= 3.0 and costs.std() > 0
    # Without cost_params the scale is 1: costs from 1 (a sure image) to 2 (a uniform one).
    plain = labeling_costs(config.replace(cost_params=()), prepared)
    assert_allclose(plain, 1.0 + entropy(reference_proba(prepared), axis=1) / np.log(10), rtol=1e-12)
    record = list(run_loop(config))[-1]
    assert record.cost == pytest.approx(costs[record.status == 1].sum())


def test_the_budget_rule_counts_cost_when_cost_is_not_unit():
    config = Config(**TAIL, cost="per_class", cost_params=PER_CLASS, stop_budget=45)
    rounds = list(run_loop(config))
    point = next(p for p in stopping_points(rounds, config, 10) if p.rule == "budget")
    first = next(i for i, r in enumerate(rounds) if r.cost >= 45)
    assert first < next(i for i, r in enumerate(rounds) if r.annotations >= 45)  # cost, not labels, decides here
    assert point.round == first and point.cost == rounds[first].cost
    assert point.cost_saved == pytest.approx(rounds[-1].cost - rounds[first].cost)
    assert "cost saved" in point.sentence() and "labels saved" not in point.sentence()
    row = stop_table([point])[0]
    assert "cost saved" in row and "labels saved" not in row


def test_summaries_against_cost_measure_aulc_over_each_seeds_cost():
    curves = [Curve("entropy", 0, (10, 20, 30), (0.5, 0.7, 0.9), cost=(10.0, 30.0, 40.0)),
              Curve("entropy", 1, (10, 20, 30), (0.6, 0.8, 0.9), cost=(10.0, 20.0, 50.0)),
              Curve("random", 0, (10, 20, 30), (0.5, 0.6, 0.7), cost=(10.0, 25.0, 40.0)),
              Curve("random", 1, (10, 20, 30), (0.5, 0.6, 0.74), cost=(10.0, 20.0, 30.0))]
    summary = summarize(curves, target=0.75, axis="cost", metric="balanced_accuracy")
    entropy_row = summary.strategies[0]
    assert entropy_row.labels == (10.0, 25.0, 45.0)  # the mean cost per round
    expected = [np.trapezoid([0.5, 0.7, 0.9], [10, 30, 40]) / 30, np.trapezoid([0.6, 0.8, 0.9], [10, 20, 50]) / 40]
    assert_allclose(entropy_row.per_seed_aulc, expected)
    assert entropy_row.labels_to_target == 25.0 and summary.strategies[1].labels_to_target is None
    assert "at cost 25" in entropy_row.headline
    table = summary.table()[0]
    assert "cost to 0.750" in table and "final balanced accuracy" in table
    # on the labels axis the same curves give the label counts
    assert summarize(curves, target=0.75).strategies[0].labels_to_target == 20


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("changes, message", [
    (dict(cost="per_class", cost_params=(1.0, 0.0)), "cost_params must be positive per-class costs"),
    (dict(cost="per_class", cost_params=(1.0, -2.0)), "got -2.0"),
    (dict(cost="per_class"), "cost 'per_class' needs cost_params"),
    (dict(cost="difficulty", cost_params=(1.0, 2.0)), "at most one cost_params value"),
    (dict(cost_params=(1.0,)), "cost_params must be empty with cost 'unit'"),
    (dict(metric="auc"), "metric must be one of 'accuracy', 'balanced_accuracy', 'macro_f1', got 'auc'"),
    (dict(cost="free"), "cost must be one of"),
    (dict(class_balanced="yes"), "class_balanced must be true or false"),
])
def test_invalid_metric_and_cost_fields_name_the_field(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Config(**changes)


def test_a_cost_list_of_the_wrong_length_is_refused_before_any_round():
    config = Config(cost="per_class", cost_params=(1.0, 2.0, 3.0))
    with pytest.raises(ConfigError, match=r"cost_params must hold one cost per class: 10 for dataset "
                                          r"'digits-tutorial', got 3"):
        check_feasible(config, prepare(config))


@pytest.mark.parametrize("argv, message", [
    (["--set", "cost=per_class", "--set", "cost_params=1,2,3"], "cost_params must hold one cost per class: 10"),
    (["--set", "cost=per_class", "--set", "cost_params=1,1,1,1,1,1,1,1,1,0"],
     "cost_params must be positive per-class costs in (0, 1e+06], got 0.0"),
    (["--set", "cost_params=1,x"], "cost_params expects a comma-separated list of numbers"),
])
def test_bad_costs_on_the_command_line_exit_2_with_one_line(capsys, argv, message):
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_the_new_fields_round_trip_through_json_and_set():
    config = Config().with_overrides(["metric=macro_f1", "class_balanced=true", "cost=per_class",
                                      "cost_params=" + ",".join(map(str, PER_CLASS))])
    assert config.cost_params == PER_CLASS and config.class_balanced and config.metric_name == "macro-F1"
    assert Config.from_json(config.to_json()) == config
