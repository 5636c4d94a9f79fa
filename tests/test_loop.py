import numpy as np
import pytest
from conftest import reference_self_training
from numpy.testing import assert_allclose

from alsim import Config, first_k_baseline, get_preset, run_loop
from alsim.common.errors import ConfigError
from alsim.loop.pool import prepare
from alsim.strategies import PSEUDO, REVEALED, UNLABELED

SEED_A = [0.8690, 0.9018, 0.9214, 0.9491, 0.9556]


def test_experiment_a_golden_table():
    rounds = list(run_loop(get_preset("digits-tutorial")))
    assert [r.n_labeled for r in rounds] == [40, 45, 50, 55, 60]
    assert_allclose([r.accuracy for r in rounds], SEED_A, atol=5e-5)
    assert [r.pool.n for r in rounds] == [290, 285, 280, 275, 270]
    assert rounds[-1].stop_reason == "rounds_done"
    assert all(r.stop_reason is None for r in rounds[:-1])


def test_experiment_a_first_60_baseline():
    baseline = first_k_baseline(get_preset("digits-tutorial"), 60)
    assert baseline.pool.n == 270
    assert baseline.accuracy == pytest.approx(0.9000, abs=5e-5)


def test_experiment_a_matches_the_plain_sklearn_recipe():
    """Cross-check: scikit-learn's LabelSpreading refit each round, entropy of its distributions."""
    from scipy.stats import entropy
    from sklearn.semi_supervised import LabelSpreading

    prepared = prepare(Config())
    X, y = prepared.features, prepared.labels
    labels = np.full(330, -1)
    labels[:40] = y[:40]
    for record in run_loop(Config()):
        model = LabelSpreading(gamma=0.25, max_iter=20).fit(X, labels)
        unlabeled = np.flatnonzero(labels == -1)
        assert record.accuracy == pytest.approx((model.transduction_[unlabeled] == y[unlabeled]).mean(), abs=1e-12)
        assert_allclose(record.uncertainty, entropy(model.label_distributions_.T), atol=1e-6)
        order = np.argsort(entropy(model.label_distributions_.T))[::-1]
        chosen = order[np.isin(order, unlabeled)][:5]
        if record.stop_reason is None:
            assert sorted(record.queried.tolist()) == sorted(chosen.tolist())
            labels[record.queried] = y[record.queried]


@pytest.mark.parametrize("strategy", ["entropy", "margin", "least_confident", "random"])
def test_loop_invariants(strategy):
    config = Config(dataset="digits", initial="random", n_initial=20, batch_size=7, n_rounds=6,
                    strategy=strategy, seed=3)
    seen = set()
    previous_revealed = None
    rounds = list(run_loop(config))
    for r in rounds:
        revealed = set(np.flatnonzero(r.status == REVEALED).tolist())
        assert r.n_labeled == len(revealed) == 20 + 7 * r.index
        if previous_revealed is not None:
            assert previous_revealed <= revealed  # the labeled set only grows
        queried = r.queried.tolist()
        assert all(r.status[q] == UNLABELED for q in queried)  # always from the unlabeled pool
        assert not (set(queried) & seen) and len(set(queried)) == len(queried)  # never repeated
        seen |= set(queried)
        previous_revealed = revealed | set(queried)
        assert len(queried) == (7 if r.stop_reason is None else 0)
        assert r.uncertainty.shape == (1797,)
        assert r.confusion.sum() == r.pool.n == 1797 - r.n_labeled
    assert len(rounds) == 6


def test_pool_exhaustion_stops_the_loop():
    config = Config(batch_size=100, n_rounds=10)  # 330 pool, 40 initial: 100, 100, 90
    rounds = list(run_loop(config))
    assert [r.n_labeled for r in rounds] == [40, 140, 240, 330]
    assert [len(r.queried) for r in rounds] == [100, 100, 90, 0]
    assert rounds[-1].stop_reason == "pool_exhausted"


def test_determinism_under_a_seed():
    config = Config(dataset="digits", initial="random", n_initial=30, strategy="random", n_rounds=4, seed=11)
    a = [(r.accuracy, r.queried.tolist()) for r in run_loop(config)]
    b = [(r.accuracy, r.queried.tolist()) for r in run_loop(config)]
    c = [(r.accuracy, r.queried.tolist()) for r in run_loop(config.replace(seed=12))]
    assert a == b and a != c


def test_strategies_share_the_seeds_initial_draw():
    base = Config(dataset="digits", initial="random", n_initial=30, n_rounds=2, seed=5)
    first = [next(run_loop(base.replace(strategy=s))).status for s in ("entropy", "random", "margin")]
    assert all(np.array_equal(first[0], other) for other in first[1:])


def _digits_self_training(self_training, C=1.0, thresholds=(0.9, 0.6)):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    config = Config(dataset="digits", initial="random", n_initial=50, strategy="none", self_training=self_training,
                    schedule="list", thresholds=thresholds, n_rounds=5, model="logistic_regression", C=C)
    rounds = list(run_loop(config))
    features, truth = load_digits(return_X_y=True)
    initial = np.flatnonzero(rounds[0].status == REVEALED)
    assert len(initial) == 50
    reference = reference_self_training(lambda: LogisticRegression(C=C, max_iter=1000), features, truth, initial,
                                        thresholds, len(rounds), oracle=self_training == "oracle")
    for record, fit in zip(rounds, reference):
        np.testing.assert_array_equal(record.predicted, fit["predicted"])  # the model the loop fitted
        assert record.auto_added == len(fit["moved"])
    return initial, rounds, reference


# A strongly regularised model later disagrees with some of its earlier pseudo-labels, so their
# precision must be measured on the labels given, not on the current predictions.
@pytest.mark.parametrize("C, thresholds", [(1.0, (0.9, 0.6)), (0.001, (0.5, 0.3))])
def test_pseudo_labels_are_predictions_with_measured_precision(C, thresholds):
    """Checked against LogisticRegression fitted here on the revealed rows plus its own predictions."""
    initial, rounds, reference = _digits_self_training("pseudo", C, thresholds)
    assert [r.n_labeled for r in rounds] == [50, 50, 50]  # pseudo-labels are never revealed labels
    assert rounds[-1].stop_reason == "schedule_done"
    first, second, third = rounds
    assert (first.threshold, second.threshold, third.threshold) == (*thresholds, None)
    moved_first, moved_second = reference[0]["moved"], reference[1]["moved"]
    assert 0 < reference[0]["correct"] < len(moved_first)  # some pseudo-labels are wrong: precision below 1
    assert set(np.flatnonzero(second.status == PSEUDO)) == set(moved_first)
    assert set(np.flatnonzero(third.status == PSEUDO)) == set(moved_first) | set(moved_second)
    assert set(np.flatnonzero(third.status == REVEALED)) == set(initial)
    # precision of the reference model's predictions against the hidden truth
    assert first.auto_precision == pytest.approx(reference[0]["correct"] / len(moved_first))
    assert second.pseudo_precision == pytest.approx(reference[0]["correct"] / len(moved_first))
    assert second.auto_precision == pytest.approx(reference[1]["correct"] / len(moved_second))
    assert third.pseudo_precision == pytest.approx((reference[0]["correct"] + reference[1]["correct"])
                                                   / (len(moved_first) + len(moved_second)))
    assert third.n_pseudo == len(moved_first) + len(moved_second)
    if C < 1:
        given = np.concatenate([reference[0]["predicted"][moved_first], reference[1]["predicted"][moved_second]])
        assert (third.predicted[np.concatenate([moved_first, moved_second])] != given).any()


def test_oracle_mode_counts_true_labels_as_revealed():
    initial, rounds, reference = _digits_self_training("oracle")
    moved = [set(fit["moved"].tolist()) for fit in reference]
    assert len(moved[0]) > 0 and len(moved[1]) > 0
    revealed = set(initial.tolist())
    for record, added in zip(rounds, moved):
        assert set(np.flatnonzero(record.status == REVEALED).tolist()) == revealed
        assert record.n_labeled == len(revealed) and record.n_pseudo == 0
        revealed |= added
    # The audit measures the model's predictions on the moved points, not the true labels they got.
    audited = [(record.auto_precision, fit) for record, fit in zip(rounds, reference) if len(fit["moved"])]
    for precision, fit in audited:
        assert precision == pytest.approx(fit["correct"] / len(fit["moved"]))
    assert any(precision < 1 for precision, _ in audited)


def test_hybrid_reveals_exactly_k_per_round_and_pseudo_labels_the_rest():
    config = Config(dataset="digits", initial="random", n_initial=40, strategy="least_confident", batch_size=10,
                    self_training="pseudo", schedule="list", thresholds=(0.95,) * 4, n_rounds=5,
                    model="logistic_regression")
    rounds = list(run_loop(config))
    assert [r.n_labeled for r in rounds] == [40, 50, 60, 70, 80]
    assert all(len(r.queried) == 10 for r in rounds[:-1])
    assert rounds[-1].n_pseudo == sum(r.auto_added for r in rounds[:-1]) > 0
    for r in rounds[:-1]:
        assert not set(r.queried.tolist()) & set(np.flatnonzero(r.status != UNLABELED).tolist())


def test_feasibility_errors():
    with pytest.raises(ConfigError, match="batch_size must be <= the 290 unlabeled pool points"):
        list(run_loop(Config(batch_size=291)))
    with pytest.raises(ConfigError, match="n_initial must be <= the pool size 330"):
        list(run_loop(Config(n_initial=400)))
    with pytest.raises(ConfigError, match=r"stratified needs 32 points of every class, the smallest class has \d+"):
        list(run_loop(Config(initial="stratified", n_initial=320, batch_size=1)))


def test_fashion_like_selftraining_runs_end_to_end(fashion_like):
    # 10-class one-vs-rest sigmoid scores are rarely above 0.3, hence low thresholds here
    config = get_preset("fashion-selftrain").replace(n_initial=50, schedule="list", thresholds=(0.3, 0.2, 0.15))
    rounds = list(run_loop(config))
    assert rounds[0].test.n == 200 and rounds[0].n_labeled == 50
    assert rounds[-1].n_pseudo > 0
    assert rounds[-1].accuracy > 0.5
    assert [r.threshold for r in rounds[:-1]] == [0.3, 0.2, 0.15][: len(rounds) - 1]
    assert rounds[-1].stop_reason in ("schedule_done", "pool_exhausted")
    assert 0 < rounds[-1].pseudo_precision <= 1
